"""Names from pci.ids: the targeted look-up finds what a full read of the file finds."""

from __future__ import annotations

import pytest

from harness.pciids import PciNames, find_ids_file

SAMPLE = """\
# comment at the top
1b21  ASMedia Technology Inc.
\t0612  ASM1062 Serial ATA Controller
\t\t1b21 1060  ASM1061 SATA IDE Controller
# a comment inside a block
\t1242  ASM1142 USB 3.1 Host Controller
8086  Intel Corporation
\t1b21  A device whose number is another vendor's
\t54d3  Alder Lake-N SATA AHCI Controller
1B4B  Marvell Technology Group Ltd.
\t9230  88SE9230 PCIe 2.0 x2 4-port SATA 6 Gb/s RAID Controller
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
