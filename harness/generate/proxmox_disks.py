"""The storage fallback for Proxmox: give the VM the disks behind a controller instead of the
controller (``qm set <vmid> -scsiN /dev/disk/by-id/<name>``), for a controller the checker
refuses or one that carries the host's own disks.

The disks are named by ``/dev/disk/by-id`` (stable across reboots and controller changes) and
get ``serial=`` so the guest (TrueNAS, for instance) still identifies them by serial number.
"""

from __future__ import annotations

from harness.generate.output import GeneratedOutput
from harness.generate.plan import Plan
from harness.generate.vm import VmInfo
from harness.pci.address import Bdf
from harness.sysfs import BlockDevice, HostView

#: Proxmox's serial= takes at most 20 characters (qemu-server drive schema).
_SERIAL_LIMIT = 20
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


def _serial(disk: BlockDevice) -> str | None:
    name = disk.preferred_id or ""
    if not name.startswith(("ata-", "scsi-", "usb-", "nvme-")):
        return None
    serial = name.rsplit("_", 1)[-1]
    return serial if serial and len(serial) <= _SERIAL_LIMIT and "," not in serial else None


def disk_commands(view: HostView, controllers: list[Bdf], vm: VmInfo) -> GeneratedOutput:
    output = GeneratedOutput("proxmox-disks")
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
        index = vm.free_index("scsi", taken, limit=31)
        taken.add(index)
        target = f"/dev/disk/by-id/{disk.preferred_id}" if disk.preferred_id else f"/dev/{disk.name}"
        serial = _serial(disk)
        value = target + (f",serial={serial}" if serial else "")
        output.commands.append(
            (f"{disk.name} to VM {vm.vmid} as scsi{index}", f"qm set {vm.vmid} -scsi{index} {value}")
        )
    output.notes += [LOST, SCSIBLOCK]
    return output


def generate(plan: Plan) -> GeneratedOutput:
    controllers = [item.function.bdf for item in plan.functions if plan.view.whole_disks(item.function.bdf)]
    if not controllers:
        controllers = [item.function.bdf for item in plan.functions]
    output = disk_commands(plan.view, controllers, plan.vm)
    output.notes[:0] = [*plan.notes, *plan.forced_comment()]
    return output
