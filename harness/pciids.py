"""Device and class names from pciutils' ``pci.ids`` (the file lspci reads), for human output.

The checked root's own ``usr/share/misc/pci.ids`` (or ``usr/share/hwdata/pci.ids``) is preferred
(the caller reads it through the root's confined reader), then this machine's. Without a file,
names are simply absent; nothing else depends on them.
"""

from __future__ import annotations

import re
from pathlib import Path

#: Where pciutils and hwdata install the file, relative to a root.
LOCATIONS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")
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


class PciNames:
    """Names for a set of vendor IDs and class codes, read in one pass over the file."""

    def __init__(self, path: Path | None, vendors: set[int], devices: set[tuple[int, int]] | None = None) -> None:
        """Names of ``vendors``; of every device under them, or only of ``devices`` (vendor, device)
        when given (a report names a few devices of Intel's thousands)."""
        self.vendors: dict[int, str] = {}
        self.devices: dict[tuple[int, int], str] = {}
        self.classes: dict[int, str] = {}  # 0xCCSS -> subclass name (or class name)
        if path is not None:
            self._read(path, vendors, devices)

    @classmethod
    def from_text(cls, text: str, vendors: set[int], devices: set[tuple[int, int]] | None = None) -> PciNames:
        names = cls(None, vendors)
        names._parse(text, vendors, devices)
        return names

    def _read(self, path: Path, vendors: set[int], devices: set[tuple[int, int]] | None) -> None:
        try:
            with open(path, "rb") as handle:
                text = handle.read(IDS_LIMIT).decode("utf-8", errors="replace")
        except OSError:
            return
        self._parse(text, vendors, devices)

    def _parse(self, text: str, vendors: set[int], devices: set[tuple[int, int]] | None) -> None:
        # Only the wanted vendors' blocks and the class list at the end are parsed: the whole
        # file is ~40,000 lines and a report names a handful of vendors (str.find runs at memchr
        # speed, a line loop in Python does not). A checked root's copy is untrusted: a line that
        # does not parse is skipped.
        for vendor in vendors:
            block = _vendor_block(text, vendor)
            if block is None:
                continue
            head, _, body = block.partition("\n")
            parts = head.split(None, 1)
            self.vendors[vendor] = parts[1].strip() if len(parts) > 1 else ""
            if devices is not None:
                lines = [_device_line(body, device) for wanted, device in devices if wanted == vendor]
            else:
                lines = body.splitlines()
            for line in lines:
                if line.startswith("\t\t") or not line.startswith("\t"):
                    continue  # subsystems, comments, devices not found
                number, name = _numbered(line)
                if number is not None:
                    self.devices[(vendor, number)] = name
        classes_at = text.find("\nC ")
        klass: int | None = None
        for line in text[classes_at + 1 :].splitlines() if classes_at >= 0 else ():
            if line.startswith("C "):
                number, name = _numbered(line[2:])
                klass = number if number is not None and number <= 0xFF else None
                if klass is not None:
                    self.classes[klass << 8 | 0xFF] = name
            elif line.startswith("\t") and not line.startswith("\t\t") and klass is not None:
                number, name = _numbered(line)
                if number is not None and number <= 0xFF:
                    self.classes[klass << 8 | number] = name
            elif line.strip() and not line.startswith(("#", "\t")):
                klass = None

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
