"""The kernel's PCI quirk tables that change passthrough behaviour, per kernel profile.

Each table is data transcribed from ``drivers/pci/quirks.c`` of the kernel a profile follows:
Debian linux-source 6.1.192 (profile 6.1), Debian linux-source 6.12.117 (profile 6.12); the
6.8 profile (Proxmox VE 8's 6.8 kernels) has the 6.1/6.12 entries that predate 2024 and lacks
the ASMedia 1164 no-bus-reset quirk, which was added in January 2026 and backported only to the
Debian stable series; 5.10 likewise lacks it. Vendor IDs are from include/linux/pci_ids.h.

A profile stands for a range of releases (5.10 for everything before 5.15), so an entry younger
than its profile's oldest release also names the releases that carry it (:class:`Since`): the
first mainline release, and the first release of each stable series it was backported to. A
kernel of another series older than the mainline release lacks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.pci.release import Release


@dataclass(frozen=True)
class Since:
    """The releases that carry a quirk entry: from ``mainline`` (major, minor) on, and in each
    stable series of ``stable`` ((major, minor), first patch release) from that release on."""

    mainline: tuple[int, int]
    stable: tuple[tuple[tuple[int, int], int], ...] = ()

    def carried_by(self, release: Release) -> bool:
        series = release[:2]
        if series >= self.mainline:
            return True
        return any(series == branch and release[2] >= first for branch, first in self.stable)


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
    #: For an entry younger than the oldest release a profile stands for: which releases carry it.
    since: Since | None = None

    def matches(
        self, vendor: int, device: int, class_code: int, profile: str, *, release: Release | None = None
    ) -> bool:
        if profile not in self.profiles or vendor != self.vendor:
            return False
        if self.since is not None and release is not None and not self.since.carried_by(release):
            return False
        if self.device is not None and device & self.device_mask != self.device:
            return False
        return self.class_code is None or class_code >> self.class_shift == self.class_code


def _ids(
    vendor: int, *devices: int, profiles: frozenset[str] = ALL_PROFILES, since: Since | None = None
) -> list[DeviceMatch]:
    return [DeviceMatch(vendor, device, profiles=profiles, since=since) for device in devices]


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
    # 0d14f06cd665 "PCI: Avoid FLR for AMD Matisse HD Audio & USB 3.0" and 5727043c73fd "PCI: Avoid
    # FLR for AMD Starship USB 3.0": both first in v5.8 (no stable release recorded before it).
    *_ids(VENDOR_AMD, 0x1487, 0x148C, 0x149C, since=Since((5, 8))),
    # "PCI: Avoid FLR for AMD FCH AHCI adapters" (linux-pci, January 2023): v6.3, stable 6.1.16
    # and 5.10.173.
    *_ids(VENDOR_AMD, 0x7901, since=Since((6, 3), (((6, 1), 16), ((5, 10), 173)))),
    *_ids(VENDOR_INTEL, 0x1502, 0x1503),
    *_ids(VENDOR_MEDIATEK, 0x0616, profiles=frozenset({"6.12"}), since=Since((6, 14), (((6, 12), 16),))),
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
    ),
    # e44537588288 "PCI: Add function 1 DMA alias quirk for Marvell 88SE9125 SATA controller": v5.17,
    # stable 5.10.94.
    *_ids(VENDOR_MARVELL_EXT, 0x9125, since=Since((5, 17), (((5, 10), 94),))),
    # "PCI: Add function 1 DMA alias quirk for Marvell 88SE9235" (Robin Murphy, June 2023): v6.5,
    # stable 5.10.188, 6.1.40 and 6.4.5.
    *_ids(VENDOR_MARVELL_EXT, 0x9235, since=Since((6, 5), (((5, 10), 188), ((6, 1), 40), ((6, 4), 5)))),
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


#: Releases whose pci_enable_acs() returns before the device-specific enable quirks for a device
#: without an ACS capability, so Intel PCH root ports never get PCI_DEV_FLAGS_ACS_ENABLED_QUIRK:
#: 52fbf5bdeeef "PCI: Cache ACS capability offset in device" (v5.9) until "PCI: Always enable ACS
#: even if no ACS Capability" (v5.10; upstream stable 5.9.9) (drivers/pci/pci.c pci_enable_acs).
ACS_ENABLE_SKIPPED_WITHOUT_CAP = (((5, 9, 0), (5, 9, 8)),)


def acs_enable_quirk_runs(has_acs_cap: bool, release: Release | None) -> bool:
    """Whether the kernel runs the device-specific ACS enable quirks (pci_dev_specific_enable_acs)
    for a device; only the releases in ACS_ENABLE_SKIPPED_WITHOUT_CAP skip them, and only for a
    device without an ACS capability."""
    if has_acs_cap or release is None:
        return True
    return not any(low <= release <= high for low, high in ACS_ENABLE_SKIPPED_WITHOUT_CAP)


def acs_quirk(
    vendor: int, device: int, port_type: int | None, multifunction: bool, *, enabled_by_quirk: bool = True
) -> bool | None:
    """``pci_dev_specific_acs_enabled`` for the quirks vfiolab models: True/False when a quirk
    decides, None when none applies (drivers/pci/quirks.c, 6.12.117 lines 5068-5270).

    The Intel PCH root-port quirks (Ibexpeak..Wellsburg, Sunrise/Union Point) decide from the
    device ID; pci_quirk_intel_pch_acs treats the port as isolated only after the kernel's
    ACS-enable quirk ran (``enabled_by_quirk``, PCI_DEV_FLAGS_ACS_ENABLED_QUIRK), which it does
    whenever the IOMMU is enabled, except in the releases of ACS_ENABLE_SKIPPED_WITHOUT_CAP.
    """
    if vendor in _MF_ENDPOINT_IDS and device in _MF_ENDPOINT_IDS[vendor]:
        return _mf_endpoint(port_type, multifunction)
    if vendor == VENDOR_INTEL:
        if port_type == 4 and device in _INTEL_PCH_ACS_IDS:
            return enabled_by_quirk
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
    table: list[DeviceMatch], vendor: int, device: int, class_code: int, profile: str, *, release: Release | None = None
) -> bool:
    return any(entry.matches(vendor, device, class_code, profile, release=release) for entry in table)
