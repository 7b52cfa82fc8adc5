"""What Proxmox VE 8's qemu-server does to passed-through devices around a VM start and stop.

Follows qemu-server (stable-bookworm, 8.4.x) ``PVE::QemuServer::PCI`` ``reserve_pci_usage``,
``prepare_pci_device`` and ``cleanup_pci_devices``, and pve-common 8.2.7+ ``PVE::SysFSTools``
``pci_device_info`` (``has_fl_reset`` is "the ``reset`` file exists", read before rebinding),
``pci_dev_group_bind_to_vfio`` (every non-bridge device of the IOMMU group: ``new_id`` with
EEXIST tolerated, ``driver/unbind``, ``bind``), ``pci_dev_reset`` (write ``1`` to ``reset``)
and ``file_write`` (a failed write warns ``error writing '...' to '...': <strerror>``). At stop
only the reservations go; the devices stay bound to vfio-pci.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from fakesys import names
from fakesys.kernel.view import SysfsView
from fakesys.userspace.log import UserspaceLog

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

PROGRAM = "qemu-server"
RESERVATIONS = "/" + names.RESERVATIONS


class ProxmoxError(RuntimeError):
    """qemu-server died (the VM does not start); the message is what it printed."""


class QemuServer:
    def __init__(self, kernel: FakeKernel, log: UserspaceLog, files: dict[str, str]) -> None:
        self.kernel = kernel
        self.log = log
        self.files = files
        self.sysfs = SysfsView(kernel)

    # --- pve-common SysFSTools ----------------------------------------------------------------

    def file_write(self, path: str, value: str, allow_existing: bool = False) -> bool:
        result = self.kernel.write(path, value)
        if result >= 0:
            return True
        error = -result
        if allow_existing and error == 17:  # EEXIST
            return True
        self.log.emit(PROGRAM, f"error writing '{value}' to '{path}': {os.strerror(error)}")
        return False

    def pci_dev_bind_to_vfio(self, device: str) -> bool:
        vfio = "/sys/bus/pci/drivers/vfio-pci"
        if self.sysfs.exists(f"{vfio}/{device}"):
            return True
        vendor = (self.sysfs.read(f"/sys/bus/pci/devices/{device}/vendor") or "").strip().removeprefix("0x")
        product = (self.sysfs.read(f"/sys/bus/pci/devices/{device}/device") or "").strip().removeprefix("0x")
        if not self.file_write(f"{vfio}/new_id", f"{vendor} {product}", allow_existing=True):
            return False
        unbind = f"/sys/bus/pci/devices/{device}/driver/unbind"
        if not self.file_write(unbind, device) and self.sysfs.exists(unbind):
            return False
        if not self.sysfs.exists(f"{vfio}/{device}"):
            self.file_write(f"{vfio}/bind", device)
        return self.sysfs.exists(f"{vfio}/{device}")

    def pci_dev_group_bind_to_vfio(self, device: str) -> None:
        if not self.sysfs.exists("/sys/bus/pci/drivers/vfio-pci"):
            self.kernel.load_module("vfio_pci")
            if not self.sysfs.exists("/sys/bus/pci/drivers/vfio-pci"):
                raise ProxmoxError("Cannot find vfio-pci module!")
        members = self.sysfs.listdir(f"/sys/bus/pci/devices/{device}/iommu_group/devices")
        if not members:
            raise ProxmoxError("Cannot open iommu_group: No such file or directory")
        for member in members:
            if self.sysfs.exists(f"/sys/bus/pci/devices/{member}/pci_bus"):
                continue
            if not self.pci_dev_bind_to_vfio(member):
                raise ProxmoxError(f"Cannot bind {member} to vfio")

    # --- qemu-server PCI.pm -------------------------------------------------------------------

    def reserve(self, devices: list[str], vmid: int) -> None:
        """reserve_pci_usage: refuse devices another running VM holds."""
        lines = [line for line in self.files.get(RESERVATIONS, "").splitlines() if line.strip()]
        for line in lines:
            pci, owner, _ = line.split(" ", 2)
            if pci in devices and int(owner) != vmid:
                raise ProxmoxError(f"PCI device '{pci}' already in use by VMID '{owner}'")
        kept = [line for line in lines if line.split(" ", 1)[0] not in devices]
        stamp = self.kernel.clock.now_us // 1_000_000
        kept += [f"{pci} {vmid} time:{stamp + 125}" for pci in devices]
        self.files[RESERVATIONS] = "".join(line + "\n" for line in kept)

    def prepare_pci_device(self, device: str) -> None:
        """prepare_pci_device: check the IOMMU, bind the group, reset when ``reset`` exists."""
        has_reset_file = self.sysfs.exists(f"/sys/bus/pci/devices/{device}/reset")
        if not self.sysfs.listdir("/sys/class/iommu"):
            raise ProxmoxError("cannot prepare PCI pass-through, IOMMU not present")
        if not self.sysfs.exists(f"/sys/bus/pci/devices/{device}"):
            raise ProxmoxError(f"no pci device info for device '{device}'")
        self.pci_dev_group_bind_to_vfio(device)
        if has_reset_file and not self.file_write(f"/sys/bus/pci/devices/{device}/reset", "1"):
            self.log.emit(
                PROGRAM,
                f"failed to reset PCI device '{device}', but trying to continue as not all devices need a reset",
            )

    def cleanup(self, vmid: int) -> None:
        """cleanup_pci_devices -> remove_pci_reservation: drop every line of this VMID."""
        lines = self.files.get(RESERVATIONS, "").splitlines()
        kept = [line for line in lines if line.strip() and line.split(" ")[1] != str(vmid)]
        self.files[RESERVATIONS] = "".join(line + "\n" for line in kept)
