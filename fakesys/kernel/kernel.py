"""``FakeKernel``: the simulated Linux PCI core of one host, booted.

Booting enumerates the host's functions (:mod:`fakesys.kernel.topology`), enables ACS and forms
IOMMU groups when the IOMMU is on (:mod:`fakesys.kernel.iommu`), probes reset methods
(:mod:`fakesys.kernel.reset`), binds the drivers the host names through the driver core
(:mod:`fakesys.kernel.binding`) and logs what a real boot logs about these steps. Afterwards the
kernel is driven through the interfaces a real one offers: sysfs writes (:meth:`write`) and the
vfio device calls QEMU makes (:attr:`vfio_api`).
"""

from __future__ import annotations

import re

from fakesys.clock import VirtualClock
from fakesys.host.model import Host
from fakesys.hw import link
from fakesys.kernel import binding, drivers, enumeration, store, vga
from fakesys.kernel.drivers import IdMatch
from fakesys.kernel.iommu import assign_groups, enable_acs
from fakesys.kernel.log import KernelLog
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import KernelProfile, get_profile
from fakesys.kernel.reset import init_reset_methods
from fakesys.kernel.topology import build_topology
from fakesys.kernel.vfio import VfioState
from harness.pci import regs
from harness.pci.address import Bdf

#: Where the clock stands when boot is over (a host that has been up a little while).
BOOT_DONE_US = 12_000_000
#: When PCI enumeration logs its lines (early in boot, before the IOMMU sets up).
ENUMERATION_US = 200_000
POWER_STATE_CODES = {"D0": 0, "D1": 1, "D2": 2, "D3hot": 3}


class FakeKernel:
    """The kernel's view of a host: devices, drivers, groups, power, log."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.profile: KernelProfile = get_profile(host.kernel.profile)
        self.clock = VirtualClock()
        self.log = KernelLog(self.clock)
        self.devices: list[PciDev] = build_topology(host, self.profile.name, self.clock)
        self._by_bdf = {dev.bdf: dev for dev in self.devices}
        self.removed: list[PciDev] = []
        self.next_msi_irq = binding.FIRST_MSI_IRQ
        self.module_params: dict[str, dict[str, str]] = {k: dict(v) for k, v in host.modules.items()}
        self.dynamic_ids: dict[str, list[IdMatch]] = {}
        self.vfio = VfioState()
        self.warned_once: dict[str, bool] = {}
        self._driver_order: list[str] = ["pcieport"]
        self.vfio_loaded = False
        self._boot()

    # --- Lookup ---------------------------------------------------------------------------

    def device(self, bdf: Bdf | str) -> PciDev:
        key = bdf if isinstance(bdf, Bdf) else Bdf.parse(bdf)
        return self._by_bdf[key]

    def find(self, bdf: Bdf) -> PciDev | None:
        dev = self._by_bdf.get(bdf)
        return dev if dev is not None and dev not in self.removed else None

    @property
    def present(self) -> list[PciDev]:
        """Devices the kernel has (not removed), in scan order."""
        return [dev for dev in self.devices if dev not in self.removed]

    @property
    def hz(self) -> int:
        return self.profile.hz

    @property
    def msleep_adds_jiffy(self) -> bool:
        return self.profile.msleep_adds_jiffy

    @property
    def iommu_units(self) -> dict[str, list[PciDev]]:
        """IOMMU hardware units and the devices each translates, in registration order.

        Intel platforms with integrated graphics have a DMAR unit of its own for the GPU at
        00:02.0, registered first (intel_iommu_init walks the DRHD list in DMAR table order), so
        the GPU is probed, and grouped, before everything else: real Alder Lake-N hosts show the
        GPU in group 0 and the host bridge in group 1.
        """
        if self.host.cpu.vendor != "intel":
            # AMD-Vi translates neither its own PCI function (class 0806) nor the root complex at
            # 00:00.0, which real IVRS tables leave out: both stay without a group
            # (drivers/iommu/amd/init.c, iommu_init_pci excludes the IOMMU's devid).
            translated = [
                dev
                for dev in self.present
                if dev.class_code >> 8 != 0x0806
                and not (dev.on_root_bus and dev.bdf.devfn == 0 and dev.class_code >> 8 == 0x0600)
            ]
            return {"ivhd0": translated}
        graphics = [
            dev for dev in self.present if dev.on_root_bus and dev.bdf.devfn == 0x10 and dev.class_code >> 16 == 0x03
        ]
        rest = [dev for dev in self.present if dev not in graphics]
        if not graphics:
            return {"dmar0": rest}
        return {"dmar0": graphics, "dmar1": rest}

    @property
    def iommu_enabled(self) -> bool:
        return self.host.iommu.firmware_table and self.host.iommu.enabled

    def registered_drivers(self) -> list[str]:
        """PCI drivers registered with the bus, in registration order."""
        names = list(self._driver_order)
        for module in self.module_params:
            for known in drivers.KNOWN_DRIVERS.values():
                if known.module == module.replace("-", "_") and known.name not in names:
                    names.append(known.name)
        return names

    def drivers_in_use(self) -> list[str]:
        return sorted(self.registered_drivers())

    def interrupt_route(self, dev: PciDev) -> int:
        """The GSI ACPI routes the device's INTx pin to (host ``gsi``, else a PIRQ swizzle)."""
        if dev.spec.gsi is not None:
            return dev.spec.gsi
        pin = dev.device.read(0x3D, 1) or 1
        return 16 + (dev.bdf.device + pin - 1) % 4

    # --- Logging --------------------------------------------------------------------------

    def log_prefix(self, dev: PciDev) -> str:
        """dev_driver_string: the driver's name, or the bus name when unbound."""
        return dev.driver or "pci"

    def dev_info(self, dev: PciDev, message: str) -> None:
        self.log.device(self.log_prefix(dev), dev.name, message, "info")

    def dev_warn(self, dev: PciDev, message: str) -> None:
        self.log.device(self.log_prefix(dev), dev.name, message, "warn")

    def dev_err(self, dev: PciDev, message: str) -> None:
        self.log.device(self.log_prefix(dev), dev.name, message, "err")

    def dev_dbg(self, dev: PciDev, message: str) -> None:
        """pci_dbg: dynamic debug, off by default; not logged."""

    # --- Interfaces ---------------------------------------------------------------------

    def write(self, path: str, value: str) -> int:
        """A write(2) of ``value`` to the sysfs file ``path`` (absolute, e.g.
        /sys/bus/pci/devices/0000:03:00.0/reset): bytes written or a negative errno."""
        return store.write(self, path, value)

    def load_module(self, module: str) -> None:
        """modprobe: register the module's PCI driver; vfio-pci also adds its ``ids=``."""
        if module in self.module_params and module != "vfio_pci":
            return
        first_load = module not in self.module_params or not self.vfio_loaded
        self.module_params.setdefault(module, {})
        if module == vga.VENDOR_RESET_MODULE:
            # The line its ftrace hook prints once installed (gnif/vendor-reset src/hook.c; quoted
            # in gnif/vendor-reset#46: "after dmesg says vendor_reset_hook: installed").
            self.log.emit("vendor_reset_hook: installed")
            self._install_reset_hooks()
        if module == "vfio_pci" and first_load:
            self.vfio_loaded = True
            self.log.emit("VFIO - User Level meta-driver version: 0.3")
            self._add_vfio_ids()
            for dev in self.present:
                binding.attach(self, dev)

    def _add_vfio_ids(self) -> None:
        """vfio_pci_fill_ids (drivers/vfio/pci/vfio_pci.c): each comma-separated
        ``vendor:device[:subvendor[:subdevice[:class[:class_mask]]]]`` is read with
        ``sscanf("%x:%x:%x:%x:%x:%x")``; fewer than two fields is warned about and skipped."""
        text = self.module_params.get("vfio_pci", {}).get("ids", "")
        for item in filter(None, text.split(",")):
            fields = _scan_hex_fields(item)
            if len(fields) < 2:
                self.log.emit(f'vfio_pci: invalid id string "{item}"', "warn")
                continue
            fields += [0xFFFFFFFF, 0xFFFFFFFF, 0, 0][len(fields) - 2 :]
            vendor, device, subvendor, subdevice, class_code, class_mask = fields
            self.dynamic_ids.setdefault("vfio-pci", []).append(
                IdMatch(
                    vendor,
                    device,
                    class_code=class_code & class_mask if class_mask else None,
                    class_mask=class_mask or 0xFFFFFF,
                    subvendor=None if subvendor == 0xFFFFFFFF else subvendor,
                    subdevice=None if subdevice == 0xFFFFFFFF else subdevice,
                )
            )

    def remove_device(self, dev: PciDev) -> None:
        """pci_stop_and_remove_bus_device: unbind, then remove the device and everything below."""
        for child in [*dev.children]:
            self.remove_device(child)
        binding.remove(self, dev)
        if dev not in self.removed:
            self.removed.append(dev)

    def rescan(self) -> None:
        """pci_rescan_bus: removed devices come back if the kernel finds them again
        (:func:`fakesys.kernel.enumeration.setup_device`: they answer, with a known header
        type); a dead device stays gone. Drivers are attached again."""
        for dev in [*self.removed]:
            if dev.parent is not None and dev.parent in self.removed:
                continue
            if not enumeration.setup_device(self, dev):
                continue
            self.removed.remove(dev)
            dev.current_state = "unknown"
            binding.attach(self, dev)

    # --- Boot -----------------------------------------------------------------------------

    def _boot(self) -> None:
        host = self.host
        self.log.emit(host.kernel.version)
        self.log.emit(f"Command line: {host.kernel.cmdline}")
        if host.dmi:
            self.log.emit(f"DMI: {host.dmi}")
        if host.hypervisor:
            # arch/x86/kernel/cpu/hypervisor.c init_hypervisor_platform.
            self.log.emit(f"Hypervisor detected: {host.hypervisor}")
        for line in host.kernel.log:
            self.log.add_raw(line)
        self.clock.now_us = max(self.clock.now_us, ENUMERATION_US)
        for dev in self.devices:
            if dev.spec.condition == "absent":
                dev.device.alive = False
        self.removed += enumeration.scan(self, self.devices)
        if self.iommu_enabled:
            self.clock.now_us = max(self.clock.now_us, 400_000)
            if host.cpu.vendor == "intel":
                self.log.emit("DMAR: IOMMU enabled")
                if host.iommu.interrupt_remapping:
                    self.log.emit("DMAR-IR: Enabled IRQ remapping in x2apic mode")
            elif host.iommu.interrupt_remapping:
                self.log.emit("AMD-Vi: Interrupt remapping enabled")
            for dev in self.present:
                enable_acs(dev)
            probe_order = [dev for unit in self.iommu_units.values() for dev in unit]
            assign_groups(self.present, probe_order, host.source)
            self.clock.advance_ms(300)
            domain = {"DMA": "Translated", "DMA-FQ": "Translated", "identity": "Passthrough"}[host.iommu.default_domain]
            self.log.emit(f"iommu: Default domain type: {domain}")
            for dev in probe_order:
                self.clock.advance_us(37)
                self.log.device("pci", dev.name, f"Adding to iommu group {dev.iommu_group}")
        for dev in self.present:
            dev.reset_methods = init_reset_methods(dev, self.profile)
            dev.reset_files = bool(dev.reset_methods)
            dev.irq = self._interrupt_line(dev)
        self._display_state()
        self.clock.now_us = max(self.clock.now_us, 1_500_000)
        if "vfio_pci" in self.module_params or any(dev.spec.driver == "vfio-pci" for dev in self.present):
            self.vfio_loaded = True
            self.module_params.setdefault("vfio_pci", {})
            self.log.emit("VFIO - User Level meta-driver version: 0.3")
            self._add_vfio_ids()
        for dev in self.present:
            name = dev.spec.driver
            if name:
                if name not in self._driver_order:
                    self._driver_order.append(name)
                self.clock.advance_us(211)
                binding.probe(self, dev, name)
        for dev in self.present:
            self._apply_host_state(dev)
        self.log.records.sort(key=lambda record: record.timestamp_us)
        self.clock.now_us = max(self.clock.now_us, BOOT_DONE_US)

    def _display_state(self) -> None:
        """The boot VGA device and module reset hooks (fakesys.kernel.vga): modules load after
        the devices were added, so on kernels with reset_method the probed list stays as it was."""
        boot = vga.select_boot_vga(self.present, self.host.framebuffer)
        if boot is not None:
            boot.boot_vga = True
        self._install_reset_hooks()

    def _install_reset_hooks(self) -> None:
        if vga.VENDOR_RESET_MODULE not in self.module_params:
            return
        for dev in self.present:
            if dev.reset_hook is None and vga.hooked_by_vendor_reset(dev, self.module_params):
                dev.reset_hook = vga.VENDOR_RESET_MODULE
                if not self.profile.has_reset_method:
                    # Before 5.15 every reset tries device_specific first (__pci_reset_function_locked).
                    dev.reset_methods = init_reset_methods(dev, self.profile)
                    dev.reset_files = bool(dev.reset_methods)

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
        if dev.parent is not None:
            link.train(dev.parent.device)

    def set_power_register(self, dev: PciDev, state: str) -> None:
        if dev.pm_cap and state in POWER_STATE_CODES:
            dev.device.update_field(regs.PM, dev.pm_cap, "pmcsr", "power_state", POWER_STATE_CODES[state])


_HEX_FIELD = re.compile(r"\s*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)")


def _scan_hex_fields(text: str, count: int = 6) -> list[int]:
    """What ``sscanf(text, "%x:%x:...")`` stores: up to ``count`` hex numbers separated by
    ``:``, stopping at the first that does not match; each an unsigned 32-bit value."""
    fields: list[int] = []
    position = 0
    while len(fields) < count:
        if fields:
            if not text.startswith(":", position):
                break
            position += 1
        match = _HEX_FIELD.match(text, position)
        if match is None:
            break
        value = int(match[2], 16)
        fields.append((-value if match[1] == "-" else value) & 0xFFFFFFFF)
        position = match.end()
    return fields
