"""The PCI drivers the simulated kernel knows: names, modules, ID tables, what binding does.

Binding a driver changes device state the way the real driver's probe does: enabling the
device, turning on MSI/MSI-X, and for vfio-pci, runtime-suspending the idle device to D3hot
(``vfio_pci_core_register_device``/``vfio_pci_core_runtime_suspend``) unless the module
parameter ``disable_idle_d3`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IdMatch:
    """One ``pci_device_id`` entry; None fields match anything (PCI_ANY_ID)."""

    vendor: int | None = None
    device: int | None = None
    class_code: int | None = None
    class_mask: int = 0xFFFFFF
    subvendor: int | None = None
    subdevice: int | None = None

    def matches(self, vendor: int, device: int, class_code: int, subsystem: tuple[int, int] = (0, 0)) -> bool:
        """pci_match_one_id."""
        for wanted, actual in (
            (self.vendor, vendor),
            (self.device, device),
            (self.subvendor, subsystem[0]),
            (self.subdevice, subsystem[1]),
        ):
            if wanted is not None and wanted != actual:
                return False
        return self.class_code is None or class_code & self.class_mask == self.class_code


@dataclass(frozen=True)
class PciDriver:
    name: str
    module: str | None
    ids: tuple[IdMatch, ...] = ()
    uses_msi: bool = True
    idle_d3: bool = False

    @property
    def module_name(self) -> str | None:
        return self.module


KNOWN_DRIVERS: dict[str, PciDriver] = {
    driver.name: driver
    for driver in (
        PciDriver("ahci", "ahci", (IdMatch(class_code=0x010601),)),
        PciDriver("nvme", "nvme", (IdMatch(class_code=0x010802),)),
        PciDriver("xhci_hcd", "xhci_pci", (IdMatch(class_code=0x0C0330),)),
        PciDriver("pcieport", None, (IdMatch(class_code=0x060400),)),
        PciDriver("r8169", "r8169", (IdMatch(0x10EC, 0x8125), IdMatch(0x10EC, 0x8168), IdMatch(0x10EC, 0x8161))),
        PciDriver("igc", "igc", (IdMatch(0x8086, 0x125C), IdMatch(0x8086, 0x125B), IdMatch(0x8086, 0x15F3))),
        PciDriver("i915", "i915", (IdMatch(0x8086, 0x46D0), IdMatch(0x8086, 0x46D1), IdMatch(0x8086, 0x46D2))),
        PciDriver("igen6_edac", "igen6_edac", (IdMatch(0x8086, 0x4617), IdMatch(0x8086, 0x461C)), uses_msi=False),
        PciDriver("mei_me", "mei_me", (IdMatch(0x8086, 0x54E0),)),
        PciDriver("snd_hda_intel", "snd_hda_intel", (IdMatch(0x8086, 0x54C8), IdMatch(0x1002, 0xAB28))),
        PciDriver("i801_smbus", "i2c_i801", (IdMatch(0x8086, 0x54A3),), uses_msi=False),
        PciDriver("intel-spi", "spi_intel_pci", (IdMatch(0x8086, 0x54A4),), uses_msi=False),
        PciDriver("amdgpu", "amdgpu", (IdMatch(0x1002, 0x73FF),)),
        PciDriver("vfio-pci", "vfio_pci", (), uses_msi=False, idle_d3=True),
    )
}


def driver(name: str) -> PciDriver:
    """A known driver, or a generic one for names the table does not list."""
    if name in KNOWN_DRIVERS:
        return KNOWN_DRIVERS[name]
    return PciDriver(name, name.replace("-", "_"))
