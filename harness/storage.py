"""Which disks behind a controller the host is using: block devices followed through partitions,
device-mapper and md holders to mounts and swap, and ZFS membership from the udev database.

Read-only questions over a :class:`~harness.sysfs.HostView`; the host-use check judges them and
the option-ROM reader refuses to touch controllers whose disks are mounted. :func:`disk_path`
names a disk for a VM configuration the way fixes and the generator print it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from harness import paste
from harness.findings import Evidence, Severity
from harness.pci.address import Bdf
from harness.sysfs import BlockDevice, HostView

_BOOT_TARGETS = ("/boot", "/boot/efi", "/efi")


@dataclass
class DiskUse:
    disk: BlockDevice
    #: (what, severity, text): one line per use found.
    uses: list[tuple[str, Severity, str]] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def _resolve_source(view: HostView, source: str) -> str | None:
    """The block device name behind a mount or swap source (/dev/sda1, /dev/mapper/x, by-uuid)."""
    if not source.startswith("/dev/"):
        return None
    if source.startswith("/dev/mapper/"):
        wanted = source[len("/dev/mapper/") :]
        for block in view.blocks.values():
            if block.dm_name == wanted:
                return block.name
        return None
    # /dev/disk/by-uuid/... and friends are links to ../../sda1 (read inside the root).
    target = view.readlink_name(source.lstrip("/"))
    if target:
        return target
    return os.path.basename(source)


def _holders_closure(view: HostView, names: set[str]) -> set[str]:
    """``names`` plus every dm/md device stacked on them, transitively."""
    found = set(names)
    changed = True
    while changed:
        changed = False
        for block in view.blocks.values():
            if block.name not in found and set(block.slaves) & found:
                found.add(block.name)
                changed = True
    return found


def disk_uses(view: HostView, disk: BlockDevice) -> DiskUse:
    use = DiskUse(disk)
    closure = _holders_closure(view, {disk.name, *disk.partitions})
    stacked = sorted(closure - {disk.name, *disk.partitions})
    for mount in view.mounts:
        name = _resolve_source(view, mount.source)
        if name is None or name not in closure:
            continue
        use.evidence.append(Evidence(view.show("proc/mounts"), f"{mount.source} {mount.target} {mount.fstype}"))
        if mount.target == "/":
            use.uses.append(("root", Severity.FAIL, f"the host's root filesystem ({mount.source} on /)"))
        elif mount.target in _BOOT_TARGETS:
            use.uses.append(("boot", Severity.FAIL, f"the host's boot filesystem ({mount.source} on {mount.target})"))
        else:
            use.uses.append(("mounted", Severity.FAIL, f"a mounted filesystem ({mount.source} on {mount.target})"))
    for source in view.swaps:
        name = _resolve_source(view, source)
        if name is not None and name in closure:
            use.evidence.append(Evidence(view.show("proc/swaps"), source))
            use.uses.append(("swap", Severity.FAIL, f"active swap ({source})"))
    for name in stacked:
        if name.startswith("md"):
            use.evidence.append(
                Evidence(view.show(f"sys/class/block/{name}/slaves"), " ".join(view.blocks[name].slaves))
            )
            use.uses.append(("md", Severity.FAIL, f"a member of the md array {name}"))
    mounted_or_swap = {kind for kind, _, _ in use.uses}
    unmounted_dm = [name for name in stacked if name.startswith("dm-")]
    if unmounted_dm and not mounted_or_swap:
        labels = ", ".join(view.blocks[name].dm_name or name for name in unmounted_dm)
        use.evidence.append(
            Evidence(
                view.show(f"sys/class/block/{unmounted_dm[0]}/slaves"), " ".join(view.blocks[unmounted_dm[0]].slaves)
            )
        )
        use.uses.append(("device-mapper", Severity.WARN, f"active device-mapper volumes ({labels})"))
    for name in sorted({disk.name, *disk.partitions}):
        block = view.blocks.get(name)
        if block is None or block.fs_type != "zfs_member":
            continue
        pool = block.fs_label or "?"
        imported = view.exists(f"proc/spl/kstat/zfs/{pool}")
        use.evidence.append(Evidence(view.show(f"run/udev/data ({name})"), f"ID_FS_TYPE=zfs_member ID_FS_LABEL={pool}"))
        if imported:
            use.evidence.append(Evidence(view.show(f"proc/spl/kstat/zfs/{pool}"), "exists: the pool is imported"))
            use.uses.append(("zfs", Severity.FAIL, f"a member of the ZFS pool '{pool}', imported on the host"))
        else:
            use.uses.append(("zfs", Severity.INFO, f"a member of the ZFS pool '{pool}', not imported on the host"))
    return use


def controller_in_use(view: HostView, controller: Bdf) -> list[str]:
    """What mounted or swapped-on storage sits behind ``controller`` (empty: nothing)."""
    found = []
    for disk in view.whole_disks(controller):
        found += [
            f"{disk.name}: {text}" for _, severity, text in disk_uses(view, disk).uses if severity is Severity.FAIL
        ]
    return found


def disk_path(disk: BlockDevice) -> str:
    """The path to give a VM for ``disk``: ``/dev/disk/by-id/<name>`` for its preferred by-id
    name among those udev could have written (:func:`harness.paste.is_disk_id`; others come from
    a corrupt or hostile root and are never printed as a path), else ``/dev/<kernel name>``."""
    usable = dataclasses.replace(disk, by_id=[name for name in disk.by_id if paste.is_disk_id(name)])
    chosen = usable.preferred_id
    return f"/dev/disk/by-id/{chosen}" if chosen else f"/dev/{disk.name}"


def unusable_ids(disk: BlockDevice) -> list[str]:
    """The disk's by-id names that :func:`disk_path` will not use."""
    return [name for name in disk.by_id if not paste.is_disk_id(name)]
