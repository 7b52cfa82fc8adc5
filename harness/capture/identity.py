"""Who a device is: vendor, device, class, revision and subsystem from what the paste shows.

In order of trust: numbers lspci printed (``-n``/``-nn``, ``Device 54be``), the hex dump, then
names looked up in ``pci.ids`` (every lookup is an assumption, and a name the database does not
know or knows twice is reported, not guessed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.capture.builder import DeviceBuilder, Sink
from harness.capture.lspci_header import Title
from harness.capture.model import Assumption, ImportedDevice
from harness.pci import regs
from harness.pciids import PciIds

#: The subsystem device a paste did not show (its subsystem vendor is known).
UNKNOWN_SUBDEVICE = -1
_SUB_MIXED = re.compile(r"\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]$")
_SUB_PAIR = re.compile(r"^Device ([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$")
_SUB_NUMBER = re.compile(r"^(.*) Device ([0-9a-fA-F]{4})$")


@dataclass
class Identity:
    vendor: int | None = None
    device: int | None = None
    class_code: int | None = None  # 24 bits with prog-if
    subsystem: tuple[int, int] | None = None


def _choose(candidates: set[tuple[int, int]], name: str, database: PciIds) -> tuple[tuple[int, int], str] | None:
    """The lowest of the IDs a name stands for, and why (naming the others when there are)."""
    if not candidates:
        return None
    ordered = sorted(candidates)
    why = f"looked up by the name {name!r} in {database.path}"
    if len(ordered) > 1:
        others = ", ".join(f"{vendor:04x}:{device:04x}" for vendor, device in ordered[1:])
        why += f"; the name also stands for {others}"
    return ordered[0], why


def _lookup_device(title: Title, database: PciIds | None) -> tuple[tuple[int, int], str] | None:
    if database is None or not title.name:
        return None
    candidates: set[tuple[int, int]] = set()
    for vendor, rest in database.vendor_prefixes(title.name):
        number = re.fullmatch(r"Device ([0-9a-fA-F]{4})", rest)
        if number is not None:
            candidates.add((vendor, int(number[1], 16)))
            continue
        for device in database.device_ids(vendor, rest):
            candidates.add((vendor, device))
    return _choose(candidates, title.name, database)


def resolve(builder: DeviceBuilder, sink: Sink, title: Title, database: PciIds | None, line: int) -> Identity:
    """Fill the header's identity registers and the device record; return what is known."""
    device = builder.device
    identity = Identity()
    hexdump = device.hexdump
    config = bytes(hexdump.data) if hexdump is not None and hexdump.covers(0, 16) else None
    if title.vendor_id is not None and title.device_id is not None:
        identity.vendor, identity.device = title.vendor_id, title.device_id
    elif config is not None:
        identity.vendor, identity.device = regs.read_register(config, 0, 2), regs.read_register(config, 2, 2)
    else:
        looked_up = _lookup_device(title, database)
        if looked_up is not None:
            found, why = looked_up
            identity.vendor, identity.device = found
            builder.assume("vendor:device", f"{found[0]:04x}:{found[1]:04x}", why, line)
        else:
            builder.assume(
                "vendor:device",
                "unknown (0000:0000)",
                f"the paste shows the name {title.name!r} only and pci.ids "
                + ("has no single match" if database else "is not available"),
                line,
            )
    if identity.vendor is not None and identity.device is not None:
        if title.vendor_id is not None:
            sink.set("vendor", None, identity.vendor, line)
            sink.set("device", None, identity.device, line)
        elif config is None:
            with builder.assumed():
                sink.set("vendor", None, identity.vendor, line)
                sink.set("device", None, identity.device, line)
        else:
            builder.description.setdefault("header", {}).update(vendor=identity.vendor, device=identity.device)
        device.vendor_id, device.device_id = identity.vendor, identity.device
    device.revision = title.revision
    sink.set("revision", None, title.revision, line)
    class_code = title.class_code
    if class_code is None and config is not None:
        class_code = regs.read_register(config, 0x0A, 2)
    if class_code is None and title.class_name and database is not None:
        matches = database.subclass_codes(title.class_name)
        if len(matches) == 1:
            class_code = matches[0]
            builder.assume(
                "class", f"{class_code:04x}", f"looked up by the name {title.class_name!r} in {database.path}", line
            )
    if class_code is None:
        builder.assume("class", "unknown (0000)", f"the paste shows {title.class_name!r} only", line)
        class_code = 0
    prog_if = title.prog_if
    if prog_if is None:
        if device.verbosity >= 1:
            prog_if = 0  # lspci -v prints "(prog-if ...)" whenever it is not zero or has a name
        elif config is not None:
            prog_if = config[0x09]
        else:
            prog_if = 0
            builder.assume("prog-if", "00", "plain lspci does not print the programming interface", line)
    full = class_code << 8 | prog_if
    if title.class_code is not None and (title.prog_if is not None or device.verbosity >= 1):
        sink.set("class", None, full, line)
    else:
        with builder.assumed():
            sink.set("class", None, full, line)
    identity.class_code = full
    device.class_code = full
    device.class_name = title.class_name
    device.vendor_name, device.device_name = _split_names(title.name, identity.vendor, database)
    return identity


def _split_names(name: str, vendor: int | None, database: PciIds | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    if database is not None and vendor is not None:
        vendor_name = database.vendor_name(vendor)
        if vendor_name and name.startswith(vendor_name + " "):
            return vendor_name, name[len(vendor_name) + 1 :]
        if vendor_name == name:
            return vendor_name, None
    return None, name


def resolve_subsystem(
    builder: DeviceBuilder,
    text: str | None,
    identity: Identity,
    database: PciIds | None,
    *,
    line: int,
    title_name: str = "",
) -> tuple[tuple[int, int], bool] | None:
    """The subsystem IDs a ``Subsystem:`` line names and whether the line shows them (rather than
    a name standing for them); None when it cannot tell."""
    if text is None:
        return None
    mixed = _SUB_MIXED.search(text)
    if mixed is not None:
        return (int(mixed[1], 16), int(mixed[2], 16)), True
    pair = _SUB_PAIR.match(text)
    if pair is not None:
        return (int(pair[1], 16), int(pair[2], 16)), True
    if database is None:
        builder.assume("subsystem", "unknown", f"{text!r} is a name and no pci.ids is available", line)
        return None
    candidates: set[tuple[int, int]] = set()
    if text == title_name and identity.vendor is not None and identity.device is not None:
        # The subsystem is printed with the device's own name: lib/names.c id_lookup_subsys does
        # that for a subsystem equal to the device (the udev hwdb does it for others).
        builder.assume(
            "subsystem",
            f"{identity.vendor:04x}:{identity.device:04x}",
            "the paste names the subsystem like the device itself (lspci does so when they are equal)",
            line,
        )
        return (identity.vendor, identity.device), False
    own_name = database.device_name(identity.vendor or 0, identity.device or 0)
    for subvendor, rest in database.vendor_prefixes(text):
        number = re.fullmatch(r"Device ([0-9a-fA-F]{4})", rest)
        if number is not None:
            candidates.add((subvendor, int(number[1], 16)))
        elif identity.vendor is not None and identity.device is not None:
            for subdevice in database.subsystem_ids(identity.vendor, identity.device, subvendor, rest):
                candidates.add((subvendor, subdevice))
            if own_name is not None and rest == own_name:
                if subvendor == identity.vendor:
                    # lib/names.c id_lookup_subsys: a subsystem equal to the device takes its name.
                    candidates.add((subvendor, identity.device))
                else:
                    # With the udev hwdb, a subsystem pci.ids lacks is named after the device.
                    candidates.add((subvendor, UNKNOWN_SUBDEVICE))
    if not candidates and identity.vendor is not None and identity.device is not None:
        # A name pci.ids has under another device of the vendor (the device IDs were looked up
        # by a name several devices share), or a name this pci.ids no longer has.
        for subvendor, rest in database.vendor_prefixes(text):
            for subdevice in database.any_subsystem_ids(identity.vendor, subvendor, rest):
                candidates.add((subvendor, subdevice))
        if not candidates:
            for subvendor, _rest in database.vendor_prefixes(text)[:1]:
                same = subvendor == identity.vendor
                candidates.add((subvendor, identity.device if same else UNKNOWN_SUBDEVICE))
    chosen = _choose(candidates, text, database)
    if chosen is None:
        builder.assume("subsystem", "unknown", f"pci.ids has no match for {text!r}", line)
        return None
    found, why = chosen
    numeric = re.search(r"Device [0-9a-fA-F]{4}$", text) is not None
    if found[1] != UNKNOWN_SUBDEVICE and (not numeric or len(candidates) > 1):
        builder.assume("subsystem", f"{found[0]:04x}:{found[1]:04x}", why, line)
        return found, False
    return found, True


def fill_unknown_subdevices(devices: list[ImportedDevice]) -> None:
    """A subsystem named after its device (udev hwdb) hides the subsystem device ID; take the
    one the same subsystem vendor has on the paste's other devices (a vendor's machine usually
    uses one), as an assumption."""
    known: dict[int, list[int]] = {}
    for device in devices:
        if device.subsystem is not None and device.subsystem[1] != UNKNOWN_SUBDEVICE:
            known.setdefault(device.subsystem[0], []).append(device.subsystem[1])
    for device in devices:
        if device.subsystem is None or device.subsystem[1] != UNKNOWN_SUBDEVICE:
            continue
        subvendor = device.subsystem[0]
        choices = known.get(subvendor, [])
        subdevice = max(set(choices), key=choices.count) if choices else 0
        device.subsystem = (subvendor, subdevice)
        header = device.description.setdefault("header", {})
        if device.description.get("layout") != "bridge":
            header.update(subsystem_vendor=subvendor, subsystem_device=subdevice)
        for entry in device.description.get("capabilities", []):
            if entry.get("id") == "subsystem":
                entry.update(subsystem_vendor=subvendor, subsystem_device=subdevice)
        device.assumptions.append(
            Assumption(
                device.bdf,
                "subsystem device",
                f"{subvendor:04x}:{subdevice:04x}",
                "the paste names the subsystem after the device (udev hwdb); "
                + ("the ID the vendor's other subsystems in the paste use" if choices else "no ID in the paste"),
                device.line,
            )
        )
