"""mkinitcpio target (Arch): a ``/etc/mkinitcpio.conf.d`` drop-in that puts the vfio modules in
``MODULES`` (loaded before udev runs), the modprobe.d file, and ``mkinitcpio -P``.

The ``modconf`` hook copies modprobe.d into the image; without it the ``ids=`` and ``softdep``
lines exist only in the real root (the binding check flags a HOOKS line that lacks it).
"""

from __future__ import annotations

from harness.generate.binding import early_binding, initramfs_modules
from harness.generate.modprobe import MODPROBE_ALONE, vfio_conf
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

MKINITCPIO_CONF = "/etc/mkinitcpio.conf.d/vfio.conf"


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("mkinitcpio", notes=[*plan.notes, *plan.forced_comment()])
    lines = plan.comments()
    lines.append(f"MODULES+=({' '.join(initramfs_modules(plan))})")
    output.files += [
        vfio_conf(plan, early_binding(plan)),
        GeneratedFile(MKINITCPIO_CONF, "\n".join(lines) + "\n", description="vfio modules, loaded before udev"),
    ]
    config = plan.boot.mkinitcpio
    if config is not None and "modconf" not in config.hooks:
        output.notes.append(
            "HOOKS in /etc/mkinitcpio.conf lacks modconf: add it, or the modprobe.d lines stay out of the image"
        )
    output.single_hint = MODPROBE_ALONE
    rebuild = "mkinitcpio -P"
    output.commands.append(("rebuild every preset", rebuild))
    output.reads[rebuild] = tuple(item.path for item in output.files)
    return output
