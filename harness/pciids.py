"""Device and class names from pciutils' ``pci.ids`` (the file lspci reads), for human output.

The checked root's own ``usr/share/misc/pci.ids`` (or ``usr/share/hwdata/pci.ids``) is preferred,
then this machine's. Without a file, names are simply absent; nothing else depends on them.
"""

from __future__ import annotations

from pathlib import Path

_LOCATIONS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")


def find_ids_file(root: Path | None = None) -> Path | None:
    bases = [root, Path("/")] if root is not None else [Path("/")]
    for base in bases:
        for location in _LOCATIONS:
            candidate = base / location
            if candidate.is_file():
                return candidate
    return None


class PciNames:
    """Names for a set of vendor IDs and class codes, read in one pass over the file."""

    def __init__(self, path: Path | None, vendors: set[int]) -> None:
        self.vendors: dict[int, str] = {}
        self.devices: dict[tuple[int, int], str] = {}
        self.classes: dict[int, str] = {}  # 0xCCSS -> subclass name (or class name)
        if path is not None:
            self._read(path, vendors)

    def _read(self, path: Path, vendors: set[int]) -> None:
        vendor: int | None = None
        klass: int | None = None
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("C "):
                vendor = None
                parts = line[2:].split(None, 1)
                klass = int(parts[0], 16)
                self.classes[klass << 8 | 0xFF] = parts[1].strip() if len(parts) > 1 else ""
                continue
            if not line.startswith("\t"):
                klass = None
                parts = line.split(None, 1)
                try:
                    number = int(parts[0], 16)
                except ValueError:
                    vendor = None
                    continue
                vendor = number if number in vendors else None
                if vendor is not None:
                    self.vendors[vendor] = parts[1].strip() if len(parts) > 1 else ""
                continue
            if line.startswith("\t\t"):
                continue  # subsystems and programming interfaces
            parts = line.strip().split(None, 1)
            if len(parts) < 2:
                continue
            if vendor is not None:
                self.devices[(vendor, int(parts[0], 16))] = parts[1].strip()
            elif klass is not None:
                self.classes[klass << 8 | int(parts[0], 16)] = parts[1].strip()

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
