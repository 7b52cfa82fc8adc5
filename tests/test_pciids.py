"""pci.ids both ways: the targeted forward look-up finds what a full read of the file finds, the
reverse look-up finds the numbers behind each name, and a paste with numbers never makes the
index of vendor names."""

from __future__ import annotations

import pytest

from harness.capture import parse_lspci
from harness.pciids import PciIds, PciNames, find_ids_file, read_ids_text

SAMPLE = """\
# comment at the top
1b21  ASMedia Technology Inc.
\t0612  ASM1062 Serial ATA Controller
\t\t1b21 1060  ASM1061 SATA IDE Controller
\t\t1043 8488  P8B WS Motherboard
# a comment inside a block
\t1242  ASM1142 USB 3.1 Host Controller
8086  Intel Corporation
\t1b21  A device whose number is another vendor's
\t54d3  Alder Lake-N SATA AHCI Controller
1B4B  Marvell Technology Group Ltd.
\t9230  88SE9230 PCIe 2.0 x2 4-port SATA 6 Gb/s RAID Controller
\t9235  88SE9230 PCIe 2.0 x2 4-port SATA 6 Gb/s RAID Controller
\t\t1043 8488  P8B WS Motherboard
1043  ASUSTeK Computer Inc.
8087  Intel Corporation
C 01  Mass storage controller
\t06  SATA controller
\t\t01  AHCI 1.0
C 02  Network controller
\t00  Ethernet controller
"""


def test_targeted_devices_and_whole_blocks() -> None:
    wanted = {(0x1B21, 0x0612), (0x1B21, 0x1242), (0x8086, 0x54D3), (0x1B4B, 0x9230), (0x8086, 0x0001)}
    names = PciNames.from_text(SAMPLE, {0x1B21, 0x8086, 0x1B4B}, wanted)
    assert names.device(0x1B21, 0x0612) == "ASMedia Technology Inc. ASM1062 Serial ATA Controller"
    assert names.device(0x1B21, 0x1242) == "ASMedia Technology Inc. ASM1142 USB 3.1 Host Controller"
    assert names.device(0x8086, 0x54D3) == "Intel Corporation Alder Lake-N SATA AHCI Controller"
    assert (names.device(0x1B4B, 0x9230) or "").startswith("Marvell Technology Group Ltd. 88SE9230")
    assert names.device(0x8086, 0x0001) == "Intel Corporation"  # vendor known, device not
    assert names.class_name(0x010601) == "SATA controller"
    assert names.class_name(0x020000) == "Ethernet controller"
    whole = PciNames.from_text(SAMPLE, {0x1B21, 0x8086, 0x1B4B})
    assert whole.devices[(0x8086, 0x1B21)] == "A device whose number is another vendor's"
    assert {key: whole.devices[key] for key in wanted if key in whole.devices} == names.devices


def test_the_system_file_agrees_with_a_full_read() -> None:
    path = find_ids_file()
    if path is None:
        pytest.skip("no pci.ids on this machine (pciutils not installed)")
    text = path.read_text(encoding="utf-8", errors="replace")
    vendors = {0x8086, 0x1B21, 0x10DE, 0x1002, 0x144D, 0x1B4B}
    whole = PciNames.from_text(text, vendors)
    assert len(whole.devices) > 1000
    targeted = PciNames.from_text(text, vendors, set(whole.devices))
    assert targeted.devices == whole.devices
    assert targeted.vendors == whole.vendors


def test_reverse_lookups() -> None:
    ids = PciIds(SAMPLE, "sample.ids")
    assert ids.vendor_prefixes("ASMedia Technology Inc. ASM1062 Serial ATA Controller") == [
        (0x1B21, "ASM1062 Serial ATA Controller")
    ]
    assert ids.vendor_ids("Intel Corporation") == [0x8086, 0x8087]  # a name known twice
    assert ids.device_ids(0x1B21, "ASM1062 Serial ATA Controller") == [0x0612]
    assert ids.device_ids(0x1B4B, "88SE9230 PCIe 2.0 x2 4-port SATA 6 Gb/s RAID Controller") == [0x9230, 0x9235]
    assert ids.device_ids(0x1B21, "No such device") == []
    assert ids.device_ids(0xFFFF, "ASM1062 Serial ATA Controller") == []
    assert ids.subsystem_ids(0x1B21, 0x0612, 0x1043, "P8B WS Motherboard") == [0x8488]
    assert ids.subsystem_ids(0x1B21, 0x1242, 0x1043, "P8B WS Motherboard") == []
    assert ids.any_subsystem_ids(0x1B4B, 0x1043, "P8B WS Motherboard") == [0x8488]
    assert ids.vendor_name(0x1043) == "ASUSTeK Computer Inc."
    assert ids.device_name(0x8086, 0x54D3) == "Alder Lake-N SATA AHCI Controller"
    assert ids.subclass_codes("SATA controller") == [0x0106]
    assert ids.subclass_codes("Mass storage controller") == []  # a class, not a subclass
    assert ids.base_class_name(0x02) == "Network controller"


def test_every_system_name_leads_back_to_its_number() -> None:
    path = find_ids_file()
    text = read_ids_text(path) if path is not None else None
    if text is None:
        pytest.skip("no pci.ids on this machine (pciutils not installed)")
    ids = PciIds(text, str(path))
    vendors = {0x8086, 0x1B21, 0x10DE, 0x1002, 0x144D, 0x1B4B, 0x1022, 0x10EC}
    names = PciNames.from_text(text, vendors)
    assert len(names.devices) > 1000
    for (vendor, device), device_name in names.devices.items():
        full = f"{names.vendors[vendor]} {device_name}"
        assert (vendor, device_name) in ids.vendor_prefixes(full)
        assert device in ids.device_ids(vendor, device_name)
    for code, class_name in names.classes.items():
        if code & 0xFF != 0xFF:
            assert code in ids.subclass_codes(class_name)


NUMBERED = """\
00:17.0 SATA controller [0106]: Intel Corporation Alder Lake-N SATA AHCI Controller [8086:54d3]
\tSubsystem: ASMedia Technology Inc. Device [1b21:1060]
03:00.0 SATA controller [0106]: ASMedia Technology Inc. ASM1062 Serial ATA Controller [1b21:0612] (rev 02)
"""


def test_a_paste_with_numbers_never_indexes_names() -> None:
    ids = PciIds(SAMPLE, "sample.ids")
    paste = parse_lspci(NUMBERED, "numbered.txt", ids=ids)
    assert [(device.vendor_name, device.device_name) for device in paste.devices] == [
        ("Intel Corporation", "Alder Lake-N SATA AHCI Controller"),
        ("ASMedia Technology Inc.", "ASM1062 Serial ATA Controller"),
    ]
    assert ids._vendor_index is None and not ids._vendors  # no name index, no block indexed
    named = parse_lspci(NUMBERED.replace(" [8086:54d3]", ""), "named.txt", ids=ids)
    assert (named.devices[0].vendor_id, named.devices[0].device_id) == (0x8086, 0x54D3)
    assert ids._vendor_index is not None
