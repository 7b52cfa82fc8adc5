"""The config generator: from a checked root and the devices to pass, the configuration each
tool needs, sharing one plan (:mod:`harness.generate.plan`) so that no two targets decide the
same thing twice.

Public API::

    from harness.generate import generate, GenerateOptions, GenerateRefused, TARGETS
    output = generate("proxmox", Path("/"), ["0000:00:17.0"], GenerateOptions(vmid=100))
    print(output.text())

Errors: :class:`GenerateRefused` (the checker fails a device; ``.reasons``, ``.alternative``),
:class:`GenerateError` (bad input), :class:`~harness.generate.output.OutputExistsError`; all
derive from :class:`harness.errors.VfiolabError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.checker import CheckReport
from harness.generate import (
    cmdline,
    dracut,
    driverctl,
    everything,
    initramfs_tools,
    libvirt,
    mkinitcpio,
    modprobe,
    proxmox,
    proxmox_disks,
    qemu,
)
from harness.generate.output import GeneratedFile, GeneratedOutput, OutputExistsError
from harness.generate.plan import (
    OVERRIDE_PROPERTIES,
    UNSAFE_WORKAROUNDS,
    GenerateError,
    GenerateOptions,
    GenerateRefused,
    Plan,
    build_plan,
)

Target = Callable[[Plan], GeneratedOutput]

TARGETS: dict[str, tuple[Target, str]] = {
    "proxmox": (proxmox.generate, "hostpciN lines, qm set commands and a /etc/pve/mapping/pci.cfg entry"),
    "proxmox-disks": (proxmox_disks.generate, "pass the disks behind a controller instead (qm set -scsiN by-id)"),
    "libvirt": (libvirt.generate, "<hostdev> elements (--domain-xml: a whole minimal domain)"),
    "qemu": (qemu.generate, "-device vfio-pci arguments, with pcie-root-port on q35"),
    "modprobe": (modprobe.generate, "/etc/modprobe.d/vfio.conf: ids= and softdep"),
    "initramfs-tools": (initramfs_tools.generate, "early binding for Debian/Proxmox initramfs-tools"),
    "dracut": (dracut.generate, "early binding for dracut"),
    "mkinitcpio": (mkinitcpio.generate, "early binding for mkinitcpio"),
    "driverctl": (driverctl.generate, "per-address overrides with driverctl"),
    "cmdline": (cmdline.generate, "kernel arguments, in the bootloader this host uses"),
    "all": (everything.generate, "everything relevant, as a tree with apply.sh (use --out DIR)"),
}
#: Targets that do not pass the devices themselves, so a device the checker fails is not refused.
NOT_PASSING = ("proxmox-disks",)


def generate(
    target: str,
    root: Path | str,
    devices: list[str],
    options: GenerateOptions | None = None,
    report: CheckReport | None = None,
) -> GeneratedOutput:
    """``report``: the checker's report of every endpoint of ``root`` when the caller has one
    (saves checking the root again)."""
    if target not in TARGETS:
        raise GenerateError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    plan = build_plan(Path(root), devices, options, refuse=target not in NOT_PASSING, report=report)
    function, _ = TARGETS[target]
    return function(plan)


__all__ = [
    "OVERRIDE_PROPERTIES",
    "TARGETS",
    "UNSAFE_WORKAROUNDS",
    "GenerateError",
    "GenerateOptions",
    "GenerateRefused",
    "GeneratedFile",
    "GeneratedOutput",
    "OutputExistsError",
    "generate",
]
