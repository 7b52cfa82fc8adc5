"""Declarative device descriptions, encoded to configuration space and decoded back.

A description names registers and fields (``harness.pci.regs`` supplies their layout), BARs, the
option ROM and the capability lists; :func:`encode` turns it into a :class:`DeviceModel`.
:func:`describe` goes the other way: it decodes every known register of a configuration space
and records the bits no named field explains as ``raw`` patches, so that
``encode(describe(model))`` reproduces the bytes exactly, whatever they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakesys.hw.ahci import AhciError, AhciSpec
from fakesys.hw.behaviour import BehaviourError, make_behaviour
from fakesys.hw.description_yaml import KEY_ORDER
from fakesys.hw.model import Bar, BarKind, DeviceModel, Rom
from fakesys.hw.rom import build_image, describe_image
from fakesys.source import Document
from harness.pci import regs
from harness.pci.config import CapabilityLoopError, ConfigSpace

#: The keys a description may have (``extends`` is the device library's, merged before encoding).
DESCRIPTION_KEYS = frozenset(KEY_ORDER) - {"extends"}
LAYOUTS = {"normal": regs.HEADER_LAYOUT_NORMAL, "bridge": regs.HEADER_LAYOUT_BRIDGE}
_DERIVED_HEADER = {"capabilities_pointer", "header_type"}
_MSI_KEYS = ("address", "data", "mask_bits", "pending_bits")
#: A bridge's windows as (base register, limit register, closed base, closed limit): what firmware
#: leaves in a window it does not use, base above limit (PCI-to-PCI Bridge Architecture 1.2,
#: 3.2.5.6-3.2.5.9: a window with limit below base forwards nothing; lspci prints "[disabled]").
#: A description that gives a window's type (16/32-bit I/O, 32/64-bit prefetchable, the low four
#: bits) names both registers: ``io_base: 0xf1, io_limit: 0x01`` is a closed 32-bit I/O window.
BRIDGE_WINDOWS = (
    ("io_base", "io_limit", 0xF0, 0x00),
    ("memory_base", "memory_limit", 0xFFF0, 0x0000),
    ("prefetchable_base", "prefetchable_limit", 0xFFF0, 0x0000),
)


def capability_length(structure: regs.Structure, config: bytes | bytearray, offset: int) -> int:
    """Bytes a capability occupies, from its own registers where the length varies."""
    if structure is regs.EXPRESS:
        flags = regs.read_register(config, offset + 2, 2)
        if flags & 0xF >= 2:
            return regs.EXPRESS_V2_LENGTH
        # A version 1 endpoint without a slot implements the registers up to Link Status only;
        # real devices (JMicron JMB36x) put the next capability right after them.
        endpoint = (flags >> 4) & 0xF in (regs.EXPRESS_TYPE_ENDPOINT, regs.EXPRESS_TYPE_LEGACY_ENDPOINT)
        return regs.EXPRESS_V1_ENDPOINT_LENGTH if endpoint and not flags & 0x100 else regs.EXPRESS_V1_LENGTH
    if structure is regs.MSI:
        control = regs.read_register(config, offset + 2, 2)
        length = 14 if control & 0x80 else 10
        return length + (10 if control & 0x100 else 0)
    lengths = {
        "pm": regs.PM_LENGTH,
        "msix": regs.MSIX_LENGTH,
        "subsystem": regs.SUBSYSTEM_LENGTH,
        "af": regs.AF_LENGTH,
        "acs": regs.ACS_LENGTH,
        "vc": regs.VC_LENGTH,
        "dsn": regs.DSN_LENGTH,
        "sriov": regs.SRIOV_LENGTH,
    }
    if structure is regs.AER:
        express = ConfigSpace(config).express()
        root = express is not None and express.port_type in (4, 10)
        return regs.AER_ROOT_PORT_LENGTH if root else regs.AER_ENDPOINT_LENGTH
    variable = _variable_length(structure, config, offset)
    if variable is not None:
        return variable
    return lengths.get(structure.name, regs.EXTENDED_LENGTHS.get(structure.name, 4))


def _variable_length(structure: regs.Structure, config: bytes | bytearray, offset: int) -> int | None:
    """Lengths a capability states in its own registers (vendor-specific lengths, the number of
    virtual channels or resizable BARs); None for fixed-length structures."""
    if structure is regs.VENDOR_CAPABILITY:
        return max(regs.read_register(config, offset + 2, 1), regs.VENDOR_CAPABILITY_MIN_LENGTH)
    if structure in (regs.VENDOR_SPECIFIC, regs.DVSEC):
        return max(regs.read_register(config, offset + 4, 4) >> 20, 0x0C if structure is regs.DVSEC else 0x08)
    if structure is regs.VC:
        return 0x10 + 12 * ((regs.read_register(config, offset + 4, 4) & 0x7) + 1)
    if structure in (regs.REBAR, regs.VF_REBAR):
        count = (regs.read_register(config, offset + 8, 4) >> 5) & 0x7
        return 4 + 8 * (count if 1 <= count <= regs.REBAR_MAX_BARS else 1)
    return None


def _msi_layout(control: int) -> dict[str, tuple[int, int]]:
    """Offsets and widths of the MSI registers after ``control``, which depend on its bits."""
    addr64 = bool(control & 0x80)
    layout = {"address": (0x04, 8 if addr64 else 4), "data": (0x0C if addr64 else 0x08, 2)}
    if control & 0x100:
        layout["mask_bits"] = (0x10 if addr64 else 0x0C, 4)
        layout["pending_bits"] = (0x14 if addr64 else 0x10, 4)
    return layout


class _Encoder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.data: Mapping[str, Any] = doc.data

    def fail(self, at: tuple[str | int, ...], message: str) -> Exception:
        return self.doc.error(at, message)

    def integer(
        self, value: object, at: tuple[str | int, ...], what: str = "an integer", limit: int | None = None
    ) -> int:
        """``value`` as an int; with ``limit``, also from 0 to ``limit`` (a register's width)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(at, f"expected {what}, got {value!r}")
        if limit is not None and not 0 <= value <= limit:
            raise self.fail(at, f"expected {what} from 0 to {limit:#x}, got {value:#x}")
        return value

    def items(self, key: str) -> list[Any]:
        """The list under ``key`` (absent or null: empty)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail((key,), f"{key}: expected a list, got {value!r}")
        return value

    def text(self, key: str) -> str:
        value = self.data.get(key, "")
        if not isinstance(value, str):
            raise self.fail((key,), f"{key}: expected a string, got {value!r}")
        return value

    def encode(self) -> DeviceModel:
        if not isinstance(self.data, Mapping):
            raise self.fail((), "expected a device description (a mapping)")
        unknown = sorted(set(self.data) - DESCRIPTION_KEYS)
        if unknown:
            raise self.fail(
                (unknown[0],),
                f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(DESCRIPTION_KEYS))}",
            )
        layout_name = self.data.get("layout", "normal")
        if layout_name not in LAYOUTS:
            raise self.fail(("layout",), f"expected normal or bridge, got {layout_name!r}")
        layout = LAYOUTS[layout_name]
        header_spec = regs.HEADER_TYPE1 if layout == regs.HEADER_LAYOUT_BRIDGE else regs.HEADER_TYPE0
        extended = self.items("extended_capabilities")
        capabilities = self.items("capabilities")
        size = self.data.get("config_size")
        if size is None:
            has_express = any(
                isinstance(cap, Mapping) and cap.get("id") in ("express", regs.CAP_EXPRESS) for cap in capabilities
            )
            size = regs.EXTENDED_CONFIG_SIZE if has_express or extended else regs.CONVENTIONAL_CONFIG_SIZE
        if size not in (regs.CONVENTIONAL_CONFIG_SIZE, regs.EXTENDED_CONFIG_SIZE):
            raise self.fail(("config_size",), f"expected 256 or 4096, got {size!r}")
        config = bytearray(size)
        config[0x0E] = layout
        header = self.data.get("header") or {}
        if not isinstance(header, Mapping):
            raise self.fail(("header",), "expected a mapping of header registers")
        for name, value in header.items():
            if name in _DERIVED_HEADER or not header_spec.has_register(str(name)):
                allowed = sorted(r.name for r in header_spec.registers if r.name not in _DERIVED_HEADER)
                raise self.fail(
                    ("header", name),
                    f"unknown {header_spec.name} register {name!r}; allowed: {', '.join(allowed)}",
                )
            self.put_register(config, 0, header_spec.register(str(name)), value, ("header", name))
        if layout == regs.HEADER_LAYOUT_BRIDGE:
            _close_windows(config, header)
        bars = self.encode_bars(config, layout)
        rom = self.encode_rom(config, layout)
        self.encode_capabilities(config, capabilities)
        self.encode_extended(config, extended)
        self.apply_raw(config)
        sources = self.items("sources")
        for position, source in enumerate(sources):
            if not isinstance(source, str):
                raise self.fail(("sources", position), f"expected a source (a string), got {source!r}")
        behaviours = self.items("behaviours")
        for position, entry in enumerate(behaviours):
            if not isinstance(entry, Mapping):
                raise self.fail(("behaviours", position), f"expected a behaviour {{name: ...}}, got {entry!r}")
            try:
                make_behaviour(entry)
            except BehaviourError as error:
                raise self.fail(("behaviours", position), str(error)) from None
        self.text("notes")
        ahci = self.encode_ahci(bars)
        return DeviceModel(
            name=self.text("name"),
            config=config,
            bars=bars,
            rom=rom,
            title=self.text("title"),
            sources=list(sources),
            behaviours=[dict(entry) for entry in behaviours],
            ahci=ahci,
        )

    def encode_ahci(self, bars: list[Bar]) -> AhciSpec | None:
        """The ``ahci:`` part: the fixed HBA registers behind a memory BAR large enough for them."""
        data = self.data.get("ahci")
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise self.fail(("ahci",), "expected {cap: ..., pi: ..., version: ...}")
        try:
            spec = AhciSpec.from_data(data)
        except AhciError as error:
            raise self.fail(("ahci",), str(error)) from None
        bar = next((item for item in bars if item.index == spec.bar), None)
        if bar is None or bar.kind is not BarKind.MEMORY or bar.effective_size < spec.size:
            raise self.fail(
                ("ahci",), f"the registers of {spec.ports} ports need a memory BAR {spec.bar} of {spec.size} bytes"
            )
        return spec

    def put_register(
        self,
        config: bytearray,
        base: int,
        register: regs.Register,
        value: object,
        at: tuple[str | int, ...],
    ) -> None:
        offset = base + register.offset
        if offset + register.width > len(config):
            raise self.fail(at, f"register {register.name} at {offset:#x} lies past the end")
        current = regs.read_register(config, offset, register.width)
        if isinstance(value, Mapping):
            if register.whole:
                raise self.fail(at, f"{register.name} has no named fields; give a number")
            for field_name, field_value in value.items():
                try:
                    spec = register.field(str(field_name))
                except KeyError:
                    names = ", ".join(f.name for f in register.fields)
                    raise self.fail(
                        at + (field_name,),
                        f"{register.name} has no field {field_name!r}; fields: {names}",
                    ) from None
                try:
                    raw = spec.value_codec.encode(field_value)
                    current = spec.put(current, raw)
                except ValueError as error:
                    raise self.fail(at + (field_name,), f"{register.name}.{field_name}: {error}") from None
        else:
            number = self.integer(value, at, f"a number or a mapping of {register.name} fields")
            if number < 0 or number >= 1 << (8 * register.width):
                raise self.fail(at, f"{number:#x} does not fit in {register.width} byte(s)")
            current = number
        regs.write_register(config, offset, register.width, current)

    def encode_bars(self, config: bytearray, layout: int) -> list[Bar]:
        offsets = regs.BAR_OFFSETS_TYPE1 if layout == regs.HEADER_LAYOUT_BRIDGE else regs.BAR_OFFSETS_TYPE0
        bars: list[Bar] = []
        used: set[int] = set()
        for position, item in enumerate(self.items("bars")):
            at: tuple[str | int, ...] = ("bars", position)
            if not isinstance(item, Mapping):
                raise self.fail(at, "expected a BAR: {index, kind, address, size}")
            allowed = {"index", "kind", "address", "size", "bits", "prefetchable", "virtual"}
            for key in item:
                if key not in allowed:
                    raise self.fail(at + (key,), f"unknown BAR key {key!r}; allowed: {', '.join(sorted(allowed))}")
            index = self.integer(item.get("index"), at + ("index",), "a BAR index")
            if not 0 <= index < len(offsets):
                raise self.fail(at + ("index",), f"BAR index must be 0..{len(offsets) - 1}")
            kind_name = item.get("kind", "memory")
            if kind_name not in ("io", "memory"):
                raise self.fail(at + ("kind",), f"expected io or memory, got {kind_name!r}")
            kind = BarKind(kind_name)
            bits = self.integer(item.get("bits", 32), at + ("bits",))
            if bits not in (32, 64) or (kind is BarKind.IO and bits != 32):
                raise self.fail(at + ("bits",), "expected 32 or 64 (I/O BARs are 32-bit)")
            address = self.integer(item.get("address", 0), at + ("address",), "an address", (1 << 64) - 1)
            size_value = item.get("size")
            size = None if size_value is None else self.integer(size_value, at + ("size",), "a size")
            if size is not None and (size <= 0 or size & (size - 1)):
                raise self.fail(at + ("size",), f"a BAR size is a power of two, got {size:#x}")
            if size is not None and address % size:
                raise self.fail(at + ("address",), f"address {address:#x} is not aligned to size {size:#x}")
            slots = {index, index + 1} if bits == 64 else {index}
            if slots & used or max(slots) >= len(offsets):
                raise self.fail(at + ("index",), f"BAR {index} overlaps another BAR or the end of the header")
            used |= slots
            virtual = bool(item.get("virtual", False))
            bar = Bar(index, kind, address, size, bits, bool(item.get("prefetchable", False)), virtual)
            mask = regs.BAR_IO_ADDRESS_MASK if kind is BarKind.IO else regs.BAR_MEM_ADDRESS_MASK
            # A virtual BAR's register reads zero; its address lives only in the resource.
            regs.write_register(config, offsets[index], 4, 0 if virtual else (address & mask) | bar.flags)
            if bits == 64:
                regs.write_register(config, offsets[index + 1], 4, 0 if virtual else address >> 32)
            elif address >> 32:
                raise self.fail(at + ("address",), "a 32-bit BAR cannot hold an address above 4 GiB")
            bars.append(bar)
        return bars

    def encode_rom(self, config: bytearray, layout: int) -> Rom | None:
        item = self.data.get("rom")
        if item is None:
            return None
        at: tuple[str | int, ...] = ("rom",)
        if not isinstance(item, Mapping):
            raise self.fail(at, "expected {address, size, enabled, image}")
        for key in item:
            if key not in ("address", "size", "enabled", "image", "virtual"):
                raise self.fail(
                    at + (key,), f"unknown rom key {key!r}; allowed: address, size, enabled, image, virtual"
                )
        # The address is the CPU address sysfs ``resource`` shows (and lspci prints): behind a host
        # bridge that translates (arm64 SoCs such as NXP's LX2160A) it lies above 4 GiB while the
        # 32-bit ROM BAR holds the bus address; the register gets the low bits.
        address = self.integer(item.get("address", 0), at + ("address",), "an address", 0xFFFFFFFFFFFFFFFF)
        size = self.integer(item.get("size"), at + ("size",), "the ROM BAR size")
        # The expansion ROM BAR is 32 bits wide and decodes at least 2 KiB (address bits 31:11).
        if size < 2048 or size > 1 << 31 or size & (size - 1):
            raise self.fail(at + ("size",), "a ROM BAR size is a power of two from 2 KiB to 2 GiB")
        enabled = bool(item.get("enabled", False))
        image = b""
        if item.get("image") is not None:
            try:
                image = build_image(item["image"], size)
            except ValueError as error:
                raise self.fail(at + ("image",), str(error)) from None
        offset = regs.ROM_BAR_TYPE1 if layout == regs.HEADER_LAYOUT_BRIDGE else regs.ROM_BAR_TYPE0
        virtual = bool(item.get("virtual", False))
        if not virtual:
            regs.write_register(config, offset, 4, (address & regs.ROM_ADDRESS_MASK) | int(enabled))
        return Rom(address, size, enabled, image, virtual)

    def structure_for(
        self, cap_id: object, table: Mapping[str, regs.Structure], at: tuple[str | int, ...]
    ) -> tuple[int, regs.Structure | None]:
        if isinstance(cap_id, str):
            if cap_id not in table:
                raise self.fail(at, f"unknown capability {cap_id!r}; known: {', '.join(table)} (or a numeric ID)")
            structure = table[cap_id]
            assert structure.cap_id is not None
            return structure.cap_id, structure
        # Capability IDs are a byte, extended capability IDs 16 bits (the low half of the header).
        widest = 0xFF if table is regs.CAPABILITIES else 0xFFFF
        number = self.integer(cap_id, at, "a capability name or ID", widest)
        for structure in table.values():
            if structure.cap_id == number:
                return number, structure
        return number, None

    def encode_capabilities(self, config: bytearray, items: list[Any]) -> None:
        previous_next = regs.CAPABILITIES_POINTER
        spans: list[tuple[int, int, int]] = []
        for position, item in enumerate(items):
            at: tuple[str | int, ...] = ("capabilities", position)
            if not isinstance(item, Mapping):
                raise self.fail(at, "expected a capability: {id, at, registers...}")
            cap_id, structure = self.structure_for(item.get("id"), regs.CAPABILITIES, at + ("id",))
            offset = self.integer(item.get("at"), at + ("at",), "the capability offset")
            if offset < 0x40 or offset > 0xFC or offset & 3:
                raise self.fail(
                    at + ("at",), f"a capability sits at a dword-aligned offset in 0x40..0xfc, got {offset:#x}"
                )
            config[offset] = cap_id
            config[previous_next] = offset
            previous_next = offset + 1
            config[offset + 1] = 0
            self.encode_registers(config, offset, structure, item, at=at, own_keys={"id", "at"})
            length = capability_length(structure, config, offset) if structure else 2
            if offset + length > regs.CONVENTIONAL_CONFIG_SIZE:
                raise self.fail(at + ("at",), f"capability at {offset:#x} ({length} bytes) runs past 0xff")
            for start, end, other in spans:
                if offset < end and start < offset + length:
                    raise self.fail(
                        at + ("at",), f"capability at {offset:#x} overlaps the one at {start:#x} (item {other})"
                    )
            spans.append((offset, offset + length, position))
        if items:
            status = regs.read_register(config, 0x06, 2)
            regs.write_register(config, 0x06, 2, status | regs.STATUS_CAPABILITIES)

    def encode_extended(self, config: bytearray, items: list[Any]) -> None:
        if items and len(config) < regs.EXTENDED_CONFIG_SIZE:
            raise self.fail(("extended_capabilities",), "extended capabilities need config_size 4096")
        previous: int | None = None
        spans: list[tuple[int, int, int]] = []
        for position, item in enumerate(items):
            at: tuple[str | int, ...] = ("extended_capabilities", position)
            if not isinstance(item, Mapping):
                raise self.fail(at, "expected an extended capability: {id, at, version, registers...}")
            cap_id, structure = self.structure_for(item.get("id"), regs.EXTENDED_CAPABILITIES, at + ("id",))
            offset = self.integer(item.get("at"), at + ("at",), "the capability offset")
            if offset < regs.FIRST_EXTENDED_CAPABILITY or offset > 0xFFC or offset & 3:
                raise self.fail(
                    at + ("at",),
                    f"an extended capability sits at a dword-aligned offset in 0x100..0xffc, got {offset:#x}",
                )
            if position == 0 and offset != regs.FIRST_EXTENDED_CAPABILITY:
                raise self.fail(at + ("at",), "the first extended capability must sit at 0x100")
            version = self.integer(item.get("version", 1), at + ("version",), "a version 0..15")
            if not 0 <= version <= 15:
                raise self.fail(at + ("version",), "a version 0..15")
            regs.write_register(config, offset, 4, cap_id | version << 16)
            if previous is not None:
                header = regs.read_register(config, previous, 4)
                regs.write_register(config, previous, 4, header | offset << 20)
            previous = offset
            self.encode_registers(config, offset, structure, item, at=at, own_keys={"id", "at", "version"})
            length = capability_length(structure, config, offset) if structure else 4
            for start, end, other in spans:
                if offset < end and start < offset + length:
                    raise self.fail(
                        at + ("at",),
                        f"extended capability at {offset:#x} overlaps the one at {start:#x} (item {other})",
                    )
            spans.append((offset, offset + length, position))

    def encode_registers(
        self,
        config: bytearray,
        base: int,
        structure: regs.Structure | None,
        item: Mapping[str, Any],
        *,
        at: tuple[str | int, ...],
        own_keys: set[str],
    ) -> None:
        if structure is regs.MSI:
            own_keys = own_keys | set(_MSI_KEYS)
        for key, value in item.items():
            if key in own_keys:
                continue
            if structure is None or not structure.has_register(str(key)):
                names = sorted(r.name for r in structure.registers) if structure else []
                hint = f"; registers: {', '.join(names)}" if names else "; describe unknown capabilities with raw"
                raise self.fail(at + (key,), f"unknown register {key!r}{hint}")
            self.put_register(config, base, structure.register(str(key)), value, at + (key,))
        if structure is regs.MSI:
            control = regs.read_register(config, base + 2, 2)
            for key, (offset, width) in _msi_layout(control).items():
                if key in item:
                    number = self.integer(item[key], at + (key,), f"a {width}-byte value", (1 << (8 * width)) - 1)
                    regs.write_register(config, base + offset, width, number)
            extra = [key for key in _MSI_KEYS if key in item and key not in _msi_layout(control)]
            if extra:
                raise self.fail(at + (extra[0],), f"{extra[0]} needs per_vector_masking in control")

    def apply_raw(self, config: bytearray) -> None:
        raw = self.data.get("raw") or {}
        if not isinstance(raw, Mapping):
            raise self.fail(("raw",), "expected {offset: 'hex bytes'}")
        for offset, text in raw.items():
            at: tuple[str | int, ...] = ("raw", offset)
            start = self.integer(offset, at, "an offset", len(config) - 1)
            try:
                chunk = bytes.fromhex(str(text))
            except ValueError:
                raise self.fail(at, f"expected hex bytes like '00 ff 1a', got {text!r}") from None
            if start + len(chunk) > len(config):
                raise self.fail(at, f"{len(chunk)} bytes at {start:#x} run past the {len(config)}-byte space")
            config[start : start + len(chunk)] = chunk


def _close_windows(config: bytearray, header: Mapping[str, Any]) -> None:
    """Close the windows of which the description names neither base nor limit register."""
    for base_name, limit_name, closed_base, closed_limit in BRIDGE_WINDOWS:
        if base_name in header or limit_name in header:
            continue  # the description gives the window (a register it leaves out is zero)
        base = regs.HEADER_TYPE1.register(base_name)
        limit = regs.HEADER_TYPE1.register(limit_name)
        regs.write_register(config, base.offset, base.width, closed_base)
        regs.write_register(config, limit.offset, limit.width, closed_limit)


def encode(doc: Document) -> DeviceModel:
    """Encode a description (a :class:`Document` so errors carry file and line)."""
    return _Encoder(doc).encode()


def _decode_compact(
    structure: regs.Structure, config: bytes, base: int, length: int | None = None
) -> dict[str, object]:
    """The registers of ``structure`` with every zero field left out: a description lists only
    what is set, and the encoder starts from zeros."""
    result: dict[str, object] = {}
    for register in structure.registers:
        if length is not None and register.offset + register.width > length:
            continue
        raw = regs.read_register(config, base + register.offset, register.width)
        if not raw:
            continue
        if register.whole:
            result[register.name] = raw
            continue
        fields = {item.name: item.value_codec.decode(item.get(raw)) for item in register.fields if item.get(raw)}
        if fields:
            result[register.name] = fields
    return result


#: What a description of a 64-byte dump says about the bytes it does not have.
HEADER_ONLY_NOTE = (
    "The dump holds the first 64 bytes of config space (lspci -x, or a reader without root): "
    "bytes 0x40 and up, the capabilities included, are unknown and read as zeros here; the "
    "capabilities pointer and the Status capability bit are kept as the dump shows them (raw)."
)


def describe(model: DeviceModel) -> dict[str, object]:
    """The description that encodes back to exactly ``model``'s bytes, BARs and ROM.

    A 64-byte config space (an ``lspci -x`` dump) is described as a 256-byte device whose first
    64 bytes are the dump's and whose capabilities are unknown (:data:`HEADER_ONLY_NOTE`)."""
    config = bytes(model.config)
    header_only = len(config) == regs.UNPRIVILEGED_CONFIG_SIZE
    if header_only:
        config += bytes(regs.CONVENTIONAL_CONFIG_SIZE - len(config))
    space = ConfigSpace(config)
    layout = config[0x0E] & 0x7F
    description: dict[str, object] = {}
    if model.name:
        description["name"] = model.name
    if model.title:
        description["title"] = model.title
    if model.sources:
        description["sources"] = list(model.sources)
    if model.behaviours:
        description["behaviours"] = [dict(entry) for entry in model.behaviours]
    if header_only:
        description["notes"] = HEADER_ONLY_NOTE
    if model.ahci is not None:
        description["ahci"] = model.ahci.to_data()
    bridge = layout == regs.HEADER_LAYOUT_BRIDGE
    description["layout"] = "bridge" if bridge else "normal"
    description["config_size"] = len(config)
    header_spec = regs.HEADER_TYPE1 if bridge else regs.HEADER_TYPE0
    header = _decode_compact(header_spec, config, 0)
    for name in _DERIVED_HEADER:
        header.pop(name, None)
    status = header.get("status")
    if isinstance(status, dict):
        status.pop("capabilities", None)
        if not status:
            header.pop("status")
    if bridge:
        for base_name, limit_name, _, _ in BRIDGE_WINDOWS:
            if base_name not in header and limit_name not in header:
                header[base_name] = header[limit_name] = 0  # open at 0: not what the encoder assumes
    description["header"] = header
    bars = _describe_bars(model, config, bridge)
    if bars:
        description["bars"] = bars
    rom_offset = regs.ROM_BAR_TYPE1 if bridge else regs.ROM_BAR_TYPE0
    if model.rom is not None:
        rom: dict[str, object] = {
            "address": regs.read_register(config, rom_offset, 4) & regs.ROM_ADDRESS_MASK,
            "size": model.rom.size,
            "enabled": bool(config[rom_offset] & regs.ROM_ENABLE),
        }
        if model.rom.virtual:
            rom.update(address=model.rom.address, virtual=True)
        if model.rom.image:
            rom["image"] = describe_image(model.rom.image)
        description["rom"] = rom
    try:
        capabilities = [] if header_only else space.capabilities()
        extended = [] if header_only else space.extended_capabilities()
    except CapabilityLoopError:
        capabilities, extended = [], []
    described_caps: list[dict[str, object]] = []
    spans: list[tuple[int, int]] = []
    for cap in capabilities:
        structure = regs.CAPABILITIES.get(cap.name)
        length = capability_length(structure, config, cap.offset) if structure else 2
        # A capability the encoder would reject (overlapping, out of range) is left to raw.
        if (
            cap.offset > 0xFC
            or cap.offset + length > regs.CONVENTIONAL_CONFIG_SIZE
            or _overlaps(spans, cap.offset, length)
        ):
            continue
        spans.append((cap.offset, cap.offset + length))
        entry: dict[str, object] = {"id": cap.name if structure else cap.cap_id, "at": cap.offset}
        if structure is not None:
            entry.update(_decode_compact(structure, config, cap.offset, length))
            if structure is regs.MSI:
                control = regs.read_register(config, cap.offset + 2, 2)
                for key, (offset, width) in _msi_layout(control).items():
                    value = regs.read_register(config, cap.offset + offset, width)
                    if value:
                        entry[key] = value
        described_caps.append(entry)
    if described_caps:
        description["capabilities"] = described_caps
    described_ext: list[dict[str, object]] = []
    spans = []
    for cap in extended:
        structure = regs.EXTENDED_CAPABILITIES.get(cap.name)
        length = capability_length(structure, config, cap.offset) if structure else 4
        first = not described_ext
        if (
            (first and cap.offset != regs.FIRST_EXTENDED_CAPABILITY)
            or cap.offset + length > len(config)
            or _overlaps(spans, cap.offset, length)
        ):
            continue
        spans.append((cap.offset, cap.offset + length))
        entry = {"id": cap.name if structure else cap.cap_id, "at": cap.offset, "version": cap.version}
        if structure is not None:
            entry.update(_decode_compact(structure, config, cap.offset, length))
        described_ext.append(entry)
    if described_ext:
        description["extended_capabilities"] = described_ext
    # Whatever the named registers did not reproduce becomes raw patches.
    rebuilt = encode(Document(description, f"<describe {model.name}>")).config
    patches: dict[int, str] = {}
    offset = 0
    while offset < len(config):
        if rebuilt[offset] == config[offset]:
            offset += 1
            continue
        start = offset
        while offset < len(config) and rebuilt[offset] != config[offset]:
            offset += 1
        patches[start] = config[start:offset].hex(" ")
    if patches:
        description["raw"] = patches
    return description


def _overlaps(spans: list[tuple[int, int]], offset: int, length: int) -> bool:
    return any(offset < end and start < offset + length for start, end in spans)


def _describe_bars(model: DeviceModel, config: bytes, bridge: bool) -> list[dict[str, object]]:
    offsets = regs.BAR_OFFSETS_TYPE1 if bridge else regs.BAR_OFFSETS_TYPE0
    bars: list[dict[str, object]] = []
    index = 0
    while index < len(offsets):
        value = regs.read_register(config, offsets[index], 4)
        known = model.bar(index)
        if value == 0 and known is None:
            index += 1
            continue
        entry: dict[str, object] = {"index": index}
        if value & regs.BAR_IO:
            entry["kind"] = "io"
            entry["address"] = value & regs.BAR_IO_ADDRESS_MASK
            step = 1
        else:
            entry["kind"] = "memory"
            address = value & regs.BAR_MEM_ADDRESS_MASK
            step = 1
            if value & regs.BAR_MEM_TYPE_64 and index + 1 < len(offsets):
                entry["bits"] = 64
                address |= regs.read_register(config, offsets[index + 1], 4) << 32
                step = 2
            if value & regs.BAR_MEM_PREFETCH:
                entry["prefetchable"] = True
            entry["address"] = address
        if known is not None and known.size is not None:
            entry["size"] = known.size
        if known is not None and known.virtual:
            entry.update(kind=known.kind.value, address=known.address, virtual=True)
            if known.kind is BarKind.MEMORY:
                entry.update(bits=known.bits, prefetchable=known.prefetchable)
            step = 2 if known.bits == 64 else 1
        bars.append(entry)
        index += step
    return bars
