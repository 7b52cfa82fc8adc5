"""Import ``lspci`` output as people paste it: decoded text, hex dumps and trees, in any mix.

:func:`parse_lspci` is the entry point. The paste is cleaned (:mod:`harness.capture.paste`), cut
into device blocks at each title line, and each block's lines are re-joined into lspci's records:
a line that starts with a field name lspci prints in that place (``DevCap:``, ``Region 0:``,
``Capabilities:``...) starts a record, any other line continues the previous one. That one rule
undoes mail and forum wrapping, lspci's own continuation lines and pastes whose indentation was
lost, without trusting the indentation. Records are decoded into a device description
(:mod:`harness.capture.lspci_header`, :mod:`~harness.capture.lspci_caps`,
:mod:`~harness.capture.lspci_ecaps`); interleaved hex rows become the device's bytes and are
cross-checked against the text (:mod:`harness.capture.crosscheck`); ``-t`` trees give parents and
bus numbers (:mod:`harness.capture.lspci_tree`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from harness.capture import crosscheck, identity
from harness.capture.builder import DeviceBuilder, PasteStyle, Sink
from harness.capture.capability import CapabilityContext
from harness.capture.lspci_caps import DECODERS, STANDARD, Decoder
from harness.capture.lspci_ecaps import EXTENDED, EXTENDED_DECODERS
from harness.capture.lspci_header import HEADER_STARTS, HeaderDecoder, Title, parse_title
from harness.capture.lspci_tree import parse_tree
from harness.capture.model import Assumption, HexDump, ImportedDevice, ImportedPaste, UnparsedLine
from harness.capture.paste import Kind, PasteLine, clean_lines, command_args, hex_row, title_match
from harness.errors import PasteError
from harness.pci import regs
from harness.pciids import PciIds, system_ids

#: Records longer than this are cut (a wrapped lspci record is a few hundred characters).
MAX_RECORD_CHARS = 8192
MAX_RECORD_LINES = 64
#: A line of at least this many characters was probably wrapped by a mail client or forum.
WRAP_WIDTH = 60
MAX_DEVICES = 8192
#: What marks a line as lspci's even without a field name: a flag, a key=value, a PME() list.
_LSPCI_TOKEN = re.compile(r"[\w)\]][+-](?:[\s,;)]|$)|\w=\S|^PME\(")

_ALWAYS = ("Capabilities", "Kernel driver in use", "Kernel modules")
_ALWAYS_LABELS = frozenset(_ALWAYS)
_NO_COLON_STARTS = (
    "Memory at",
    "I/O ports at",
    "Expansion ROM at",
    "[virtual] Expansion ROM at",
    "BIST is running",
    "!!!",
    "Interrupt vector mode supported",
    "Device specific mode supported",
    "Extended requester support",
    "No steering table available",
    "Steering table in TPH capability structure",
    "Steering table in MSI-X table",
    "Reserved steering table location",
)


@dataclass
class Record:
    label: str
    text: str
    line: int
    lines: int = 1
    spliced: bool = False
    physical: list[str] = field(default_factory=list)


@dataclass
class Block:
    """The lines of one device title up to the next title, blank line or command."""

    title: PasteLine
    lines: list[PasteLine] = field(default_factory=list)
    hex_rows: list[PasteLine] = field(default_factory=list)


def _identify(text: str) -> tuple[int | None, int | None, bool, str, int | None, str]:
    """``Capabilities: [40] Power Management version 3`` -> (offset, version, extended, kind,
    cap id, the text after the name)."""
    text = text.strip()
    if not text.startswith("["):
        return None, None, False, "denied" if "access denied" in text else "unknown", None, text
    end = text.find("]")
    if end < 0:
        return None, None, False, "unknown", None, text
    inside = text[1:end].split()
    try:
        offset = int(inside[0], 16)
    except (ValueError, IndexError):
        return None, None, False, "unknown", None, text
    version = None
    if len(inside) > 1 and inside[1].startswith("v") and inside[1][1:].isdigit():
        version = int(inside[1][1:])
    extended = offset >= regs.FIRST_EXTENDED_CAPABILITY
    rest = text[end + 1 :].strip()
    for name, cap_id, kind in EXTENDED if extended else STANDARD:
        if rest.startswith(name):
            return offset, version, extended, kind, cap_id, rest[len(name) :].strip()
    if rest.startswith(("<chain looped>", "<chain broken>")):
        return offset, version, extended, "broken", None, rest
    prefix = "Extended Capability ID " if extended else "Capability ID "
    if rest.startswith(prefix) or rest.startswith("#"):
        number = rest[len(prefix) :] if rest.startswith(prefix) else rest[1:]
        try:
            cap_id = int(number.split()[0], 16)
        except (ValueError, IndexError):
            return offset, version, extended, "unknown", None, rest
        return offset, version, extended, "word" if not extended else "opaque", cap_id, rest
    return offset, version, extended, "unknown", None, rest


@cache
def _labels_for(kind: str | None, extended: bool) -> frozenset[str]:
    if kind is None:
        return frozenset(HEADER_STARTS) | _ALWAYS_LABELS
    decoder = (EXTENDED_DECODERS if extended else DECODERS).get(kind)
    labels = frozenset(decoder.labels) if decoder is not None else frozenset()
    return labels | _ALWAYS_LABELS


def _label_of(text: str, labels: frozenset[str]) -> tuple[str, str] | None:
    """``(label, rest)`` when ``text`` starts a record lspci prints here."""
    head, colon, rest = text.partition(":")
    head = head.strip()
    if colon and head in labels:
        return head, rest.strip()
    for start in _NO_COLON_STARTS:
        if text.startswith(start) and start in labels:
            return start, text[len(start) :].strip()
    return None


def _kind_guess(text: str) -> tuple[str | None, bool]:
    """The capability kind of a possibly wrapped ``Capabilities:`` line (for choosing labels)."""
    offset, _, extended, kind, _, rest = _identify(text)
    if kind not in ("unknown",) or offset is None:
        return kind, extended
    names = EXTENDED if extended else STANDARD
    for name, _, candidate in names:
        if name.startswith(rest) and rest:
            return candidate, extended
    return kind, extended


def records_of(block: Block, builder: DeviceBuilder) -> tuple[list[Record], str]:
    """Re-join the block's lines into lspci records; also returns the (re-joined) title text."""
    title = block.title.text.strip()
    title_spliced = block.title.spliced
    records: list[Record] = []
    kind: str | None = None
    extended = False
    labels = _labels_for(None, False)
    uses_indent = any(line.indent > block.title.indent for line in block.lines[:3])
    previous_length = len(block.title.text)
    previous_open = False
    for line in block.lines:
        text = line.stripped
        found = _label_of(text, labels)
        if found is None and kind is not None:
            # A capability's block ends where the next capability or the kernel lines start.
            found = _label_of(text, _ALWAYS_LABELS)
        if found is not None:
            label, rest = found
            if label == "Capabilities":
                kind, extended = _kind_guess(rest)
                labels = _labels_for(kind, extended)
            records.append(Record(label, rest, line.number, 1, line.spliced, [text]))
        elif not records:
            title = title + ("" if title_spliced else " ") + text
            title_spliced = line.spliced
        elif (
            uses_indent
            and line.indent <= block.title.indent
            and previous_length < WRAP_WIDTH
            and not previous_open
            and not _LSPCI_TOKEN.search(text)
        ):
            builder.problem(line.number, text, "not part of lspci's output for this device")
        else:
            record = records[-1]
            if len(record.text) + len(text) < MAX_RECORD_CHARS and record.lines < MAX_RECORD_LINES:
                record.text = record.text + ("" if record.spliced else " ") + text
                record.lines += 1
                record.spliced = line.spliced
                record.physical.append(text)
                if record.label == "Capabilities":
                    kind, extended = _kind_guess(record.text)
                    labels = _labels_for(kind, extended)
            else:
                builder.problem(line.number, text, "record too long; the rest is ignored")
        previous_length = len(line.text)
        previous_open = line.text.rstrip().endswith(":")
    return records, title


class DeviceDecoder:
    """Decodes one device block into its :class:`ImportedDevice`."""

    def __init__(self, block: Block, title: Title, builder: DeviceBuilder, database: PciIds | None) -> None:
        self.block = block
        self.title = title
        self.builder = builder
        self.database = database

    def decode(self, records: list[Record]) -> None:
        device = self.builder.device
        header_labels = {record.label for record in records}
        if header_labels & {"Control", "Status", "Interrupt", "Latency", "BridgeCtl", "Secondary status"}:
            device.verbosity = 2
        elif records:
            device.verbosity = 1
        device.decoded = bool(records)
        layout = self._layout(header_labels)
        if layout is None:
            return
        self.builder.description["layout"] = "bridge" if layout == regs.HEADER_LAYOUT_BRIDGE else "normal"
        pcie = any(record.label == "Capabilities" and "Express" in record.text for record in records)
        header = HeaderDecoder(self.builder, layout, pcie)
        capability: CapabilityContext | None = None
        decoder: Decoder | None = None
        last_line = self.block.title.number
        subsystem_cap: CapabilityContext | None = None
        standard: list[dict[str, Any]] = []
        extended: list[dict[str, Any]] = []
        for record in records:
            last_line = record.line
            if record.label == "Capabilities":
                if capability is not None and decoder is not None:
                    decoder.finish(capability, record.line)
                capability, decoder = self._capability(record, standard, extended)
                if capability is not None and capability.kind == "subsystem":
                    subsystem_cap = capability
                continue
            if record.label in ("Kernel driver in use", "Kernel modules"):
                header.record(record.label, record.text, record.line)
                continue
            if capability is not None and decoder is not None:
                if not decoder.record(capability, record.label, record.text, record.line):
                    self.builder.problem(record.line, record.text, f"{record.label}: not decoded")
                continue
            if capability is None and decoder is None and not header.record(record.label, record.text, record.line):
                self.builder.problem(record.line, f"{record.label}: {record.text}", "not decoded")
        if capability is not None and decoder is not None:
            decoder.finish(capability, last_line)
        if extended and extended[0]["at"] != regs.FIRST_EXTENDED_CAPABILITY:
            extended.insert(0, {"id": 0, "at": regs.FIRST_EXTENDED_CAPABILITY, "version": 0})
            self.builder.assume(
                "extended capability at 0x100",
                "a Null capability",
                "the paste does not show the start of the extended list (a cut or filtered output)",
            )
        if standard:
            self.builder.description["capabilities"] = standard
        if extended:
            self.builder.description["extended_capabilities"] = extended
        known = identity.resolve(self.builder, header.sink, self.title, self.database, self.block.title.number)
        self._subsystem(header.sink, subsystem_cap, known, layout)
        header.finish(last_line)
        if device.condition == "dead":
            # What lspci printed came from the kernel's cached attributes, not from config space
            # (which reads all-ones): nothing to compare with a dump.
            device.facts.clear()
        if "express" in {entry.get("id") for entry in standard} and not extended and device.verbosity >= 2:
            self.builder.assume(
                "config space size", "4096", "a PCI Express function whose paste shows no extended capability"
            )

    def _layout(self, labels: set[str]) -> int | None:
        code = self.title.class_code
        if code is None and self.block.hex_rows and self.builder.device.hexdump is not None:
            data = self.builder.device.hexdump.data
            if len(data) > 0x0E:
                return data[0x0E] & 0x7F if data[0x0E] & 0x7F in (0, 1) else None
        if code in (0x0607,) or self.title.class_name == "CardBus bridge":
            self.builder.problem(self.block.title.number, self.block.title.text, "CardBus bridges cannot be described")
            return None
        bridge = code in (0x0604, 0x0609) or self.title.class_name == "PCI bridge" or "Bus" in labels
        return regs.HEADER_LAYOUT_BRIDGE if bridge else regs.HEADER_LAYOUT_NORMAL

    def _capability(
        self, record: Record, standard: list[dict[str, Any]], extended: list[dict[str, Any]]
    ) -> tuple[CapabilityContext | None, Decoder | None]:
        offset, version, is_extended, kind, cap_id, rest = _identify(record.text)
        device = self.builder.device
        if kind == "denied":
            device.capabilities_unknown = True
            self.builder.assume(
                "capabilities",
                "unknown (none described)",
                "lspci ran without root and printed <access denied>",
                record.line,
            )
            return None, None
        if offset is None or kind in ("unknown", "broken") or cap_id is None:
            self.builder.problem(record.line, record.text, "capability not recognised")
            return None, None
        table = regs.EXTENDED_CAPABILITIES if is_extended else regs.CAPABILITIES
        structure = next((item for item in table.values() if item.cap_id == cap_id), None)
        entry: dict[str, Any] = {"id": structure.name if structure else cap_id, "at": offset}
        shown_version = False
        if is_extended:
            shown_version = version is not None
            if version is None:
                version = 1
                self.builder.assume(
                    f"version of the extended capability at {offset:#x}", "1", "lspci -v does not print it", record.line
                )
            entry["version"] = version
            extended.append(entry)
        else:
            standard.append(entry)
        path = f"{entry['id']}@{offset:#x}"
        self._chain_fact(offset, cap_id, version if shown_version else None, is_extended, line=record.line, path=path)
        sink = Sink(self.builder, structure, entry, offset, path)
        function = int(device.bdf[-1])
        context = CapabilityContext(self.builder, sink, kind, offset, is_extended, function)
        decoder = (EXTENDED_DECODERS if is_extended else DECODERS).get(kind)
        if decoder is None:
            return context, None
        decoder.start(context, rest, record.line)
        return context, decoder

    def _chain_fact(
        self, offset: int, cap_id: int, version: int | None, extended: bool, *, line: int, path: str
    ) -> None:
        """The capability's ID (and extended version) where the chain puts it."""
        width, mask = (2, 0xFFFF) if extended else (1, 0xFF)
        self.builder.fact(f"{path}.id", cap_id, line, ((offset, width, mask),), _reader(offset, width))
        if extended and version is not None:
            self.builder.fact(f"{path}.version", version, line, ((offset + 2, 1, 0x0F),), _version_reader(offset))

    def _subsystem(self, sink: Sink, cap: CapabilityContext | None, known: identity.Identity, layout: int) -> None:
        device = self.builder.device
        text = device.subsystem_name
        cap_text = cap.state.get("subsystem_text") if cap is not None else None
        line = self.block.title.number
        name = self.title.name
        resolved = identity.resolve_subsystem(
            self.builder, text or cap_text, known, self.database, line=line, title_name=name
        )
        if resolved is None and cap_text and text:
            resolved = identity.resolve_subsystem(
                self.builder, cap_text, known, self.database, line=line, title_name=name
            )
        found = resolved[0] if resolved is not None else None
        if found is not None and found[1] == identity.UNKNOWN_SUBDEVICE:
            device.subsystem = found
        elif resolved is not None and found is not None:
            device.subsystem = found
            previous, self.builder.assuming = self.builder.assuming, not resolved[1]
            if layout == regs.HEADER_LAYOUT_NORMAL:
                sink.set("subsystem_vendor", None, found[0], line)
                sink.set("subsystem_device", None, found[1], line)
            if cap is not None:
                cap.sink.set("subsystem_vendor", None, found[0], line)
                cap.sink.set("subsystem_device", None, found[1], line)
            self.builder.assuming = previous
        elif text is None and layout == regs.HEADER_LAYOUT_NORMAL and device.verbosity >= 1:
            # lspci prints "Subsystem:" whenever the subsystem vendor is neither 0 nor ffff.
            sink.set("subsystem_vendor", None, 0, line)
            sink.set("subsystem_device", None, 0, line)


def _reader(offset: int, width: int) -> Any:
    def read(config: bytes) -> object:
        return regs.read_register(config, offset, width)

    return read


def _version_reader(offset: int) -> Any:
    def read(config: bytes) -> object:
        return regs.read_register(config, offset + 2, 1) & 0x0F

    return read


def blocks_of(lines: list[PasteLine], paste: ImportedPaste) -> tuple[list[Block], list[PasteLine]]:
    """Device blocks and the tree lines; everything else is reported as not understood."""
    blocks: list[Block] = []
    tree: list[PasteLine] = []
    current: Block | None = None
    in_tree = False
    for line in lines:
        kind = line.kind
        if kind is Kind.TITLE:
            current = Block(line)
            blocks.append(current)
            in_tree = False
            if len(blocks) > MAX_DEVICES:
                raise PasteError(paste.source, line.number, f"more than {MAX_DEVICES} devices in one paste")
        elif kind is Kind.HEX:
            if current is not None:
                current.hex_rows.append(line)
            else:
                paste.unparsed.append(UnparsedLine(line.number, line.text, "hex row outside a device"))
        elif kind is Kind.TREE:
            tree.append(line)
            current, in_tree = None, True
        elif kind is Kind.COMMAND:
            paste.commands.append((line.number, command_args(line.text) or ""))
            current, in_tree = None, False
        elif kind is Kind.BLANK:
            current = None
        elif current is not None:
            current.lines.append(line)
        elif in_tree and line.indent == 0:
            tree.append(line)  # a device name the paste wrapped
        else:
            paste.unparsed.append(UnparsedLine(line.number, line.text, "not lspci output"))
    return blocks, tree


def _hexdump(block: Block, builder: DeviceBuilder) -> HexDump | None:
    if not block.hex_rows:
        return None
    dump = HexDump(line=block.hex_rows[0].number)
    for row_line in block.hex_rows:
        parsed = hex_row(row_line.text)
        if parsed is None:
            builder.problem(row_line.number, row_line.text, "broken hex row")
            continue
        offset, values = parsed
        if offset % 16 or offset < len(dump.data) or offset >= regs.EXTENDED_CONFIG_SIZE:
            builder.problem(row_line.number, row_line.text, f"hex row at {offset:#x} out of sequence")
            continue
        while len(dump.data) < offset:
            dump.missing.add(len(dump.data))
            dump.data.extend(bytes(16))
        if len(values) < 16:
            dump.missing.add(offset)
            values = values + [0] * (16 - len(values))
            builder.problem(row_line.number, row_line.text, "hex row with fewer than 16 bytes")
        dump.data.extend(values)
    return dump


def parse_lspci(
    text: str,
    source: str = "<paste>",
    ids: PciIds | str | None = "system",
) -> ImportedPaste:
    """Every device of a pasted ``lspci`` output (``-v``/``-vv``/``-vvv``, ``-x`` to ``-xxxx``,
    ``-t``, ``-nn``, ``-k``, ``-P``, in any mix and any paste form).

    ``ids`` is the ``pci.ids`` used to turn names into numbers when the paste has neither
    ``-nn`` nor hex: ``"system"`` (the usual places), None (no lookups) or a loaded database.
    Raises :class:`~harness.errors.PasteError` for an input too large or without any device.
    """
    paste = ImportedPaste(source)
    lines = clean_lines(text, source)
    blocks, tree_lines = blocks_of(lines, paste)
    paste.tree = parse_tree(tree_lines, paste.unparsed)
    if not blocks and not paste.tree:
        raise PasteError(source, 1, "no lspci output found (expected lines like '03:00.0 SATA controller: ...')")
    database = system_ids() if ids == "system" else ids if isinstance(ids, PciIds) else None
    style = PasteStyle.of("\n".join(line.text for line in lines))
    # One device may come twice: "lspci -vv" and then "lspci -x" of the same machine. Its text
    # is the block with the most records, its bytes the first dump; they are decoded together so
    # that the IDs come from the dump rather than from names.
    found: dict[str, list[_Parsed]] = {}
    for block in blocks:
        parsed = _parse_block(block, style, paste.unparsed)
        if parsed is not None:
            found.setdefault(parsed.title.bdf, []).append(parsed)
    for group in found.values():
        chosen = max(group, key=lambda item: len(item.records))
        dump = chosen.builder.device.hexdump or next(
            (item.builder.device.hexdump for item in group if item.builder.device.hexdump is not None), None
        )
        chosen.builder.device.hexdump = dump
        for other in group:
            if other is not chosen and other.records:
                title = other.block.title
                paste.unparsed.append(
                    UnparsedLine(title.number, title.text, "the same device again; the first is kept")
                )
        DeviceDecoder(chosen.block, chosen.title, chosen.builder, database).decode(chosen.records)
        crosscheck.check(chosen.builder.device)
        paste.devices.append(chosen.builder.device)
        paste.unparsed.extend(chosen.builder.unparsed)
    identity.fill_unknown_subdevices(paste.devices)
    _apply_tree(paste)
    return paste


@dataclass
class _Parsed:
    block: Block
    title: Title
    builder: DeviceBuilder
    records: list[Record]


def _parse_block(block: Block, style: PasteStyle, unparsed: list[UnparsedLine]) -> _Parsed | None:
    """A block's title (re-joined when wrapped), records and hex rows, not yet decoded."""
    match = title_match(block.title.text.strip())
    if match is None:
        unparsed.append(UnparsedLine(block.title.number, block.title.text, "not a device title"))
        return None
    title = parse_title(match)
    builder = DeviceBuilder(ImportedDevice(title.bdf, block.title.stripped, block.title.number, {}), style=style)
    records, joined = records_of(block, builder)
    if joined != block.title.stripped:
        rejoined = title_match(joined)
        if rejoined is not None:
            title = parse_title(rejoined)
            builder.device.title = joined
    builder.device.hexdump = _hexdump(block, builder)
    if title.path:
        builder.device.parent = title.path[-1]
    return _Parsed(block, title, builder, records)


def _apply_tree(paste: ImportedPaste) -> None:
    """Parents and bridge bus numbers from a ``-t`` tree, for what the decoded text lacks."""
    for node in paste.tree:
        device = paste.device(node.bdf)
        if device is None:
            continue
        if device.parent is None:
            device.parent = node.parent
        header = device.description.get("header", {})
        if (
            node.secondary is not None
            and device.description.get("layout") == "bridge"
            and "secondary_bus" not in header
        ):
            primary = int(node.bdf[5:7], 16)
            header.update(
                primary_bus=primary,
                secondary_bus=node.secondary,
                subordinate_bus=node.subordinate if node.subordinate is not None else node.secondary,
            )
            device.assumptions.append(
                Assumption(
                    device.bdf,
                    "bus numbers",
                    f"secondary {node.secondary:02x}, subordinate {header['subordinate_bus']:02x}",
                    "from the lspci -t tree; the decoded text has no 'Bus:' line",
                    node.line,
                )
            )
