"""Names back to numbers: the PCI ID database (pciutils' ``pci.ids``) read in reverse.

``lspci`` without ``-n`` prints names where the numbers were: "ASMedia Technology Inc. ASM1062
Serial ATA Controller", "SATA controller", "Subsystem: Dell Device 0a3e". An importer that has no
hex dump gets the IDs back from the same database lspci used, by name; a name the database does
not know, or knows twice, is left for the caller to report as an assumption. The format is the
one ``pci.ids`` documents in its header (vendor, ``\\t`` device, ``\\t\\t`` subsystem lines; ``C``
class, ``\\t`` subclass, ``\\t\\t`` prog-if lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TypeVar

SYSTEM_PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids")
MAX_IDS_BYTES = 64 * 1024 * 1024


@dataclass
class IdDatabase:
    """Reverse indexes of one ``pci.ids`` file."""

    path: str
    vendors: dict[str, list[int]] = field(default_factory=dict)
    vendor_names: dict[int, str] = field(default_factory=dict)
    devices: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    device_names: dict[tuple[int, int], str] = field(default_factory=dict)
    subsystems: dict[tuple[int, int, int, str], list[int]] = field(default_factory=dict)
    #: Subsystem names under any device of a vendor: (vendor, subvendor, name) -> subdevices.
    vendor_subsystems: dict[tuple[int, int, str], list[int]] = field(default_factory=dict)
    subclasses: dict[str, list[int]] = field(default_factory=dict)
    classes: dict[str, list[int]] = field(default_factory=dict)
    prog_ifs: dict[tuple[int, str], list[int]] = field(default_factory=dict)

    def vendor_prefixes(self, text: str) -> list[tuple[int, str]]:
        """``(vendor, rest)`` for each way ``text`` starts with a known vendor name, longest first."""
        found: list[tuple[int, str]] = []
        position = len(text)
        while position > 0:
            prefix = text[:position]
            for vendor in self.vendors.get(prefix, []):
                found.append((vendor, text[position:].strip()))
            position = text.rfind(" ", 0, position)
        return found


Key = TypeVar("Key")


def _add(index: dict[Key, list[int]], key: Key, value: int) -> None:
    values = index.setdefault(key, [])
    if value not in values:
        values.append(value)


def parse_ids(text: str, path: str) -> IdDatabase:
    database = IdDatabase(path)
    vendor: int | None = None
    device: int | None = None
    klass: int | None = None
    subclass: int | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("C "):
                klass, name = int(line[2:4], 16), line[4:].strip()
                vendor = device = subclass = None
                _add(database.classes, name, klass)
            elif line.startswith("\t\t"):
                body = line[2:]
                if klass is not None and subclass is not None:
                    _add(database.prog_ifs, (klass << 8 | subclass, body[2:].strip()), int(body[:2], 16))
                elif vendor is not None and device is not None:
                    subvendor, subdevice = int(body[:4], 16), int(body[5:9], 16)
                    key = (vendor, device, subvendor, body[9:].strip())
                    _add(database.subsystems, key, subdevice)
                    _add(database.vendor_subsystems, (vendor, subvendor, body[9:].strip()), subdevice)
            elif line.startswith("\t"):
                body = line[1:]
                if klass is not None:
                    subclass = int(body[:2], 16)
                    _add(database.subclasses, body[2:].strip(), klass << 8 | subclass)
                elif vendor is not None:
                    device = int(body[:4], 16)
                    name = body[4:].strip()
                    _add(database.devices, (vendor, name), device)
                    database.device_names[(vendor, device)] = name
            elif line[:4].strip() and line[4:5] == " ":
                vendor, device, klass, subclass = int(line[:4], 16), None, None, None
                name = line[4:].strip()
                _add(database.vendors, name, vendor)
                database.vendor_names[vendor] = name
        except ValueError:
            continue
    return database


@cache
def load_ids(path: str) -> IdDatabase | None:
    """The database in ``path``; None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_IDS_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_IDS_BYTES:
        return None
    return parse_ids(data.decode("utf-8", errors="replace"), path)


def system_ids() -> IdDatabase | None:
    """The first ``pci.ids`` of the usual places that can be read."""
    for path in SYSTEM_PATHS:
        if Path(path).is_file():
            database = load_ids(path)
            if database is not None:
                return database
    return None
