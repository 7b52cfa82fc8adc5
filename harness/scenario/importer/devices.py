"""Device descriptions for an imported host: built from bytes or decoded text, named, checked.

Where a source has a function's configuration space (a captured root, an ``lspci -xxx``/``-xxxx``
dump), the description is :func:`fakesys.hw.describe.describe` of those bytes with the BAR sizes
and ROM the source shows, so it encodes back to exactly the captured bytes. Where it has decoded
``lspci -v`` text, the description is the text importer's (``harness.capture``), with a 64-byte
``lspci -x`` dump laid over it. Either way :func:`verify` encodes the written file again and
compares: the bytes of the dump, or every value the text showed.

File names are library names (:func:`fakesys.names.library_name`) made from the scenario name and
the function's address (``NAME-03-00.0``; ``NAME-0001-03-00.0`` outside domain 0): never from text
in the source. Functions whose descriptions are identical share one file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from fakesys import names
from fakesys.errors import FakesysError
from fakesys.hw.describe import describe, encode
from fakesys.hw.description_yaml import dump_description
from fakesys.hw.model import Bar, BarKind, DeviceModel, Rom
from fakesys.source import Document, parse_yaml
from harness import paste
from harness.capture import ImportedDevice, combined_description, compact_description
from harness.pci import regs
from harness.pci.address import Bdf
from harness.pci.config import ConfigSpace
from harness.scenario.importer.model import DeviceFile

#: Keys that say where a description comes from; two functions whose descriptions differ only
#: in these share one file.
_PROVENANCE = ("name", "title", "sources", "notes")


class VerifyError(Exception):
    """A written description does not encode back to what it was built from (a bug in the
    importer or the encoder, never the user's input)."""


def device_file_name(scenario: str, bdf: str) -> str:
    """``NAME-03-00.0`` (``NAME-0001-03-00.0`` outside domain 0), checked as a library name."""
    address = Bdf.parse(bdf)
    suffix = f"{address.bus:02x}-{address.device:02x}.{address.function}"
    if address.domain:
        suffix = f"{address.domain:04x}-{suffix}"
    return names.library_name(f"{scenario}-{suffix}", "device file name")


#: PMCSR's PowerState field (bits 1:0) and the names the host description uses for it.
_PM_STATE_MASK = 0x3
_PM_STATES = {1: "D1", 2: "D2", 3: "D3hot"}


def at_rest(config: bytes) -> tuple[bytes, str | None]:
    """``config`` with the function in D0, and the power state it was captured in (None: D0 or
    no PM capability). A description is the device as it powers up; a low-power state is the
    host's (``power:``), because waking a function from D3hot resets it as the hardware would."""
    if len(config) < regs.CONVENTIONAL_CONFIG_SIZE:
        return config, None
    pm = ConfigSpace(config).power_management()
    if pm is None:
        return config, None
    offset = pm.offset + regs.PM.register("pmcsr").offset
    state = config[offset] & _PM_STATE_MASK
    if not state:
        return config, None
    changed = bytearray(config)
    changed[offset] &= ~_PM_STATE_MASK & 0xFF
    return bytes(changed), _PM_STATES[state]


def model_from_bytes(
    config: bytes,
    bars: Iterable[Bar] = (),
    rom: Rom | None = None,
    title: str = "",
) -> DeviceModel:
    return DeviceModel(name="", config=bytearray(config), bars=list(bars), rom=rom, title=title)


def from_model(model: DeviceModel, sources: list[str], notes: list[str]) -> dict[str, Any]:
    """The description of ``model`` (exact bytes), with where it came from."""
    description = describe(model)
    description.pop("name", None)
    if sources:
        description["sources"] = list(sources)
    all_notes = [*([str(description.pop("notes"))] if "notes" in description else []), *notes]
    if all_notes:
        description["notes"] = " ".join(all_notes)
    return _ordered(description)


def bars_from_text(description: Mapping[str, Any]) -> list[Bar]:
    """The BARs decoded text shows (their sizes are what a dump cannot give)."""
    bars: list[Bar] = []
    for item in description.get("bars") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("index"), int):
            continue
        kind = BarKind.IO if item.get("kind") == "io" else BarKind.MEMORY
        size = item.get("size")
        bars.append(
            Bar(
                int(item["index"]),
                kind,
                int(item.get("address", 0)),
                int(size) if isinstance(size, int) else None,
                int(item.get("bits", 32)),
                bool(item.get("prefetchable", False)),
                bool(item.get("virtual", False)),
            )
        )
    return bars


def rom_from_text(description: Mapping[str, Any]) -> Rom | None:
    item = description.get("rom")
    if not isinstance(item, Mapping) or not isinstance(item.get("size"), int):
        return None
    return Rom(
        int(item.get("address", 0)), int(item["size"]), bool(item.get("enabled")), b"", bool(item.get("virtual"))
    )


def from_paste(device: ImportedDevice, sources: list[str]) -> tuple[dict[str, Any], bytes | None, str | None]:
    """The description of a pasted device, the bytes it must encode to (None: text only) and
    the low-power state the paste shows it in (see :func:`at_rest`).

    A dump that holds everything the text shows (4096 bytes, or 256 for a device without extended
    capabilities) is described exactly, with the BAR sizes and ROM the text shows; a shorter dump
    with decoded text is the text's description with the dump laid over it (a 64-byte ``-x`` dump
    gives the header, a 256-byte one the standard capabilities, the text the rest); a dump alone
    is described as far as it goes; text alone is the decoded description."""
    config = device.config
    state = None
    if config is not None:
        config, state = at_rest(config)
    title = device.title.partition(" ")[2].strip()
    extended = bool(device.description.get("extended_capabilities"))
    whole = config is not None and (
        len(config) == regs.EXTENDED_CONFIG_SIZE or (len(config) == regs.CONVENTIONAL_CONFIG_SIZE and not extended)
    )
    if config is not None and (whole or not device.decoded):
        bars, rom = bars_from_text(device.description), rom_from_text(device.description)
        return from_model(model_from_bytes(config, bars, rom, title), sources, []), config, state
    if config is not None:
        description = compact_description(combined_description(device))
        rows: dict[int, str] = description.setdefault("raw", {})
        for row in [offset for offset in rows if isinstance(offset, int) and offset % 16 == 0 and offset < len(config)]:
            rows[row] = config[row : row + 16].hex(" ")
        _wake(description)
    else:
        description = compact_description(device.description)
        state = _wake(description)
    description["sources"] = list(sources)
    if title:
        description["title"] = title
    if device.capabilities_unknown:
        description["notes"] = (
            "lspci ran without root: the capabilities are unknown and not described (the device has none here)."
        )
    return _ordered(description), config, state


def _wake(description: dict[str, Any]) -> str | None:
    """A decoded description put in D0 (see :func:`at_rest`); returns the state it showed."""
    for entry in description.get("capabilities", []):
        pmcsr = entry.get("pmcsr") if entry.get("id") == "pm" else None
        if isinstance(pmcsr, dict) and pmcsr.get("power_state") not in (None, "D0"):
            return str(pmcsr.pop("power_state"))
    return None


def _ordered(description: dict[str, Any]) -> dict[str, Any]:
    keys = ("title", "sources", "notes")
    head = {key: description[key] for key in keys if key in description}
    return {**head, **{key: value for key, value in description.items() if key not in head}}


def _identity_key(device: DeviceFile) -> str:
    if device.identity is None:
        description = device.description
        device.identity = json.dumps(
            {k: v for k, v in description.items() if k not in _PROVENANCE}, sort_keys=True, default=str
        )
    return device.identity


def add_device(files: list[DeviceFile], candidate: DeviceFile) -> str:
    """Add ``candidate`` unless a file with the same description exists (then the function joins
    it); returns the name the function's ``device:`` uses."""
    key = _identity_key(candidate)
    for existing in files:
        if _identity_key(existing) == key and existing.bar_sizes == candidate.bar_sizes:
            existing.functions.extend(candidate.functions)
            for source in candidate.description.get("sources", []):
                if source not in existing.description.setdefault("sources", []):
                    existing.description["sources"].append(source)
            return existing.name
    files.append(candidate)
    return candidate.name


def file_text(device: DeviceFile, made_by: str = "vfiolab scenario import") -> str:
    """The text of ``devices/NAME.yaml`` (made once per device)."""
    if device.text is None:
        device.text = _file_text(device, made_by)
    return device.text


def file_data(device: DeviceFile) -> dict[str, Any]:
    """The data ``devices/NAME.yaml`` holds (what the device library parses from its text)."""
    return {"name": device.name, **{key: value for key, value in device.description.items() if key != "name"}}


def staged_model(device: DeviceFile, path: str) -> DeviceModel:
    """What the device library makes of ``devices/NAME.yaml`` (at ``path``): the encoding made
    when the device was added, with the file's name and sources (only its provenance changes
    afterwards), else the file's data encoded now."""
    data = file_data(device)
    if device.model is None:
        return encode(Document(data, path))
    return replace(
        device.model, name=device.name, config=bytearray(device.model.config), sources=list(data.get("sources", []))
    )


def _file_text(device: DeviceFile, made_by: str) -> str:
    description = file_data(device)
    functions = ", ".join(device.functions)
    # The title comes from the source (a pasted report): escaped, so a terminal escape or a NUL in
    # it neither reaches the terminal nor makes the file invalid YAML (the title: value is escaped
    # by the YAML writer).
    title = paste.printable(str(description.get("title") or device.name))
    comment = f"{title}\nMade by {made_by} from {functions}."
    return dump_description(description, comment)


def verify(
    device: DeviceFile, text: str, facts: Iterable[tuple[str, object, Any]] = (), model: DeviceModel | None = None
) -> list[str]:
    """Encode the written ``text`` (or take ``model``, the device library's encoding of it) and
    compare it with what the description was built from: ``device.expected`` byte for byte (the
    length of the dump), ``device.bar_sizes``, and each ``(path, value, reader)`` fact the
    decoded text established. Returns what differs."""
    if model is None:
        try:
            model = encode(parse_yaml(text, f"devices/{device.name}.yaml"))
        except FakesysError as error:
            return [f"does not encode: {error}"]
    problems: list[str] = []
    if device.expected is not None:
        length = len(device.expected)
        encoded = bytes(model.config[:length])
        if encoded != device.expected:
            offsets = [offset for offset in range(length) if encoded[offset] != device.expected[offset]]
            shown = ", ".join(f"{offset:#x}" for offset in offsets[:8])
            problems.append(f"{len(offsets)} byte(s) differ from the source's dump (at {shown})")
    for index, size in device.bar_sizes.items():
        bar = model.bar(index)
        if bar is None or bar.size != size:
            problems.append(f"BAR {index}: size {size:#x} does not come back")
    config = bytes(model.config)
    for path, value, reader in facts:
        got = reader(config)
        if got != value:
            problems.append(f"{path}: the text shows {value!r}, the encoded bytes give {got!r}")
    return problems


def encoded(description: Mapping[str, Any], path: str) -> DeviceModel:
    """``description`` encoded (errors name ``path``, the file it is written to)."""
    return encode(Document(copy.deepcopy(dict(description)), path))
