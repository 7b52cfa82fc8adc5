"""The kernel's PCI quirk tables that change passthrough behaviour, per kernel profile.

Each table is data transcribed from ``drivers/pci/quirks.c`` of the kernel a profile follows:
Debian linux-source 6.1.192 (profile 6.1), Debian linux-source 6.12.117 (profile 6.12); the
6.8 profile (Proxmox VE 8's 6.8 kernels) has the 6.1/6.12 entries that predate 2024 and lacks
the ASMedia 1164 no-bus-reset quirk, which was added in January 2026 and backported only to the
Debian stable series; 5.10 likewise lacks it. Vendor IDs are from include/linux/pci_ids.h.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

VENDOR_AMD = 0x1022
VENDOR_ATI = 0x1002
VENDOR_ASMEDIA = 0x1B21
VENDOR_ATHEROS = 0x168C
VENDOR_CAVIUM = 0x177D
VENDOR_GLENFLY = 0x6766
VENDOR_INTEL = 0x8086
VENDOR_JMICRON = 0x197B
VENDOR_MARVELL_EXT = 0x1B4B
VENDOR_MEDIATEK = 0x14C3
VENDOR_MELLANOX = 0x15B3
VENDOR_NVIDIA = 0x10DE
VENDOR_QCOM = 0x17CB
VENDOR_RICOH = 0x1180
VENDOR_SOLARFLARE = 0x1924
VENDOR_TI = 0x104C
VENDOR_TTI = 0x1103

ALL_PROFILES = frozenset({"5.10", "6.1", "6.8", "6.12"})


@dataclass(frozen=True)
class DeviceMatch:
    """Which devices a quirk applies to, and in which kernel profiles."""

    vendor: int
    device: int | None = None
    device_mask: int = 0xFFFF
    class_code: int | None = None
    class_shift: int = 8
    profiles: frozenset[str] = ALL_PROFILES
    #: Within its profiles, the releases that carry it: the first release of each stable branch
    #: that took it, then the first mainline release (empty: every release of the profiles).
    since: tuple[tuple[int, ...], ...] = ()

    def matches(self, vendor: int, device: int, class_code: int, profile: str, release: tuple[int, ...] = ()) -> bool:
        if profile not in self.profiles or vendor != self.vendor:
            return False
        if self.since and release and not _carried(self.since, release):
            return False
        if self.device is not None and device & self.device_mask != self.device:
            return False
        return self.class_code is None or class_code >> self.class_shift == self.class_code


def _carried(since: tuple[tuple[int, ...], ...], release: tuple[int, ...]) -> bool:
    """A release carries an entry from its branch's first release with it, or from the first
    mainline release (the last of ``since``) on."""
    *branches, mainline = since
    if release >= mainline:
        return True
    return any(release[:2] == first[:2] and release >= first for first in branches)


def release_numbers(release: str) -> tuple[int, ...]:
    """(major, minor, patch) of a release string such as 6.12.16+deb13-amd64; () when it has none."""
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", release)
    if match is None:
        return ()
    return tuple(int(part) for part in match.groups(default="0"))


def _ids(vendor: int, *devices: int, profiles: frozenset[str] = ALL_PROFILES) -> list[DeviceMatch]:
    return [DeviceMatch(vendor, device, profiles=profiles) for device in devices]


# quirk_no_bus_reset / quirk_nvidia_no_bus_reset: PCI_DEV_FLAGS_NO_BUS_RESET.
NO_BUS_RESET: list[DeviceMatch] = [
    *_ids(VENDOR_NVIDIA, 0x22CE, 0x22D0),
    DeviceMatch(VENDOR_NVIDIA, 0x2340, device_mask=0xFFC0),
    *_ids(VENDOR_ATHEROS, 0x0030, 0x0032, 0x003C, 0x0033, 0x0034, 0x003E),
    *_ids(VENDOR_QCOM, 0x1103, 0x1107, 0x0308),
    *_ids(VENDOR_CAVIUM, 0xA100),
    *_ids(VENDOR_TI, 0xB005),
    # "PCI: Mark ASMedia ASM1164 SATA controller to avoid bus reset" (Jan 2026): present in
    # Debian 6.1.192 and 6.12.117 (quirks.c:3705 / :3822), absent from the 6.8 and 5.10 builds.
    DeviceMatch(VENDOR_ASMEDIA, 0x1164, profiles=frozenset({"6.1", "6.12"})),
]

# quirk_no_pm_reset: PCI_DEV_FLAGS_NO_PM_RESET (all ATI VGA-class devices, Mellanox Spectrum).
NO_PM_RESET: list[DeviceMatch] = [
    DeviceMatch(VENDOR_ATI, None, class_code=0x0300, class_shift=8),
    *_ids(VENDOR_MELLANOX, 0xCB84, 0xCF6C, 0xCF70, 0xCF80),
]

# quirk_no_flr: PCI_DEV_FLAGS_NO_FLR_RESET. MediaTek entries appear in 6.12 only: the MT7922's
# ("PCI: Avoid FLR for Mediatek MT7922 WiFi", 81f64e925c29) first in v6.14 and in stable 6.12.16
# (its ChangeLog-6.12.16), so 6.12.0-6.12.15 lack it.
NO_FLR: list[DeviceMatch] = [
    *_ids(VENDOR_AMD, 0x1487, 0x148C, 0x149C, 0x7901),
    *_ids(VENDOR_INTEL, 0x1502, 0x1503),
    DeviceMatch(VENDOR_MEDIATEK, 0x0616, profiles=frozenset({"6.12"}), since=((6, 12, 16), (6, 14))),
    *_ids(VENDOR_MEDIATEK, 0x7925, profiles=frozenset({"6.12"})),
]

# quirk_dma_func0_alias / quirk_dma_func1_alias: requester ID of function 0 / 1.
DMA_ALIAS_FUNCTION0: list[DeviceMatch] = [
    *_ids(VENDOR_RICOH, 0xE832, 0xE476),
    *_ids(VENDOR_GLENFLY, 0x3D40, 0x3D41),
]
DMA_ALIAS_FUNCTION1: list[DeviceMatch] = [
    *_ids(
        VENDOR_MARVELL_EXT,
        0x9120,
        0x9123,
        0x9125,
        0x9128,
        0x9130,
        0x9170,
        0x9172,
        0x917A,
        0x9182,
        0x9183,
        0x91A0,
        0x9215,
        0x9220,
        0x9230,
        0x9235,
    ),
    *_ids(VENDOR_TTI, 0x0642, 0x0645),
    *_ids(VENDOR_JMICRON, 0x2392),  # PCI_DEVICE_ID_JMICRON_JMB388_ESD
    *_ids(0x1C28, 0x0122),  # Lite-On / Plextor M6E (Marvell 88SS9183)
]

# quirk_use_pcie_bridge_dma_alias: conventional bridges that alias as a PCIe-to-PCI bridge.
PCIE_BRIDGE_ALIAS: list[DeviceMatch] = [
    *_ids(VENDOR_ASMEDIA, 0x1080),
    *_ids(0x10E3, 0x8113),
    *_ids(0x1283, 0x8892, 0x8893),
    *_ids(VENDOR_INTEL, 0x244E),
]

# pci_dev_acs_enabled[]: devices treated as isolated without (or despite) an ACS capability.
# The predicate receives (pcie port type or None, multifunction) and returns whether the
# quirk asserts isolation; None means "this quirk does not apply, keep looking".
AcsPredicate = Callable[[int | None, bool], bool | None]


def _rciep(port_type: int | None, multifunction: bool) -> bool | None:
    """pci_quirk_rciep_acs: Intel Root Complex integrated endpoints allow p2p only on
    translated addresses (VT-d r3.1 sec 3.16)."""
    return True if port_type == 9 else None


def _mf_endpoint(port_type: int | None, multifunction: bool) -> bool | None:
    """pci_quirk_mf_endpoint_acs: multifunction NICs without internal peer-to-peer."""
    return True


_INTEL_PCH_ACS_IDS = (
    list(range(0x3B42, 0x3B52))
    + list(range(0x1C10, 0x1C20))
    + list(range(0x1E10, 0x1E20))
    + list(range(0x8C10, 0x8C20))
    + list(range(0x9C10, 0x9C1C))
    + list(range(0x9C90, 0x9C9C))
    + list(range(0x1D10, 0x1D1F, 2))
    + list(range(0x8D10, 0x8D1F))
    + list(range(0x8C90, 0x8C9F, 2))
)
_INTEL_SPT_ACS_RANGES = ((0xA110, 0xA11F), (0xA167, 0xA16A), (0xA290, 0xA29F), (0xA2E7, 0xA2EE), (0x9D10, 0x9D1B))
_MF_ENDPOINT_IDS = {
    VENDOR_SOLARFLARE: (0x0903, 0x0923, 0x0A03),
    VENDOR_INTEL: (
        0x10C6,
        0x10DB,
        0x10DD,
        0x10E1,
        0x10F1,
        0x10F7,
        0x10F8,
        0x10F9,
        0x10FA,
        0x10FB,
        0x10FC,
        0x1507,
        0x1514,
        0x151C,
        0x1529,
        0x152A,
        0x154D,
        0x154F,
        0x1551,
        0x1558,
        0x1509,
        0x150E,
        0x150F,
        0x1510,
        0x1511,
        0x1516,
        0x1527,
        0x10C9,
        0x10E6,
        0x10E7,
        0x10E8,
        0x150A,
        0x150D,
        0x1518,
        0x1526,
        0x10A7,
        0x10A9,
        0x10D6,
        0x1521,
        0x1522,
        0x1523,
        0x1524,
        0x105E,
        0x105F,
        0x1060,
        0x10D9,
        0x15B7,
        0x15B8,
    ),
}


def acs_quirk(vendor: int, device: int, port_type: int | None, multifunction: bool) -> bool | None:
    """``pci_dev_specific_acs_enabled`` for the quirks vfiolab models: True/False when a quirk
    decides, None when none applies (drivers/pci/quirks.c, 6.12.117 lines 5068-5270).

    The Intel PCH root-port quirks (Ibexpeak..Wellsburg, Sunrise/Union Point) decide from the
    device ID; they treat the port as isolated only after the kernel's ACS-enable quirk ran,
    which it does whenever the IOMMU is enabled, so they report isolation here.
    """
    if vendor in _MF_ENDPOINT_IDS and device in _MF_ENDPOINT_IDS[vendor]:
        return _mf_endpoint(port_type, multifunction)
    if vendor == VENDOR_INTEL:
        if port_type == 4 and device in _INTEL_PCH_ACS_IDS:
            return True
        if port_type == 4 and any(low <= device <= high for low, high in _INTEL_SPT_ACS_RANGES):
            return True
        return _rciep(port_type, multifunction)
    if vendor in (VENDOR_ATI, VENDOR_AMD) and device in (
        0x4385,
        0x439C,
        0x4383,
        0x439D,
        0x4384,
        0x4399,
        0x780F,
        0x7809,
    ):
        # pci_quirk_amd_sb_acs only answers on ACPI systems with an IVRS table; we treat the
        # southbridge functions as isolated as that quirk does on such systems.
        return True
    return None


def matches(
    table: list[DeviceMatch], vendor: int, device: int, class_code: int, profile: str, *, release: tuple[int, ...] = ()
) -> bool:
    return any(entry.matches(vendor, device, class_code, profile, release) for entry in table)
