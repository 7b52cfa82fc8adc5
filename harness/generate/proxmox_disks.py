"""The storage fallback for Proxmox: give the VM the disks behind a controller instead of the
controller (``qm set <vmid> -scsiN /dev/disk/by-id/<name>``), for a controller the checker
refuses or one that carries the host's own disks.

The disks are named by ``/dev/disk/by-id`` (stable across reboots and controller changes) and
get ``serial=`` so the guest (TrueNAS, for instance) still identifies them by serial number.
Only by-id names udev could have written are used (:func:`harness.storage.disk_path`); the
serial is url-encoded as qemu-server's drive schema requires (``format => 'urlencoded'``, at
most 20 bytes), and a path with ``=`` is given as ``file=PATH`` so Proxmox's property-string
parser does not read it as a key.

A disk the VM already has (under any of its by-id names or its kernel name, on any bus:
``scsiN``, ``sataN``, ``virtioN``, ``ideN``) is not offered again, and new disks take the next
free ``scsiN``. stdout carries the ``qm set`` commands alone, one per line.
"""

from __future__ import annotations

import urllib.parse

from harness import paste
from harness.generate.output import GeneratedOutput
from harness.generate.plan import Plan
from harness.generate.vm import VmInfo
from harness.pci.address import Bdf
from harness.storage import disk_path, unusable_ids
from harness.sysfs import BlockDevice, HostView

#: qemu-server's drive schema: ``serial`` is url-encoded, at most 20 bytes before encoding;
#: pve-common's ``urlencoded`` format allows only these characters unencoded.
_SERIAL_LIMIT = 20
_URL_SAFE = "-_.!~*'()"
_BY_ID = "/dev/disk/by-id/"
LOST = (
    "Compared with passing the controller: the guest sees QEMU SCSI disks, not the drives. SMART data, "
    "drive temperature and the drive's own power management (spin-down) stay with the host, and the guest "
    "cannot hot-swap them."
)
SCSIBLOCK = (
    "With scsiblock=1 (added to each -scsiN value) QEMU passes SCSI commands through (scsi-block), so SMART and "
    "most drive commands reach the disk; qemu-server warns that it can lead to I/O errors when the host is "
    "short of memory or memory is fragmented."
)


def _serial(path: str) -> str | None:
    name = path.removeprefix(_BY_ID) if path.startswith(_BY_ID) else ""
    if not name.startswith(("ata-", "scsi-", "usb-", "nvme-")):
        return None
    serial = name.rsplit("_", 1)[-1]
    if not serial or len(serial.encode()) > _SERIAL_LIMIT:
        return None
    return urllib.parse.quote(serial, safe=_URL_SAFE)


def _configured_as(vm: VmInfo, disk: BlockDevice) -> str | None:
    """The VM's key that already uses ``disk`` (by any of its names), or None."""
    names = {f"{_BY_ID}{name}" for name in disk.by_id} | {f"/dev/{disk.name}"}
    return next((key for key, path in vm.disks.items() if path in names), None)


def disk_commands(view: HostView, controllers: list[Bdf], vm: VmInfo) -> GeneratedOutput:
    output = GeneratedOutput(
        "proxmox-disks",
        commands_on_stdout=True,
        stdout_about=f"qm set commands for VM {vm.vmid}, one per line (paste them on the Proxmox host, or pipe to sh):",
    )
    taken: set[int] = set()
    disks = [disk for controller in controllers for disk in view.whole_disks(controller)]
    if not disks:
        controllers_text = ", ".join(str(item) for item in controllers)
        output.notes.append(
            f"no disks are visible behind {controllers_text}: they appear only while the host driver owns the "
            "controller (bind it, then rerun)"
        )
        return output
    for disk in disks:
        configured = _configured_as(vm, disk)
        if configured is not None:
            output.notes.append(
                f"{paste.printable(disk.name)} is already {configured} of VM {vm.vmid} "
                f"({paste.printable(vm.disks[configured])}): not offered again"
            )
            continue
        output.notes += [
            f"ignored /dev/disk/by-id/{paste.printable(name)!r} of {paste.printable(disk.name)}: not a name udev writes"
            for name in unusable_ids(disk)
        ]
        target = disk_path(disk)
        if not target.startswith(_BY_ID):
            if not paste.is_disk_id(disk.name):
                output.notes.append(
                    f"left out the disk {paste.printable(disk.name)!r}: it has no usable /dev/disk/by-id name and its "
                    "kernel name is not a device name"
                )
                continue
            output.notes.append(
                f"{disk.name} has no usable /dev/disk/by-id name: {target} can name another disk after a reboot "
                "(ls -l /dev/disk/by-id shows its stable names)"
            )
        index = vm.free_index("scsi", taken, limit=31)
        taken.add(index)
        serial = _serial(target)
        value = ("file=" if "=" in target else "") + target + (f",serial={serial}" if serial else "")
        output.commands.append(
            (
                f"{paste.printable(disk.name)} to VM {vm.vmid} as scsi{index}",
                paste.command("qm", "set", vm.vmid, f"-scsi{index}", value),
            )
        )
    output.notes += [LOST, SCSIBLOCK]
    return output


def generate(plan: Plan) -> GeneratedOutput:
    controllers = [item.function.bdf for item in plan.functions if plan.view.whole_disks(item.function.bdf)]
    if not controllers:
        controllers = [item.function.bdf for item in plan.functions]
    output = disk_commands(plan.view, controllers, plan.vm)
    output.notes[:0] = [*plan.vm_notes, *plan.notes, *plan.forced_comment()]
    return output
