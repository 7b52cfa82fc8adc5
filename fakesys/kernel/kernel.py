"""``FakeKernel``: the simulated Linux PCI core of one host, booted.

Booting enumerates the host's functions (:mod:`fakesys.kernel.topology`), enables ACS and forms
IOMMU groups when the IOMMU is on (:mod:`fakesys.kernel.iommu`), probes reset methods
(:mod:`fakesys.kernel.reset`), binds the drivers the host names and logs what a real boot logs
about these steps. The sysfs renderer reads the result; later steps act on it.
"""

from __future__ import annotations

from fakesys.host.model import Host
from fakesys.kernel import drivers
from fakesys.kernel.iommu import assign_groups, enable_acs
from fakesys.kernel.log import KernelLog, VirtualClock
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import KernelProfile, get_profile
from fakesys.kernel.reset import init_reset_methods
from fakesys.kernel.topology import build_topology
from harness.pci import regs
from harness.pci.address import Bdf

#: Where the clock stands when boot is over (a host that has been up a little while).
BOOT_DONE_US = 12_000_000
FIRST_MSI_IRQ = 122
POWER_STATE_CODES = {"D0": 0, "D1": 1, "D2": 2, "D3hot": 3}


class FakeKernel:
    """The kernel's view of a host: devices, drivers, groups, power, log."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.profile: KernelProfile = get_profile(host.kernel.profile)
        self.clock = VirtualClock()
        self.log = KernelLog(self.clock)
        self.devices: list[PciDev] = build_topology(host, self.profile.name)
        self._by_bdf = {dev.bdf: dev for dev in self.devices}
        self._next_msi_irq = FIRST_MSI_IRQ
        self.module_params: dict[str, dict[str, str]] = {k: dict(v) for k, v in host.modules.items()}
        self._boot()

    # --- Lookup ---------------------------------------------------------------------------

    def device(self, bdf: Bdf | str) -> PciDev:
        key = bdf if isinstance(bdf, Bdf) else Bdf.parse(bdf)
        return self._by_bdf[key]

    def find(self, bdf: Bdf) -> PciDev | None:
        return self._by_bdf.get(bdf)

    @property
    def iommu_units(self) -> dict[str, list[PciDev]]:
        """IOMMU hardware units and the devices each translates, in registration order.

        Intel platforms with integrated graphics have a DMAR unit of its own for the GPU at
        00:02.0, registered first (intel_iommu_init walks the DRHD list in DMAR table order), so
        the GPU is probed, and grouped, before everything else: real Alder Lake-N hosts show the
        GPU in group 0 and the host bridge in group 1.
        """
        if self.host.cpu.vendor != "intel":
            return {"ivhd0": list(self.devices)}
        graphics = [
            dev for dev in self.devices if dev.on_root_bus and dev.bdf.devfn == 0x10 and dev.class_code >> 16 == 0x03
        ]
        rest = [dev for dev in self.devices if dev not in graphics]
        if not graphics:
            return {"dmar0": rest}
        return {"dmar0": graphics, "dmar1": rest}

    @property
    def iommu_enabled(self) -> bool:
        return self.host.iommu.firmware_table and self.host.iommu.enabled

    def drivers_in_use(self) -> list[str]:
        """Drivers registered with the PCI bus: every bound one, pcieport, and loaded modules."""
        names = {dev.driver for dev in self.devices if dev.driver}
        names.add("pcieport")
        for module in self.module_params:
            for known in drivers.KNOWN_DRIVERS.values():
                if known.module == module.replace("-", "_"):
                    names.add(known.name)
        return sorted(name for name in names if name)

    def log_prefix(self, dev: PciDev) -> str:
        """dev_driver_string: the driver's name, or the bus name when unbound."""
        return dev.driver or "pci"

    # --- Boot -----------------------------------------------------------------------------

    def _boot(self) -> None:
        host = self.host
        self.log.emit(host.kernel.version)
        self.log.emit(f"Command line: {host.kernel.cmdline}")
        if host.dmi:
            self.log.emit(f"DMI: {host.dmi}")
        for line in host.kernel.log:
            self.log.add_raw(line)
        if self.iommu_enabled:
            self.clock.now_us = max(self.clock.now_us, 400_000)
            if host.cpu.vendor == "intel":
                self.log.emit("DMAR: IOMMU enabled")
                if host.iommu.interrupt_remapping:
                    self.log.emit("DMAR-IR: Enabled IRQ remapping in x2apic mode")
            elif host.iommu.interrupt_remapping:
                self.log.emit("AMD-Vi: Interrupt remapping enabled")
            for dev in self.devices:
                enable_acs(dev)
            probe_order = [dev for unit in self.iommu_units.values() for dev in unit]
            assign_groups(self.devices, probe_order, host.source)
            self.clock.advance_ms(300)
            domain = {"DMA": "Translated", "DMA-FQ": "Translated", "identity": "Passthrough"}[host.iommu.default_domain]
            self.log.emit(f"iommu: Default domain type: {domain}")
            for dev in probe_order:
                self.clock.advance_us(37)
                self.log.device("pci", dev.name, f"Adding to iommu group {dev.iommu_group}")
        for dev in self.devices:
            dev.reset_methods = init_reset_methods(dev, self.profile)
            dev.irq = self._interrupt_line(dev)
        self.clock.now_us = max(self.clock.now_us, 1_500_000)
        for dev in self.devices:
            if dev.spec.driver:
                self.clock.advance_us(211)
                self.bind_at_boot(dev, dev.spec.driver)
            self._apply_host_state(dev)
        self.log.records.sort(key=lambda record: record.timestamp_us)
        self.clock.now_us = max(self.clock.now_us, BOOT_DONE_US)

    def _interrupt_line(self, dev: PciDev) -> int:
        """pci_read_irq: the Interrupt Line firmware left, for a device with a pin."""
        if dev.device.read(0x3D, 1) == 0:
            return 0
        return dev.device.read(0x3C, 1)

    def _apply_host_state(self, dev: PciDev) -> None:
        spec = dev.spec
        if spec.irq is not None:
            dev.irq = spec.irq
        if spec.power is not None:
            self.set_power_register(dev, spec.power)
            dev.current_state = spec.power
        if spec.condition == "dead":
            self.kill(dev)

    def kill(self, dev: PciDev) -> None:
        """The device stopped answering: config reads give all-ones and its link is down."""
        dev.device.alive = False
        port = dev.parent
        if port is not None and port.pcie_cap:
            port.device.update_field(regs.EXPRESS, port.pcie_cap, "lnksta", "dll_active", 0)
            port.device.update_field(regs.EXPRESS, port.pcie_cap, "lnksta", "bandwidth_management", 1)

    def set_power_register(self, dev: PciDev, state: str) -> None:
        if dev.pm_cap and state in POWER_STATE_CODES:
            dev.device.update_field(regs.PM, dev.pm_cap, "pmcsr", "power_state", POWER_STATE_CODES[state])

    def bind_at_boot(self, dev: PciDev, name: str) -> None:
        """The state a driver's probe leaves the device in."""
        spec = drivers.driver(name)
        dev.driver = name
        if spec.idle_d3:
            disable_idle_d3 = self.module_params.get("vfio_pci", {}).get("disable_idle_d3", "N") in ("Y", "1")
            if dev.pm_cap and not disable_idle_d3:
                self.set_power_register(dev, "D3hot")
                dev.current_state = "D3hot"
                dev.runtime_status = "suspended"
            else:
                dev.current_state = "D0"
            return
        dev.current_state = "D0"
        self.set_power_register(dev, "D0")
        dev.enable_count = 1
        self._enable_decoding(dev)
        if spec.uses_msi:
            self._enable_msi(dev)

    def _enable_decoding(self, dev: PciDev) -> None:
        """pci_enable_device + pci_set_master: decode the BAR kinds present, master DMA."""
        command = dev.device.read(0x04, 2)
        for bar in dev.device.model.bars:
            command |= 0x1 if bar.kind.value == "io" else 0x2
        dev.device.write(0x04, 2, command | 0x4)

    def _enable_msi(self, dev: PciDev) -> None:
        space = dev.device.space()
        msix = space.find(regs.CAP_MSIX)
        msi = space.find(regs.CAP_MSI)
        if msix is not None:
            control = dev.device.read(msix.offset + 2, 2)
            dev.device.write(msix.offset + 2, 2, control | 0x8000)
            vectors = min((control & 0x7FF) + 1, self.host.cpu.cores + 1)
        elif msi is not None:
            control = dev.device.read(msi.offset + 2, 2)
            dev.device.write(msi.offset + 2, 2, control | 0x1)
            vectors = 1
            index = self._next_msi_irq - FIRST_MSI_IRQ
            # With interrupt remapping the address carries the IRTE index (remappable format).
            if self.host.iommu.interrupt_remapping and self.iommu_enabled:
                address, data = 0xFEE00000 | (index << 5) | 0x18, 0
            else:
                address, data = 0xFEE00000 | ((index % self.host.cpu.cores) << 12), 0x4021 + index
            dev.device.write(msi.offset + 4, 4, address)
            data_offset = 0x0C if control & 0x80 else 0x08
            dev.device.write(msi.offset + data_offset, 2, data)
        else:
            return
        # pci_intx_for_msi: INTx is disabled while MSI is on.
        dev.device.write(0x04, 2, dev.device.read(0x04, 2) | 0x400)
        dev.msi_irqs = list(range(self._next_msi_irq, self._next_msi_irq + vectors))
        self._next_msi_irq += vectors
        dev.irq = dev.msi_irqs[0]
