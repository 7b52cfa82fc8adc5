"""vfio-pci in the simulated kernel: binding, open, the reset ioctls, close, runtime PM.

Transcribes drivers/vfio/pci/vfio_pci_core.c (6.1.192 / 6.12.117; 6.8 as 6.1):

- ``vfio_pci_core_register_device``: the device joins a dev_set (itself on a root bus, its slot
  when a slot reset is possible, else its whole bus), goes to D0, runtime PM is allowed and the
  idle device runtime-suspends to D3hot unless ``disable_idle_d3`` is set.
- ``vfio_pci_core_enable`` (first open): resume, enable, ``pci_try_reset_function``;
  ``reset_works`` records whether that worked (VFIO_DEVICE_FLAGS_RESET) and the healthy state is
  kept for the close.
- ``vfio_pci_ioctl_reset`` (VFIO_DEVICE_RESET) and ``vfio_pci_dev_set_hot_reset``
  (VFIO_DEVICE_PCI_HOT_RESET, ``pci_reset_bus``).
- ``vfio_pci_core_disable`` (last close): reload the open-time state, a function reset with the
  device locked (6.12 also trylocks the bridge), restore, then ``vfio_pci_dev_set_try_reset``
  (a bus reset when the set still needs one), then the final runtime-PM put, which tries D3hot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fakesys.kernel import power, vga
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.reset import (
    probe_slot_reset,
    reset_bus,
    reset_function_locked,
    try_reset_function,
)
from fakesys.kernel.savestate import restore_state, save_state

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

EAGAIN = 11
ENODEV = 19
EINVAL = 22
EBUSY = 16
ENOTTY = 25


@dataclass(eq=False)
class VfioDevice:
    """vfio_pci_core_device: per-device vfio-pci state."""

    dev: PciDev
    dev_set: str
    open_count: int = 0
    reset_works: bool = False
    needs_reset: bool = False
    saved: tuple[list[int], dict[int, int]] | None = None


@dataclass
class VfioState:
    devices: dict[PciDev, VfioDevice] = field(default_factory=dict)

    def dev_set(self, key: str) -> list[VfioDevice]:
        return [vdev for vdev in self.devices.values() if vdev.dev_set == key]


def _disable_idle_d3(kernel: FakeKernel) -> bool:
    return kernel.module_params.get("vfio_pci", {}).get("disable_idle_d3", "N") in ("Y", "1")


def _dev_set_key(dev: PciDev) -> str:
    """vfio_pci_core_register_device: per device on a root bus, per slot, else per bus."""
    if dev.parent is None:
        return f"device {dev.name}"
    if probe_slot_reset(dev) == 0:
        return f"slot {dev.parent.name}"
    return f"bus {dev.bdf.bus_name}"


def register(kernel: FakeKernel, dev: PciDev) -> int:
    """vfio_pci_probe -> vfio_pci_core_register_device (bridges are refused with -EINVAL)."""
    if dev.is_bridge:
        return -EINVAL
    kernel.vfio.devices[dev] = VfioDevice(dev, _dev_set_key(dev))
    power.set_power_state(kernel, dev, "D0")
    dev.runtime_allowed = True
    if not _disable_idle_d3(kernel):
        power.put(kernel, dev)
    return 0


def unregister(kernel: FakeKernel, dev: PciDev) -> None:
    """vfio_pci_core_unregister_device: forbid runtime PM (the remove path resumed the device)."""
    kernel.vfio.devices.pop(dev, None)
    if not _disable_idle_d3(kernel):
        dev.usage_count += 1  # pm_runtime_get_noresume, dropped by pci_device_remove


def open_device(kernel: FakeKernel, dev: PciDev) -> VfioDevice:
    """The first VFIO_GROUP_GET_DEVICE_FD: vfio_pci_core_enable."""
    kernel.clock.boundary()
    from fakesys.kernel.binding import enable_device, set_master

    vdev = kernel.vfio.devices[dev]
    vdev.open_count += 1
    if vdev.open_count > 1:
        return vdev
    if not _disable_idle_d3(kernel):
        power.get_sync(kernel, dev)
    set_master(dev, False)
    enable_device(kernel, dev)
    result = try_reset_function(kernel, dev)
    vdev.reset_works = result == 0
    save_state(kernel, dev)
    vdev.saved = (list(dev.saved_config), dict(dev.saved_capabilities))
    return vdev


def map_bars(kernel: FakeKernel, dev: PciDev) -> None:
    """QEMU mmaps each BAR region after opening the device; vfio_pci_core_mmap requests the BAR
    first (pci_request_selected_regions, drivers/vfio/pci/vfio_pci_core.c), which fails where the
    firmware framebuffer's region sits inside it (fakesys.kernel.vga.unreservable_bars)."""
    for message in vga.unreservable_bars(dev, kernel.host.framebuffer):
        kernel.dev_warn(dev, message)


def ioctl_reset(kernel: FakeKernel, dev: PciDev) -> int:
    """VFIO_DEVICE_RESET -> vfio_pci_ioctl_reset."""
    kernel.clock.boundary()
    vdev = kernel.vfio.devices[dev]
    if not vdev.reset_works:
        return -EINVAL
    power.set_power_state(kernel, dev, "D0")
    return try_reset_function(kernel, dev)


def hot_reset_targets(kernel: FakeKernel, dev: PciDev) -> list[PciDev] | int:
    """VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: the devices a hot reset would touch, or -ENODEV when
    neither a slot nor a bus reset is possible."""
    if probe_slot_reset(dev) != 0 and (dev.parent is None or _bus_reset_probe(dev)):
        return -ENODEV
    assert dev.parent is not None
    return [child for child in dev.parent.children if child.bdf.bus == dev.bdf.bus]


def _bus_reset_probe(dev: PciDev) -> int:
    """pci_probe_reset_bus: the bus has an upstream bridge and nothing on it is quirked."""
    assert dev.parent is not None
    on_bus = [child for child in dev.parent.children if child.bdf.bus == dev.bdf.bus]
    return -ENOTTY if any(child.no_bus_reset for child in on_bus) else 0


def _resettable(kernel: FakeKernel, vdev: VfioDevice) -> bool:
    """vfio_pci_dev_set_resettable: every device the reset touches belongs to the dev_set."""
    targets = hot_reset_targets(kernel, vdev.dev)
    if isinstance(targets, int):
        return False
    members = {member.dev for member in kernel.vfio.dev_set(vdev.dev_set)}
    return all(target in members for target in targets)


def ioctl_hot_reset(kernel: FakeKernel, dev: PciDev) -> int:
    """VFIO_DEVICE_PCI_HOT_RESET -> vfio_pci_dev_set_hot_reset -> pci_reset_bus."""
    kernel.clock.boundary()
    vdev = kernel.vfio.devices[dev]
    if isinstance(hot_reset_targets(kernel, dev), int):
        return -ENODEV
    if not _resettable(kernel, vdev):
        return -EINVAL
    members = kernel.vfio.dev_set(vdev.dev_set)
    for member in members:
        power.get_sync(kernel, member.dev)
    for member in members:
        power.set_power_state(kernel, member.dev, "D0")
    result = reset_bus(kernel, dev)
    for member in members:
        power.put(kernel, member.dev)
    return result


def close_device(kernel: FakeKernel, dev: PciDev) -> None:
    """The last close of the device fd: vfio_pci_core_disable, then the dev_set reset, then the
    runtime-PM put that lets the idle device suspend."""
    kernel.clock.boundary()
    from fakesys.kernel.binding import disable_device, set_master

    vdev = kernel.vfio.devices[dev]
    vdev.open_count -= 1
    if vdev.open_count > 0:
        return
    power.runtime_resume(kernel, dev)
    power.set_power_state(kernel, dev, "D0")
    set_master(dev, False)
    vdev.needs_reset = True
    reloaded = vdev.saved is not None
    if vdev.saved is not None:
        # pci_load_and_free_saved_state: the state stored at open becomes the saved state.
        dev.saved_config, dev.saved_capabilities = list(vdev.saved[0]), dict(vdev.saved[1])
        dev.state_saved = True
        vdev.saved = None
    else:
        kernel.dev_info(dev, "vfio_pci_core_disable: Couldn't reload saved state")
        if vdev.reset_works:
            save_state(kernel, dev)
    if reloaded or vdev.reset_works:
        dev.device.write(0x04, 2, 0x0400)
        # 6.12 trylocks the bridge as well (a 2025 stable change), so its bus reset is "locked".
        if (
            vdev.reset_works
            and reset_function_locked(kernel, dev, locked_bridge=kernel.profile.locks_bridge_on_reset) == 0
        ):
            vdev.needs_reset = False
        restore_state(kernel, dev)
    disable_device(kernel, dev)
    _dev_set_try_reset(kernel, vdev)
    if not _disable_idle_d3(kernel):
        power.put(kernel, dev)


def _dev_set_try_reset(kernel: FakeKernel, vdev: VfioDevice) -> None:
    """vfio_pci_dev_set_try_reset: a bus reset when nothing else in the set is open and some
    device still needs a reset."""
    members = kernel.vfio.dev_set(vdev.dev_set)
    # open_count is already decremented for the closing device: nothing else may be open.
    if sum(member.open_count for member in members) > 0 or not any(member.needs_reset for member in members):
        return
    if not _resettable(kernel, vdev):
        return
    disable_idle_d3 = _disable_idle_d3(kernel)
    if not disable_idle_d3:
        for member in members:
            power.get_sync(kernel, member.dev)
    done = reset_bus(kernel, vdev.dev) == 0
    for member in members:
        if done:
            member.needs_reset = False
        if not disable_idle_d3:
            power.put(kernel, member.dev)
