"""What QEMU's vfio-pci does to an assigned device (QEMU 8.1-9.2, as pve-qemu-kvm ships it).

Follows hw/vfio/pci.c (read in upstream 8.2.2, 9.0.0 and 9.2.4 and a RHEL 8.1.0 tree, whose
reset code is identical; Proxmox adds no vfio patches from 8.1.2 to 9.2.0):

- realize: open the device (the kernel's enable-time reset runs), take ``reset_works`` from
  VFIO_DEVICE_FLAGS_RESET, read config space once and derive ``has_flr`` (DevCap FLR or AF TP+FLR)
  and ``has_pm_reset`` (PMCSR No_Soft_Reset clear) from it; QEMU never reads ``reset_method``.
- system reset (VM start, guest reboot): ``vfio_reset_handler`` first (a multi-device hot reset,
  which does nothing for a device alone in its reset scope), then ``vfio_pci_reset`` per device:
  VFIO_DEVICE_RESET first only when ``reset_works && (has_flr || !has_pm_reset)``; otherwise its
  own hot reset (VFIO_DEVICE_PCI_HOT_RESET), then VFIO_DEVICE_RESET for the PM reset.
- "vfio: Cannot reset device %s, no available reset mechanism." is printed only when the hot
  reset info query fails and the device has no PM reset.
- exit: QEMU never unrealizes devices; the kernel closes the device file when the process ends.

Messages carry the program name ``kvm`` (qemu-server runs /usr/bin/kvm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fakesys.kernel import vfio
from fakesys.kernel.pcidev import PciDev
from fakesys.userspace.log import UserspaceLog
from harness.pci import regs
from harness.pci.config import ConfigSpace

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

PROGRAM = "kvm"


class QemuError(RuntimeError):
    """QEMU refused to start; the message is what it printed."""


@dataclass(eq=False)
class AssignedDevice:
    """One ``-device vfio-pci,host=...``: QEMU's VFIOPCIDevice."""

    dev: PciDev
    reset_works: bool
    has_flr: bool
    has_pm_reset: bool

    @property
    def name(self) -> str:
        return self.dev.name


class QemuProcess:
    def __init__(self, kernel: FakeKernel, log: UserspaceLog) -> None:
        self.kernel = kernel
        self.log = log
        self.devices: list[AssignedDevice] = []

    def error(self, text: str) -> None:
        self.log.emit(PROGRAM, text)

    def realize(self, dev: PciDev) -> AssignedDevice:
        """vfio_realize: group viability, open, device info, the config snapshot."""
        group = [member for member in self.kernel.present if member.iommu_group == dev.iommu_group]
        for member in group:
            if member.driver not in (None, "vfio-pci", "pcieport"):
                text = f"vfio {dev.name}: group {dev.iommu_group} is not viable"
                self.error(f"-device vfio-pci,host={dev.name}: {text}")
                self.error("Please ensure all devices within the iommu_group are bound to their vfio bus driver.")
                raise QemuError(text)
        if dev.driver != "vfio-pci":
            raise QemuError(f"vfio {dev.name}: no such host device (not bound to vfio-pci)")
        vdev = vfio.open_device(self.kernel, dev)
        vfio.map_bars(self.kernel, dev)
        snapshot = ConfigSpace(dev.device.read_block())
        express = snapshot.express()
        pm = snapshot.power_management()
        has_flr = (express is not None and express.flr) or snapshot.af_flr()
        has_pm_reset = pm is not None and not pm.no_soft_reset
        assigned = AssignedDevice(dev, vdev.reset_works, has_flr, has_pm_reset)
        self.devices.append(assigned)
        return assigned

    def _hot_reset_info(self, assigned: AssignedDevice) -> list[PciDev] | None:
        targets = vfio.hot_reset_targets(self.kernel, assigned.dev)
        if isinstance(targets, int):
            if not assigned.has_pm_reset:
                self.error(f"vfio: Cannot reset device {assigned.name}, no available reset mechanism.")
            return None
        return targets

    def _hot_reset(self, assigned: AssignedDevice, single: bool) -> int:
        """vfio_pci_hot_reset (8.x pci.c / 9.x container.c vfio_legacy_pci_hot_reset)."""
        targets = self._hot_reset_info(assigned)
        if targets is None:
            return -1
        mine = {device.dev for device in self.devices}
        multi = False
        for target in targets:
            if target is assigned.dev:
                continue
            if target not in mine:
                if not assigned.has_pm_reset:
                    group = target.iommu_group
                    self.error(
                        f"vfio: Cannot reset device {assigned.name}, depends on group {group} which is not owned."
                    )
                return -1
            if single:
                return -1
            multi = True
        if not single and not multi:
            return -1
        return vfio.ioctl_hot_reset(self.kernel, assigned.dev)

    def _pre_reset(self, assigned: AssignedDevice) -> None:
        """vfio_pci_pre_reset: bring the device to D0 through the config region."""
        dev = assigned.dev
        if not dev.pm_cap:
            return
        pmcsr = dev.device.read(dev.pm_cap + 4, 2)
        state = pmcsr & regs.PMCSR_STATE_MASK
        if state:
            dev.device.write(dev.pm_cap + 4, 2, pmcsr & ~regs.PMCSR_STATE_MASK)
            state = dev.device.read(dev.pm_cap + 4, 2) & regs.PMCSR_STATE_MASK
            if state:
                self.error(f"vfio: Unable to power on device, stuck in D{state}")

    def system_reset(self) -> None:
        """qemu_system_reset: the legacy vfio_reset_handler, then each device's reset."""
        for assigned in self.devices:
            if not assigned.reset_works or (not assigned.has_flr and assigned.has_pm_reset):
                self._pre_reset(assigned)
                self._hot_reset(assigned, single=False)
        for assigned in self.devices:
            self.reset_device(assigned)

    def reset_device(self, assigned: AssignedDevice) -> bool:
        """vfio_pci_reset; True when one of its resets worked."""
        self._pre_reset(assigned)
        kernel_first = assigned.reset_works and (assigned.has_flr or not assigned.has_pm_reset)
        if kernel_first and vfio.ioctl_reset(self.kernel, assigned.dev) == 0:
            return True
        if self._hot_reset(assigned, single=True) == 0:
            return True
        if assigned.reset_works and assigned.has_pm_reset:
            return vfio.ioctl_reset(self.kernel, assigned.dev) == 0
        return False

    def exit(self) -> None:
        """The process ends: the kernel closes every device file (vfio's release path)."""
        for assigned in self.devices:
            vfio.close_device(self.kernel, assigned.dev)
        self.devices = []
