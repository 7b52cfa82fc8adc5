"""Reset methods: which ones a device has (probe), in the kernel's order, and doing them.

Transcribes the probe half of ``pci_reset_fn_methods[]`` (drivers/pci/pci.c, 6.12.117 lines
5141-5150; 6.1.192 has no ``cxl_bus``): ``pci_dev_specific_reset`` (the ``pci_dev_reset_methods``
table of quirks.c), ``pci_dev_acpi_reset`` (an ACPI ``_RST`` method), ``pcie_reset_flr`` (DevCap
FLR cached at enumeration, unless quirked), ``pci_af_flr`` (AF capability with both TP and FLR),
``pci_pm_reset`` (PM capability, not quirked, PMCSR NoSoftRst clear, read live), and
``pci_reset_bus_function`` (a hotplug slot reset, else ``pci_parent_bus_reset``: not on a root
bus, not a bridge, an upstream bridge, not quirked, alone on its bus). The second half performs
resets as ``pci_reset_function``, ``pci_try_reset_function`` and ``pci_reset_bus`` do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fakesys.kernel import power, timing
from fakesys.kernel.link import PCIE_RESET_READY_POLL_MS, bridge_secondary_bus_reset, dev_wait
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import KernelProfile
from fakesys.kernel.savestate import restore_state, save_state
from harness.pci import regs

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

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
    if dev.reset_hook is not None:
        # A module's ftrace hook answers pci_dev_specific_reset (fakesys.kernel.vga).
        return 0
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


# --- Doing resets (the PCI_RESET_DO_RESET half) ----------------------------------------------

DO_RESET_ERRORS = {ENOTTY: "ENOTTY", EINVAL: "EINVAL"}


def _do_flr(kernel: FakeKernel, dev: PciDev) -> int:
    """pcie_reset_flr -> pcie_flr."""
    if probe_flr(dev):
        return -ENOTTY
    for attempt in range(4):  # pci_wait_for_pending: 0, 100, 200, 400 ms
        if attempt:
            timing.msleep(kernel, (1 << (attempt - 1)) * 100)
        if not dev.device.read(dev.pcie_cap + 0x0A, 2) & 0x20:  # DevSta Transactions Pending
            break
    else:
        kernel.dev_err(dev, "timed out waiting for pending transaction; performing function level reset anyway")
    devctl = dev.device.read(dev.pcie_cap + 0x08, 2)
    dev.device.write(dev.pcie_cap + 0x08, 2, devctl | 0x8000)
    if dev.imm_ready:
        return 0
    timing.msleep(kernel, 100)
    return dev_wait(kernel, dev, "FLR", PCIE_RESET_READY_POLL_MS)


def _do_af_flr(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_af_flr."""
    if probe_af_flr(dev):
        return -ENOTTY
    cap = dev.device.model.space.find(regs.CAP_AF)
    assert cap is not None
    dev.device.write(cap.offset + 4, 1, 0x01)
    if dev.imm_ready:
        return 0
    timing.msleep(kernel, 100)
    return dev_wait(kernel, dev, "AF_FLR", PCIE_RESET_READY_POLL_MS)


def _do_pm(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_pm_reset: the No_Soft_Reset test comes before the D0 test, so a dead device (PMCSR
    all-ones) falls through to the next method while a device outside D0 stops the chain."""
    if probe_pm(dev):
        return -ENOTTY
    if dev.current_state != "D0":
        return -EINVAL
    pmcsr = dev.device.read(dev.pm_cap + 4, 2) & ~regs.PMCSR_STATE_MASK
    dev.device.write(dev.pm_cap + 4, 2, pmcsr | 3)
    power.d3_sleep(kernel, dev)
    dev.device.write(dev.pm_cap + 4, 2, pmcsr)
    power.d3_sleep(kernel, dev)
    return dev_wait(kernel, dev, "PM D3hot->D0", PCIE_RESET_READY_POLL_MS)


def _do_bus(kernel: FakeKernel, dev: PciDev, locked_bridge: bool) -> int:
    """pci_reset_bus_function: a hotplug slot reset, else pci_parent_bus_reset."""
    if probe_slot_reset(dev) == 0 or probe_parent_bus_reset(dev) == 0:
        assert dev.parent is not None
        caller = kernel.profile.function_reset_return_address
        return bridge_secondary_bus_reset(kernel, dev.parent, locked_bridge, caller)
    return -ENOTTY


def reset_function_locked(kernel: FakeKernel, dev: PciDev, locked_bridge: bool = False) -> int:
    """__pci_reset_function_locked: the methods in order; any error other than -ENOTTY stops."""
    for name in dev.reset_methods:
        if name == "flr":
            result = _do_flr(kernel, dev)
        elif name == "af_flr":
            result = _do_af_flr(kernel, dev)
        elif name == "pm":
            result = _do_pm(kernel, dev)
        elif name == "bus":
            result = _do_bus(kernel, dev, locked_bridge)
        else:
            result = -ENOTTY if probe_method(dev, name) else 0
        if result == 0:
            return 0
        if result != -ENOTTY:
            return result
    return -ENOTTY


def save_and_disable(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_dev_save_and_disable."""
    power.set_power_state(kernel, dev, "D0")
    if kernel.profile.config_accessible_check and dev.device.read(0x04, 4) == 0xFFFFFFFF:
        kernel.dev_warn(dev, "Device config space inaccessible; unable to save state")
        return
    save_state(kernel, dev)
    dev.device.write(0x04, 2, 0x0400)


def _saved_reset(kernel: FakeKernel, dev: PciDev, locked_bridge: bool) -> int:
    if not dev.reset_methods:
        return -ENOTTY
    save_and_disable(kernel, dev)
    result = reset_function_locked(kernel, dev, locked_bridge)
    restore_state(kernel, dev)
    return result


def reset_function(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_reset_function (the sysfs ``reset`` file's path); some kernels also lock the bridge."""
    return _saved_reset(kernel, dev, kernel.profile.locks_bridge_on_reset)


def try_reset_function(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_try_reset_function (vfio-pci open, VFIO_DEVICE_RESET): no bridge lock."""
    return _saved_reset(kernel, dev, locked_bridge=False)


def bus_resettable(bus_devices: list[PciDev]) -> bool:
    """pci_bus_resettable: no device on the bus (or below) carries NO_BUS_RESET."""
    return not any(dev.no_bus_reset for dev in bus_devices)


def reset_bus(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_reset_bus -> __pci_reset_bus: save and disable every device on the bus, reset it
    through the bridge (locked), restore."""
    bridge = dev.parent
    if bridge is None:
        return -ENOTTY
    on_bus = [child for child in bridge.children if child.bdf.bus == dev.bdf.bus]
    if not bus_resettable(on_bus):
        return -ENOTTY
    for child in on_bus:
        save_and_disable(kernel, child)
    result = bridge_secondary_bus_reset(kernel, bridge, True, "__pci_reset_bus")
    for child in on_bus:
        restore_state(kernel, child)
    return result
