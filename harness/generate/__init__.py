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
_EARLY_BINDING = frozenset({"--force", "--unsafe unsafe-interrupts"})
#: The options each target uses (as the command line spells them); giving another is a usage
#: error, so that an option never silently does nothing.
TARGET_OPTIONS: dict[str, frozenset[str]] = {
    "proxmox": frozenset({"--vmid", "--node", "--override", "--force"}),
    "proxmox-disks": frozenset({"--vmid"}),
    "libvirt": frozenset({"--vmid", "--domain-xml", "--guest-address", "--override", "--force"}),
    "qemu": frozenset({"--vmid", "--guest-address", "--override", "--force"}),
    "modprobe": _EARLY_BINDING,
    "initramfs-tools": _EARLY_BINDING,
    "dracut": _EARLY_BINDING,
    "mkinitcpio": _EARLY_BINDING,
    "driverctl": frozenset({"--force"}),
    "cmdline": frozenset({"--force", "--unsafe acs-override"}),
    "all": frozenset({"--vmid", "--override", "--force", "--unsafe acs-override", "--unsafe unsafe-interrupts"}),
}


def options_given(options: GenerateOptions) -> set[str]:
    """The options set away from their defaults, as the command line spells them (``--vmid``
    cannot be told from its default here; the command line adds it when given)."""
    given = {f"--unsafe {name}" for name in options.unsafe}
    flags = {
        "--force": options.force,
        "--domain-xml": options.domain_xml,
        "--guest-address": options.guest_address is not None,
        "--override": bool(options.id_overrides),
        "--node": options.node is not None,
    }
    return given | {name for name, value in flags.items() if value}


def check_target_options(target: str, given: set[str]) -> None:
    """Raise :class:`GenerateError` (a usage error) for options ``target`` does not use."""
    if target not in TARGETS:
        raise GenerateError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    unused = sorted(given - TARGET_OPTIONS[target])
    if unused:
        users = sorted(name for name, used in TARGET_OPTIONS.items() if unused[0] in used)
        raise GenerateError(
            f"{unused[0]} does not apply to target {target} (it applies to: {', '.join(users) or 'none'})"
        )


def generate(
    target: str,
    root: Path | str,
    devices: list[str],
    options: GenerateOptions | None = None,
    report: CheckReport | None = None,
) -> GeneratedOutput:
    """``report``: the checker's report of every endpoint of ``root`` when the caller has one
    (saves checking the root again)."""
    options = options or GenerateOptions()
    check_target_options(target, options_given(options))
    plan = build_plan(Path(root), devices, options, refuse=target not in NOT_PASSING, report=report)
    function, _ = TARGETS[target]
    return function(plan)


__all__ = [
    "OVERRIDE_PROPERTIES",
    "TARGETS",
    "TARGET_OPTIONS",
    "UNSAFE_WORKAROUNDS",
    "GenerateError",
    "GenerateOptions",
    "GenerateRefused",
    "GeneratedFile",
    "GeneratedOutput",
    "OutputExistsError",
    "check_target_options",
    "generate",
    "options_given",
]
