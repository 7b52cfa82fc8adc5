"""``PciDev``: what the simulated kernel knows and keeps about one PCI function.

Mirrors the parts of Linux's ``struct pci_dev`` that passthrough depends on: the identity cached
at enumeration (sysfs text attributes keep showing it after the device dies), capability
offsets, quirk flags, topology, driver binding, power state, reset methods and IOMMU group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakesys.host.model import FunctionSpec
from fakesys.hw.device import Device
from harness.pci.address import Bdf

# PCI Express port types (PCI_EXP_TYPE_*, include/uapi/linux/pci_regs.h).
PCIE_ENDPOINT = 0
PCIE_LEGACY_ENDPOINT = 1
PCIE_ROOT_PORT = 4
PCIE_UPSTREAM = 5
PCIE_DOWNSTREAM = 6
PCIE_TO_PCI_BRIDGE = 7
PCI_TO_PCIE_BRIDGE = 8
PCIE_RC_ENDPOINT = 9
PCIE_RC_EVENT_COLLECTOR = 10


POWER_ORDER = {"D0": 0, "D1": 1, "D2": 2, "D3hot": 3, "D3cold": 4, "unknown": 5}


@dataclass(eq=False)
class PciDev:
    bdf: Bdf
    device: Device
    spec: FunctionSpec
    parent: PciDev | None = None
    children: list[PciDev] = field(default_factory=list)
    # Identity cached at enumeration (pci_setup_device).
    vendor: int = 0
    device_id: int = 0
    subsystem_vendor: int = 0
    subsystem_device: int = 0
    class_code: int = 0
    revision: int = 0
    header_layout: int = 0
    multifunction: bool = False
    # Capability offsets and cached registers.
    pcie_cap: int = 0
    pcie_type: int | None = None
    pcie_flags_slot: bool = False
    devcap: int = 0
    pm_cap: int = 0
    acs_cap: int = 0
    config_size: int = 256
    # Quirk flags (PCI_DEV_FLAGS_*) and DMA aliases (devfns on the same bus).
    no_bus_reset: bool = False
    no_flr_reset: bool = False
    no_pm_reset: bool = False
    #: The VGA arbiter's default device (sysfs boot_vga; fakesys.kernel.vga).
    boot_vga: bool = False
    #: An out-of-tree module hooks pci_dev_specific_reset for it (its name; fakesys.kernel.vga).
    reset_hook: str | None = None
    pcie_bridge_alias: bool = False
    #: PCI_DEV_FLAGS_ACS_ENABLED_QUIRK: the boot-time ACS enable quirk ran for it (Intel PCH root
    #: ports count as isolating only then; see quirks.acs_enable_quirk_runs).
    acs_enabled_by_quirk: bool = True
    dma_alias_devfns: set[int] = field(default_factory=set)
    # Bridges.
    secondary_bus: int | None = None
    subordinate_bus: int | None = None
    # Driver and power.
    driver: str | None = None
    driver_override: str | None = None
    current_state: str = "unknown"
    runtime_status: str = "active"
    enable_count: int = 0
    irq: int = 0
    msi_irqs: list[int] = field(default_factory=list)
    d3cold_allowed: bool = True
    #: The platform cut its power (D3cold) and it has not been restored yet.
    power_removed: bool = False
    reset_methods: list[str] = field(default_factory=list)
    reset_files: bool = False
    iommu_group: int | None = None
    # Cached at enumeration (set_pcie_port_type, pci_pm_init).
    link_active_reporting: bool = False
    imm_ready: bool = False
    d3hot_delay_ms: int = 10
    # pci_save_state() / pci_restore_state().
    state_saved: bool = False
    saved_config: list[int] = field(default_factory=list)
    saved_capabilities: dict[int, int] = field(default_factory=dict)
    # Runtime PM: usage count and whether the driver allows runtime suspend.
    usage_count: int = 0
    runtime_allowed: bool = False
    match_driver: bool = True

    @property
    def power_order(self) -> int:
        """pci_power_t ordering: D0 < D1 < D2 < D3hot < D3cold < unknown."""
        return POWER_ORDER.get(self.current_state, 5)

    @property
    def name(self) -> str:
        return str(self.bdf)

    @property
    def is_bridge(self) -> bool:
        return self.header_layout == 1

    @property
    def is_pcie(self) -> bool:
        return self.pcie_cap != 0

    @property
    def on_root_bus(self) -> bool:
        return self.parent is None

    @property
    def devfn(self) -> int:
        return self.bdf.devfn

    @property
    def label(self) -> str | None:
        return self.spec.label

    @property
    def platform_d3cold(self) -> bool:
        """Its ACPI companion lists power resources for D0 and D3hot (drivers/acpi/scan.c
        acpi_bus_get_power_flags: D3cold valid), so the platform can cut its power."""
        return self.spec.acpi_power_resources

    def path_from_root(self) -> list[PciDev]:
        """This device and its bridges, root-bus device first."""
        chain: list[PciDev] = []
        node: PciDev | None = self
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))
