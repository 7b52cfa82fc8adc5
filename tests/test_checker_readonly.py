"""The checker never writes, and runs without privileges.

* On a rendered tree guarded against every kind of write (open for writing, os.open with write
  flags, rename, unlink, chmod...), the tree is byte-for-byte and mtime-for-mtime the same after.
* On the same tree loaded read-only into pyfakefs (every file, control files included, raises
  when written), the checker gives the same verdicts and findings as on the real file system.
* On this machine's real ``/``, as an unprivileged user (a forked child that drops to
  ``nobody`` when the tests run as root), it completes, says what it could not see, and exits
  3 only when there are no PCI devices to read at all.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher
from pyfakefs.helpers import reset_ids, set_gid, set_uid

from harness.checker import CheckReport, check_root
from harness.checks import CheckOptions
from harness.errors import CheckerError
from harness.known_devices import known_devices
from harness.pciids import find_ids_file
from harness.report import to_json

REPO = Path(__file__).resolve().parent.parent
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@pytest.fixture
def vm_start_root(final_root: Callable[[str], Path]) -> Path:
    return final_root("terramaster-asm1062-vm-start")


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    state: dict[str, tuple[Any, ...]] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            info = path.lstat()
            if path.is_symlink():
                state[str(path)] = ("link", os.readlink(path), info.st_mtime_ns)
            elif path.is_file():
                state[str(path)] = (
                    "file",
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    info.st_mode,
                    info.st_mtime_ns,
                )
            else:
                state[str(path)] = ("dir", info.st_mode, info.st_mtime_ns)
    return state


def summary(report: CheckReport) -> dict[str, Any]:
    """The JSON report without pci.ids names and option-ROM findings (the ROM is root-only, 0400,
    and the fake file system's user is not root)."""
    document = to_json(report)
    for item in document["devices"]:
        item.pop("name")
        item["findings"] = [finding for finding in item["findings"] if not finding["code"].startswith("rom.")]
    document.pop("root")
    return document


def test_checker_makes_no_write_of_any_kind(vm_start_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(vm_start_root)
    attempts: list[str] = []
    real_open = builtins.open
    real_os_open = os.open

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            attempts.append(f"open({file!r}, {mode!r})")
            raise PermissionError(f"checker tried to write {file}")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & WRITE_FLAGS:
            attempts.append(f"os.open({path!r}, {flags:#x})")
            raise PermissionError(f"checker tried to write {path}")
        return real_os_open(path, flags, *args, **kwargs)

    def refuse(name: str) -> Callable[..., None]:
        def refused(*args: Any, **kwargs: Any) -> None:
            attempts.append(f"{name}{args}")
            raise PermissionError(f"checker called {name}")

        return refused

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(os, "open", guarded_os_open)
    for name in (
        "rename",
        "replace",
        "remove",
        "unlink",
        "rmdir",
        "mkdir",
        "makedirs",
        "chmod",
        "chown",
        "symlink",
        "link",
        "utime",
        "truncate",
    ):
        monkeypatch.setattr(os, name, refuse(f"os.{name}"))
    report = check_root(vm_start_root, CheckOptions(read_rom=True, vm_firmware="seabios"))
    monkeypatch.undo()
    assert attempts == []
    assert snapshot(vm_start_root) == before
    assert report.device("0000:03:00.0") is not None


def test_checker_on_a_read_only_fake_file_system_matches_the_real_one(vm_start_root: Path) -> None:
    expected = summary(check_root(vm_start_root, CheckOptions(read_rom=True)))
    known_devices()  # the package's own data is read before the fake file system hides it
    names = find_ids_file()  # this machine's pci.ids names devices in both reports
    with Patcher() as patcher:
        assert patcher.fs is not None
        patcher.fs.add_real_directory(str(vm_start_root), read_only=True, lazy_read=False)
        if names is not None:
            patcher.fs.add_real_file(str(names))
        # Not root inside the fake file system, so its read-only files really refuse writes.
        set_uid(1000)
        set_gid(1000)
        control = vm_start_root / "sys/bus/pci/devices/0000:03:00.0/reset"
        with pytest.raises(OSError):
            control.write_text("1")
        faked_report = check_root(vm_start_root, CheckOptions(read_rom=True))
        # The report reads the root's pci.ids through the view's reader, whose descriptors
        # belong to the fake file system: summarise while it is in place.
        faked = summary(faked_report)
        reset_ids()
    assert faked == expected
    asm = faked_report.device("0000:03:00.0")
    assert asm is not None
    not_read = [item for item in asm.findings if item.code == "rom.not-read"]
    assert not_read and "Permission denied" in not_read[0].evidence[0].value


def _check_as(user: str | None) -> tuple[int, dict[str, Any] | str]:
    """Check ``/`` in a forked child, as ``user`` (None: as we are); (exit code, report or error)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(read_end)
            if user is not None:
                entry = pwd.getpwnam(user)
                os.setgroups([])
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
            try:
                report = check_root("/")
                payload = json.dumps(to_json(report))
                code = report.exit_code
            except CheckerError as error:
                payload, code = json.dumps(str(error)), 3
            with os.fdopen(write_end, "w") as out:
                out.write(payload)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as incoming:
        text = incoming.read()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), json.loads(text)


def test_unprivileged_run_on_this_machine_completes_and_reports_what_it_could_not_see() -> None:
    user = "nobody" if os.geteuid() == 0 else None
    code, result = _check_as(user)
    devices = [name for name in os.listdir("/sys/bus/pci/devices")] if os.path.isdir("/sys/bus/pci/devices") else []
    if not devices:
        assert code == 3 and isinstance(result, str) and "no PCI devices" in result
        return
    assert code in (0, 1, 2), result
    assert isinstance(result, dict)
    assert {item["bdf"] for item in result["devices"]} <= set(devices)
    assert result["devices"], "every machine with PCI devices has endpoints to check"
    # Unprivileged, the kernel shows 64 bytes of config space: the report says so and how to see more.
    unreadable = [item for item in result["findings"] if item["code"] == "checker.config-unreadable"]
    assert unreadable, "an unprivileged run must say that config space was cut short"
    assert "sudo vfiolab check" in unreadable[0]["fix"]
    assert result["exit_code"] == code
