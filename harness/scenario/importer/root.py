"""A host from a root: a capture bundle, a captured or rendered directory, read as a scenario.

Everything is read through the root's confined, bounded reader (:mod:`harness.rootfs`), mostly as
the checker reads it (:func:`harness.sysfs.read_host`), plus what only a host description needs:
BAR and ROM resources, NUMA nodes, the CPU's family and model, mount options, swap sizes, disk
models and sizes, MAC addresses and the configuration files the checker and the generator read.
Each PCI function becomes a device description of its captured config space (so it encodes back
to the same bytes) and a ``pci:`` entry with its driver, label, bus range, power state and
condition; the parent of each function is the directory its own sits in (``/sys/devices/...``),
which the bus ranges reproduce (a disagreement is an error). Names from the root (disks,
device-mapper names, interfaces, drivers, modules, file paths) are checked with
:mod:`fakesys.names` before they go into the scenario: a name that could not be a path there is
left out and said so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fakesys import names
from fakesys.hw.model import Bar, BarKind, Rom
from fakesys.hw.rom import describe_image
from fakesys.sysfs.render import udev_id
from harness.checker import run_checks
from harness.d3cold import can_cut_power
from harness.pci import regs
from harness.pci.address import Bdf
from harness.pci.config import ConfigSpace
from harness.pciids import PciNames, find_ids_file
from harness.rootfs import ATTRIBUTE_LIMIT, CONFIG_SPACE_LIMIT, RootFS
from harness.scenario.importer import devices
from harness.scenario.importer.dmesg import LogEntry, log_entry, worth_expecting
from harness.scenario.importer.model import DeviceFile, ExpectedLine, HostDraft, short_bdf
from harness.sysfs import BlockDevice, HostView, PciFunction, read_host

#: include/linux/ioport.h
_IORESOURCE_IO = 0x100
_IORESOURCE_PREFETCH = 0x2000
_IORESOURCE_MEM_64 = 0x100000
_ROM_ENABLE = 0x1
#: Largest option ROM read (the ROM BAR of a GPU is at most a few MiB; a description keeps less).
ROM_LIMIT = 16 * 1024 * 1024
#: The part of a ROM image a description keeps; the rest of a longer image is not carried over.
ROM_HEAD = 4096
#: A configuration file larger than this is not carried over (the scenario file must stay below
#: the YAML reader's 1 MiB); the kernel's build configuration is kept in part (see below).
FILE_LIMIT = 64 * 1024
#: All configuration files together.
FILES_BUDGET = 384 * 1024
#: Where the checker and the generator look for configuration, as (directory, pattern) for
#: :meth:`harness.sysfs.HostView.config_files` (patterns are one glob per path level).
CONFIG_LOCATIONS = (
    ("etc", "hostname"),
    ("etc/default", "grub"),
    ("etc/default/grub.d", "*"),
    ("etc/kernel", "cmdline"),
    ("etc/kernel", "proxmox-boot-uuids"),
    ("etc", "modules"),
    ("etc/modules-load.d", "*"),
    ("etc/modprobe.d", "*"),
    ("lib/modprobe.d", "*"),
    ("usr/lib/modprobe.d", "*"),
    ("usr/local/lib/modprobe.d", "*"),
    ("run/modprobe.d", "*"),
    ("usr/lib/modules-load.d", "*"),
    ("etc/initramfs-tools", "modules"),
    ("etc/initramfs-tools", "initramfs.conf"),
    ("etc/initramfs-tools/conf.d", "*"),
    ("etc/initramfs-tools/scripts", "*/*"),
    ("usr/share/initramfs-tools/scripts", "*/*"),
    ("etc", "dracut.conf"),
    ("etc/dracut.conf.d", "*"),
    ("usr/lib/dracut/dracut.conf.d", "*"),
    ("etc", "mkinitcpio.conf"),
    ("etc/mkinitcpio.conf.d", "*"),
    ("etc/driverctl.d", "*"),
    ("etc/pve/qemu-server", "*.conf"),
    ("etc/pve/mapping", "*.cfg"),
    ("etc/libvirt/qemu", "*.xml"),
    ("boot", "config-*"),
    ("lib/modules", "*/modules.builtin"),
    ("usr/lib/modules", "*/modules.builtin"),
    ("proc/spl/kstat/zfs", "*/state"),
    ("run/udev/data", "b*"),
    ("run/qemu-server", "pci-id-reservations"),
)
#: Lines of the kernel's build configuration the checker reads (a whole one is 250 KiB).
_KERNEL_CONFIG_LINE = re.compile(r"^(?:# )?CONFIG_\w*(?:IOMMU|VFIO|PCI)\w*")
#: Modules whose parameters a host description carries (the ones the checker and the simulated
#: kernel act on).
MODULES = ("vfio", "vfio_pci", "vfio_iommu_type1", "vfio_pci_core", "kvm", "kvm_intel", "kvm_amd")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class RootSource:
    """A root being imported: its reader, how it is named in messages, the view of it."""

    fs: RootFS
    label: str
    view: HostView


def _hex_number(text: str | None) -> int | None:
    try:
        return int((text or "").strip(), 16)
    except ValueError:
        return None


def _decimal(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _one_line(text: str | None) -> str | None:
    if text is None:
        return None
    stripped = text.strip()
    return None if not stripped or _CONTROL.search(stripped) else stripped


class RootImporter:
    def __init__(self, source: RootSource, scenario: str, draft: HostDraft) -> None:
        self.source = source
        self.view = source.view
        self.scenario = scenario
        self.draft = draft
        self.names = PciNames(find_ids_file(), {f.vendor for f in self.view.functions.values() if f.vendor})

    def where(self, relative: str) -> str:
        return f"{self.source.label}:/{relative}"

    def text(self, relative: str, limit: int = ATTRIBUTE_LIMIT) -> str | None:
        return self.view.read_text(relative, limit=limit)

    # --- PCI ----------------------------------------------------------------------------------

    def resources(self, function: PciFunction) -> list[tuple[int, int, int]]:
        rows: list[tuple[int, int, int]] = []
        for line in (self.text(f"{function.path}/resource") or "").splitlines():
            parts = line.split()
            values = [_hex_number(part) for part in parts[:3]]
            if len(values) == 3 and all(value is not None for value in values):
                start, end, flags = (int(value or 0) for value in values)
                rows.append((start, end, flags))
        return rows

    def bars(self, function: PciFunction, config: bytes, rows: list[tuple[int, int, int]]) -> list[Bar]:
        """BARs as the kernel holds them (``resource``): addresses, sizes, unassigned ones, and
        virtual ones (a resource the register does not show)."""
        bridge = len(config) > 0x0E and config[0x0E] & 0x7F == regs.HEADER_LAYOUT_BRIDGE
        offsets = regs.BAR_OFFSETS_TYPE1 if bridge else regs.BAR_OFFSETS_TYPE0
        bars: list[Bar] = []
        index = 0
        while index < len(offsets) and index < len(rows):
            start, end, flags = rows[index]
            if not flags:
                index += 1
                continue
            kind = BarKind.IO if flags & _IORESOURCE_IO else BarKind.MEMORY
            bits = 64 if kind is BarKind.MEMORY and flags & _IORESOURCE_MEM_64 else 32
            register = regs.read_register(config, offsets[index], 4) if len(config) >= offsets[index] + 4 else 0
            assigned = not (start == 0 and end == 0)
            virtual = assigned and register == 0 and not (bits == 64 and self._upper(config, offsets, index))
            size = end - start + 1 if assigned else None
            if size is not None and (size <= 0 or size & (size - 1)):
                self.draft.note(
                    str(function.bdf), f"BAR {index}: resource {start:#x}-{end:#x} is no power of two; left out"
                )
                index += 2 if bits == 64 else 1
                continue
            bars.append(
                Bar(index, kind, start if assigned else 0, size, bits, bool(flags & _IORESOURCE_PREFETCH), virtual)
            )
            index += 2 if bits == 64 else 1
        return bars

    @staticmethod
    def _upper(config: bytes, offsets: tuple[int, ...], index: int) -> int:
        if index + 1 >= len(offsets) or len(config) < offsets[index + 1] + 4:
            return 0
        return regs.read_register(config, offsets[index + 1], 4)

    def rom(self, function: PciFunction, config: bytes, rows: list[tuple[int, int, int]]) -> Rom | None:
        if len(rows) <= 6 or not rows[6][2]:
            return None
        start, end, flags = rows[6]
        size = end - start + 1
        if size < 2048 or size & (size - 1):
            return None
        bridge = config[0x0E] & 0x7F == regs.HEADER_LAYOUT_BRIDGE if len(config) > 0x0E else False
        offset = regs.ROM_BAR_TYPE1 if bridge else regs.ROM_BAR_TYPE0
        register = regs.read_register(config, offset, 4) if len(config) >= offset + 4 else 0
        image = b""
        if function.has_rom:
            data = self.view.read_bytes(f"{function.path}/rom", limit=min(size, ROM_LIMIT))
            image = data or b""
        if len(str(describe_image(image).get("hex", ""))) > 3 * ROM_HEAD:
            self.draft.assume(
                str(function.bdf),
                "option ROM image",
                f"its first {ROM_HEAD} bytes, the rest of the {len(image)} filled with zeros",
                "a description keeps the image header and PCI data structure, not vendor code",
                self.where(f"{function.path}/rom"),
            )
            image = image[:ROM_HEAD] + bytes(len(image) - ROM_HEAD)
        return Rom(start, size, bool(flags & _ROM_ENABLE), image, register & regs.ROM_ADDRESS_MASK == 0 and start != 0)

    def dead_config(self, function: PciFunction) -> bytes:
        """What a function whose config reads all-ones was: its identity from the kernel's
        cached attributes (the rest is unknown)."""
        config = bytearray(regs.CONVENTIONAL_CONFIG_SIZE)
        regs.write_register(config, 0x00, 2, function.vendor or 0xFFFF)
        regs.write_register(config, 0x02, 2, function.device or 0xFFFF)
        regs.write_register(config, 0x08, 1, function.revision or 0)
        regs.write_register(config, 0x09, 3, function.class_code or 0)
        bridge = function.class_code is not None and function.class_code >> 8 == 0x0604
        config[0x0E] = regs.HEADER_LAYOUT_BRIDGE if bridge else regs.HEADER_LAYOUT_NORMAL
        if not bridge:
            regs.write_register(config, 0x2C, 2, function.subsystem_vendor or 0)
            regs.write_register(config, 0x2E, 2, function.subsystem_device or 0)
        self.draft.assume(
            str(function.bdf),
            "config space",
            "the IDs, class and revision the kernel cached; everything else zero",
            "the device reads all-ones (dead): its registers cannot be captured",
            self.where(f"{function.path}/config"),
        )
        return bytes(config)

    def title(self, function: PciFunction) -> str:
        name = self.names.device(function.vendor, function.device) or "Device"
        klass = self.names.class_name(function.class_code)
        prefix = f"{klass}: " if klass else ""
        return f"{prefix}{name} [{function.id_text}]"

    def device_file(self, function: PciFunction) -> DeviceFile:
        bdf = str(function.bdf)
        blob = self.view.read_bytes(f"{function.path}/config", limit=CONFIG_SPACE_LIMIT) or b""
        rows = self.resources(function)
        dead = function.config_dead
        config = self.dead_config(function) if dead else blob
        if len(config) not in (regs.UNPRIVILEGED_CONFIG_SIZE, regs.CONVENTIONAL_CONFIG_SIZE, regs.EXTENDED_CONFIG_SIZE):
            raise ValueError(f"{self.where(function.path + '/config')}: {len(config)} bytes of config space")
        if len(config) == regs.UNPRIVILEGED_CONFIG_SIZE:
            self.draft.assume(
                bdf,
                "config space above 0x40",
                "zeros, no capabilities",
                "the capture holds 64 bytes (it was made without root)",
                self.where(f"{function.path}/config"),
            )
        bars = self.bars(function, config, rows)
        rom = self.rom(function, config, rows)
        captured = config
        config, _ = devices.at_rest(config)
        source = f"captured config space of {bdf} in {self.source.label} (/{function.path}/config, resource)"
        model = devices.model_from_bytes(config, bars, rom, self.title(function))
        notes = []
        if dead:
            notes.append("The captured device read all-ones; its host entry says condition: dead.")
        description = devices.from_model(model, [source], notes)
        if self.presence_hardwired_clear(function, config):
            # fakesys sets Presence Detect State from the topology; this port read clear with a
            # device below it, which the no_presence_detect behaviour keeps.
            description["behaviours"] = [{"name": "no_presence_detect"}]
        sizes = {bar.index: bar.size for bar in bars if bar.size is not None}
        expected = None if dead else config
        if not dead and len(config) > regs.UNPRIVILEGED_CONFIG_SIZE:
            self.draft.captured_config[bdf] = captured
        if function.power_state in ("D0", "D1", "D2", "D3hot", "D3cold", "unknown"):
            self.draft.captured_power[bdf] = function.power_state
        if function.irq is not None:
            self.draft.captured_irq[bdf] = function.irq
        if function.reset_method is not None:
            self.draft.captured_reset[bdf] = function.reset_method
        return DeviceFile(devices.device_file_name(self.scenario, bdf), description, [bdf], expected, sizes, source)

    def presence_hardwired_clear(self, function: PciFunction, config: bytes) -> bool:
        """A port with a slot whose Slot Status shows no card while a function sits below it."""
        if len(config) < regs.CONVENTIONAL_CONFIG_SIZE or function.config_dead:
            return False
        express = ConfigSpace(config).express()
        if express is None or not express.slot_implemented or express.get("sltsta", "presence_detect"):
            return False
        return bool(self.view.children(function.bdf))

    def pci_entry(self, function: PciFunction, name: str) -> dict[str, object]:
        bdf = str(function.bdf)
        entry: dict[str, object] = {"bdf": short_bdf(bdf), "device": name}
        if function.driver:
            try:
                entry["driver"] = names.driver_name(function.driver)
            except names.BadName as problem:
                self.draft.note(bdf, f"driver left out: {problem}", self.where(f"{function.path}/driver"))
        label = _one_line(function.label)
        if label:
            entry["label"] = label
        if function.is_bridge:
            found = self.bus_range(function)
            if found is not None:
                secondary, subordinate = found
                bus: dict[str, int] = {"secondary": secondary}
                if subordinate != secondary:
                    bus["subordinate"] = subordinate
                entry["bus"] = bus
        numa = _decimal(self.text(f"{function.path}/numa_node"))
        if numa is not None and numa >= 0:
            entry["numa_node"] = numa
        if function.config_dead:
            entry["condition"] = "dead"
        if can_cut_power(self.view, function):
            entry["acpi_power_resources"] = True
        if function.driver_override:
            self.draft.note(
                bdf,
                f"driver_override {function.driver_override!r} is not carried over (a host description has none; "
                "a scenario step driver_override sets it)",
            )
        return entry

    def bus_range(self, function: PciFunction) -> tuple[int, int] | None:
        """A bridge's bus numbers: the kernel's attributes, else its config space, else (a dead
        bridge of an older kernel) the buses of the functions its sysfs directory holds."""
        secondary = _decimal(self.text(f"{function.path}/secondary_bus_number"))
        subordinate = _decimal(self.text(f"{function.path}/subordinate_bus_number"))
        config = function.config
        if config is not None and not config.dead and not config.truncated:
            secondary = secondary if secondary is not None else config.read(0x19, 1)
            subordinate = subordinate if subordinate is not None else config.read(0x1A, 1)
        if secondary is not None and 0 < secondary <= 255:
            return secondary, max(secondary, subordinate or 0)
        below = self.buses_below(function.bdf, set())
        if not below:
            return None
        found = (min(below), max(below))
        self.draft.assume(
            str(function.bdf),
            "bus numbers",
            f"secondary {found[0]:02x}, subordinate {found[1]:02x}",
            "the bridge does not answer and the root has no secondary_bus_number: the buses of the functions below it",
        )
        return found

    def buses_below(self, bridge: Bdf, seen: set[Bdf]) -> set[int]:
        seen.add(bridge)
        buses: set[int] = set()
        for child in self.view.children(bridge):
            if child.bdf in seen:
                continue
            buses.add(child.bdf.bus)
            buses |= self.buses_below(child.bdf, seen)
        return buses

    def import_pci(self) -> None:
        host = self.draft.host
        entries: list[dict[str, object]] = []
        for bdf in sorted(self.view.functions):
            function = self.view.functions[bdf]
            if function.problems:
                for attribute, problem in sorted(function.problems.items()):
                    self.draft.note(str(bdf), f"{attribute}: {problem}", self.where(function.path))
            if function.config is None:
                self.draft.note(str(bdf), "config space not readable; the function is left out")
                continue
            candidate = self.device_file(function)
            name = devices.add_device(self.draft.devices, candidate)
            entries.append(self.pci_entry(function, name))
        present = {entry["bdf"] for entry in entries}
        kept = []
        for entry in entries:
            address = Bdf.parse(str(entry["bdf"]))
            first = short_bdf(address._replace(function=0))
            if address.function and first not in present:
                self.draft.note(
                    str(address),
                    f"left out: function 0 of its slot ({first}) is not imported (the kernel scans 1-7 only behind 0)",
                )
                continue
            kept.append(entry)
        host["pci"] = kept
        self.draft.captured_groups = {
            number: [str(member) for member in group.devices] for number, group in sorted(self.view.groups.items())
        }
        self._check_parents()

    def _check_parents(self) -> None:
        """The parent each function's sysfs directory shows must be the one its bus range gives."""
        owners: dict[tuple[int, int], Bdf] = {}
        for function in self.view.functions.values():
            if function.is_bridge and function.secondary_bus:
                owners[(function.bdf.domain, function.secondary_bus)] = function.bdf
        for function in self.view.functions.values():
            by_range = owners.get((function.bdf.domain, function.bdf.bus))
            if by_range != function.parent:
                shown = function.parent or "the root bus"
                self.draft.note(
                    str(function.bdf),
                    f"its sysfs directory sits under {shown}, its bus number under {by_range or 'the root bus'}; "
                    "the scenario places it by bus number",
                )

    # --- Host ---------------------------------------------------------------------------------

    def import_kernel(self, log: list[LogEntry]) -> None:
        view = self.view
        kernel: dict[str, object] = {}
        release = _one_line(view.kernel_release)
        if release:
            kernel["release"] = release
        else:
            self.draft.assume("kernel", "release", "6.8.12-4-pve", "the root has no proc/sys/kernel/osrelease")
            kernel["release"] = "6.8.12-4-pve"
        version = _one_line(self.text("proc/version"))
        if version:
            kernel["version"] = version
        if view.cmdline is not None:
            kernel["cmdline"] = view.cmdline
        else:
            self.draft.assume("kernel", "cmdline", "(fakesys's default)", "the root has no proc/cmdline")
        if not re.match(r"^\d+\.\d+", str(kernel["release"])):
            kernel["profile"] = "6.8"
            self.draft.assume("kernel", "profile", "6.8", f"cannot tell the version from the release {release!r}")
        self.draft.host["kernel"] = kernel
        where = f"{self.source.label}:{view.kernel_log_path or '/var/log/dmesg'}"
        self.draft.log.extend((where, entry) for entry in log)
        for entry in log:
            why = worth_expecting(entry.text)
            if why:
                self.draft.expected_lines.append(ExpectedLine(entry.text, why, f"{where}:{entry.line}"))

    def import_cpu(self) -> None:
        text = self.text("proc/cpuinfo", limit=4 * 1024 * 1024) or ""
        cpu: dict[str, object] = {}
        values: dict[str, str] = {}
        cores = 0
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "processor":
                cores += 1
            values.setdefault(key, value.strip())
        vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(values.get("vendor_id", ""))
        if vendor is None:
            vendor = "intel"
            self.draft.assume(
                "cpu", "vendor", "intel", f"proc/cpuinfo names {values.get('vendor_id') or 'no vendor'!r}"
            )
        cpu["vendor"] = vendor
        model = _one_line(values.get("model name"))
        if model:
            cpu["model"] = model
        for key, field in (("cpu family", "family"), ("model", "model_number")):
            number = _decimal(values.get(key))
            if number is not None:
                cpu[field] = number
        if 1 <= cores <= 1024:
            cpu["cores"] = cores
        flags = values.get("flags")
        if flags is not None:
            cpu["flags"] = [flag for flag in flags.split() if re.fullmatch(r"[\w.-]{1,64}", flag)]
        self.draft.host["cpu"] = cpu

    def import_iommu(self, log: list[LogEntry]) -> None:
        view = self.view
        vendor = self.draft.host.get("cpu", {}).get("vendor", "intel")
        table = "DMAR" if vendor == "intel" else "IVRS"
        iommu: dict[str, object] = {
            "firmware_table": table in view.firmware_tables,
            "enabled": bool(view.groups) or bool(view.iommu_units),
        }
        texts = [entry.text for entry in log]
        ecaps = [unit.ecap for unit in view.iommu_units if unit.kind == "intel" and unit.ecap is not None]
        if ecaps:
            remapping = all(ecap & 0x8 for ecap in ecaps)
        else:
            remapping = any(
                text.startswith(("DMAR-IR: Enabled IRQ remapping", "AMD-Vi: Interrupt remapping enabled"))
                for text in texts
            )
            if not remapping and iommu["enabled"]:
                self.draft.assume(
                    "iommu",
                    "interrupt_remapping",
                    "false",
                    "neither an Intel ecap register nor a kernel log line shows it",
                )
        iommu["interrupt_remapping"] = remapping
        types = {group.type for group in view.groups.values() if group.type in ("DMA", "DMA-FQ", "identity")}
        if len(types) == 1:
            iommu["default_domain"] = types.pop()
        elif types:
            self.draft.note("iommu", f"groups have several domain types ({', '.join(sorted(types))}); DMA-FQ is kept")
        regions: dict[str, list[str]] = {}
        for number, group in sorted(view.groups.items()):
            extra = [
                region
                for region in group.reserved_regions
                if not region.endswith(" msi") and not _CONTROL.search(region)
            ]
            if extra and group.devices:
                first = short_bdf(sorted(group.devices)[0])
                regions[first] = extra
                if len(group.devices) > 1:
                    self.draft.assume(
                        first,
                        f"reserved regions of IOMMU group {number}",
                        "belong to this member",
                        "a group lists its regions, not whose they are",
                    )
        if regions:
            iommu["reserved_regions"] = regions
        self.draft.host["iommu"] = iommu

    def import_identity(self, log: list[LogEntry]) -> None:
        host = self.draft.host
        dmi_id: dict[str, str] = {}
        for attribute in (
            "sys_vendor",
            "product_name",
            "product_version",
            "board_vendor",
            "board_name",
            "bios_vendor",
            "bios_version",
            "bios_date",
            "chassis_vendor",
        ):
            value = _one_line(self.text(f"sys/class/dmi/id/{attribute}"))
            if value is not None and len(value) <= 128:
                dmi_id[attribute] = value
        for entry in log:
            if entry.text.startswith("DMI: ") and "dmi" not in host:
                host["dmi"] = entry.text[5:]
            if entry.text.startswith("Hypervisor detected: ") and "hypervisor" not in host:
                name = entry.text.partition(": ")[2]
                if name in ("KVM", "VMware", "Microsoft Hyper-V", "Xen HVM", "Xen PV", "ACRN", "Jailhouse", "Bhyve"):
                    host["hypervisor"] = name
        if self.view.hypervisor_type == "xen" and "hypervisor" not in host:
            host["hypervisor"] = "Xen HVM"
            self.draft.assume("host", "hypervisor", "Xen HVM", "sys/hypervisor/type says xen, not whether HVM or PV")
        if dmi_id:
            host["dmi_id"] = dmi_id
        product = " ".join(part for part in (dmi_id.get("sys_vendor"), dmi_id.get("product_name")) if part)
        host["name"] = product or f"imported from {self.source.label}"

    # --- Storage, network, modules, files ------------------------------------------------------

    def import_storage(self) -> None:
        view = self.view
        draft = self.draft
        partitions = {name for block in view.blocks.values() for name in block.partitions}
        known = {str(bdf) for bdf in view.functions}
        disks: list[dict[str, object]] = []
        # In the order of their device numbers (the simulated kernel numbers disks in list order).
        for name, block in sorted(view.blocks.items(), key=lambda item: self.device_number(item[1])):
            if name in partitions or block.dm_name is not None or block.controller is None:
                continue
            if str(block.controller) not in known:
                draft.note(name, f"its controller {block.controller} is not a captured PCI function; left out")
                continue
            disk = self.disk(block)
            if disk is not None:
                disks.append(disk)
        self._ports(disks)
        if disks:
            draft.host["disks"] = disks
        mappers: list[tuple[int, dict[str, object]]] = []
        for name, block in view.blocks.items():
            number = re.fullmatch(r"dm-(\d{1,6})", name)
            if block.dm_name is None or number is None:
                continue
            try:
                mapper = names.dm_name(block.dm_name)
                slaves = [names.block_name(slave) for slave in block.slaves]
            except names.BadName as problem:
                draft.note(name, f"left out: {problem}")
                continue
            mappers.append((int(number[1]), {"name": mapper, "slaves": slaves}))
        mappers.sort(key=lambda item: item[0])
        if [number for number, _ in mappers] != list(range(len(mappers))):
            draft.assume(
                "device_mapper",
                "dm numbers",
                "0 to N-1 in the captured order",
                "the simulated kernel numbers mapped devices in list order; the capture has gaps",
            )
        if mappers:
            draft.host["device_mapper"] = [item for _, item in mappers]
        self.import_mounts()

    def device_number(self, block: BlockDevice) -> tuple[int, int, str]:
        numbers = re.fullmatch(r"(\d{1,10}):(\d{1,10})", (self.text(f"{block.path}/dev") or "").strip())
        if numbers is None:
            return (1 << 32, 0, block.name)
        return (int(numbers[2]), int(numbers[1]), block.name)

    def disk(self, block: BlockDevice) -> dict[str, object] | None:
        draft = self.draft
        try:
            name = names.block_name(block.name)
        except names.BadName as problem:
            draft.note(block.name, f"left out: {problem}")
            return None
        if not re.fullmatch(r"[a-z]+[a-z0-9]*", name) or not (name.startswith("sd") or name.startswith("nvme")):
            draft.note(name, "left out: the simulated kernel renders SATA (sdX) and NVMe (nvmeXnY) disks only")
            return None
        path = block.path
        nvme = name.startswith("nvme")
        model_path = f"{path.rsplit('/', 1)[0]}/model" if nvme else f"{path}/device/model"
        model = _one_line(self.text(model_path)) or ""
        size = _decimal(self.text(f"{path}/size"))
        rotational = _decimal(self.text(f"{path}/queue/rotational"))
        disk: dict[str, object] = {"name": name, "controller": short_bdf(str(block.controller))}
        serial, wwn = self.ids_of(block, model, nvme)
        if not model:
            draft.assume(name, "model", "''", "the capture has no model attribute")
        if serial is None:
            serial = ""
            draft.assume(name, "serial", "''", "no /dev/disk/by-id name gives it")
        disk["model"] = model[:128]
        disk["serial"] = serial[:128]
        if wwn:
            disk["wwn"] = wwn[:128]
        if size is not None:
            disk["size_bytes"] = size * 512
        if rotational is not None:
            disk["rotational"] = bool(rotational)
        numbers = []
        for partition in block.partitions:
            number = _decimal(self.text(f"sys/class/block/{partition}/partition"))
            if number is not None and 1 <= number <= 256:
                numbers.append(number)
        if numbers:
            disk["partitions"] = sorted(numbers)
        ata = re.search(r"/ata(\d{1,4})/", path)
        disk["_ata"] = int(ata[1]) if ata else 0
        return disk

    def ids_of(self, block: BlockDevice, model: str, nvme: bool) -> tuple[str | None, str | None]:
        """Serial and WWN from the ``/dev/disk/by-id`` names udev made (sysfs has no ATA serial)."""
        prefix = ("nvme-" if nvme else "ata-") + udev_id(model) + "_"
        serial = wwn = None
        for link in block.by_id:
            if link.startswith(prefix) and "-part" not in link[len(prefix) :]:
                serial = link[len(prefix) :]
            elif link.startswith("wwn-") and "-part" not in link:
                wwn = link[4:]
            elif link.startswith("nvme-eui.") and "-part" not in link:
                wwn = link[9:]
        return serial, wwn

    def _ports(self, disks: list[dict[str, object]]) -> None:
        """SATA ports: each controller's disks in their ataN order, from 0."""
        by_controller: dict[object, list[dict[str, object]]] = {}
        for disk in disks:
            ata = disk.pop("_ata")
            if not str(disk["name"]).startswith("nvme"):
                disk["_order"] = ata
                by_controller.setdefault(disk["controller"], []).append(disk)
        assumed = False
        for members in by_controller.values():
            members.sort(key=lambda disk: int(str(disk["_order"])))
            for port, disk in enumerate(members):
                disk["port"] = port
                assumed = True
        for disk in disks:
            disk.pop("_order", None)
        if assumed:
            self.draft.assume(
                "disks",
                "SATA port numbers",
                "each controller's disks in ataN order, from 0",
                "sysfs numbers ATA links across controllers; empty ports are not seen",
            )

    def import_mounts(self) -> None:
        mounts: list[dict[str, str]] = []
        skipped = 0
        for line in (self.text("proc/mounts", limit=4 * 1024 * 1024) or "").splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            source, target, fstype, options = parts[:4]
            if not (source.startswith("/dev/") or fstype == "zfs"):
                skipped += 1
                continue
            target = target.replace("\\040", " ")
            mounts.append({"source": source, "target": target, "fstype": fstype, "options": options})
        if mounts:
            self.draft.host["mounts"] = mounts
        if skipped:
            self.draft.note("mounts", f"{skipped} mounts of virtual file systems (proc, sysfs, tmpfs ...) left out")
        swaps: list[dict[str, object]] = []
        for line in (self.text("proc/swaps") or "").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 3 and parts[0].startswith("/"):
                size = _decimal(parts[2])
                swaps.append({"source": parts[0], **({"size_kib": size} if size is not None else {})})
        if swaps:
            self.draft.host["swaps"] = swaps

    def import_net(self) -> None:
        known = {str(bdf) for bdf in self.view.functions}
        interfaces: list[dict[str, object]] = []
        for name, interface in sorted(self.view.net.items()):
            if interface.device is None or str(interface.device) not in known:
                continue
            try:
                entry: dict[str, object] = {"name": names.interface_name(name), "device": short_bdf(interface.device)}
                if interface.master:
                    entry["master"] = names.interface_name(interface.master)
            except names.BadName as problem:
                self.draft.note(name, f"left out: {problem}")
                continue
            if interface.operstate in ("up", "down", "unknown", "dormant", "lowerlayerdown", "notpresent", "testing"):
                entry["operstate"] = interface.operstate
            mac = _one_line(self.text(f"sys/class/net/{name}/address"))
            if mac and re.fullmatch(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}", mac):
                entry["mac"] = mac
            interfaces.append(entry)
        if interfaces:
            self.draft.host["net"] = interfaces

    def import_modules(self) -> None:
        modules: dict[str, dict[str, str]] = {}
        for module in MODULES:
            for param in self.view.listdir(f"sys/module/{module}/parameters"):
                if not names.PARAMETER_NAME.fullmatch(param):
                    continue
                value = _one_line(self.text(f"sys/module/{module}/parameters/{param}"))
                if value is not None:
                    modules.setdefault(module, {})[param] = value
        if self.view.exists("sys/module/vendor_reset/initstate"):
            # A module without parameters is loaded when its directory is there (harness.checks.gpu).
            modules.setdefault("vendor_reset", {})
        if modules:
            self.draft.host["modules"] = modules
        self.import_framebuffer()

    def import_framebuffer(self) -> None:
        from harness.checks.gpu import firmware_framebuffer

        found = firmware_framebuffer(self.view)
        if found is not None:
            start, end, resource, driver = found
            framebuffer: dict[str, object] = {"base": start, "size": end - start + 1, "resource": resource}
            if driver is not None:
                framebuffer["driver"] = driver
            self.draft.host["framebuffer"] = framebuffer

    def import_files(self) -> None:
        files: dict[str, str] = {}
        used = 0
        for directory, pattern in CONFIG_LOCATIONS:
            for shown, text in self.view.config_files(directory, pattern).items():
                kept = self.file_text(shown, text)
                if kept is None:
                    continue
                try:
                    names.file_path(shown)
                except names.BadName as problem:
                    self.draft.note(shown, f"left out: {problem}")
                    continue
                if used + len(kept) > FILES_BUDGET:
                    self.draft.note(shown, f"left out: the files already take {used} bytes (at most {FILES_BUDGET})")
                    continue
                files[shown] = kept
                used += len(kept)
        try:
            names.file_paths(list(files))
        except names.BadName as problem:
            self.draft.note("files", f"all left out: {problem}")
            files = {}
        if files:
            self.draft.host["files"] = files

    def file_text(self, shown: str, text: str) -> str | None:
        if "\ufffd" in text or "\x00" in text:
            self.draft.note(shown, "left out: not UTF-8 text")
            return None
        if len(text) <= FILE_LIMIT:
            return text
        if shown.startswith("/boot/config-"):
            kept = "".join(line + "\n" for line in text.splitlines() if _KERNEL_CONFIG_LINE.match(line))
            self.draft.note(shown, "only its IOMMU, VFIO and PCI options are kept (the checker reads those)")
            return kept
        self.draft.note(shown, f"left out: {len(text)} bytes (a configuration file is kept up to {FILE_LIMIT})")
        return None

    # --- The checker's view of the capture -------------------------------------------------------

    def import_checker(self) -> None:
        report = run_checks(self.view)
        imported = {entry["bdf"] for entry in self.draft.host.get("pci", [])}
        for device in report.devices:
            if short_bdf(device.function.bdf) not in imported:
                continue
            codes = sorted({finding.code for finding in device.findings})
            self.draft.checker[short_bdf(device.function.bdf)] = (device.verdict.label, codes)


def kernel_log(view: HostView) -> list[LogEntry]:
    """The root's kernel log as entries (times to the microsecond; every line of the file is
    the kernel's, in whatever form)."""
    entries = []
    for line in view.kernel_log or []:
        entry = log_entry(line.number, line.raw) or LogEntry(line.number, None, line.text)
        if entry.text:
            entries.append(entry)
    return entries


def import_root(fs: RootFS, label: str, scenario: str, draft: HostDraft) -> None:
    """Fill ``draft`` from the root ``fs`` (named ``label`` in messages)."""
    view = read_host(label, fs)
    if not view.functions:
        raise LookupError(f"{label}: no PCI functions under sys/bus/pci/devices (is this a captured root?)")
    importer = RootImporter(RootSource(fs, label, view), scenario, draft)
    log = kernel_log(view)
    importer.import_identity(log)
    importer.import_kernel(log)
    importer.import_cpu()
    importer.import_iommu(log)
    importer.import_pci()
    importer.import_storage()
    importer.import_net()
    importer.import_modules()
    importer.import_files()
    importer.import_checker()
    draft.sources.append(f"{label}: a captured root ({len(view.functions)} PCI functions)")
