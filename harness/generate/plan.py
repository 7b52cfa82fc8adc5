"""The one model every generator target shares: what to pass through and how to bind it.

A :class:`Plan` is built from a checked root: the devices asked for, the endpoints that share
their IOMMU groups (a group goes to a VM whole, so they are passed along and listed), how they
become guest devices (all functions of a slot together as one multifunction device), their
host drivers, the narrowest ``vfio-pci ids=`` entry that captures nothing else, whether the
ROM BAR should be hidden, the VM, the CPU vendor and the bootloader.

Devices the checker fails are refused (:class:`GenerateRefused`, with the checker's reasons and,
for storage controllers, the disk-passthrough alternative) unless ``force`` is set, in which
case every output says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import exitcodes, paste
from harness.bootconfig import BootConfig, PciIdMatch, host_driver_module, read_boot_config, vfio_id_for
from harness.checker import CheckReport, DeviceReport, check_root
from harness.checks.base import CheckOptions
from harness.errors import InputError, UsageError, VfiolabError
from harness.findings import Severity
from harness.generate.targets import QEMU_FORMATS, UNSAFE_WORKAROUNDS
from harness.generate.vm import PassedDevice, VmInfo, host_functions, read_vm
from harness.pci.address import Bdf
from harness.sysfs import HostView, PciFunction, device_file

if TYPE_CHECKING:
    from harness.generate.libvirt_domain import DomainDocument

#: Device classes whose option ROM only serves the VM's boot firmware (storage, network): the
#: ROM BAR is hidden for them (checker rom.not-needed).
_ROM_NOT_NEEDED_CLASSES = (0x01, 0x02)
_DISPLAY_CLASS = 0x03
#: Proxmox's node name when the root names no host (a fresh installation's default is "pve").
DEFAULT_NODE = "pve"
#: Where the node name is read from, in order (pve-common INotify.pm reads /etc/hostname; the
#: running kernel's name is what ``uname -n`` gives).
HOSTNAME_FILES = ("etc/hostname", "proc/sys/kernel/hostname")
#: Guest slots on bus 0 that the machine itself occupies (QEMU hw/i386/pc_q35.c: the host bridge
#: at 00.0, ICH9 LPC, SATA and SMBus at 1f.x; hw/i386/pc_piix.c: PIIX3 ISA, IDE, USB and ACPI at
#: 01.x). QEMU refuses a device there ("slot 31 function 0 not available for vfio-pci, in use by
#: ICH9-LPC").
RESERVED_GUEST_SLOTS = {
    "q35": {0x00: "the host bridge", 0x1F: "the ICH9 LPC, SATA and SMBus functions"},
    "pc": {0x00: "the host bridge", 0x01: "the PIIX3 ISA, IDE, USB and ACPI functions"},
}


@dataclass
class GenerateOptions:
    vmid: int = 100
    #: Generate even for devices the checker fails (every output then says so).
    force: bool = False
    #: Workarounds that give up a protection, each asked for by name (UNSAFE_WORKAROUNDS).
    unsafe: tuple[str, ...] = ()
    #: libvirt: a whole minimal <domain> instead of the <hostdev> elements.
    domain_xml: bool = False
    #: Guest PCI address for libvirt/QEMU (``bus:slot``, e.g. ``06:00``), when wanted.
    guest_address: str | None = None
    #: libvirt: the VM's domain XML (``--domain FILE``, read by
    #: :func:`harness.generate.libvirt_domain.read_domain_file`) instead of a Proxmox VM.
    domain: DomainDocument | None = None
    #: qemu: how the arguments are printed, one per line ("lines", the default) or as one
    #: shell-quoted line ("shell").
    qemu_format: str | None = None
    #: ID overrides seen by the guest: vendor-id, device-id, sub-vendor-id, sub-device-id
    #: (values like ``0x1060``).
    id_overrides: dict[str, str] = field(default_factory=dict)
    #: Proxmox node name for the resource mapping (default: the root's /etc/hostname).
    node: str | None = None


class GenerateRefused(VfiolabError):
    """The checker fails a device (or a group peer it would take along)."""

    exit_code = exitcodes.FAIL

    def __init__(self, reasons: list[str], alternative: str | None = None, offers: list[str] | None = None) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
        #: What to do instead (the proxmox-disks output for a storage controller), as text.
        self.alternative = alternative
        #: The ways round each refused device's failure family (harness.generate.instead), one line each.
        self.offers = offers or []


class GenerateError(UsageError):
    """Bad input for the generator (unknown target, unknown device, bad option)."""


@dataclass
class PlannedFunction:
    function: PciFunction
    report: DeviceReport
    #: Asked for on the command line; False for a group peer passed along with it.
    requested: bool
    host_module: str | None
    #: The narrowest vfio-pci ids= entry that captures nothing else; None: only the address
    #: tells it apart from an identical device.
    vfio_id: PciIdMatch | None
    #: False: hide the ROM BAR (rombar=0); None: leave QEMU's default.
    rom_bar: bool | None

    @property
    def address(self) -> str:
        return self.function.name


@dataclass
class PlannedSlot:
    """One guest device: a host slot's functions that go to the VM together."""

    functions: list[PlannedFunction]
    #: Every function of the host slot is in the plan (Proxmox "All Functions").
    whole_slot: bool

    @property
    def first(self) -> PlannedFunction:
        return self.functions[0]

    @property
    def host_id(self) -> str:
        """``0000:0b:00`` for a whole multifunction slot, else the function's address."""
        if self.whole_slot and len(self.functions) > 1:
            return self.first.address.rsplit(".", 1)[0]
        return self.first.address

    @property
    def rom_bar(self) -> bool | None:
        return self.first.rom_bar


@dataclass
class Plan:
    root: Path
    view: HostView
    report: CheckReport
    vm: VmInfo
    options: GenerateOptions
    boot: BootConfig
    slots: list[PlannedSlot] = field(default_factory=list)
    #: Sentences every output starts with (peers taken along, --force).
    notes: list[str] = field(default_factory=list)
    #: Sentences about the VM for the targets that configure it (assumptions, what it already
    #: passes), warnings first.
    vm_notes: list[str] = field(default_factory=list)
    #: Warnings about what the VM already passes and the checker fails (also in file headers).
    vm_warnings: list[str] = field(default_factory=list)
    #: Host functions the VM's configuration already passes, and where.
    passed_by: dict[Bdf, PassedDevice] = field(default_factory=dict)
    #: The checker's failures that --force overrode, by device.
    forced: list[str] = field(default_factory=list)

    @property
    def functions(self) -> list[PlannedFunction]:
        return [item for slot in self.slots for item in slot.functions]

    @property
    def cpu_vendor(self) -> str | None:
        return self.view.cpu.vendor

    @property
    def node(self) -> str:
        return self.node_and_source()[0]

    def node_and_source(self) -> tuple[str, str]:
        """(the Proxmox node name for resource mappings, where it came from: "--node", the file
        it was read from, or "assumed"). A name on the root that Proxmox would not accept is
        refused (:class:`~harness.errors.InputError`): it would end up in a command to paste."""
        if self.options.node:
            return self.options.node, "--node"
        for relative in HOSTNAME_FILES:
            text = self.view.read_text(relative)
            if text is None or not text.strip():
                continue
            node = paste.node_from_hostname(text)
            if not paste.is_node_name(node):
                raise InputError(
                    f"{self.view.show(relative)} holds {paste.printable(text.strip())!r}, which is not a Proxmox node "
                    "name (letters, digits and '-', as pve-common's pve-node format); give the node with --node NAME"
                )
            return node, self.view.show(relative)
        return DEFAULT_NODE, "assumed"

    def file_to_rewrite(self, relative: str) -> tuple[str | None, str]:
        """The current text of a host file a target writes out whole (``""`` when there is no
        such file), or (None, why not) when it is there but cannot be read (a FIFO, a link that
        leads nowhere inside the root): a whole file made from nothing would drop every line the
        host has in it."""
        relative = relative.lstrip("/")
        text, reason = self.view.read_checked_text(relative)
        if text is not None:
            return text, ""
        if not self.view.fs.lexists(relative):
            return "", ""
        target = self.view.readlink(relative)
        return (
            None,
            f"it cannot be read ({f'a symlink to {target} that leads nowhere inside the root' if target else reason})",
        )

    def guest_bdf(self, slot_index: int, function: int) -> Bdf | None:
        """The guest address of a planned function, from --guest-address (``bus:slot``). Further
        guest devices take the next slots; on q35 behind root ports (bus other than 0) each one
        is slot 0 of the next bus, since a root port carries one device."""
        text = self.options.guest_address
        if not text:
            return None
        bus_text, _, slot_text = text.partition(":")
        bus, slot = int(bus_text, 16), int(slot_text, 16)
        if bus and self.vm.q35:
            return Bdf(0, bus + slot_index, slot, function)
        return Bdf(0, bus, slot + slot_index, function)

    def vm_header(self) -> list[str]:
        """:meth:`header` plus the warnings about the VM, for files that configure the VM."""
        return [*self.header(), *self.vm_warnings]

    def reused_key(self, slot: PlannedSlot) -> PassedDevice | None:
        """What in the VM's configuration already passes a function of ``slot``."""
        passed = [self.passed_by[item.function.bdf] for item in slot.functions if item.function.bdf in self.passed_by]
        return passed[0] if passed else None

    def comments(self) -> list[str]:
        """:meth:`header` as ``#`` comment lines (modprobe.d, shell, kernel cmdline files)."""
        return [paste.comment(line) for line in self.header()]

    def forced_comment(self) -> list[str]:
        if not self.forced:
            return []
        return ["WARNING: forced (--force): generated although the checker fails: " + "; ".join(self.forced)]

    def header(self) -> list[str]:
        """The comment lines every generated file starts with."""
        devices = ", ".join(f"{item.address} [{item.function.id_text}]" for item in self.functions)
        return [f"vfiolab: passthrough of {devices}", *self.forced_comment()]


def _failures(report: DeviceReport, fixed: frozenset[str] = frozenset()) -> list[str]:
    """The checker's failures of a device, less those the target's own output fixes."""
    reasons = [
        f"{finding.code}: {finding.message}"
        for finding in report.findings
        if finding.severity is Severity.FAIL and finding.code not in fixed
    ]
    reasons += [f"{code} (host)" for code in report.blocked_by]
    return reasons


def _card_functions(view: HostView, function: PciFunction) -> list[PciFunction]:
    """For a display device, the other endpoint functions of its slot (its card's audio, USB)."""
    if function.class_code is None or function.class_code >> 16 != _DISPLAY_CLASS:
        return []
    return [other for other in view.endpoints() if other.bdf.slot == function.bdf.slot and other.bdf != function.bdf]


def _rom_bar(function: PciFunction) -> bool | None:
    if function.has_rom and function.class_code is not None and function.class_code >> 16 in _ROM_NOT_NEEDED_CLASSES:
        return False
    return None


def _slots(view: HostView, planned: list[PlannedFunction]) -> list[PlannedSlot]:
    by_slot: dict[tuple[int, int, int], list[PlannedFunction]] = {}
    for item in sorted(planned, key=lambda entry: entry.function.bdf):
        by_slot.setdefault(item.function.bdf.slot, []).append(item)
    slots = []
    for key, items in by_slot.items():
        on_host = [function for function in view.functions.values() if function.bdf.slot == key]
        slots.append(PlannedSlot(items, whole_slot=len(items) == len(on_host)))
    return slots


def build_plan(
    root: Path,
    devices: list[str],
    options: GenerateOptions | None = None,
    refuse: bool = True,
    report: CheckReport | None = None,
    *,
    fixed: frozenset[str] = frozenset(),
) -> Plan:
    """Check ``root`` and plan the passthrough of ``devices`` (addresses). ``refuse=False`` is
    for targets that do not pass the devices themselves (the disk fallback). ``report``: the
    checker's report of every endpoint of ``root``, when the caller already has it. ``fixed``:
    checker failures the target's own output fixes, which do not refuse it."""
    options = options or GenerateOptions()
    _check_options(options)
    unknown = [name for name in options.unsafe if name not in UNSAFE_WORKAROUNDS]
    if unknown:
        raise GenerateError(f"unknown workaround {unknown[0]!r}; known: {', '.join(UNSAFE_WORKAROUNDS)}")
    if not devices:
        raise GenerateError("name at least one device (--device 0000:03:00.0)")
    try:
        wanted = [Bdf.parse(text) for text in devices]
    except ValueError as error:
        raise GenerateError(str(error)) from None
    if report is None or report.options.devices is not None:
        report = check_root(root, CheckOptions(devices=None))
    view = report.view
    missing = [str(bdf) for bdf in wanted if view.function(bdf) is None]
    if missing:
        raise GenerateError(f"no such PCI device under {root}: {', '.join(missing)}")
    reports = {item.function.bdf: item for item in report.devices}
    vm = options.domain.vm if options.domain is not None else read_vm(view, options.vmid)
    plan = Plan(root, view, report, vm, options, read_boot_config(view))
    if vm.rejected_name is not None and vm.kind == "libvirt":
        plan.vm_notes.append(
            f"the domain's name {paste.printable(vm.rejected_name)!r} cannot go into a command: DOMAIN stands for it"
        )
    elif vm.rejected_name is not None:
        plan.vm_notes.append(
            f"VM {options.vmid}'s name {paste.printable(vm.rejected_name)!r} is not a DNS name (Proxmox's format "
            f"for VM names): vm{options.vmid} is used instead"
        )
    if vm.kind == "assumed":
        plan.vm_notes.append(
            f"VM {options.vmid} has no configuration on this root: assuming machine q35 with OVMF (UEFI) firmware"
        )
    chosen: dict[Bdf, bool] = {}
    for bdf in wanted:
        function = view.function(bdf)
        assert function is not None
        if function.is_bridge or bdf not in reports:
            raise GenerateError(f"{bdf} is a bridge, not an endpoint: pass the devices behind it instead")
        chosen[bdf] = True
        peers = view.group_peers(function)
        for peer in peers:
            chosen.setdefault(peer.bdf, False)
        card = _card_functions(view, function)
        for other in card:
            chosen.setdefault(other.bdf, False)
        if card and any(other.bdf not in wanted for other in card):
            listed = ", ".join(f"{other.bdf.short} [{other.id_text}]" for other in card)
            plan.notes.append(
                f"{bdf} is a display device: the other functions of its card ({listed}) go to the VM with it as "
                "one multifunction device (a GPU's HDMI/DP audio and USB-C functions belong to its guest driver)"
            )
        # Imported here: only planning needs the ways round a device's failure family.
        from harness.generate.instead import taken_along

        for other in taken_along(view, function):
            if other.bdf not in wanted:
                chosen.setdefault(other.bdf, False)
                plan.notes.append(
                    f"{bdf} issues DMA as {other.bdf.short} [{other.id_text}]: passed to the VM with it, so that the "
                    "VM's IOMMU domain maps that requester ID too"
                )
        taken = [peer for peer in peers if peer.bdf not in wanted and peer not in card]
        if taken:
            listed = ", ".join(f"{peer.bdf.short} [{peer.id_text}] ({peer.driver or 'no driver'})" for peer in taken)
            plan.notes.append(
                f"{bdf} shares IOMMU group {function.iommu_group} with {listed}: passed to the VM with it "
                "(a group is bound to vfio-pci whole)"
            )
    reasons = []
    from harness.generate.instead import resolved_by_plan

    for bdf, requested in chosen.items():
        failures = _failures(reports[bdf], fixed | frozenset(resolved_by_plan(view, reports[bdf], chosen)))
        if failures:
            who = str(bdf) if requested else f"{bdf} (in the same IOMMU group)"
            reasons.append(f"{who}: " + "; ".join(failures))
    if reasons and refuse and not options.force:
        asked_for = [bdf for bdf, asked in chosen.items() if asked]
        alternative = _disk_alternative(view, asked_for, options)
        # Imported here: only a refusal needs the per-family ways round.
        from harness.generate.instead import offers

        instead = offers(view, reports, asked_for, list(chosen), options.vmid, disks_offered=alternative is not None)
        raise GenerateRefused(reasons, alternative, instead)
    plan.forced = reasons if refuse else []
    planned = [
        PlannedFunction(
            function=reports[bdf].function,
            report=reports[bdf],
            requested=requested,
            host_module=_host_module(view, reports[bdf].function),
            vfio_id=vfio_id_for(reports[bdf].function, view),
            rom_bar=_rom_bar(reports[bdf].function),
        )
        for bdf, requested in chosen.items()
    ]
    plan.slots = _slots(view, planned)
    _judge_existing(plan, reports)
    _check_guest_address(plan)
    return plan


def _node_or_none(plan: Plan) -> str | None:
    try:
        return plan.node
    except InputError:
        return None


def _judge_existing(plan: Plan, reports: dict[Bdf, DeviceReport]) -> None:
    """What the VM already passes: each device resolved on the host, judged by the checker's
    report, a warning for each the checker fails."""
    vm = plan.vm
    node = _node_or_none(plan) if any(passed.mapping for passed in vm.passed) else None
    for passed in vm.passed:
        functions, problems = host_functions(plan.view, passed, node)
        plan.vm_notes += [f"{vm.label} {passed.key} ({passed.value}): {problem}" for problem in problems]
        for bdf in functions:
            plan.passed_by.setdefault(bdf, passed)
            report = reports.get(bdf)
            failures = _failures(report) if report is not None else []
            if failures:
                plan.vm_warnings.append(_existing_warning(plan, passed, bdf, failures))
    plan.vm_notes[:0] = plan.vm_warnings


def _existing_warning(plan: Plan, passed: PassedDevice, bdf: Bdf, failures: list[str]) -> str:
    vm = plan.vm
    function = plan.view.function(bdf)
    ids = f" [{function.id_text}]" if function is not None else ""
    if vm.kind == "libvirt":
        remove = f"remove its <hostdev> ({paste.command('virsh', 'edit', vm.name or 'DOMAIN')})"
    else:
        remove = f"remove it ({paste.command('qm', 'set', vm.vmid, '-delete', passed.key)})"
        if plan.view.whole_disks(bdf):
            disks = paste.command("vfiolab", "generate", "proxmox-disks", "--device", str(bdf), "--vmid", vm.vmid)
            remove += f" and pass its disks instead ({disks})"
    return (
        f"WARNING: {vm.label} already passes {bdf}{ids} ({passed.key}: {passed.value}), and the checker fails it: "
        + "; ".join(failures)
        + f". {remove[:1].upper()}{remove[1:]}"
    )


def _check_guest_address(plan: Plan) -> None:
    """--guest-address: on the machine's free slots, one device per root port on q35, clear of
    what the VM's domain already places, and inside the PCI address space."""
    text = plan.options.guest_address
    if not text or not plan.slots:
        return
    vm = plan.vm
    first = plan.guest_bdf(0, 0)
    assert first is not None
    if vm.q35 and first.bus and first.device:
        raise GenerateError(
            f"--guest-address {text}: on q35 a device behind a PCIe root port (bus {first.bus:02x}) is at slot 00 "
            f"(a PCIe link carries one device, and the guest kernel scans only device 0 below a root port); "
            f"give {first.bus:02x}:00"
        )
    last = plan.guest_bdf(len(plan.slots) - 1, 0)
    assert last is not None
    if last.bus > 0xFF or last.device > 0x1F:
        raise GenerateError(f"--guest-address {text}: {len(plan.slots)} guest devices do not fit from there")
    reserved = RESERVED_GUEST_SLOTS["q35" if vm.q35 else "pc"]
    for index, slot in enumerate(plan.slots):
        for item in slot.functions:
            guest = plan.guest_bdf(index, item.function.bdf.function)
            assert guest is not None
            if guest.bus == 0 and guest.device in reserved:
                raise GenerateError(
                    f"--guest-address {text}: slot {guest.device:02x} of bus 00 holds {reserved[guest.device]} on "
                    f"machine {vm.machine}"
                )
            taken = vm.guest_addresses.get(guest)
            if taken is not None:
                raise GenerateError(
                    f"--guest-address {text}: {guest.short} is taken by {taken} in {vm.label} ({vm.source})"
                )


def _check_options(options: GenerateOptions) -> None:
    """The options a library caller can get wrong the way a command line can (the CLI's argument
    types give the same one-line errors first)."""
    if not paste.VMID_MIN <= options.vmid <= paste.VMID_MAX:
        raise GenerateError(
            f"VM id {options.vmid}: Proxmox VM ids are {paste.VMID_MIN} to {paste.VMID_MAX} (pve-common pve-vmid)"
        )
    if options.qemu_format is not None and options.qemu_format not in QEMU_FORMATS:
        raise GenerateError(f"--format {options.qemu_format!r}: one of {', '.join(QEMU_FORMATS)}")
    if options.node is not None and not paste.is_node_name(options.node):
        raise GenerateError(
            f"--node {paste.printable(options.node)!r}: a node name is letters, digits and '-' (one DNS label, "
            "no dots), not starting or ending with '-'"
        )


def _host_module(view: HostView, function: PciFunction) -> str | None:
    """The device's host driver module; a name that is not a module name (a corrupt or hostile
    root) is refused: it would go into modprobe.d lines, whose install commands a shell runs."""
    module = host_driver_module(view, function)
    if module is not None and not paste.is_module_name(module):
        raise InputError(
            f"{function.name}: the root names its driver {paste.printable(module)!r}, which is not a kernel module "
            f"name (read from {view.show(device_file(function.name, 'driver'))})"
        )
    return module


def _disk_alternative(view: HostView, devices: list[Bdf], options: GenerateOptions) -> str | None:
    storage = [bdf for bdf in devices if view.whole_disks(bdf)]
    if not storage:
        return None
    from harness.generate.proxmox_disks import disk_commands

    return disk_commands(view, storage, read_vm(view, options.vmid)).text()
