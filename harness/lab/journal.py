"""The restore journal: what a lab run must undo, on disk before each change.

Before the lab changes a device's binding it records the device's original driver and
``driver_override`` in a JSON file (written to a temporary file, fsynced, renamed), so that a run
killed at any point, even by SIGKILL, leaves enough to put the host back: ``vfiolab lab
restore`` replays it. An entry leaves the journal only once its binding is back; what could not
be restored stays in it and is reported. The journal is locked (``flock``) while a run or a
restore uses it: a second lab process on the same journal gets :class:`~harness.errors.BusyError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import BusyError, InputError, OutputError
from harness.lab.kernel import LabKernel, device_file, driver_file, driver_name
from harness.outputs import write_atomically
from harness.pci.address import Bdf

FORMAT = "vfiolab-lab-restore"
VERSION = 1
_MAX_BYTES = 1024 * 1024
DEFAULT_JOURNAL = "/run/vfiolab/lab-restore.json"


@dataclass(frozen=True)
class Change:
    """A device whose binding the lab changed: what it was before."""

    address: str
    driver: str | None
    driver_override: str | None


@dataclass(frozen=True)
class RestoreResult:
    address: str
    restored: bool
    detail: str


class RestoreJournal:
    """The journal file ``path`` (its directory is created when missing)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.changes: list[Change] = []
        self._lock: int | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[RestoreJournal]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise OutputError(f"restore journal {self.path}: cannot create: {error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise BusyError(f"restore journal {self.path}: another vfiolab lab process holds it") from None
            raise OutputError(f"restore journal {self.path}: cannot lock: {error.strerror or error}") from None
        self._lock = fd
        try:
            self.changes = self._read()
            yield self
        finally:
            os.close(fd)
            self._lock = None

    def _read(self) -> list[Change]:
        try:
            data = self.path.read_bytes()[: _MAX_BYTES + 1]
        except FileNotFoundError:
            return []
        except OSError as error:
            raise InputError(f"restore journal {self.path}: cannot read: {error.strerror or error}") from None
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT or document.get("version") != VERSION:
                raise ValueError("not a vfiolab lab restore journal")
            changes = [
                Change(
                    str(Bdf.parse(item["address"])),
                    None if item["driver"] is None else driver_name(item["driver"]),
                    None if item["driver_override"] is None else driver_name(item["driver_override"]),
                )
                for item in document["changes"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InputError(f"restore journal {self.path}: damaged ({error}); restore the bindings by hand") from None
        return changes

    def _write(self) -> None:
        text = json.dumps(
            {"format": FORMAT, "version": VERSION, "changes": [asdict(change) for change in self.changes]}, indent=1
        )
        write_atomically(self.path, (text + "\n").encode(), "restore journal", durable=True)

    def record(self, change: Change) -> None:
        """Add ``change`` (once per device: the first record holds the original state)."""
        if any(item.address == change.address for item in self.changes):
            return
        self.changes.append(change)
        self._write()

    def restore(self, kernel: LabKernel, only: str | None = None) -> list[RestoreResult]:
        """Undo every change (or only the one of device ``only``), newest first; restored
        entries leave the journal."""
        results = []
        for change in reversed(list(self.changes)):
            if only is not None and change.address != only:
                continue
            result = restore_binding(kernel, change)
            results.append(result)
            if result.restored:
                self.changes.remove(change)
                self._write()
        if not self.changes:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        return results


def _try(kernel: LabKernel, relative: str, value: str, problems: list[str]) -> bool:
    try:
        kernel.write(relative, value)
    except OSError as error:
        problems.append(f"{relative} <- {value.strip() or 'empty'}: {error.strerror or error}")
        return False
    return True


def restore_binding(kernel: LabKernel, change: Change) -> RestoreResult:
    """Put the device's ``driver_override`` and driver back: unbind from the lab's driver, clear
    (or rewrite) the override, bind the original driver (``drivers_probe`` when the bind fails)."""
    address = change.address
    problems: list[str] = []
    current = kernel.driver(address)
    if kernel.read(device_file(address, "config")) is None and current is None:
        return RestoreResult(address, False, f"{address} is gone from the bus; it needs a power cycle")
    if current is not None and current != change.driver:
        _try(kernel, driver_file(current, "unbind"), address, problems)
    # An empty line clears the override (drivers/pci/pci-sysfs.c driver_override_store).
    _try(kernel, device_file(address, "driver_override"), change.driver_override or "\n", problems)
    rebind = change.driver is not None and kernel.driver(address) != change.driver
    if rebind and not _try(kernel, driver_file(str(change.driver), "bind"), address, problems):
        _try(kernel, "sys/bus/pci/drivers_probe", address, problems)
    now = kernel.driver(address)
    if now == change.driver:
        return RestoreResult(address, True, f"{address} bound to {now or 'no driver'} again")
    detail = f"{address} is bound to {now or 'no driver'}, was {change.driver or 'no driver'}"
    if problems:
        detail += " (" + "; ".join(problems) + ")"
    config = kernel.read(device_file(address, "config"))
    if config and all(byte == 0xFF for byte in config[:64]):
        # A driver's probe fails on a device that answers nothing: only a power cycle helps.
        wanted = change.driver or "a driver"
        detail += f"; its config space reads all-ones: it needs a power cycle before {wanted} can have it"
    return RestoreResult(address, False, detail)
