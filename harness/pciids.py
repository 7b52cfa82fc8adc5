"""pciutils' ``pci.ids`` (the file lspci reads): names by number and numbers by name, one reader.

Both directions read the file the way it documents itself in its header: vendor lines
(``vvvv  name``), ``\\t`` device lines, ``\\t\\t`` subsystem lines (``ssss dddd  name``), then
the class list (``C cc  name``, ``\\t`` subclass, ``\\t\\t`` prog-if lines).

- **Forward** (:class:`PciNames`): names for the vendors and devices a report shows, for human
  output. The checked root's own copy is preferred (the caller reads it through the root's
  confined reader), then this machine's. Without a file, names are simply absent.
- **Reverse** (:class:`PciIds`): the numbers behind the names ``lspci`` prints without ``-n``
  ("ASMedia Technology Inc. ASM1062 Serial ATA Controller"), for the importer. A name the file
  does not know, or knows twice, is for the caller to report as an assumption.

The file is ~40,000 lines and a report names a handful of vendors, so nothing reads all of it
line by line in Python: a vendor's block is found with ``str.find`` (memchr speed) and parsed
only when one of its names or numbers is wanted, and the index of vendor names is one regular
expression pass, made only when a name really has to be looked up (a ``-nn`` paste never does).
A file from a checked root is untrusted: a line that does not parse is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TypeVar

#: Where pciutils and hwdata install the file, relative to a root.
LOCATIONS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")
#: pci.ids is about 1.4 MB today; a larger file is read only this far.
IDS_LIMIT = 8 * 1024 * 1024


def find_ids_file(root: Path | None = None) -> Path | None:
    """This machine's pci.ids (a checked root's own copy is read through its reader, see
    :meth:`PciNames.from_text`)."""
    base = root if root is not None else Path("/")
    for location in LOCATIONS:
        candidate = base / location
        if candidate.is_file():
            return candidate
    return None


def read_ids_text(path: Path | str) -> str | None:
    """The file's text up to :data:`IDS_LIMIT` (undecodable bytes replaced); None when unreadable."""
    try:
        with open(path, "rb") as handle:
            return handle.read(IDS_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return None


def _number(text: str) -> int | None:
    try:
        return int(text, 16) if 0 < len(text) <= 4 else None
    except ValueError:
        return None


def _numbered(line: str) -> tuple[int | None, str]:
    parts = line.strip().split(None, 1)
    if len(parts) != 2:
        return None, ""
    return _number(parts[0]), parts[1].strip()


#: The end of a vendor's block: a line that is neither indented nor a comment.
_BLOCK_END = re.compile(r"\n(?![\t#])")
#: A vendor line (four hex digits, a space) after its newline; class lines start with "C ". A
#: literal first character lets the regular expression engine skip ahead (MULTILINE ``^`` is
#: several times slower over the whole file).
_VENDOR_LINE = re.compile(r"\n([0-9A-Fa-f]{4}) ([^\n]*)")


def _line_starting(text: str, prefix: str) -> int:
    """Offset of the first line that is ``prefix`` followed by a space or tab, or -1."""
    search = 0
    while True:
        if search == 0 and text.startswith(prefix):
            at = 0
        else:
            found = text.find("\n" + prefix, search)
            if found < 0:
                return -1
            at = found + 1
        if text[at + len(prefix) : at + len(prefix) + 1] in (" ", "\t"):
            return at
        search = at + 1


def _vendor_block(text: str, vendor: int) -> str | None:
    """The vendor's line and the indented lines under it, or None when the file has no such vendor."""
    for spelling in (f"{vendor:04x}", f"{vendor:04X}"):
        at = _line_starting(text, spelling)
        if at < 0:
            continue
        block_end = _BLOCK_END.search(text, at)
        return text[at : block_end.start() if block_end else len(text)]
    return None


def _device_line(body: str, device: int) -> str:
    """The device's line in a vendor's block (empty when absent)."""
    for spelling in (f"\t{device:04x}", f"\t{device:04X}"):
        at = _line_starting(body, spelling)
        if at >= 0:
            end = body.find("\n", at)
            return body[at : end if end >= 0 else len(body)]
    return ""


def _device_lines(body: str, devices: Iterable[int] | None) -> list[str]:
    """The device lines of a vendor's block: all, or only those of ``devices``."""
    lines = body.splitlines() if devices is None else [_device_line(body, device) for device in devices]
    return [line for line in lines if line.startswith("\t") and not line.startswith("\t\t")]


def _vendor_name(block: str) -> str:
    parts = block.partition("\n")[0].split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def _class_lines(text: str) -> list[tuple[int, int | None, str]]:
    """The class list as ``(class, subclass, name)``, a class itself with subclass None."""
    classes_at = text.find("\nC ")
    found: list[tuple[int, int | None, str]] = []
    klass: int | None = None
    for line in text[classes_at + 1 :].splitlines() if classes_at >= 0 else ():
        if line.startswith("C "):
            number, name = _numbered(line[2:])
            klass = number if number is not None and number <= 0xFF else None
            if klass is not None:
                found.append((klass, None, name))
        elif line.startswith("\t") and not line.startswith("\t\t") and klass is not None:
            number, name = _numbered(line)
            if number is not None and number <= 0xFF:
                found.append((klass, number, name))
        elif line.strip() and not line.startswith(("#", "\t")):
            klass = None
    return found


class PciNames:
    """Names for a set of vendor IDs and class codes, read in one pass over the file."""

    def __init__(self, path: Path | None, vendors: set[int], devices: set[tuple[int, int]] | None = None) -> None:
        """Names of ``vendors``; of every device under them, or only of ``devices`` (vendor, device)
        when given (a report names a few devices of Intel's thousands)."""
        self.vendors: dict[int, str] = {}
        self.devices: dict[tuple[int, int], str] = {}
        self.classes: dict[int, str] = {}  # 0xCCSS -> subclass name (or class name)
        text = read_ids_text(path) if path is not None else None
        if text is not None:
            self._parse(text, vendors, devices)

    @classmethod
    def from_text(cls, text: str, vendors: set[int], devices: set[tuple[int, int]] | None = None) -> PciNames:
        names = cls(None, vendors)
        names._parse(text, vendors, devices)
        return names

    def _parse(self, text: str, vendors: set[int], devices: set[tuple[int, int]] | None) -> None:
        for vendor in vendors:
            block = _vendor_block(text, vendor)
            if block is None:
                continue
            self.vendors[vendor] = _vendor_name(block)
            wanted = None if devices is None else [device for owner, device in devices if owner == vendor]
            for line in _device_lines(block.partition("\n")[2], wanted):
                number, name = _numbered(line)
                if number is not None:
                    self.devices[(vendor, number)] = name
        for klass, subclass, name in _class_lines(text):
            self.classes[klass << 8 | (0xFF if subclass is None else subclass)] = name

    def device(self, vendor: int | None, device: int | None) -> str | None:
        if vendor is None or device is None:
            return None
        vendor_name = self.vendors.get(vendor)
        device_name = self.devices.get((vendor, device))
        if vendor_name and device_name:
            return f"{vendor_name} {device_name}"
        return vendor_name

    def class_name(self, class_code: int | None) -> str | None:
        if class_code is None:
            return None
        subclass = class_code >> 8
        return self.classes.get(subclass) or self.classes.get((subclass >> 8) << 8 | 0xFF)


Key = TypeVar("Key")


def _add(index: dict[Key, list[int]], key: Key, value: int) -> None:
    values = index.setdefault(key, [])
    if value not in values:
        values.append(value)


#: Device and subsystem lines of a vendor's block, after their newline (a literal first character
#: lets the regular expression engine skip ahead; device lines have one tab, subsystems two).
_DEVICE_LINE = re.compile(r"\n\t([0-9A-Fa-f]{4})[ \t]+([^\n]*)")
_SUBSYSTEM_LINE = re.compile(r"\n\t\t([0-9A-Fa-f]{4})[ \t]+([0-9A-Fa-f]{4})[ \t]+([^\n]*)")
#: The end of a device's subsystem lines: a line that is neither a subsystem nor a comment.
_SUBSYSTEMS_END = re.compile(r"\n(?!\t\t|#)")


def _subsystem_index(text: str) -> dict[tuple[int, str], list[int]]:
    """(subvendor, name) -> subdevices, of the subsystem lines in ``text``."""
    index: dict[tuple[int, str], list[int]] = {}
    for match in _SUBSYSTEM_LINE.finditer(text):
        _add(index, (int(match[1], 16), match[3].strip()), int(match[2], 16))
    return index


class _Vendor:
    """One vendor's block; its indexes are made when first used (Intel's block has ~10,000 lines,
    most of them subsystems)."""

    def __init__(self, block: str) -> None:
        self.block = block
        self._devices: dict[str, list[int]] | None = None
        self._subsystems: dict[int, dict[tuple[int, str], list[int]]] = {}
        self._any_subsystems: dict[tuple[int, str], list[int]] | None = None

    def device_ids(self, name: str) -> list[int]:
        if self._devices is None:
            self._devices = {}
            for match in _DEVICE_LINE.finditer(self.block):
                _add(self._devices, match[2].strip(), int(match[1], 16))
        return self._devices.get(name, [])

    def subsystem_ids(self, device: int, subvendor: int, name: str) -> list[int]:
        if device not in self._subsystems:
            line = _device_line(self.block, device)
            at = self.block.find(line) + len(line) if line else -1
            end = _SUBSYSTEMS_END.search(self.block, at) if at >= 0 else None
            lines = self.block[at : end.start() if end else len(self.block)] if at >= 0 else ""
            self._subsystems[device] = _subsystem_index(lines)
        return self._subsystems[device].get((subvendor, name), [])

    def any_subsystem_ids(self, subvendor: int, name: str) -> list[int]:
        if self._any_subsystems is None:
            self._any_subsystems = _subsystem_index(self.block)
        return self._any_subsystems.get((subvendor, name), [])


class PciIds:
    """One ``pci.ids`` file, looked up both ways; each part is parsed when first asked for."""

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.text = text
        self._blocks: dict[int, str | None] = {}
        self._vendors: dict[int, _Vendor | None] = {}
        self._vendor_index: dict[str, list[int]] | None = None
        self._classes: list[tuple[int, int | None, str]] | None = None

    def _block(self, vendor: int) -> str | None:
        if vendor not in self._blocks:
            self._blocks[vendor] = _vendor_block(self.text, vendor)
        return self._blocks[vendor]

    def _vendor(self, vendor: int) -> _Vendor | None:
        if vendor not in self._vendors:
            block = self._block(vendor)
            self._vendors[vendor] = _Vendor(block) if block is not None else None
        return self._vendors[vendor]

    def vendor_name(self, vendor: int) -> str | None:
        block = self._block(vendor)
        return _vendor_name(block) if block is not None else None

    def device_name(self, vendor: int, device: int) -> str | None:
        block = self._block(vendor)
        line = _device_line(block, device) if block is not None else ""
        number, name = _numbered(line) if line else (None, "")
        return name if number is not None else None

    def vendor_ids(self, name: str) -> list[int]:
        """The vendors called ``name`` (the index of every vendor name is made on first use)."""
        if self._vendor_index is None:
            self._vendor_index = {}
            for match in _VENDOR_LINE.finditer("\n" + self.text):
                _add(self._vendor_index, match[2].strip(), int(match[1], 16))
        return self._vendor_index.get(name, [])

    def vendor_prefixes(self, text: str) -> list[tuple[int, str]]:
        """``(vendor, rest)`` for each way ``text`` starts with a known vendor name, longest first."""
        found: list[tuple[int, str]] = []
        position = len(text)
        while position > 0:
            for vendor in self.vendor_ids(text[:position]):
                found.append((vendor, text[position:].strip()))
            position = text.rfind(" ", 0, position)
        return found

    def device_ids(self, vendor: int, name: str) -> list[int]:
        found = self._vendor(vendor)
        return found.device_ids(name) if found is not None else []

    def subsystem_ids(self, vendor: int, device: int, subvendor: int, name: str) -> list[int]:
        """Subsystem devices ``name`` stands for under the device ``vendor:device``."""
        found = self._vendor(vendor)
        return found.subsystem_ids(device, subvendor, name) if found is not None else []

    def any_subsystem_ids(self, vendor: int, subvendor: int, name: str) -> list[int]:
        """Subsystem devices ``name`` stands for under any device of ``vendor``."""
        found = self._vendor(vendor)
        return found.any_subsystem_ids(subvendor, name) if found is not None else []

    def _class_list(self) -> list[tuple[int, int | None, str]]:
        if self._classes is None:
            self._classes = _class_lines(self.text)
        return self._classes

    def base_class_name(self, klass: int) -> str | None:
        """The name of the base class ``klass`` (``0x01``: "Mass storage controller")."""
        return next((name for number, sub, name in self._class_list() if number == klass and sub is None), None)

    def subclass_codes(self, name: str) -> list[int]:
        """The ``0xCCSS`` subclasses called ``name``."""
        codes: list[int] = []
        for klass, subclass, subclass_name in self._class_list():
            if subclass is not None and subclass_name == name and klass << 8 | subclass not in codes:
                codes.append(klass << 8 | subclass)
        return codes


@cache
def load_ids(path: str) -> PciIds | None:
    """The file at ``path`` (read once per process); None when it cannot be read."""
    text = read_ids_text(path)
    return PciIds(text, path) if text is not None else None


def system_ids() -> PciIds | None:
    """This machine's ``pci.ids`` (the first of :data:`LOCATIONS` that can be read)."""
    path = find_ids_file()
    return load_ids(str(path)) if path is not None else None
