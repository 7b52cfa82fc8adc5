"""The device title and the header lines of ``lspci -v``/``-vv``/``-vvv``, back into registers.

What each line means, and which config-space bits it comes from, follows pciutils 3.9.0
``lspci.c`` (``show_terse``, ``show_verbose``, ``show_bases``, ``show_rom``, ``show_htype1``,
``show_range``); the older forms still found in reports (``None`` and ``[empty]`` windows of
pciutils 3.6, windows without ``[NN-bit]`` before 3.8, ``[virtual]`` in front of a region) are
read as well. Bridge windows that firmware left closed are encoded the way Linux leaves them
(``drivers/pci/setup-bus.c``, ``pci_setup_bridge_io``/``_mmio``/``_mmio_pref``: base above limit)
with the type bits the text shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.capture.builder import DeviceBuilder, Sink
from harness.pci import regs

COMMAND_FLAGS = {
    "I/O": "io",
    "Mem": "memory",
    "BusMaster": "bus_master",
    "SpecCycle": "special_cycles",
    "MemWINV": "mwi",
    "VGASnoop": "vga_snoop",
    "ParErr": "parity_error_response",
    "Stepping": "stepping",
    "SERR": "serr",
    "FastB2B": "fast_b2b",
    "DisINTx": "intx_disable",
}
STATUS_FLAGS = {
    "Cap": "capabilities",
    "66MHz": "mhz66",
    "UDF": "udf",
    "FastB2B": "fast_b2b",
    "ParErr": "master_data_parity_error",
    ">TAbort": "signaled_target_abort",
    "<TAbort": "received_target_abort",
    "<MAbort": "received_master_abort",
    ">SERR": "signaled_system_error",
    "<PERR": "detected_parity_error",
    "INTx": "interrupt",
}
SECONDARY_STATUS_FLAGS = {
    "66MHz": "mhz66",
    "FastB2B": "fast_b2b",
    "ParErr": "master_data_parity_error",
    ">TAbort": "signaled_target_abort",
    "<TAbort": "received_target_abort",
    "<MAbort": "received_master_abort",
    "<SERR": "received_system_error",
    "<PERR": "detected_parity_error",
}
BRIDGE_CONTROL_FLAGS = {
    "Parity": "parity_error_response",
    "SERR": "serr",
    "NoISA": "isa",
    "VGA": "vga",
    "VGA16": "vga16",
    "MAbort": "master_abort_mode",
    ">Reset": "secondary_bus_reset",
    "FastB2B": "fast_b2b",
    "PriDiscTmr": "primary_discard_timer",
    "SecDiscTmr": "secondary_discard_timer",
    "DiscTmrStat": "discard_timer_status",
    "DiscTmrSERREn": "discard_timer_serr",
}
DEVSEL = {"fast": "fast", "medium": "medium", "slow": "slow"}
SIZE_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

_SIZE = re.compile(r"\[size=(\d{1,12})([KMGT]?)\]")
_RANGE = re.compile(r"\b([0-9a-fA-F]{4,16})-([0-9a-fA-F]{4,16})\b")
_BITS = re.compile(r"\[(16|32|64)-bit\]")
_REGION = re.compile(r"^Region (\d):\s*")
_ADDRESS = re.compile(r"(?:Memory|I/O ports) at (<unassigned>|<ignored>|<broken-64-bit-slot>|[0-9a-fA-F]{1,16})")
_MEM_TYPE = re.compile(r"\((32-bit|64-bit|low-1M|type 3), (non-)?prefetchable\)")
_ROM_ADDRESS = re.compile(r"^(?:at )?(<unassigned>|<ignored>|[0-9a-fA-F]{1,16})")
_BUS = re.compile(
    r"primary=([0-9a-fA-F]{2}), secondary=([0-9a-fA-F]{2}), subordinate=([0-9a-fA-F]{2}), sec-latency=(\d{1,3})"
)
_LATENCY = re.compile(r"^(\d{1,3})")
_MIN_GNT = re.compile(r"(\d{1,5})ns min")
_MAX_LAT = re.compile(r"(\d{1,5})ns max")
_CACHE_LINE = re.compile(r"Cache Line Size:? (\d{1,4}) bytes")
_INTERRUPT = re.compile(r"pin ([A-D?]) routed to IRQ (-?\d{1,10})")
_IDS_MIXED = re.compile(r" \[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$")
_IDS_NUMERIC = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_DEVICE_NUMBER = re.compile(r"(?:^| )Device ([0-9a-fA-F]{4})$")
_DEVICE_PAIR = re.compile(r"^Device ([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_CLASS_NUMBER = re.compile(r" ?\[([0-9a-fA-F]{4})\]$")


@dataclass
class Title:
    """What the first line of a device says."""

    bdf: str
    path: list[str]
    class_name: str | None
    class_code: int | None  # class and subclass (16 bits)
    vendor_id: int | None
    device_id: int | None
    name: str  # vendor and device names as printed (without IDs)
    revision: int
    prog_if: int | None
    prog_if_name: str | None


def full_bdf(domain: str | None, bus: str, dev: str, fn: str) -> str:
    return f"{int(domain or '0', 16):04x}:{int(bus, 16):02x}:{int(dev, 16):02x}.{fn}"


def parse_title(match: re.Match[str]) -> Title:
    """A title line: ``BB:DD.F class [cccc]: name [vvvv:dddd] (rev rr) (prog-if pp [name])``."""
    bdf = full_bdf(match["domain"], match["bus"], match["dev"], match["fn"])
    path: list[str] = []
    domain = match["domain"]
    for element in filter(None, (match["path"] or "").split("/")):
        if ":" in element:
            bus, rest = element.split(":", 1)
        else:
            bus, rest = "", element
        dev, fn = rest.split(".")
        path.append(full_bdf(domain, bus or "0", dev, fn))
    if path:
        # With -P/-PP the address printed first is the top of the path; the device is the last.
        chain = [bdf, *path]
        bdf, path = chain[-1], chain[:-1]
    rest = match["rest"]
    class_part, _, remainder = rest.partition(": ")
    class_name: str | None = class_part
    class_code: int | None = None
    number = _CLASS_NUMBER.search(class_part)
    if number is not None:
        class_code = int(number[1], 16)
        class_name = class_part[: number.start()].strip() or None
    elif re.fullmatch(r"[0-9a-fA-F]{4}", class_part):
        class_code, class_name = int(class_part, 16), None
    elif class_part.startswith("Class "):
        tail = class_part[6:]
        if re.fullmatch(r"[0-9a-fA-F]{4}", tail):
            class_code, class_name = int(tail, 16), None
    prog_if: int | None = None
    prog_if_name: str | None = None
    text = remainder.strip()
    if text.endswith(")"):
        start = text.rfind("(prog-if ")
        if start >= 0:
            inner = text[start + 9 : -1]
            code, _, name = inner.partition(" ")
            if re.fullmatch(r"[0-9a-fA-F]{2}", code):
                prog_if = int(code, 16)
                prog_if_name = name.strip()[1:-1] if name.strip().startswith("[") else None
                text = text[:start].rstrip()
    revision = 0
    if text.endswith(")"):
        start = text.rfind("(rev ")
        if start >= 0 and re.fullmatch(r"[0-9a-fA-F]{2}", text[start + 5 : -1]):
            revision = int(text[start + 5 : -1], 16)
            text = text[:start].rstrip()
    vendor_id = device_id = None
    ids = _IDS_MIXED.search(text)
    if ids is not None:
        vendor_id, device_id = int(ids[1], 16), int(ids[2], 16)
        text = text[: ids.start()].rstrip()
    else:
        numeric = _IDS_NUMERIC.match(text)
        if numeric is not None:
            vendor_id, device_id = int(numeric[1], 16), int(numeric[2], 16)
            text = ""
        else:
            pair = _DEVICE_PAIR.match(text)
            if pair is not None:
                vendor_id, device_id = int(pair[1], 16), int(pair[2], 16)
    return Title(bdf, path, class_name, class_code, vendor_id, device_id, text, revision, prog_if, prog_if_name)


def parse_size(text: str) -> int | None:
    match = _SIZE.search(text)
    if match is None:
        return None
    return int(match[1]) * SIZE_SUFFIX[match[2]]


@dataclass
class HeaderState:
    """What header decoding learns on the way (for the lines that depend on earlier ones)."""

    layout: int
    next_bar: int = 0
    saw_control: bool = False
    disabled_io: bool = False
    disabled_memory: bool = False
    enabled_io: bool = False
    enabled_memory: bool = False


class HeaderDecoder:
    """Decodes the header records of one device into its description's ``header``, ``bars``
    and ``rom`` (and a few sysfs-side facts onto the device record)."""

    def __init__(self, builder: DeviceBuilder, layout: int, pcie: bool = False) -> None:
        self.builder = builder
        #: A PCI Express port: an open prefetchable window of unknown type is taken as 64-bit.
        self.pcie = pcie
        self.state = HeaderState(layout)
        structure = regs.HEADER_TYPE1 if layout == regs.HEADER_LAYOUT_BRIDGE else regs.HEADER_TYPE0
        self.sink = Sink(builder, structure, builder.description.setdefault("header", {}), 0, "header")

    @property
    def bridge(self) -> bool:
        return self.state.layout == regs.HEADER_LAYOUT_BRIDGE

    def record(self, label: str, text: str, line: int) -> bool:
        """Decode one header record; False when the label is not a header line."""
        handler = getattr(self, "_" + HEADER_LABELS.get(label, ""), None)
        if handler is None:
            if label.startswith("Region "):
                self.region(label, text, line)
                return True
            return False
        handler(text, line)
        return True

    # --- Lines -----------------------------------------------------------------------------

    def _control(self, text: str, line: int) -> None:
        self.state.saw_control = True
        self._unknown(self.sink.flags("command", COMMAND_FLAGS, text, line), text, line)

    def _status(self, text: str, line: int) -> None:
        self._unknown(self.sink.flags("status", STATUS_FLAGS, text, line), text, line)
        self._devsel("status", text, line)

    def _devsel(self, register: str, text: str, line: int) -> None:
        match = re.search(r"DEVSEL=(\w{1,8})", text)
        if match is not None and match[1] in DEVSEL:
            self.sink.set(register, "devsel", DEVSEL[match[1]], line)

    def _latency(self, text: str, line: int) -> None:
        latency = _LATENCY.match(text.strip())
        if latency is not None:
            self.sink.set("latency_timer", None, int(latency[1]), line)
        if not self.bridge:
            for pattern, register in ((_MIN_GNT, "min_gnt"), (_MAX_LAT, "max_lat")):
                match = pattern.search(text)
                if match is not None:
                    self.sink.set(register, None, int(match[1]) // 250, line)
                else:
                    self.sink.set(register, None, 0, line)
        cache = _CACHE_LINE.search(text)
        self.sink.set("cache_line_size", None, int(cache[1]) // 4 if cache else 0, line)

    def _flags(self, text: str, line: int) -> None:
        """``lspci -v``: "Flags: bus master, fast devsel, latency 0, IRQ 16"."""
        words = [item.strip() for item in text.split(",")]
        present = set(words)
        self.sink.set("command", "bus_master", "bus master" in present, line)
        self.sink.set("command", "vga_snoop", "VGA palette snoop" in present, line)
        self.sink.set("command", "stepping", "stepping" in present, line)
        self.sink.set("command", "fast_b2b", "fast Back2Back" in present, line)
        self.sink.set("status", "mhz66", "66MHz" in present, line)
        self.sink.set("status", "udf", "user-definable features" in present, line)
        for word in words:
            if word.endswith(" devsel") and word[:-7] in DEVSEL:
                self.sink.set("status", "devsel", DEVSEL[word[:-7]], line)
            elif word.startswith("latency ") and word[8:].isdigit():
                self.sink.set("latency_timer", None, int(word[8:]), line)
            elif word.startswith("IRQ ") and word[4:].isdigit():
                self.builder.device.irq = int(word[4:])
            elif word.startswith("NUMA node ") and word[10:].isdigit():
                self.builder.device.numa_node = int(word[10:])
            elif word.startswith("IOMMU group ") and word[12:].isdigit():
                self.builder.device.iommu_group = int(word[12:])

    def _interrupt(self, text: str, line: int) -> None:
        match = _INTERRUPT.search(text)
        if match is None:
            self.builder.problem(line, text, "expected 'pin A routed to IRQ N'")
            return
        pin = 0 if match[1] == "?" else ord(match[1]) - ord("A") + 1
        if match[1] != "?":
            self.sink.set("interrupt_pin", None, pin, line)
        self.builder.device.irq = int(match[2])

    def _numa(self, text: str, line: int) -> None:
        if text.strip().lstrip("-").isdigit():
            self.builder.device.numa_node = int(text.strip())

    def _iommu(self, text: str, line: int) -> None:
        if text.strip().isdigit():
            self.builder.device.iommu_group = int(text.strip())

    def _label(self, text: str, line: int) -> None:
        self.builder.device.label = text.strip()

    def _slot(self, text: str, line: int) -> None:
        self.builder.device.physical_slot = text.strip()

    def _driver(self, text: str, line: int) -> None:
        self.builder.device.driver = text.strip() or None

    def _modules(self, text: str, line: int) -> None:
        self.builder.device.modules = [item.strip() for item in text.split(",") if item.strip()]

    def _subsystem(self, text: str, line: int) -> None:
        self.builder.device.subsystem_name = text.strip()

    def _bist(self, text: str, line: int) -> None:
        match = re.match(r"\s*([0-9a-fA-F]{2})", text)
        if match is not None:
            self.sink.set("bist", None, 0x80 | (int(match[1], 16) & 0x0F), line)

    def _bist_running(self, text: str, line: int) -> None:
        self.sink.set("bist", None, 0xC0, line)

    def _ignore(self, text: str, line: int) -> None:
        """Lines that carry nothing config space holds (device tree node)."""

    def _warning(self, text: str, line: int) -> None:
        match = re.search(r"Unknown header type ([0-9a-fA-F]{2})", text)
        if match is not None:
            self.builder.device.condition = "dead" if match[1].lower() == "7f" else "unknown-header"
            self.builder.assume(
                "config space",
                "all-ones" if match[1].lower() == "7f" else f"header type {match[1]}",
                f"lspci printed '!!! Unknown header type {match[1]}': the device did not answer config reads",
                line,
            )
            return
        self.builder.problem(line, "!!! " + text, "lspci warning")

    def _bus(self, text: str, line: int) -> None:
        match = _BUS.search(text)
        if match is None:
            self.builder.problem(line, text, "expected 'primary=.., secondary=.., subordinate=.., sec-latency=..'")
            return
        for register, value in zip(
            ("primary_bus", "secondary_bus", "subordinate_bus"), match.groups()[:3], strict=False
        ):
            self.sink.set(register, None, int(value, 16), line)
        self.sink.set("secondary_latency_timer", None, int(match[4]), line)

    def _secondary_status(self, text: str, line: int) -> None:
        self._unknown(self.sink.flags("secondary_status", SECONDARY_STATUS_FLAGS, text, line), text, line)
        self._devsel("secondary_status", text, line)

    def _bridge_control(self, text: str, line: int) -> None:
        self._unknown(self.sink.flags("bridge_control", BRIDGE_CONTROL_FLAGS, text, line), text, line)

    def _unknown(self, names: list[str], text: str, line: int) -> None:
        if names:
            self.builder.problem(line, text, "flags not in the description vocabulary: " + " ".join(names))

    # --- BARs, ROM, windows ----------------------------------------------------------------

    def region(self, label: str, text: str, line: int) -> None:
        match = _REGION.match(label + ": ")
        index = int(match[1]) if match else self.state.next_bar
        self.bar(index, text, line)

    def _bar_v1(self, text: str, line: int) -> None:
        """``lspci -v`` prints BARs without their numbers: they are counted."""
        if not any(item.what == "BAR numbers" for item in self.builder.device.assumptions):
            self.builder.assume(
                "BAR numbers", "counted in order", "lspci -v does not print 'Region N:'; empty BARs are skipped", line
            )
        self.bar(self.state.next_bar, text, line)

    def _memory_at(self, text: str, line: int) -> None:
        self._bar_v1("Memory at " + text, line)

    def _io_at(self, text: str, line: int) -> None:
        self._bar_v1("I/O ports at " + text, line)

    def bar(self, index: int, text: str, line: int) -> None:
        limit = 2 if self.bridge else 6
        if not 0 <= index < limit:
            self.builder.problem(line, text, f"BAR {index} does not exist in this header")
            return
        address_match = _ADDRESS.search(text)
        if address_match is None:
            self.builder.problem(line, text, "expected 'Memory at ADDRESS (...)' or 'I/O ports at ADDRESS'")
            return
        io = "I/O ports" in text[: address_match.end()]
        shown = address_match[1]
        address = 0
        if not shown.startswith("<"):
            address = int(shown, 16)
        elif shown != "<unassigned>":
            self.builder.assume(
                f"BAR {index} address", "0", f"lspci printed {shown}: the register value is not shown", line
            )
        entry: dict[str, Any] = {"index": index, "kind": "io" if io else "memory"}
        bits = 32
        if not io:
            type_match = _MEM_TYPE.search(text)
            if type_match is None:
                self.builder.problem(line, text, "memory BAR without '(32-bit|64-bit, [non-]prefetchable)'")
                return
            if type_match[1] == "64-bit":
                bits = 64
            elif type_match[1] != "32-bit":
                self.builder.problem(line, text, f"{type_match[1]} memory BARs cannot be described")
            entry["bits"] = bits
            entry["prefetchable"] = type_match[2] is None
        if bits == 32 and address >> 32:
            self.builder.problem(
                line,
                text,
                "an address above 4 GiB in a 32-bit BAR (an Enhanced Allocation resource) cannot be described",
            )
            return
        entry["address"] = address
        size = parse_size(text)
        if size is not None:
            entry["size"] = size
            if address % size:
                self.builder.problem(line, text, f"address {address:#x} is not aligned to its size {size:#x}")
                return
        else:
            self.builder.assume(
                f"BAR {index} size", "unknown (from the address alignment)", "no [size=] in the paste", line
            )
        if "[virtual]" in text:
            entry["virtual"] = True
        if "[enhanced]" in text:
            self.builder.assume(
                f"BAR {index}",
                "an ordinary BAR",
                "lspci printed [enhanced]: the resource comes from an Enhanced Allocation entry",
                line,
            )
        disabled = "[disabled]" in text
        if io:
            self.state.disabled_io |= disabled
            self.state.enabled_io |= not disabled
        else:
            self.state.disabled_memory |= disabled
            self.state.enabled_memory |= not disabled
        bars: list[dict[str, Any]] = self.builder.description.setdefault("bars", [])
        bars[:] = [item for item in bars if item.get("index") != index]
        bars.append(entry)
        self.state.next_bar = index + (2 if bits == 64 else 1)
        offsets = regs.BAR_OFFSETS_TYPE1 if self.bridge else regs.BAR_OFFSETS_TYPE0
        flags = regs.BAR_IO if io else (regs.BAR_MEM_TYPE_64 if bits == 64 else 0)
        if not io and entry.get("prefetchable"):
            flags |= regs.BAR_MEM_PREFETCH
        mask = regs.BAR_IO_ADDRESS_MASK if io else regs.BAR_MEM_ADDRESS_MASK
        low = (address & mask) | flags
        if "[virtual]" in text or address == 0:
            # [virtual]: the register does not hold what lspci printed; an address of 0 (or
            # <unassigned>/<ignored>) is the kernel's resource, and the register may differ
            # (show_bases prints 0000 for an unassigned I/O BAR while decoding is on).
            return
        self.builder.fact(f"bar{index}", low, line, ((offsets[index], 4, 0xFFFFFFFF),), _dword_reader(offsets[index]))
        if bits == 64 and index + 1 < len(offsets):
            self.builder.fact(
                f"bar{index}.upper",
                address >> 32,
                line,
                ((offsets[index + 1], 4, 0xFFFFFFFF),),
                _dword_reader(offsets[index + 1]),
            )

    def _rom(self, text: str, line: int) -> None:
        match = _ROM_ADDRESS.match(text.replace("[virtual] ", "").strip())
        if match is None:
            self.builder.problem(line, text, "expected 'Expansion ROM at ADDRESS'")
            return
        address = 0 if match[1].startswith("<") else int(match[1], 16)
        size = parse_size(text)
        enabled = "[disabled]" not in text
        if size is None:
            size = 2048
            self.builder.assume("ROM BAR size", "2K", "no [size=] in the paste; the smallest ROM BAR", line)
        virtual = "[virtual]" in text
        if address % size:
            self.builder.problem(line, text, f"ROM address {address:#x} is not aligned to its size {size:#x}")
            return
        self.builder.description["rom"] = {"address": address, "size": size, "enabled": enabled}
        if virtual:
            self.builder.description["rom"]["virtual"] = True
        offset = regs.ROM_BAR_TYPE1 if self.bridge else regs.ROM_BAR_TYPE0
        value = (address & regs.ROM_ADDRESS_MASK) | int(enabled)
        if "[virtual]" in text or match[1].startswith("<"):
            return
        self.builder.fact("rom", value, line, ((offset, 4, regs.ROM_ADDRESS_MASK | 1),), _rom_reader(offset))

    def _virtual_rom(self, text: str, line: int) -> None:
        """pciutils before 3.6 put [virtual] in front: "[virtual] Expansion ROM at ..."."""
        self._rom(text + " [virtual]", line)

    def _io_window(self, text: str, line: int) -> None:
        self.window("io", text, line)

    def _memory_window(self, text: str, line: int) -> None:
        self.window("memory", text, line)

    def _prefetchable_window(self, text: str, line: int) -> None:
        self.window("prefetchable", text, line)

    def window(self, kind: str, text: str, line: int) -> None:
        """A bridge window; closed windows get Linux's closed values (base above limit)."""
        bits_match = _BITS.search(text)
        range_match = _RANGE.search(text)
        bits = int(bits_match[1]) if bits_match else None
        enabled = range_match is not None and "[disabled]" not in text and "[empty]" not in text
        if enabled and kind != "memory":
            # An open window is printed from the kernel's resource, whose start address has no
            # type bits: lspci 3.8+ prints [16-bit]/[32-bit] for every such window
            # (show_htype1 reads the type from bridge_base_addr), so the type is not shown.
            bits = None
        range_shown = range_match is not None
        if range_match is not None:
            base, limit = int(range_match[1], 16), int(range_match[2], 16)
            if bits is None and kind == "prefetchable" and (len(range_match[1]) == 16 or limit >> 32):
                bits = 64
        else:
            base, limit = CLOSED_WINDOWS[kind]
            self.builder.assume(
                f"{kind} window",
                f"{base:x}-{limit:x} (closed)",
                "the paste shows it closed without its registers",
                line,
            )
        type_shown = bits is not None or kind == "memory"
        if bits is None:
            bits = {"io": 16, "memory": 32, "prefetchable": 64 if self.pcie else 32}[kind]
            if kind == "io" and base >> 16:
                bits = 32
            if kind != "memory":
                self.builder.assume(
                    f"{kind} window type",
                    f"{bits}-bit",
                    "the paste does not show it (lspci prints open windows from the kernel's resource)",
                    line,
                )
        if kind == "io":
            io_type = 1 if bits == 32 else 0
            values = [
                ("io_base", (base >> 8) & 0xF0 | io_type, 0xF0, 0x0F),
                ("io_limit", (limit >> 8) & 0xF0 | io_type, 0xF0, 0x0F),
            ]
            if io_type:
                values += [
                    ("io_base_upper", base >> 16 & 0xFFFF, 0xFFFF, 0),
                    ("io_limit_upper", limit >> 16 & 0xFFFF, 0xFFFF, 0),
                ]
        elif kind == "memory":
            values = [
                ("memory_base", (base >> 16) & 0xFFF0, 0xFFF0, 0),
                ("memory_limit", (limit >> 16) & 0xFFF0, 0xFFF0, 0),
            ]
        else:
            pref_type = 1 if bits == 64 else 0
            values = [
                ("prefetchable_base", (base >> 16) & 0xFFF0 | pref_type, 0xFFF0, 0x0F),
                ("prefetchable_limit", (limit >> 16) & 0xFFF0 | pref_type, 0xFFF0, 0x0F),
            ]
            if pref_type:
                values += [
                    ("prefetchable_base_upper", base >> 32 & 0xFFFFFFFF, 0xFFFFFFFF, 0),
                    ("prefetchable_limit_upper", limit >> 32 & 0xFFFFFFFF, 0xFFFFFFFF, 0),
                ]
        for register, value, address_bits, type_bits in values:
            shown = (address_bits if range_shown else 0) | (type_bits if type_shown else 0)
            if shown:
                self.sink.set(register, None, value, line, shown)
            else:
                with self.builder.assumed():
                    self.sink.set(register, None, value, line)
            if shown != address_bits | type_bits:
                # Keep the whole value in the description even where only part was shown.
                self.sink.entry[register] = value

    def finish(self, line: int) -> None:
        """What only the whole record set tells: command bits from BAR markers (``-v``), closed
        windows lspci 3.8+ leaves out, the flags of a device without ``Control:``."""
        header = self.builder.description.get("header", {})
        if not self.state.saw_control and self.builder.device.verbosity >= 1:
            for name, enabled, disabled in (
                ("io", self.state.enabled_io, self.state.disabled_io),
                ("memory", self.state.enabled_memory, self.state.disabled_memory),
            ):
                if enabled or disabled:
                    with self.builder.assumed():
                        self.sink.set("command", name, enabled, line)
            self.builder.assume(
                "command register",
                "I/O and memory decoding from the BAR lines, other bits clear",
                "lspci -v prints no 'Control:' line",
                line,
            )
        if self.bridge and self.builder.device.verbosity >= 1:
            kinds = WINDOW_REGISTERS if self.builder.style.closed_windows_shown else CLOSED_WINDOWS
            for kind in kinds:
                registers = WINDOW_REGISTERS.get(kind, (f"{kind}_base", f"{kind}_limit"))
                if any(register in header for register in registers):
                    continue
                if self.builder.style.closed_windows_shown:
                    # lspci 3.8+ omits an I/O or prefetchable window whose registers read zero.
                    for register in registers:
                        self.sink.set(register, None, 0, line)
                else:
                    # lspci before 3.6 omits closed windows (-vv): closed, registers not shown.
                    with self.builder.assumed():
                        self.window(kind, "", line)


def _dword_reader(offset: int) -> Any:
    def read(config: bytes) -> object:
        return regs.read_register(config, offset, 4)

    return read


def _rom_reader(offset: int) -> Any:
    def read(config: bytes) -> object:
        return regs.read_register(config, offset, 4) & (regs.ROM_ADDRESS_MASK | 1)

    return read


#: Closed windows as Linux programs them (pci_setup_bridge_io/_mmio/_mmio_pref, 6.12).
CLOSED_WINDOWS = {
    "io": (0xF000, 0x0FFF),
    "memory": (0xFFF00000, 0x000FFFFF),
    "prefetchable": (0xFFF00000, 0x000FFFFF),
}
WINDOW_REGISTERS = {
    "io": ("io_base", "io_limit"),
    "prefetchable": ("prefetchable_base", "prefetchable_limit"),
}

HEADER_LABELS = {
    "DeviceName": "label",
    "Subsystem": "subsystem",
    "Physical Slot": "slot",
    "Device tree node": "ignore",
    "Flags": "flags",
    "Control": "control",
    "Status": "status",
    "Latency": "latency",
    "Interrupt": "interrupt",
    "NUMA node": "numa",
    "IOMMU group": "iommu",
    "BIST result": "bist",
    "BIST is running": "bist_running",
    "Memory at": "memory_at",
    "I/O ports at": "io_at",
    "Expansion ROM at": "rom",
    "[virtual] Expansion ROM at": "virtual_rom",
    "Bus": "bus",
    "I/O behind bridge": "io_window",
    "Memory behind bridge": "memory_window",
    "Prefetchable memory behind bridge": "prefetchable_window",
    "Secondary status": "secondary_status",
    "BridgeCtl": "bridge_control",
    "Kernel driver in use": "driver",
    "Kernel modules": "modules",
    "!!!": "warning",
}
#: Labels that start a header record (``Region N`` is matched separately).
HEADER_STARTS = (*HEADER_LABELS, "Region 0", "Region 1", "Region 2", "Region 3", "Region 4", "Region 5")
