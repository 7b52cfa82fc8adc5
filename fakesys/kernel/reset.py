"""Reset methods: which ones a device has (probe), in the kernel's order.

Transcribes the probe half of ``pci_reset_fn_methods[]`` (drivers/pci/pci.c, 6.12.117 lines
5141-5150; 6.1.192 has no ``cxl_bus``): ``pci_dev_specific_reset`` (the ``pci_dev_reset_methods``
table of quirks.c), ``pci_dev_acpi_reset`` (an ACPI ``_RST`` method), ``pcie_reset_flr`` (DevCap
FLR cached at enumeration, unless quirked), ``pci_af_flr`` (AF capability with both TP and FLR),
``pci_pm_reset`` (PM capability, not quirked, PMCSR NoSoftRst clear, read live), and
``pci_reset_bus_function`` (a hotplug slot reset, else ``pci_parent_bus_reset``: not on a root
bus, not a bridge, an upstream bridge, not quirked, alone on its bus).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import KernelProfile
from harness.pci import regs

ENOTTY = 25
EINVAL = 22


@dataclass(frozen=True)
class DeviceSpecificReset:
    """An entry of quirks.c ``pci_dev_reset_methods[]``."""

    vendor: int
    device: int | None
    needs_flr: bool = False
    description: str = ""


# quirks.c pci_dev_reset_methods[] (6.12.117 lines 4131-4147).
DEVICE_SPECIFIC_RESETS = (
    DeviceSpecificReset(0x8086, 0x10ED, description="reset_intel_82599_sfp_virtfn"),
    DeviceSpecificReset(0x8086, 0x0156, description="reset_ivb_igd"),
    DeviceSpecificReset(0x8086, 0x0166, description="reset_ivb_igd"),
    DeviceSpecificReset(0x144D, 0xA804, needs_flr=True, description="nvme_disable_and_flr"),
    DeviceSpecificReset(0x8086, 0x0953, needs_flr=True, description="delay_250ms_after_flr"),
    DeviceSpecificReset(0x8086, 0x0A54, needs_flr=True, description="delay_250ms_after_flr"),
    DeviceSpecificReset(0x025E, 0xF1AC, needs_flr=True, description="delay_250ms_after_flr"),
    DeviceSpecificReset(0x1425, None, description="reset_chelsio_generic_dev"),
)


def probe_flr(dev: PciDev) -> int:
    if dev.no_flr_reset or not dev.devcap & regs.EXPRESS_DEVCAP_FLR:
        return -ENOTTY
    return 0


def probe_device_specific(dev: PciDev) -> int:
    for entry in DEVICE_SPECIFIC_RESETS:
        if entry.vendor != dev.vendor or (entry.device is not None and entry.device != dev.device_id):
            continue
        if entry.vendor == 0x1425 and dev.device_id & 0xF000 != 0x4000:
            return -ENOTTY
        if entry.needs_flr and (probe_flr(dev) or (entry.vendor == 0x144D and dev.class_code != 0x010802)):
            return -ENOTTY
        return 0
    return -ENOTTY


def probe_af_flr(dev: PciDev) -> int:
    space = dev.device.space()
    cap = space.find(regs.CAP_AF)
    if cap is None or dev.no_flr_reset:
        return -ENOTTY
    return 0 if space.af_flr() else -ENOTTY


def probe_pm(dev: PciDev) -> int:
    if not dev.pm_cap or dev.no_pm_reset:
        return -ENOTTY
    pmcsr = dev.device.read(dev.pm_cap + 4, 2)
    if pmcsr & regs.PMCSR_NO_SOFT_RESET:
        return -ENOTTY
    return 0


def has_hotplug_slot(dev: PciDev) -> bool:
    """The port above has a hotplug slot (pciehp): the kernel gives the device a slot."""
    parent = dev.parent
    if parent is None or not parent.pcie_cap or not parent.pcie_flags_slot:
        return False
    sltcap = parent.device.read(parent.pcie_cap + 0x14, 4)
    return bool(sltcap & 0x40)


def probe_slot_reset(dev: PciDev) -> int:
    """pci_dev_reset_slot_function (probe)."""
    if dev.is_bridge or not has_hotplug_slot(dev) or dev.no_bus_reset or dev.multifunction:
        return -ENOTTY
    return 0


def probe_parent_bus_reset(dev: PciDev) -> int:
    """pci_parent_bus_reset (probe)."""
    if dev.parent is None or dev.is_bridge or dev.no_bus_reset:
        return -ENOTTY
    siblings = [child for child in dev.parent.children if child.bdf.bus == dev.bdf.bus]
    if any(child is not dev for child in siblings):
        return -ENOTTY
    return 0


def probe_bus(dev: PciDev) -> int:
    """pci_reset_bus_function (probe): slot reset first, else the parent bus."""
    result = probe_slot_reset(dev)
    if result != -ENOTTY:
        return result
    return probe_parent_bus_reset(dev)


def probe_unsupported(dev: PciDev) -> int:
    """Methods vfiolab's hosts never offer: ACPI _RST, CXL bus reset."""
    return -ENOTTY


PROBES: dict[str, Callable[[PciDev], int]] = {
    "device_specific": probe_device_specific,
    "acpi": probe_unsupported,
    "flr": probe_flr,
    "af_flr": probe_af_flr,
    "pm": probe_pm,
    "bus": probe_bus,
    "cxl_bus": probe_unsupported,
}


def probe_method(dev: PciDev, name: str) -> int:
    return PROBES[name](dev)


def init_reset_methods(dev: PciDev, profile: KernelProfile) -> list[str]:
    """pci_init_reset_methods: every supported method, in priority order."""
    methods: list[str] = []
    for name in profile.reset_method_names:
        result = probe_method(dev, name)
        if result == 0:
            methods.append(name)
        elif result != -ENOTTY:
            break
    return methods
