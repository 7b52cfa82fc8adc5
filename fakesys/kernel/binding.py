"""The driver core for PCI: matching, probing and removing drivers.

Transcribes drivers/pci/pci-driver.c (``pci_match_device``: driver_override first, then dynamic
IDs, then the static table; ``local_pci_probe``: runtime-resume and take a usage reference around
probe; ``pci_device_remove``) and drivers/base/dd.c (``__driver_probe_device`` refuses a bound
device with -EBUSY). What a driver's own probe and remove do to the device is modelled per kind
of driver: vfio-pci (:mod:`fakesys.kernel.vfio`) or an ordinary host driver that enables the
device and turns on MSI/MSI-X.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.kernel import power, vfio
from fakesys.kernel.drivers import driver
from fakesys.kernel.pcidev import PciDev
from harness.pci import regs

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

ENXIO = 6
EBUSY = 16
ENODEV = 19
EINVAL = 22
FIRST_MSI_IRQ = 122


def matches(kernel: FakeKernel, driver_name: str, dev: PciDev) -> bool:
    """pci_match_device: with driver_override set only that driver matches (always); otherwise
    the driver's dynamic IDs, then its static table (vfio-pci's static entries are
    override-only)."""
    if dev.driver_override is not None:
        return dev.driver_override == driver_name
    identity = (dev.vendor, dev.device_id, dev.class_code, (dev.subsystem_vendor, dev.subsystem_device))
    if any(entry.matches(*identity) for entry in kernel.dynamic_ids.get(driver_name, [])):
        return True
    return any(entry.matches(*identity) for entry in driver(driver_name).ids)


def probe(kernel: FakeKernel, dev: PciDev, driver_name: str) -> int:
    """really_probe -> pci_device_probe -> local_pci_probe."""
    if dev.driver is not None:
        return -EBUSY
    power.get_sync(kernel, dev)
    dev.driver = driver_name
    if driver(driver_name).idle_d3:
        result = vfio.register(kernel, dev)
    else:
        result = _host_driver_probe(kernel, dev, driver_name)
    if result:
        dev.driver = None
        power.put(kernel, dev)
        _log_probe_failure(kernel, dev, driver_name, result)
    return result


def _log_probe_failure(kernel: FakeKernel, dev: PciDev, driver_name: str, error: int) -> None:
    """drivers/base/dd.c ``call_driver_probe``: -ENODEV and -ENXIO reject the match and are
    logged at debug level only (not in dmesg); any other error is logged, in the form of the
    profile's kernel (while it probes, the device's driver is set, so dev_err names it)."""
    if error in (-ENODEV, -ENXIO):
        return
    if kernel.profile.probe_failure_dev_err:
        kernel.log.device(driver_name, dev.name, f"probe with driver {driver_name} failed with error {error}", "err")
    else:
        kernel.log.emit(f"{driver_name}: probe of {dev.name} failed with error {error}", "warn")


def attach(kernel: FakeKernel, dev: PciDev) -> int:
    """device_attach: the first registered driver that matches binds (0 when none does)."""
    if dev.driver is not None or not dev.match_driver:
        return 0
    for name in kernel.registered_drivers():
        if matches(kernel, name, dev):
            return probe(kernel, dev, name)
    return 0


def remove(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_device_remove."""
    name = dev.driver
    if name is None:
        return
    power.get_sync(kernel, dev)
    if driver(name).idle_d3:
        vfio.unregister(kernel, dev)
    else:
        _host_driver_remove(kernel, dev)
    dev.usage_count = max(0, dev.usage_count - 1)  # pm_runtime_put_noidle
    dev.driver = None
    dev.runtime_allowed = False
    power.put(kernel, dev)  # pm_runtime_put_sync
    if kernel.profile.unknown_after_remove and dev.current_state == "D0":
        dev.current_state = "unknown"


def enable_device(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_enable_device: D0, decode the BARs, route INTx (ACPI) and count the enable."""
    power.set_power_state(kernel, dev, "D0")
    command = dev.device.read(0x04, 2)
    for bar in dev.device.model.bars:
        command |= 0x1 if bar.kind.value == "io" else 0x2
    dev.device.write(0x04, 2, command)
    if dev.enable_count == 0 and dev.device.read(0x3D, 1):
        dev.irq = kernel.interrupt_route(dev)
    dev.enable_count += 1


def disable_device(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_disable_device: drop the enable count; at zero bus mastering stops."""
    dev.enable_count = max(0, dev.enable_count - 1)
    if dev.enable_count == 0:
        dev.device.write(0x04, 2, dev.device.read(0x04, 2) & ~0x4)


def set_master(dev: PciDev, on: bool) -> None:
    command = dev.device.read(0x04, 2)
    dev.device.write(0x04, 2, command | 0x4 if on else command & ~0x4)


def _host_driver_probe(kernel: FakeKernel, dev: PciDev, name: str) -> int:
    enable_device(kernel, dev)
    set_master(dev, True)
    if driver(name).uses_msi:
        _enable_msi(kernel, dev)
    return 0


def _host_driver_remove(kernel: FakeKernel, dev: PciDev) -> None:
    space = dev.device.space()
    for cap_id, enable in ((regs.CAP_MSIX, 0x8000), (regs.CAP_MSI, 0x0001)):
        cap = space.find(cap_id)
        if cap is not None:
            control = dev.device.read(cap.offset + 2, 2)
            dev.device.write(cap.offset + 2, 2, control & ~enable)
    if dev.msi_irqs:
        dev.device.write(0x04, 2, dev.device.read(0x04, 2) & ~0x400)
        dev.msi_irqs = []
        dev.irq = kernel.interrupt_route(dev)
    disable_device(kernel, dev)


def _enable_msi(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_alloc_irq_vectors: MSI-X when the device has it, else MSI; INTx off while they are on."""
    space = dev.device.space()
    msix = space.find(regs.CAP_MSIX)
    msi = space.find(regs.CAP_MSI)
    if msix is not None:
        control = dev.device.read(msix.offset + 2, 2)
        dev.device.write(msix.offset + 2, 2, control | 0x8000)
        vectors = min((control & 0x7FF) + 1, kernel.host.cpu.cores + 1)
    elif msi is not None:
        control = dev.device.read(msi.offset + 2, 2)
        dev.device.write(msi.offset + 2, 2, control | 0x1)
        vectors = 1
        index = kernel.next_msi_irq - FIRST_MSI_IRQ
        remapped = kernel.host.iommu.interrupt_remapping and kernel.iommu_enabled
        if remapped and kernel.host.cpu.vendor == "amd":
            # AMD-Vi keeps the compatibility address and puts the index into the device's own
            # interrupt remapping table in the data (drivers/iommu/amd/iommu.c
            # irq_remapping_prepare_irte / fill_msi_msg): the first vector is entry 0.
            address, data = 0xFEE00000, 0
        elif remapped:
            # Intel: the remappable format carries the IRTE index in the address.
            address, data = 0xFEE00000 | (index << 5) | 0x18, 0
        else:
            address, data = 0xFEE00000 | ((index % kernel.host.cpu.cores) << 12), 0x4021 + index
        dev.device.write(msi.offset + 4, 4, address)
        dev.device.write(msi.offset + (0x0C if control & 0x80 else 0x08), 2, data)
    else:
        return
    dev.device.write(0x04, 2, dev.device.read(0x04, 2) | 0x400)
    dev.msi_irqs = list(range(kernel.next_msi_irq, kernel.next_msi_irq + vectors))
    kernel.next_msi_irq += vectors
    dev.irq = dev.msi_irqs[0]
