"""Device and class names from pciutils' ``pci.ids`` (the file lspci reads), for human output.

The checked root's own ``usr/share/misc/pci.ids`` (or ``usr/share/hwdata/pci.ids``) is preferred
(the caller reads it through the root's confined reader), then this machine's. Without a file,
names are simply absent; nothing else depends on them.
"""

from __future__ import annotations

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


class PciNames:
    """Names for a set of vendor IDs and class codes, read in one pass over the file."""

    def __init__(self, path: Path | None, vendors: set[int]) -> None:
        self.vendors: dict[int, str] = {}
        self.devices: dict[tuple[int, int], str] = {}
        self.classes: dict[int, str] = {}  # 0xCCSS -> subclass name (or class name)
        if path is not None:
            self._read(path, vendors)

    @classmethod
    def from_text(cls, text: str, vendors: set[int]) -> PciNames:
        names = cls(None, vendors)
        names._parse(text, vendors)
        return names

    def _read(self, path: Path, vendors: set[int]) -> None:
        try:
            with open(path, "rb") as handle:
                text = handle.read(IDS_LIMIT).decode("utf-8", errors="replace")
        except OSError:
            return
        self._parse(text, vendors)

    def _parse(self, text: str, vendors: set[int]) -> None:
        # A checked root's copy is untrusted: a line that does not parse is skipped.
        vendor: int | None = None
        klass: int | None = None
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C "):
                vendor = None
                parts = line[2:].split(None, 1)
                klass = _number(parts[0] if parts else "")
                if klass is not None:
                    self.classes[klass << 8 | 0xFF] = parts[1].strip() if len(parts) > 1 else ""
                continue
            if not line.startswith("\t"):
                klass = None
                parts = line.split(None, 1)
                number = _number(parts[0])
                vendor = number if number in vendors else None
                if vendor is not None:
                    self.vendors[vendor] = parts[1].strip() if len(parts) > 1 else ""
                continue
            if line.startswith("\t\t"):
                continue  # subsystems and programming interfaces
            parts = line.strip().split(None, 1)
            number = _number(parts[0]) if len(parts) == 2 else None
            if number is None:
                continue
            if vendor is not None:
                self.devices[(vendor, number)] = parts[1].strip()
            elif klass is not None:
                self.classes[klass << 8 | number] = parts[1].strip()

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
