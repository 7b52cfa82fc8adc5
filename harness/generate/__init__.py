"""The config generator: from a checked root and the devices to pass, the configuration each
tool needs, sharing one plan (:mod:`harness.generate.plan`) so that no two targets decide the
same thing twice.

Public API::

    from harness.generate import generate, GenerateOptions, GenerateRefused, TARGETS
    output = generate("proxmox", Path("/"), ["0000:00:17.0"], GenerateOptions(vmid=100))
    print(output.stdout_text(), end="")          # the one document (NeedsOutDirectory: several files)
    print(output.guidance(), end="", file=sys.stderr)   # notes, what stdout holds, next steps
    output.write(Path("plan"))                   # or every file, under the host's paths

    domain = read_domain_file("vm.xml")          # a libvirt domain (virsh dumpxml) as the VM
    generate("libvirt", Path("/"), ["0000:00:17.0"], GenerateOptions(domain=domain, domain_xml=True))

Errors: :class:`GenerateRefused` (the checker fails a device; ``.reasons``, ``.alternative``),
:class:`GenerateError` (bad input), :class:`~harness.generate.output.OutputExistsError`; all
derive from :class:`harness.errors.VfiolabError`; :class:`NeedsOutDirectory` is a usage error,
:class:`DomainFileError` an unreadable ``--domain`` file (exit 66).
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
from harness.generate.libvirt_domain import DomainDocument, DomainFileError, read_domain_file
from harness.generate.output import GeneratedFile, GeneratedOutput, NeedsOutDirectory, OutputExistsError
from harness.generate.plan import (
    OVERRIDE_PROPERTIES,
    QEMU_FORMATS,
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
    "libvirt": (libvirt.generate, "a <hostdev> element for virsh attach-device (--domain-xml: a whole domain)"),
    "qemu": (qemu.generate, "-device vfio-pci arguments, one per line, with pcie-root-port on q35"),
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
    "libvirt": frozenset({"--vmid", "--domain", "--domain-xml", "--guest-address", "--override", "--force"}),
    "qemu": frozenset({"--vmid", "--format", "--guest-address", "--override", "--force"}),
    "modprobe": _EARLY_BINDING,
    "initramfs-tools": _EARLY_BINDING,
    "dracut": _EARLY_BINDING,
    "mkinitcpio": _EARLY_BINDING,
    "driverctl": frozenset({"--force"}),
    "cmdline": frozenset({"--force", "--unsafe acs-override"}),
    "all": frozenset({"--vmid", "--override", "--force", "--unsafe acs-override", "--unsafe unsafe-interrupts"}),
}
#: Why a target cannot express an option a user may expect it to (added to the usage error).
CANNOT_EXPRESS: dict[tuple[str, str], str] = {
    ("proxmox", "--guest-address"): (
        "qemu-server places hostpciN devices itself (on q35 behind its own ich9-pcie-port-N root ports) and "
        "has no key for a guest address"
    ),
    ("all", "--guest-address"): "its VM part is Proxmox's hostpciN lines, which cannot place a device",
    ("proxmox", "--domain"): "it reads the VM from /etc/pve/qemu-server/<vmid>.conf on the root",
}


def options_given(options: GenerateOptions) -> set[str]:
    """The options set away from their defaults, as the command line spells them (``--vmid``
    cannot be told from its default here; the command line adds it when given)."""
    given = {f"--unsafe {name}" for name in options.unsafe}
    flags = {
        "--force": options.force,
        "--domain-xml": options.domain_xml,
        "--guest-address": options.guest_address is not None,
        "--domain": options.domain is not None,
        "--format": options.qemu_format is not None,
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
        why = CANNOT_EXPRESS.get((target, unused[0]))
        raise GenerateError(
            f"{unused[0]} does not apply to target {target}"
            + (f": {why}" if why else "")
            + f" (it applies to: {', '.join(users) or 'none'})"
        )
    if {"--domain", "--vmid"} <= given:
        raise GenerateError("--domain and --vmid both name the VM: give one")


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
    "CANNOT_EXPRESS",
    "OVERRIDE_PROPERTIES",
    "QEMU_FORMATS",
    "TARGETS",
    "TARGET_OPTIONS",
    "UNSAFE_WORKAROUNDS",
    "DomainDocument",
    "DomainFileError",
    "GenerateError",
    "GenerateOptions",
    "GenerateRefused",
    "GeneratedFile",
    "GeneratedOutput",
    "NeedsOutDirectory",
    "OutputExistsError",
    "check_target_options",
    "generate",
    "options_given",
    "read_domain_file",
]
