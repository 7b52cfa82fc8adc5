"""Writes made by real processes to a rendered root, applied to the simulated kernel.

A rendered root is plain files, so ``echo vfio-pci > .../driver_override`` from a shell only
changes a file. :func:`pending_writes` finds such writes between two steps: a write-only control
file (rendered empty) that now has content, or a read-write one whose content differs from what
the kernel shows. :func:`apply_pending` hands them to the kernel as writes, in the order they
happened (file modification time; writes within the same clock tick in the order a user would
need them: unbind, IDs and overrides, bind and probe, reset, remove, rescan), and re-renders.

This was chosen over a FUSE mount (needs /dev/fuse and privileges CI machines do not grant) and
over watching the tree (racy): it is deterministic and works on any file system. The limits: only
the last value written to a file between two syncs is seen, and a write made while a sync runs
may land in the tree being replaced and be missed.

Control files are read back through :class:`~fakesys.sysfs.rootdir.ConfinedReader`: a symlink
planted in the tree is not followed, only regular files are read, at most a page each (a sysfs
store never receives more). The journal (``.vfiolab-writes``, :class:`Journal`) records what the
root was rendered from (:class:`RenderRecord`: scenario name and file hash, whether its steps
ran) and every write applied so far, one JSON object a line. It is written atomically before the
root is re-rendered, and a sync refuses a root rendered from another scenario. A damaged journal
is a :class:`~fakesys.errors.JournalError` naming its line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fakesys import names
from fakesys.errors import JournalError, SourceError
from fakesys.kernel.attributes import device_attributes
from fakesys.source import read_text_file
from fakesys.sysfs.rootdir import ConfinedReader, is_rendered_root, publish, write_atomically
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
JOURNAL = names.JOURNAL
JOURNAL_FORMAT = "vfiolab fakesys journal"
JOURNAL_VERSION = 1
#: Largest journal read back (each applied write is one short line).
MAX_JOURNAL_BYTES = 16 * 1024 * 1024
#: Bytes of a control file read as one write: sysfs hands a store at most a page.
WRITE_LIMIT = 4096


@dataclass(frozen=True)
class PendingWrite:
    path: str  # as the kernel names it, /sys/...
    value: str
    mtime_ns: int
    priority: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.path, self.value, self.mtime_ns)


@dataclass(frozen=True)
class RenderRecord:
    """What a rendered root was made from: which scenario (name and SHA-256 of its file),
    whether its steps were applied (``fakesys run``) or not (``fakesys render``), and whether the
    unprivileged view was written."""

    scenario: str
    sha256: str
    steps: bool
    unprivileged: bool = False

    @classmethod
    def of(cls, name: str, path: Path | str, steps: bool, unprivileged: bool = False) -> RenderRecord:
        # Imported here: hashlib loads OpenSSL, which only writing a render record needs.
        import hashlib

        digest = hashlib.sha256(read_text_file(path).encode("utf-8")).hexdigest()
        return cls(name, digest, steps, unprivileged)

    def refuse_other(self, other: RenderRecord, root: Path) -> None:
        """Raise a :class:`JournalError` unless ``other`` names the same scenario file."""
        where = str(root / JOURNAL)
        if other.scenario != self.scenario:
            raise JournalError(
                where,
                1,
                f"{root} was rendered from scenario {self.scenario}, not {other.scenario}; "
                f"sync it with {self.scenario}, or render {other.scenario} into another directory",
            )
        if other.sha256 != self.sha256:
            raise JournalError(
                where,
                1,
                f"scenario {self.scenario} changed since {root} was rendered from it; render it again (--force)",
            )


@dataclass
class Journal:
    """A rendered root's record and the writes syncs applied to it, oldest first."""

    record: RenderRecord | None = None
    writes: list[PendingWrite] = field(default_factory=list)

    def text(self) -> str:
        lines = []
        if self.record is not None:
            header = {"format": JOURNAL_FORMAT, "version": JOURNAL_VERSION, **asdict(self.record)}
            lines.append(json.dumps(header))
        lines += [json.dumps(asdict(write)) for write in self.writes]
        return "".join(line + "\n" for line in lines)


def _read(reader: ConfinedReader, relative: str) -> tuple[str, int] | None:
    found = reader.read(relative)
    if found is None:
        return None
    content, mtime_ns = found
    return content.decode(errors="replace"), mtime_ns


def _candidate(
    reader: ConfinedReader, relative: str, kernel_path: str, shown: str | None, key: str
) -> PendingWrite | None:
    found = _read(reader, relative)
    if found is None:
        return None
    content, mtime_ns = found
    if content == (shown if shown is not None else ""):
        return None
    return PendingWrite(kernel_path, content, mtime_ns, _PRIORITY[key])


def pending_writes(machine: Machine, root: Path) -> list[PendingWrite]:
    """Control files whose content a process changed since the last render, oldest first."""
    with ConfinedReader(root, WRITE_LIMIT) as reader:
        return _pending_writes(machine, reader)


def _pending_writes(machine: Machine, reader: ConfinedReader) -> list[PendingWrite]:
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
                reader, f"{base}/{name}", f"/sys/bus/pci/devices/{dev.name}/{name}", "" if write_only else text, name
            )
            if candidate is not None:
                found.append(candidate)
    for driver in kernel.registered_drivers():
        for name in ("bind", "unbind", "new_id", "remove_id"):
            candidate = _candidate(
                reader, f"sys/bus/pci/drivers/{driver}/{name}", f"/sys/bus/pci/drivers/{driver}/{name}", "", name
            )
            if candidate is not None:
                found.append(candidate)
    for name in ("drivers_probe", "rescan"):
        candidate = _candidate(reader, f"sys/bus/pci/{name}", f"/sys/bus/pci/{name}", "", name)
        if candidate is not None:
            found.append(candidate)
    for module, params in kernel.module_params.items():
        for param, value in params.items():
            candidate = _candidate(
                reader,
                f"sys/module/{module}/parameters/{param}",
                f"/sys/module/{module}/parameters/{param}",
                f"{value}\n",
                "parameters",
            )
            if candidate is not None:
                found.append(candidate)
    return sorted(found, key=lambda write: (write.mtime_ns, write.priority, write.path))


def _require_rendered_root(root: Path) -> None:
    if not is_rendered_root(root):
        raise SourceError(
            str(root), 0, f"not a root rendered by vfiolab (no {names.MARKER}); render one with vfiolab fakesys render"
        )


def rerender(machine: Machine, root: Path, journal: str | None = None, unprivileged: bool = False) -> list[Path]:
    """Replace a vfiolab-rendered root with the machine's current view, atomically
    (:func:`~fakesys.sysfs.rootdir.publish`); the journal goes into the new tree (``journal``,
    or the old tree's). Returns leftovers that could not be removed."""
    _require_rendered_root(root)
    if journal is None:
        with ConfinedReader(root, MAX_JOURNAL_BYTES) as reader:
            found = reader.read(JOURNAL)
        kept = found[0] if found is not None else None
    else:
        kept = journal.encode("utf-8")

    def build(path: str) -> None:
        render_machine(machine, path, unprivileged)
        if kept is not None:
            (Path(path) / JOURNAL).write_bytes(kept)

    return publish(root, build, replace=True)


def apply_pending(machine: Machine, root: Path) -> list[tuple[PendingWrite, int]]:
    """Apply every pending write (with its result: bytes written or -errno) and re-render."""
    _require_rendered_root(root)
    results = [(write, machine.write(write.path, write.value)) for write in pending_writes(machine, root)]
    rerender(machine, root)
    return results


def _journal_entry(item: Any, where: str, line: int) -> PendingWrite:
    fields = {"path": str, "value": str, "mtime_ns": int, "priority": int}
    if not isinstance(item, dict) or set(item) != set(fields):
        raise JournalError(where, line, f"expected a write with {', '.join(fields)}; the journal is damaged")
    for key, kind in fields.items():
        if type(item[key]) is not kind:
            raise JournalError(where, line, f"{key}: expected {kind.__name__}; the journal is damaged")
    if not item["path"].startswith("/sys/"):
        raise JournalError(where, line, f"path: expected a /sys path, got {item['path'][:60]!r}")
    return PendingWrite(item["path"], item["value"], item["mtime_ns"], item["priority"])


def _journal_record(item: Any, where: str) -> RenderRecord:
    fields = {"format": str, "version": int, "scenario": str, "sha256": str, "steps": bool, "unprivileged": bool}
    if not isinstance(item, dict) or item.get("format") != JOURNAL_FORMAT:
        raise JournalError(where, 1, f"not a vfiolab journal (no {JOURNAL_FORMAT!r} header); render the root again")
    if item.get("version") != JOURNAL_VERSION or set(item) != set(fields):
        raise JournalError(where, 1, f"journal version {item.get('version')!r} is not {JOURNAL_VERSION}")
    for key, kind in fields.items():
        if type(item[key]) is not kind:
            raise JournalError(where, 1, f"{key}: expected {kind.__name__}; the journal is damaged")
    return RenderRecord(item["scenario"], item["sha256"], item["steps"], item["unprivileged"])


def read_journal(root: Path) -> Journal:
    """The record and writes of earlier syncs of this root, so a new process can rebuild the
    state; an empty journal when there is none."""
    _require_rendered_root(root)
    where = str(root / JOURNAL)
    with ConfinedReader(root, MAX_JOURNAL_BYTES + 1) as reader:
        found = reader.read(JOURNAL)
    if found is None:
        if os.path.lexists(root / JOURNAL):
            # A symlink, FIFO or directory: reading it as "no journal" would forget earlier
            # writes, and replacing it would hide that something was planted in the root.
            raise JournalError(where, 0, "not a regular file; the journal is damaged; render the root again")
        return Journal()
    content = found[0]
    if len(content) > MAX_JOURNAL_BYTES:
        raise JournalError(where, 0, f"larger than {MAX_JOURNAL_BYTES} bytes; not read")
    journal = Journal()
    for number, raw in enumerate(content.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[... nested
            raise JournalError(where, number, "not a JSON line; the journal is damaged") from None
        if number == 1:
            journal.record = _journal_record(item, where)
        else:
            journal.writes.append(_journal_entry(item, where, number))
    if journal.record is None:
        raise JournalError(where, 1, "no header line; the journal is damaged")
    return journal


def start_journal(root: Path | str, record: RenderRecord) -> None:
    """Record what a root being rendered is made from (``fakesys render`` and ``run``, the
    scenario runner's kept roots); written into the fresh tree before it is published."""
    (Path(root) / JOURNAL).write_text(Journal(record).text(), encoding="utf-8")


def sync_root(machine: Machine, root: Path, record: RenderRecord) -> list[tuple[PendingWrite, int]]:
    """Replay the root's journal on ``machine`` (freshly booted, and stepped when the root's
    record says so), apply the new pending writes, write the journal atomically, then re-render.

    ``record`` (what the caller rebuilt the machine from) must match the journal's record; a
    root without a journal gets ``record``. A write already in the journal (same file, value and
    time: a sync killed after its journal was written) is not applied twice."""
    journal = read_journal(root)
    if journal.record is not None:
        journal.record.refuse_other(record, root)
    for write in journal.writes:
        machine.write(write.path, write.value)
    done = {write.key for write in journal.writes}
    new = [write for write in pending_writes(machine, root) if write.key not in done]
    results = [(write, machine.write(write.path, write.value)) for write in new]
    updated = Journal(journal.record or record, [*journal.writes, *new])
    text = updated.text()
    write_atomically(root / JOURNAL, text)
    rerender(machine, root, text, updated.record.unprivileged if updated.record else False)
    return results
