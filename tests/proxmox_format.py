"""A validator for Proxmox VE's ``hostpciN`` property string and PCI resource-mapping entries,
written from the documented format (qemu-server ``PCI.pm`` and pve-guest-common
``Mapping/PCI.pm``, as recorded in checker-and-generator.md sections 6.1-6.2), for judging the
generator's Proxmox output without a Proxmox host.
"""

from __future__ import annotations

import re

HOSTPCI_ID = re.compile(r"^(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?$")
MAPPING_PATH = re.compile(r"^[a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?$")
CONFIG_ID = re.compile(r"^[a-z][a-z0-9_-]+$", re.IGNORECASE)
VENDOR_DEVICE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$", re.IGNORECASE)
OVERRIDE_VALUE = re.compile(r"^0x[0-9a-fA-F]{4}$")
BOOLEANS = {"0", "1", "on", "off", "yes", "no", "true", "false"}
BOOLEAN_KEYS = {"pcie", "rombar", "x-vga", "legacy-igd"}
OVERRIDE_KEYS = {"vendor-id", "device-id", "sub-vendor-id", "sub-device-id"}
MAX_HOSTPCI = 16


class FormatError(ValueError):
    pass


def validate_hostpci(key: str, value: str) -> None:
    """``key`` is ``hostpciN``; ``value`` the property string. Raises FormatError."""
    match = re.fullmatch(r"hostpci(\d+)", key)
    if match is None or int(match[1]) >= MAX_HOSTPCI:
        raise FormatError(f"{key}: not hostpci0..hostpci{MAX_HOSTPCI - 1}")
    parts = value.split(",")
    options: dict[str, str] = {}
    for position, part in enumerate(parts):
        name, separator, item = part.partition("=")
        if not separator:
            if position != 0:
                raise FormatError(f"{part!r}: only the first item may omit its key (host)")
            name, item = "host", part
        if name in options:
            raise FormatError(f"{name} given twice")
        options[name] = item
    if ("host" in options) == ("mapping" in options):
        raise FormatError("exactly one of host= and mapping= is required")
    if "host" in options:
        for host_id in options["host"].split(";"):
            if not HOSTPCI_ID.match(host_id):
                raise FormatError(f"host {host_id!r} is not a lowercase PCI address")
    if "mapping" in options and not CONFIG_ID.match(options["mapping"]):
        raise FormatError(f"mapping {options['mapping']!r} is not a valid id")
    for name, item in options.items():
        if name in ("host", "mapping"):
            continue
        if name in BOOLEAN_KEYS:
            if item not in BOOLEANS:
                raise FormatError(f"{name}={item}: expected a boolean")
        elif name in OVERRIDE_KEYS:
            if not OVERRIDE_VALUE.match(item):
                raise FormatError(f"{name}={item}: expected 0x followed by 4 hex digits")
        elif name == "romfile":
            # The schema allows any [^,;]+, but qemu-server always prefixes /usr/share/kvm/.
            if "/" in item or not item:
                raise FormatError(f"romfile={item}: a bare file name under /usr/share/kvm/ is expected")
        elif name == "mdev":
            if not re.fullmatch(r"[^/.:]+", item):
                raise FormatError(f"mdev={item}: invalid")
        elif name == "driver":
            if item not in ("vfio", "keep"):
                raise FormatError(f"driver={item}: expected vfio or keep")
        else:
            raise FormatError(f"unknown key {name!r}")


def validate_mapping_section(text: str) -> str:
    """One ``pci.cfg`` section; returns its id. Raises FormatError."""
    lines = text.rstrip("\n").split("\n")
    name = lines[0]
    if not CONFIG_ID.match(name) or name.startswith("pci:"):
        raise FormatError(f"section header {name!r}: expected a bare id")
    maps = 0
    for line in lines[1:]:
        if not line.startswith("\t"):
            raise FormatError(f"{line!r}: property lines start with a tab")
        key, _, value = line[1:].partition(" ")
        if key == "map":
            validate_map(value)
            maps += 1
        elif key not in ("description", "mdev", "live-migration-capable"):
            raise FormatError(f"unknown section key {key!r}")
    if not maps:
        raise FormatError(f"{name}: no map entry")
    return name


def validate_map(value: str) -> None:
    options = dict(part.partition("=")[::2] for part in value.split(","))
    for required in ("id", "node", "path"):
        if required not in options:
            raise FormatError(f"map: {required}= is required")
    unknown = set(options) - {"id", "node", "path", "subsystem-id", "iommugroup", "description"}
    if unknown:
        raise FormatError(f"map: unknown key {sorted(unknown)[0]!r}")
    for key in ("id", "subsystem-id"):
        if key in options and not VENDOR_DEVICE.match(options[key]):
            raise FormatError(f"map: {key}={options[key]} must be vvvv:dddd without 0x")
    for path in options["path"].split(";"):
        if not MAPPING_PATH.match(path):
            raise FormatError(f"map: path {path!r} needs the domain and lowercase hex")
    if "iommugroup" in options and not options["iommugroup"].isdigit():
        raise FormatError("map: iommugroup must be an integer")
