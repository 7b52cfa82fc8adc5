"""dracut target (Fedora, RHEL, openSUSE, some Debian setups): a ``/etc/dracut.conf.d`` snippet
that forces the vfio modules into the initramfs and loads them first, the modprobe.d file (which
dracut's kernel-modules module copies into the image), and ``dracut -f --regenerate-all``.

``force_drivers`` both includes the modules and loads them early (dracut.conf(5)); the
``rd.driver.pre=vfio-pci`` kernel argument is the alternative when the configuration cannot be
changed. Spaces inside the quotes are required: dracut appends the values as they are.
"""

from __future__ import annotations

from harness.generate.binding import early_binding, initramfs_modules
from harness.generate.modprobe import MODPROBE_ALONE, vfio_conf
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

DRACUT_CONF = "/etc/dracut.conf.d/vfio.conf"


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("dracut", notes=[*plan.notes, *plan.forced_comment()])
    modules = " ".join(initramfs_modules(plan))
    lines = plan.comments()
    lines.append(f'force_drivers+=" {modules} "')
    output.files += [
        vfio_conf(plan, early_binding(plan)),
        GeneratedFile(DRACUT_CONF, "\n".join(lines) + "\n", description="vfio modules in the initramfs, loaded first"),
    ]
    output.single_hint = MODPROBE_ALONE
    rebuild = "dracut -f --regenerate-all"
    output.commands.append(("rebuild every initramfs", rebuild))
    output.reads[rebuild] = tuple(item.path for item in output.files)
    return output
