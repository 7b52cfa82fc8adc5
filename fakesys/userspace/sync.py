"""Writes made by real processes to a rendered root, applied to the simulated kernel.

A rendered root is plain files, so ``echo vfio-pci > .../driver_override`` from a shell only
changes a file. :func:`pending_writes` finds such writes between two steps: a write-only control
file (rendered empty) that now has content, or a read-write one whose content differs from what
the kernel shows. :func:`apply_pending` hands them to the kernel as writes, in the order they
happened (file modification time; writes within the same clock tick in the order a user would
need them: unbind, IDs and overrides, bind and probe, reset, remove, rescan), and re-renders.

This was chosen over a FUSE mount (needs /dev/fuse and privileges CI machines do not grant) and
over watching the tree (racy): it is deterministic and works on any file system. The limit: only
the last value written to a file between two syncs is seen.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from fakesys.kernel.attributes import device_attributes
from fakesys.userspace.machine import Machine, render_machine

_PRIORITY = {
    "unbind": 0,
    "remove_id": 1,
    "new_id": 2,
    "driver_override": 3,
    "reset_method": 4,
    "d3cold_allowed": 4,
    "power/control": 4,
    "parameters": 4,
    "bind": 5,
    "drivers_probe": 6,
    "reset": 7,
    "remove": 8,
    "rescan": 9,
}
_DEVICE_FILES = ("driver_override", "reset_method", "d3cold_allowed", "power/control", "reset", "remove", "rescan")
JOURNAL = ".vfiolab-writes"


@dataclass(frozen=True)
class PendingWrite:
    path: str  # as the kernel names it, /sys/...
    value: str
    mtime_ns: int
    priority: int


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _candidate(root: Path, relative: str, kernel_path: str, shown: str | None, key: str) -> PendingWrite | None:
    file = root / relative
    content = _read(file)
    if content is None or content == (shown if shown is not None else ""):
        return None
    return PendingWrite(kernel_path, content, file.stat().st_mtime_ns, _PRIORITY[key])


def pending_writes(machine: Machine, root: Path) -> list[PendingWrite]:
    """Control files whose content a process changed since the last render, oldest first."""
    from fakesys.sysfs.render import device_path

    kernel = machine.kernel
    found: list[PendingWrite] = []
    for dev in kernel.present:
        shown = device_attributes(dev, kernel.profile, kernel.host.cpu.cores)
        base = device_path(dev)
        for name in _DEVICE_FILES:
            attribute = shown.get(name)
            if attribute is None:
                continue
            text = attribute.content.decode()
            write_only = attribute.mode & 0o444 == 0
            candidate = _candidate(
                root, f"{base}/{name}", f"/sys/bus/pci/devices/{dev.name}/{name}", "" if write_only else text, name
            )
            if candidate is not None:
                found.append(candidate)
    for driver in kernel.registered_drivers():
        for name in ("bind", "unbind", "new_id", "remove_id"):
            candidate = _candidate(
                root, f"sys/bus/pci/drivers/{driver}/{name}", f"/sys/bus/pci/drivers/{driver}/{name}", "", name
            )
            if candidate is not None:
                found.append(candidate)
    for name in ("drivers_probe", "rescan"):
        candidate = _candidate(root, f"sys/bus/pci/{name}", f"/sys/bus/pci/{name}", "", name)
        if candidate is not None:
            found.append(candidate)
    for module, params in kernel.module_params.items():
        for param, value in params.items():
            candidate = _candidate(
                root,
                f"sys/module/{module}/parameters/{param}",
                f"/sys/module/{module}/parameters/{param}",
                f"{value}\n",
                "parameters",
            )
            if candidate is not None:
                found.append(candidate)
    return sorted(found, key=lambda write: (write.mtime_ns, write.priority, write.path))


def rerender(machine: Machine, root: Path) -> None:
    """Replace a vfiolab-rendered root with the machine's current view."""
    from fakesys.sysfs.tree import MARKER

    if not (root / MARKER).exists():
        raise FileNotFoundError(f"{root} is not a root rendered by vfiolab")
    for entry in os.listdir(root):
        target = root / entry
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    render_machine(machine, str(root))


def apply_pending(machine: Machine, root: Path) -> list[tuple[PendingWrite, int]]:
    """Apply every pending write (with its result: bytes written or -errno) and re-render."""
    results = [(write, machine.write(write.path, write.value)) for write in pending_writes(machine, root)]
    rerender(machine, root)
    return results


def read_journal(root: Path) -> list[PendingWrite]:
    """Writes applied by earlier syncs of this root, so a new process can rebuild the state."""
    path = root / JOURNAL
    if not path.exists():
        return []
    return [PendingWrite(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def sync_root(machine: Machine, root: Path) -> list[tuple[PendingWrite, int]]:
    """Replay the root's journal on ``machine`` (freshly booted and stepped), apply the new
    pending writes, re-render and extend the journal."""
    journal = read_journal(root)
    for write in journal:
        machine.write(write.path, write.value)
    results = apply_pending(machine, root)
    entries = [*journal, *(write for write, _ in results)]
    (root / JOURNAL).write_text("".join(json.dumps(asdict(entry)) + "\n" for entry in entries))
    return results
