"""A host from pasted reports: ``lspci`` output, IOMMU group listings and kernel log excerpts.

The devices are what :func:`harness.capture.parse_lspci` makes of every ``lspci`` source (read as
one paste, so that ``lspci -vv`` in one file and ``lspci -x`` in another give one device each),
plus the functions a group listing names and no ``lspci`` output shows (their title gives their
IDs). A paste does not say everything a host description needs, and each value chosen instead is
an :class:`~harness.scenario.importer.model.Assumption`:

- **topology**: a bridge's bus range comes from its ``Bus:`` line, its hex dump or the ``-t``
  tree; a bus no shown bridge forwards is given to a shown bridge without a range (the lowest
  address first), else to a root port assumed on bus 00 (with ACS when the group listing shows
  the device alone, as on most current platforms, else without);
- a function 1-7 whose function 0 the paste lacks gets a placeholder function 0 (the kernel
  scans functions 1-7 only behind function 0);
- **kernel**: release, version and command line from ``Linux version``/``Command line:`` log
  lines, else fakesys's defaults; the CPU vendor from the host bridge's (or the IOMMU's log lines);
- **IOMMU**: on (with interrupt remapping) when groups or IOMMU log lines are shown, else assumed
  on so that the checker can judge the devices;
- **drivers** only where ``-k`` shows them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakesys import names
from harness.capture import ImportedDevice, ImportedPaste, parse_lspci
from harness.errors import PasteError
from harness.pci import regs
from harness.pci.address import Bdf
from harness.scenario.importer import devices
from harness.scenario.importer.dmesg import worth_expecting
from harness.scenario.importer.groups import GroupListing
from harness.scenario.importer.model import DeviceFile, ExpectedLine, HostDraft, short_bdf
from harness.scenario.importer.sources import TextSource

#: fakesys's default kernel when a paste names none (fakesys.host.model.DEFAULT_RELEASE).
DEFAULT_RELEASE = "6.8.12-4-pve"
_VERSION = re.compile(r"^Linux version (\S{1,64})")
_VENDORS = {0x8086: "intel", 0x1022: "amd"}
#: Device numbers tried, in order, for a root port the paste does not show.
_FREE_SLOTS = (0x1C, 0x1D, 0x1B, 0x01, 0x02, 0x03, *range(0x04, 0x1B), 0x1E, 0x1F)


@dataclass
class LineMap:
    """Where each line of the combined lspci text came from."""

    pieces: list[tuple[int, int, str]] = field(default_factory=list)  # (first combined line, count, path)

    def add(self, path: str, text: str, first: int) -> int:
        count = text.count("\n") + 1
        self.pieces.append((first, count, path))
        return first + count + 1  # a blank line between sources

    def where(self, line: int) -> str:
        for first, count, path in self.pieces:
            if first <= line < first + count:
                return f"{path}:{line - first + 1}"
        return f"<combined>:{line}"


def parse_sources(sources: list[TextSource]) -> tuple[ImportedPaste | None, LineMap]:
    """Every lspci source read as one paste (devices merged by address), with the line map."""
    mapping = LineMap()
    texts = []
    first = 1
    for source in sources:
        if source.lspci is None:
            continue
        texts.append(source.lspci)
        first = mapping.add(source.path, source.lspci, first)
    if not texts:
        return None, mapping
    combined = "\n\n".join(texts)
    try:
        paste = parse_lspci(combined, "<combined>")
    except PasteError as error:
        raise PasteError(*_split(mapping.where(error.line)), error.reason) from None
    return paste, mapping


def _split(where: str) -> tuple[str, int]:
    path, _, line = where.rpartition(":")
    return path, int(line)


def titles_paste(listings: list[GroupListing], known: set[str]) -> ImportedPaste | None:
    """The functions only group listings name, read from their ``lspci -nns`` titles."""
    lines = []
    for listing in listings:
        for address, (_, title) in listing.titles.items():
            if address not in known:
                lines.append(title)
                known.add(address)
    if not lines:
        return None
    return parse_lspci("\n".join(lines), "<group listing titles>")


class PasteImporter:
    def __init__(self, scenario: str, draft: HostDraft, where: Callable[[int], str]) -> None:
        self.scenario = scenario
        self.draft = draft
        self.where = where
        self.entries: dict[str, dict[str, Any]] = {}
        self.models: dict[str, bytes] = {}
        #: Config space of each device file by name (functions sharing a file encode the same).
        self.encoded: dict[str, bytes] = {}
        self.parents: dict[str, str] = {}

    def add(self, device: ImportedDevice, where: str) -> None:
        draft = self.draft
        bdf = device.bdf
        source = f"{where}: {device.title}"
        description, expected, state = devices.from_paste(device, [source])
        if device.condition == "dead":
            expected = None
        for assumption in device.assumptions:
            line = self.where(assumption.line) if assumption.line else where
            draft.assume(bdf, assumption.what, assumption.value, assumption.why, line)
        for disagreement in device.disagreements:
            draft.note(
                bdf,
                f"{disagreement.field}: the text says {disagreement.text_value}, the hex {disagreement.hex_value} "
                "(the hex is kept)",
                self.where(disagreement.line),
            )
        if expected is not None and len(expected) == regs.UNPRIVILEGED_CONFIG_SIZE and not device.decoded:
            draft.assume(
                bdf,
                "config space above 0x40",
                "zeros, no capabilities",
                "the paste has a 64-byte lspci -x dump only",
                where,
            )
        if expected is not None and not device.decoded:
            self.dump_only(bdf, description, expected, where)
        if not device.decoded and device.hexdump is None:
            draft.assume(
                bdf,
                "config space",
                "IDs and class only (no BARs, no capabilities)",
                "the source shows the device's title only",
                where,
            )
        facts = [] if expected is not None else [fact for fact in device.facts if not fact.assumed]
        if state is not None:
            # The description is the function at rest (D0); the state it was pasted in is the host's.
            facts = [fact for fact in facts if not fact.path.endswith(".pmcsr.power_state")]
        sizes = {
            bar["index"]: bar["size"]
            for bar in description.get("bars", [])
            if isinstance(bar.get("size"), int) and isinstance(bar.get("index"), int)
        }
        candidate = DeviceFile(
            devices.device_file_name(self.scenario, bdf), description, [bdf], expected, sizes, source
        )
        candidate.facts = [(fact.path, fact.value, fact.reader) for fact in facts]
        name = devices.add_device(draft.devices, candidate)
        entry: dict[str, Any] = {"bdf": short_bdf(bdf), "device": name}
        if device.driver:
            try:
                entry["driver"] = names.driver_name(device.driver)
            except names.BadName as problem:
                draft.note(bdf, f"driver left out: {problem}", where)
        if device.label and not names.CONTROL.search(device.label):
            entry["label"] = device.label.strip()
        if device.irq is not None and 0 <= device.irq < 1 << 31:
            entry["irq"] = device.irq
        if device.numa_node is not None and device.numa_node >= 0:
            entry["numa_node"] = device.numa_node
        if device.condition == "dead":
            entry["condition"] = "dead"
        if state == "D3hot":
            entry["power"] = "D3hot"
        elif state is not None:
            draft.note(bdf, f"the paste shows it in {state}; a host description holds D0, D3hot or D3cold: D0 is kept")
        self.entries[bdf] = entry
        if name not in self.encoded:
            model = devices.encoded(description, f"devices/{name}.yaml")
            if name == candidate.name:
                candidate.model = model
            self.encoded[name] = bytes(model.config)
        self.models[bdf] = self.encoded[name]
        if device.parent:
            self.parents[bdf] = device.parent
        if device.iommu_group is not None and 0 <= device.iommu_group <= 65535:
            draft.captured_groups.setdefault(device.iommu_group, []).append(bdf)

    def dump_only(self, bdf: str, description: dict[str, Any], config: bytes, where: str) -> None:
        """What a hex dump without decoded text cannot say: BAR sizes, the ROM's."""
        for bar in devices.bars_from_text(description):
            if bar.size is None:
                self.draft.assume(
                    bdf,
                    f"BAR {bar.index} size",
                    f"{bar.effective_size:#x} (the largest its address alignment allows, at most 1 MiB)",
                    "a hex dump has no BAR sizes (sizing a BAR needs writes)",
                    where,
                )
        layout = config[0x0E] & 0x7F if len(config) > 0x0E else 0
        offset = regs.ROM_BAR_TYPE1 if layout == regs.HEADER_LAYOUT_BRIDGE else regs.ROM_BAR_TYPE0
        if len(config) >= offset + 4 and regs.read_register(config, offset, 4) & regs.ROM_ADDRESS_MASK:
            self.draft.assume(
                bdf,
                "expansion ROM",
                "none (the ROM BAR register is kept as dumped)",
                "a hex dump has neither the ROM's size nor its contents",
                where,
            )

    def is_bridge(self, bdf: str) -> bool:
        config = self.models.get(bdf)
        return config is not None and config[0x0E] & 0x7F == regs.HEADER_LAYOUT_BRIDGE

    def bus_range(self, bdf: str) -> tuple[int, int] | None:
        config = self.models[bdf]
        secondary, subordinate = config[0x19], config[0x1A]
        if not secondary:
            return None
        return secondary, max(subordinate, secondary)


class Topology:
    """Bus ranges for every bridge a device needs, the assumed ones listed."""

    def __init__(self, importer: PasteImporter) -> None:
        self.importer = importer
        self.draft = importer.draft
        self.ranges: dict[str, tuple[int, int | None]] = {}
        for bdf in importer.entries:
            if importer.is_bridge(bdf):
                found = importer.bus_range(bdf)
                if found is not None:
                    self.ranges[bdf] = found

    def owner(self, domain: int, bus: int) -> str | None:
        for bdf, (secondary, _) in self.ranges.items():
            if Bdf.parse(bdf).domain == domain and secondary == bus:
                return bdf
        return None

    def resolve(self) -> None:
        importer = self.importer
        orphans = sorted(
            {(Bdf.parse(bdf).domain, Bdf.parse(bdf).bus) for bdf in importer.entries if Bdf.parse(bdf).bus != 0}
        )
        for domain, bus in orphans:
            if self.owner(domain, bus) is not None:
                continue
            self.place(domain, bus)
        self.subordinates()
        for bdf, (secondary, subordinate) in self.ranges.items():
            numbers: dict[str, int] = {"secondary": secondary}
            if subordinate is not None and subordinate != secondary:
                numbers["subordinate"] = subordinate
            importer.entries[bdf]["bus"] = numbers

    def container(self, domain: int, bus: int) -> str | None:
        """The innermost shown bridge whose range holds ``bus`` below its secondary bus."""
        holding = [
            bdf
            for bdf, (secondary, subordinate) in self.ranges.items()
            if Bdf.parse(bdf).domain == domain and subordinate is not None and secondary < bus <= subordinate
        ]
        return max(holding, key=lambda bdf: self.ranges[bdf][0], default=None)

    def place(self, domain: int, bus: int) -> None:
        """Give ``bus`` a bridge: the one the tree or a -P path names, else a shown bridge without a
        range on the bus the parent must sit on (the secondary bus of the bridge whose range holds
        ``bus``, else bus 00), else an assumed port there."""
        importer = self.importer
        on_bus = sorted(bdf for bdf in importer.entries if (Bdf.parse(bdf).domain, Bdf.parse(bdf).bus) == (domain, bus))
        shown = {importer.parents[bdf] for bdf in on_bus if bdf in importer.parents}
        for parent in sorted(shown):
            if importer.is_bridge(parent) and parent not in self.ranges:
                self.ranges[parent] = (bus, self.end_below(domain, bus, set()))
                self.draft.assume(parent, "secondary bus", f"{bus:02x}", f"{on_bus[0]} sits behind it in the paste")
                return
        container = self.container(domain, bus)
        home = self.ranges[container][0] if container is not None else 0
        candidates = [
            bdf
            for bdf in sorted(importer.entries)
            if importer.is_bridge(bdf)
            and bdf not in self.ranges
            and (Bdf.parse(bdf).domain, Bdf.parse(bdf).bus) == (domain, home)
        ]
        if candidates:
            chosen = candidates[0]
            self.ranges[chosen] = (bus, self.end_below(domain, bus, set()))
            self.draft.assume(
                chosen,
                "secondary bus",
                f"{bus:02x}",
                f"no shown bridge forwards bus {bus:02x} ({', '.join(on_bus)}); this one shows no bus range",
            )
            return
        self.add_port(domain, home, bus, on_bus, container)

    def add_port(self, domain: int, home: int, bus: int, on_bus: list[str], container: str | None) -> None:
        """A port no source shows, on bus ``home``, forwarding ``bus``: a root port on bus 00, a
        switch downstream port below a shown bridge."""
        importer = self.importer
        used = {
            Bdf.parse(bdf).device
            for bdf in importer.entries
            if (Bdf.parse(bdf).domain, Bdf.parse(bdf).bus) == (domain, home)
        }
        slot = next((number for number in _FREE_SLOTS if number not in used), None)
        if slot is None:
            raise ValueError(f"bus {bus:02x} ({on_bus[0]}) needs a bridge and bus {home:02x} has no free slot")
        bdf = f"{domain:04x}:{home:02x}:{slot:02x}.0"
        vendor = self.platform_vendor() if container is None else regs.read_register(importer.models[container], 0, 2)
        shown_alone = self.alone_in_group(on_bus)
        alone = shown_alone is not False
        kind = "root_port" if container is None else "downstream_port"
        description = port_description(vendor, kind, acs=alone)
        name = devices.device_file_name(self.importer.scenario, bdf)
        candidate = DeviceFile(name, description, [bdf], None, {}, "assumed")
        name = devices.add_device(self.draft.devices, candidate)
        importer.entries[bdf] = {"bdf": short_bdf(bdf), "device": name, "driver": "pcieport"}
        importer.models[bdf] = bytes(devices.encoded(description, f"devices/{name}.yaml").config)
        self.ranges[bdf] = (bus, self.end_below(domain, bus, set()))
        where = f"below {container}" if container is not None else "on the root bus"
        self.draft.assume(
            bdf,
            "the parent bridge",
            f"a PCI Express {kind.replace('_', ' ')} [{vendor:04x}:0000] {where}, "
            f"{'with' if alone else 'without'} ACS, secondary bus {bus:02x}",
            f"the sources show {', '.join(on_bus)} on bus {bus:02x} but no bridge that forwards it; "
            + {
                True: "ACS as the group listing shows them apart from other devices",
                False: "no ACS as the group listing shows them with other devices",
                None: "ACS as on most current platforms (no group listing shows them)",
            }[shown_alone],
        )

    def platform_vendor(self) -> int:
        for bdf, config in sorted(self.importer.models.items()):
            vendor = regs.read_register(config, 0, 2)
            if Bdf.parse(bdf).bus == 0 and vendor in _VENDORS:
                return vendor
        return 0x8086

    def alone_in_group(self, on_bus: list[str]) -> bool | None:
        """Whether the group listing shows the bus's devices in a group of their own (None: it
        does not show them)."""
        groups = self.draft.captured_groups
        for members in groups.values():
            if on_bus[0] in members:
                return all(member in on_bus or Bdf.parse(member).bus != 0 for member in members)
        return None

    def end_below(self, domain: int, bus: int, seen: set[int]) -> int:
        """The highest bus below ``bus``: its bridges' ranges, followed down."""
        highest = bus
        seen.add(bus)
        for bdf, (secondary, subordinate) in list(self.ranges.items()):
            address = Bdf.parse(bdf)
            if address.domain != domain or address.bus != bus or secondary in seen:
                continue
            highest = max(highest, subordinate if subordinate is not None else self.end_below(domain, secondary, seen))
        return highest

    def subordinates(self) -> None:
        """A range whose subordinate the source did not show ends at the highest bus below it."""

        def below(bdf: str, seen: set[str]) -> int:
            secondary, subordinate = self.ranges[bdf]
            highest = secondary if subordinate is None else subordinate
            domain = Bdf.parse(bdf).domain
            for other in self.ranges:
                if other in seen:
                    continue
                address = Bdf.parse(other)
                if address.domain == domain and address.bus == secondary:
                    highest = max(highest, below(other, seen | {other}))
            return highest

        for bdf, (secondary, subordinate) in list(self.ranges.items()):
            if subordinate is None:
                self.ranges[bdf] = (secondary, below(bdf, {bdf}))


def port_description(vendor: int, kind: str, acs: bool) -> dict[str, Any]:
    """A PCI Express port (``root_port`` or ``downstream_port``) no source showed (see
    :class:`Topology`)."""
    description: dict[str, Any] = {
        "title": f"PCI bridge: assumed PCI Express {kind.replace('_', ' ')} (not in the sources)",
        "sources": ["assumed by vfiolab scenario import: the sources show a bus behind no shown bridge"],
        "layout": "bridge",
        "header": {
            "vendor": vendor,
            "device": 0,
            "class": 0x060400,
            "command": {"io": True, "memory": True, "bus_master": True},
        },
        "capabilities": [
            {
                "id": "express",
                "at": 0x40,
                "flags": {"version": 2, "type": kind},
                "lnkcap": {"max_speed": "8GT/s", "max_width": 4, "dll_active_reporting": True},
                "lnksta": {"speed": "8GT/s", "width": 4, "dll_active": True},
            }
        ],
    }
    if acs:
        flags = {
            "source_validation": True,
            "request_redirect": True,
            "completion_redirect": True,
            "upstream_forwarding": True,
        }
        description["extended_capabilities"] = [
            {"id": "acs", "at": 0x100, "version": 1, "cap": flags, "control": flags}
        ]
    return description


def placeholder_function0(importer: PasteImporter) -> None:
    """Functions 1-7 whose function 0 no source shows get one (the kernel scans them only behind
    function 0): the same IDs, class "unassigned"."""
    for bdf in sorted(importer.entries):
        address = Bdf.parse(bdf)
        if address.function == 0:
            continue
        first = str(address._replace(function=0))
        if first in importer.entries:
            continue
        config = importer.models[bdf]
        vendor, device = regs.read_register(config, 0, 2), regs.read_register(config, 2, 2)
        description: dict[str, Any] = {
            "title": f"Unassigned class [ff00]: placeholder for function 0 [{vendor:04x}:{device:04x}]",
            "sources": ["assumed by vfiolab scenario import: the sources show later functions of the slot only"],
            "header": {"vendor": vendor, "device": device, "class": 0xFF0000},
        }
        name = devices.device_file_name(importer.scenario, first)
        importer.draft.devices.append(DeviceFile(name, description, [first], None, {}, "assumed"))
        importer.entries[first] = {"bdf": short_bdf(first), "device": name}
        importer.models[first] = bytes(devices.encoded(description, f"devices/{name}.yaml").config)
        importer.draft.assume(
            first,
            "function 0",
            f"a placeholder with {vendor:04x}:{device:04x}, class ff0000",
            f"the sources show {bdf} but not function 0 of its slot (the kernel scans 1-7 only behind 0)",
        )


def import_pastes(sources: list[TextSource], scenario: str, draft: HostDraft) -> None:
    """Fill ``draft`` from text sources (lspci output, group listings, kernel log excerpts)."""
    paste, mapping = parse_sources(sources)
    listings = [source.groups for source in sources if source.groups is not None]
    for listing in listings:
        for number, members in listing.groups.items():
            draft.captured_groups.setdefault(number, []).extend(members)
        for line, problem in listing.problems:
            draft.note("group listing", problem, f"{listing.source}:{line}")
    importer = PasteImporter(scenario, draft, mapping.where)
    known: set[str] = set()
    if paste is not None:
        for device in paste.devices:
            try:
                Bdf.parse(device.bdf)
            except ValueError as problem:
                draft.note(device.bdf, f"left out: {problem}", mapping.where(device.line))
                continue
            importer.add(device, mapping.where(device.line))
            known.add(device.bdf)
        _report_unparsed(paste, mapping, draft)
    extra = titles_paste(listings, known)
    if extra is not None:
        for device in extra.devices:
            line, _ = next(
                (listing.titles[device.bdf] for listing in listings if device.bdf in listing.titles), (0, "")
            )
            origin = next((listing.source for listing in listings if device.bdf in listing.titles), "group listing")
            importer.add(device, f"{origin}:{line}")
    listed = {member for members in draft.captured_groups.values() for member in members}
    for bdf in sorted(listed - set(importer.entries)):
        draft.note(bdf, "named by a group listing without a title to read its IDs from; left out")
    if not importer.entries:
        raise PasteError(sources[0].path, 1, "no PCI device found in the sources")
    placeholder_function0(importer)
    Topology(importer).resolve()
    draft.host["pci"] = [importer.entries[bdf] for bdf in sorted(importer.entries)]
    _host_level(importer, sources)
    for source in sources:
        kinds = list(source.kinds)
        if paste is not None and source.lspci:
            kinds.insert(0, _lspci_kind(paste, mapping, source.path))
        draft.sources.append(f"{source.path}: {', '.join(kinds)}")


def _lspci_kind(paste: ImportedPaste, mapping: LineMap, path: str) -> str:
    """``lspci output: 12 functions (12 decoded -vv, 12 hex of 64 bytes), a -t tree of 14``."""
    mine = [device for device in paste.devices if mapping.where(device.line).rpartition(":")[0] == path]
    decoded = Counter(f"-{'v' * max(device.verbosity, 1)}" for device in mine if device.decoded)
    dumps = Counter(len(device.hexdump.data) for device in mine if device.hexdump is not None)
    parts = [f"{count} decoded {form}" for form, count in sorted(decoded.items())]
    parts += [f"{count} hex of {size} bytes" for size, count in sorted(dumps.items())]
    titles = len(mine) - sum(1 for device in mine if device.decoded or device.hexdump is not None)
    if titles:
        parts.append(f"{titles} title only")
    tree = sum(1 for node in paste.tree if mapping.where(node.line).rpartition(":")[0] == path)
    text = f"lspci output: {len(mine)} functions ({', '.join(parts)})" if mine else "lspci output"
    return text + (f", a -t tree of {tree}" if tree else "")


def _report_unparsed(paste: ImportedPaste, mapping: LineMap, draft: HostDraft) -> None:
    by_file: dict[str, list[tuple[str, str]]] = {}
    for item in paste.unparsed:
        where = mapping.where(item.line)
        by_file.setdefault(where.rpartition(":")[0], []).append((where, item.text))
    for path, items in by_file.items():
        where, text = items[0]
        shown = text.strip()[:60]
        draft.note(path, f"{len(items)} line(s) not lspci output (prose, headers ...), the first at {where}: {shown!r}")


def _host_level(importer: PasteImporter, sources: list[TextSource]) -> None:
    draft = importer.draft
    host = draft.host
    entries = [entry for source in sources if source.log is not None for entry in source.log.entries]
    for source in sources:
        if source.log is not None:
            draft.log.extend((f"{source.path}", entry) for entry in source.log.entries)
            for entry in source.log.entries:
                why = worth_expecting(entry.text)
                if why:
                    draft.expected_lines.append(ExpectedLine(entry.text, why, f"{source.path}:{entry.line}"))
    texts = [entry.text for entry in entries]
    kernel: dict[str, Any] = {}
    version = next((text for text in texts if _VERSION.match(text)), None)
    if version is not None:
        match = _VERSION.match(version)
        assert match is not None
        kernel["release"] = match[1]
        kernel["version"] = version
    else:
        kernel["release"] = DEFAULT_RELEASE
        draft.assume("kernel", "release", DEFAULT_RELEASE, "no 'Linux version' log line in the sources")
    if not re.match(r"^\d+\.\d+", str(kernel["release"])):
        kernel["profile"] = "6.8"
        draft.assume("kernel", "profile", "6.8", f"cannot tell the version from {kernel['release']!r}")
    cmdline = next(
        (text.partition(": ")[2] for text in texts if text.startswith(("Command line: ", "Kernel command line: "))),
        None,
    )
    if cmdline is not None and not names.CONTROL.search(cmdline):
        kernel["cmdline"] = cmdline
    else:
        draft.assume("kernel", "cmdline", "fakesys's default", "no 'Command line:' log line in the sources")
    host["kernel"] = kernel
    vendor = _cpu_vendor(importer, texts)
    host["cpu"] = {"vendor": vendor}
    draft.assume("cpu", "model", "fakesys's default for the vendor", "the sources do not show the CPU")
    iommu_lines = [text for text in texts if text.startswith(("DMAR:", "DMAR-IR:", "AMD-Vi:", "iommu:"))]
    remapping = any(
        text.startswith(("DMAR-IR: Enabled IRQ remapping", "AMD-Vi: Interrupt remapping enabled")) for text in texts
    )
    host["iommu"] = {"firmware_table": True, "enabled": True, "interrupt_remapping": remapping or not iommu_lines}
    if not draft.captured_groups and not iommu_lines:
        draft.assume(
            "iommu",
            "enabled",
            "true, with interrupt remapping",
            "the sources show neither IOMMU groups nor IOMMU log lines",
        )
    elif not remapping:
        draft.assume(
            "iommu",
            "interrupt_remapping",
            "true" if not iommu_lines else "false",
            "no 'Enabled IRQ remapping' / 'Interrupt remapping enabled' log line",
        )
    unbound = [bdf for bdf, entry in importer.entries.items() if "driver" not in entry]
    if unbound and len(unbound) < len(importer.entries):
        draft.assume("drivers", "none", f"{len(unbound)} function(s)", "their paste shows no 'Kernel driver in use'")
    elif unbound:
        draft.assume("drivers", "none bound", "every function", "the sources show no drivers (lspci -k)")
    host["name"] = f"imported from {', '.join(source.path for source in sources)}"


def _cpu_vendor(importer: PasteImporter, texts: list[str]) -> str:
    draft = importer.draft
    for bdf, config in sorted(importer.models.items()):
        vendor = regs.read_register(config, 0, 2)
        if bdf.endswith(":00:00.0") and vendor in _VENDORS:
            draft.assume("cpu", "vendor", _VENDORS[vendor], f"the host bridge {bdf} is {vendor:04x}'s")
            return _VENDORS[vendor]
    if any(text.startswith("AMD-Vi:") for text in texts):
        draft.assume("cpu", "vendor", "amd", "the kernel log has AMD-Vi lines")
        return "amd"
    draft.assume("cpu", "vendor", "intel", "no host bridge 00:00.0 of Intel or AMD in the sources")
    return "intel"
