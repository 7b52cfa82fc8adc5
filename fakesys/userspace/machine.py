"""A running host: the simulated kernel plus the userspace that acts on it.

:class:`Machine` is what scenario steps drive: sysfs writes as a shell would make them, Proxmox VM
starts and stops (qemu-server prepares the devices, QEMU realizes and resets them, QEMU's exit
releases them), waits, and host reboots. A VM that fails to start is a result, recorded in the
userspace log, not an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from fakesys import names
from fakesys.host.model import Host
from fakesys.kernel.kernel import FakeKernel
from fakesys.kernel.log import KernelLog
from fakesys.sysfs.render import render
from fakesys.sysfs.tree import Tree
from fakesys.userspace.log import UserspaceLog
from fakesys.userspace.proxmox import ProxmoxError, QemuServer
from fakesys.userspace.qemu import QemuError, QemuProcess
from fakesys.userspace.vmconfig import VmConfigError, functions_of, parse_vm_config

#: Time QEMU takes from exec to realizing its devices (command-line parsing, machine setup).
QEMU_STARTUP_MS = 450


class MachineError(ValueError):
    """A step that cannot be carried out (no such VM, VM not running...)."""


@dataclass
class VmRun:
    vmid: int
    qemu: QemuProcess
    devices: list[str]


class Machine:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.kernel = FakeKernel(host)
        self.userspace = UserspaceLog(self.kernel.clock)
        self.files: dict[str, str] = dict(host.files)
        self.vms: dict[int, VmRun] = {}
        self.previous_boots: list[KernelLog] = []

    def _qemu_server(self) -> QemuServer:
        return QemuServer(self.kernel, self.userspace, self.files)

    def write(self, path: str, value: str) -> int:
        """``echo -n VALUE > PATH`` as root: bytes written, or -errno (also logged as the
        shell's error)."""
        result = self.kernel.write(path, value)
        if result < 0:
            self.userspace.emit("sh", f"write error: {os.strerror(-result)} ({path})", destination="shell")
        return result

    def wait(self, seconds: float) -> None:
        self.kernel.clock.advance_ms(seconds * 1000)

    def vm_config(self, vmid: int) -> str:
        path = f"/etc/pve/qemu-server/{vmid}.conf"
        if path not in self.files:
            raise MachineError(f"VM {vmid} has no configuration ({path} is not in the host's files)")
        return self.files[path]

    def vm_start(self, vmid: int) -> bool:
        """``qm start VMID``: True when QEMU started (the guest runs), False when it failed."""
        if vmid in self.vms:
            raise MachineError(f"VM {vmid} is already running")
        try:
            config = parse_vm_config(vmid, self.vm_config(vmid))
        except VmConfigError as error:
            raise MachineError(f"VM {vmid}: {error}") from None
        known = [dev.bdf for dev in self.kernel.present]
        devices: list[str] = []
        qemu_server = self._qemu_server()
        qemu = QemuProcess(self.kernel, self.userspace)
        try:
            for entry in config.hostpci:
                if entry.pcie and not config.is_q35:
                    raise ProxmoxError("q35 machine model is not enabled")
                for address in entry.addresses:
                    found = functions_of(address, known)
                    if not found:
                        raise ProxmoxError(f"no PCI device found for '{address}'")
                    devices.extend(str(bdf) for bdf in found)
            qemu_server.reserve(devices, vmid)
            for device in devices:
                qemu_server.prepare_pci_device(device)
            self.kernel.clock.advance_ms(QEMU_STARTUP_MS)
            for device in devices:
                qemu.realize(self.kernel.device(device))
            qemu.system_reset()
        except (ProxmoxError, QemuError) as error:
            qemu.exit()
            qemu_server.cleanup(vmid)
            self.userspace.emit("qemu-server", f"start failed: {error}")
            return False
        self.vms[vmid] = VmRun(vmid, qemu, devices)
        return True

    def vm_reset(self, vmid: int) -> None:
        """``qm reset`` or a guest reboot: QEMU's system reset again, in the same process."""
        run = self._running(vmid)
        run.qemu.system_reset()

    def vm_stop(self, vmid: int) -> None:
        """``qm stop``: QEMU quits, the kernel releases its devices, qemu-server cleans up."""
        run = self._running(vmid)
        run.qemu.exit()
        self._qemu_server().cleanup(vmid)
        del self.vms[vmid]

    def _running(self, vmid: int) -> VmRun:
        if vmid not in self.vms:
            raise MachineError(f"VM {vmid} is not running")
        return self.vms[vmid]

    def host_reboot(self) -> None:
        """Power cycle: every device resets, the kernel boots again from the host description;
        runtime files in /run are gone, the previous boot's log is kept apart."""
        self.previous_boots.append(self.kernel.log)
        self.kernel = FakeKernel(self.host)
        self.userspace.clock = self.kernel.clock
        self.files = {path: text for path, text in self.files.items() if not path.startswith("/run/")}
        self.vms = {}


USERSPACE_LOG = "/" + names.USERSPACE_LOG


def render_machine(machine: Machine, root: str | Tree, unprivileged: bool = False) -> None:
    """Render the machine's kernel view plus what userspace wrote (reservations, its log)."""
    extra = dict(machine.files)
    extra[USERSPACE_LOG] = machine.userspace.text()
    render(machine.kernel, root, unprivileged, extra_files=extra)
