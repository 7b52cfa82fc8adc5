"""Building a device description from decoded lspci text, one checked value at a time.

Decoders hand values to a :class:`Sink` (one per header or capability); the sink checks each value
against the register layout of ``harness.pci.regs`` (the field must exist and its codec must
accept the value, so the description always encodes), stores it in the description dict in the
device library's vocabulary, and records a :class:`~harness.capture.model.Fact`: the bits the
value pins down and how to read the same quantity back from bytes. Facts are what the
cross-check compares with a hex dump and what tells which bits of config space the text showed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from harness.capture.model import Assumption, Fact, ImportedDevice, Reader, UnparsedLine
from harness.pci import regs

_TOKEN_SPLIT = re.compile(r"[\s,;]+")


def scan_flags(text: str) -> list[tuple[str, bool]]:
    """Every ``Name+``/``Name-`` token of an lspci line, in order (``Requester:+`` too)."""
    flags: list[tuple[str, bool]] = []
    for token in _TOKEN_SPLIT.split(text):
        if len(token) < 2 or token[-1] not in "+-" or token[-2] in "+-":
            continue
        name = token[:-1].rstrip(":")
        if name:
            flags.append((name, token[-1] == "+"))
    return flags


def register_reader(offset: int, width: int, item: regs.Field | None) -> Reader:
    """Reads a field (or a whole register) at an absolute offset as a description value."""

    def read(config: bytes) -> object:
        raw = regs.read_register(config, offset, width)
        return raw if item is None else item.value_codec.decode(item.get(raw))

    return read


_REGISTERS: dict[int, dict[str, regs.Register]] = {}
_FIELDS: dict[int, dict[str, regs.Field]] = {}


def _registers(structure: regs.Structure) -> dict[str, regs.Register]:
    """Registers by name (the layouts are module constants, so their identity is a key)."""
    found = _REGISTERS.get(id(structure))
    if found is None:
        found = _REGISTERS[id(structure)] = {register.name: register for register in structure.registers}
    return found


def _fields(register: regs.Register) -> dict[str, regs.Field]:
    found = _FIELDS.get(id(register))
    if found is None:
        found = _FIELDS[id(register)] = {item.name: item for item in register.fields}
    return found


def masked_reader(offset: int, width: int, mask: int) -> Reader:
    def read(config: bytes) -> object:
        return regs.read_register(config, offset, width) & mask

    return read


@dataclass(frozen=True)
class PasteStyle:
    """What the pciutils version that printed a paste prints when a value is zero or closed.

    Before 3.6 ``lspci -vv`` leaves closed bridge windows out; 3.6 and 3.7 print them as
    ``None``/``[empty]``/``[disabled]``; 3.8 leaves out only I/O and prefetchable windows whose
    registers read zero (``show_htype1``). LnkCap2 is printed (when not zero) since 3.7.
    """

    closed_windows_shown: bool = True
    lnkcap2_printed: bool = True

    @classmethod
    def of(cls, text: str) -> PasteStyle:
        windows = [line for line in text.splitlines() if "behind bridge:" in line]
        old_windows = bool(windows) and not any(
            "[size=" in line or "[disabled]" in line or "None" in line or "[empty]" in line for line in windows
        )
        markers = ("LnkCap2:", "10BitTagComp", "NROPrPrP", "Preset/De-emphasis", "-bit]")
        return cls(closed_windows_shown=not old_windows, lnkcap2_printed=any(marker in text for marker in markers))


@dataclass
class DeviceBuilder:
    """The description, facts, assumptions and problems of one device being decoded."""

    device: ImportedDevice
    unparsed: list[UnparsedLine] = field(default_factory=list)
    #: Set while values are stored that the paste did not show (see :meth:`assume`).
    assuming: bool = False
    #: What the paste's lspci version prints (see :class:`PasteStyle`).
    style: PasteStyle = field(default_factory=PasteStyle)

    @property
    def description(self) -> dict[str, Any]:
        return self.device.description

    def assume(self, what: str, value: str, why: str, line: int = 0) -> None:
        self.device.assumptions.append(Assumption(self.device.bdf, what, value, why, line))

    @contextmanager
    def assumed(self) -> Iterator[None]:
        """Values stored inside were assumed: their facts are marked so."""
        previous, self.assuming = self.assuming, True
        try:
            yield
        finally:
            self.assuming = previous

    def problem(self, line: int, text: str, reason: str) -> None:
        self.unparsed.append(UnparsedLine(line, text, reason, self.device.bdf))

    def fact(self, path: str, value: object, line: int, bits: Iterable[tuple[int, int, int]], reader: Reader) -> None:
        self.device.facts.append(Fact(path, value, line, tuple(bits), reader, self.assuming))

    def raw(self, offset: int, data: bytes, line: int, path: str) -> None:
        """Bytes no named field holds; they become a ``raw`` patch of the description."""
        if offset < 0 or offset + len(data) > regs.EXTENDED_CONFIG_SIZE:
            self.problem(line, path, f"bytes at {offset:#x} lie outside config space")
            return
        patches: dict[int, str] = self.description.setdefault("raw", {})
        patches[offset] = data.hex(" ")
        for index, byte in enumerate(data):
            self.fact(
                f"{path}[{index}]",
                byte,
                line,
                ((offset + index, 1, 0xFF),),
                register_reader(offset + index, 1, None),
            )


@dataclass
class Sink:
    """Writes decoded values into one header or capability entry of a description."""

    builder: DeviceBuilder
    structure: regs.Structure | None
    entry: dict[str, Any]
    base: int
    path: str

    def __post_init__(self) -> None:
        self._by_name = _registers(self.structure) if self.structure is not None else {}

    def register(self, name: str) -> regs.Register | None:
        return self._by_name.get(name)

    def set(
        self, register_name: str, field_name: str | None, value: object, line: int, shown: int | None = None
    ) -> bool:
        """Store one field (or a whole register when ``field_name`` is None; ``shown`` is then
        the mask of the bits the paste showed, when not all)."""
        register = self._by_name.get(register_name)
        where = f"{self.path}.{register_name}" + (f".{field_name}" if field_name else "")
        if register is None:
            self.builder.problem(line, where, "no such register in the description vocabulary")
            return False
        offset = self.base + register.offset
        if field_name is None:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << (8 * register.width):
                self.builder.problem(line, where, f"{value!r} does not fit the register")
                return False
            self.entry[register_name] = value
            mask = (1 << (8 * register.width)) - 1 if shown is None else shown
            self.builder.fact(
                where,
                value & mask,
                line,
                ((offset, register.width, mask),),
                masked_reader(offset, register.width, mask),
            )
            return True
        try:
            item = _fields(register)[field_name]
            codec = item.value_codec
            # The codec's own form (names for named values), so facts compare with decoded bytes.
            value = codec.decode(codec.encode(value))
        except (KeyError, ValueError) as error:
            self.builder.problem(line, where, str(error))
            return False
        current = self.entry.get(register_name)
        if not isinstance(current, dict):
            current = {}
            self.entry[register_name] = current
        current[field_name] = value
        self.builder.fact(
            where, value, line, ((offset, register.width, item.mask),), register_reader(offset, register.width, item)
        )
        return True

    def flags(self, register_name: str, names: Mapping[str, str], text: str, line: int) -> list[str]:
        """Set every ``Name+``/``Name-`` of ``text`` that ``names`` maps to a field; the names it
        does not know are returned."""
        unknown: list[str] = []
        for name, on in scan_flags(text):
            field_name = names.get(name)
            if field_name is None:
                unknown.append(name)
                continue
            self.set(register_name, field_name, on, line)
        return unknown

    def number(self, register_name: str, field_name: str, pattern: re.Pattern[str], text: str, line: int) -> int | None:
        """Set a field from the first (decimal) group of ``pattern`` in ``text``."""
        match = pattern.search(text)
        if match is None:
            return None
        try:
            value = int(match[1])
        except ValueError:
            return None
        self.set(register_name, field_name, value, line)
        return value

    def derived(
        self,
        name: str,
        value: object,
        line: int,
        parts: Mapping[tuple[str, str], object],
        reader: Callable[[Callable[[str, str], int]], object],
    ) -> None:
        """A quantity lspci computes from several fields (a power limit from value and scale):
        the fields are stored, and one fact compares the computed quantity, so an equivalent
        encoding in a hex dump is not a disagreement."""
        bits: list[tuple[int, int, int]] = []
        for (register_name, field_name), part in parts.items():
            register = self.register(register_name)
            if register is None:
                self.builder.problem(line, f"{self.path}.{register_name}", "no such register")
                return
            try:
                item = register.field(field_name)
                item.value_codec.encode(part)
            except (KeyError, ValueError) as error:
                self.builder.problem(line, f"{self.path}.{register_name}.{field_name}", str(error))
                return
            fields = self.entry.setdefault(register_name, {})
            if not isinstance(fields, dict):
                fields = {}
                self.entry[register_name] = fields
            fields[field_name] = part
            bits.append((self.base + register.offset, register.width, item.mask))
        base = self.base
        structure = self.structure

        def read(config: bytes) -> object:
            def get(register_name: str, field_name: str) -> int:
                assert structure is not None
                register = structure.register(register_name)
                item = register.field(field_name)
                return item.get(regs.read_register(config, base + register.offset, register.width))

            return reader(get)

        self.builder.fact(f"{self.path}.{name}", value, line, bits, read)
