"""Writing a rendered root (fakesys.sysfs.rootdir, fakesys.userspace.sync and the commands on
them): the lock, atomic renders, refusals with their exit codes, the sync journal, and that
nothing outside the named directory is ever written or read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakesys.errors import DirectoryBusyError, JournalError, OutputDirectoryError
from fakesys.names import JOURNAL, MARKER, PROC_FILES
from fakesys.sysfs import rootdir
from fakesys.sysfs.tree import MemoryTree, TreeWriter
from fakesys.userspace.machine import Machine, render_machine
from fakesys.userspace.sync import RenderRecord, read_journal, sync_root
from harness import exitcodes
from harness.scenario import load_scenario
from tests.canary import make_canary, run_cli, snapshot
from tests.helpers import REPO

DEFAULT = "terramaster-f4-424-pro"
DEVICE = "sys/bus/pci/devices/0000:03:00.0"


def _render(out: Path, *extra: str, scenario: str = DEFAULT) -> int:
    return run_cli("fakesys", "render", scenario, str(out), *extra).code


def _names(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_render_is_complete_marked_and_leaves_nothing_beside_it(scratch: Path) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    assert (out / MARKER).is_file()
    assert sorted(os.listdir(scratch)) == ["out"], "no lock file or temporary tree left behind"
    record = read_journal(out).record
    assert record is not None and record.scenario == DEFAULT and record.steps is False
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize(
    ("prepare", "fragment"),
    [
        (lambda out: out.symlink_to(out.parent / "elsewhere", target_is_directory=True), "is a symbolic link"),
        (lambda out: out.write_text("a file"), "exists and is not a directory"),
        (lambda out: (out.mkdir(), (out / "mine").write_text("x")), "not empty and was not written by vfiolab"),
    ],
    ids=["symlink", "file", "foreign directory"],
)
def test_unusable_output_directories_are_refused_with_73(scratch: Path, prepare: object, fragment: str) -> None:
    make_canary(scratch / "elsewhere")
    out = scratch / "out"
    prepare(out)  # type: ignore[operator]
    before = snapshot(scratch)
    for command in (["fakesys", "render", DEFAULT, str(out)], ["fakesys", "run", DEFAULT, str(out)]):
        run_cli(*command).assert_one_line_error(exitcodes.CANNOT_CREATE, fragment)
    assert snapshot(scratch) == before


def test_an_earlier_render_is_replaced_only_with_force(scratch: Path) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    run_cli("fakesys", "render", DEFAULT, str(out)).assert_one_line_error(
        exitcodes.CANNOT_CREATE, "holds an earlier render; add --force"
    )
    inode = out.stat().st_ino
    assert _render(out, "--force", scenario="terramaster-f4-424-pro-vfio-early") == exitcodes.OK
    assert out.stat().st_ino != inode, "a new tree was moved into place"
    assert read_journal(out).record.scenario == "terramaster-f4-424-pro-vfio-early"  # type: ignore[union-attr]
    assert sorted(os.listdir(scratch)) == ["out"]


def test_force_replaces_a_planted_symlink_without_following_it(scratch: Path) -> None:
    canary = make_canary(scratch / "canary")
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    # Someone with write access to the render replaces etc/ and a device file by symlinks.
    etc = out / "etc"
    for entry in etc.rglob("*"):
        if entry.is_file():
            entry.unlink()
    for entry in sorted(etc.rglob("*"), reverse=True):
        entry.rmdir()
    etc.rmdir()
    etc.symlink_to(canary, target_is_directory=True)
    before = snapshot(canary)
    assert _render(out, "--force") == exitcodes.OK
    assert snapshot(canary) == before
    assert (out / "etc").is_dir() and not (out / "etc").is_symlink()


def test_tree_writer_refuses_to_write_through_symlinks_or_out_of_the_root(scratch: Path) -> None:
    canary = make_canary(scratch / "canary")
    root = scratch / "root"
    root.mkdir()
    (root / "etc").symlink_to(canary, target_is_directory=True)
    writer = TreeWriter(str(root))
    with pytest.raises(OutputDirectoryError, match="something that is not a directory is in the way"):
        writer.file("etc/passwd", "x")
    (root / "file").symlink_to(canary / "secret")
    with pytest.raises(OutputDirectoryError, match="it is a symlink"):
        writer.file("file", "x")
    for hostile in ("../escape", "/etc/passwd", "a/../../b", "a//b", "./a"):
        with pytest.raises(OutputDirectoryError, match="not a plain path inside the root"):
            writer.file(hostile, "x")
    writer.link("sys/bus/pci/devices/x", "sys/devices/x")
    with pytest.raises(OutputDirectoryError, match="it is a symlink the render made"):
        writer.file("sys/bus/pci/devices/x/config", "x")
    assert snapshot(canary) == snapshot(canary) and (canary / "secret").read_text() == "do not read or replace me\n"
    assert not (scratch / "escape").exists()


def test_a_locked_directory_is_busy_75(scratch: Path) -> None:
    out = scratch / "out"
    with rootdir.locked(out):
        for command in (
            ["fakesys", "render", DEFAULT, str(out)],
            ["fakesys", "run", DEFAULT, str(out)],
            ["fakesys", "sync", DEFAULT, str(out)],
        ):
            run_cli(*command).assert_one_line_error(exitcodes.BUSY, "is in use by another vfiolab process")
        with pytest.raises(DirectoryBusyError):
            rootdir.render_into(out, lambda path: None, replace=True)
    assert not out.exists()
    # Released: the lock file is gone and the directory can be rendered.
    assert sorted(os.listdir(scratch)) == []
    assert _render(out) == exitcodes.OK


def test_lock_file_planted_as_a_symlink_is_not_followed(scratch: Path) -> None:
    canary = make_canary(scratch / "canary")
    (scratch / ".out.vfiolab-lock").symlink_to(canary / "secret")
    before = snapshot(canary)
    run_cli("fakesys", "render", DEFAULT, str(scratch / "out")).assert_one_line_error(
        exitcodes.CANNOT_CREATE, "cannot create the lock file"
    )
    assert snapshot(canary) == before


def _vfiolab_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_renders_into_one_new_directory_never_mix(scratch: Path) -> None:
    out = scratch / "out"
    processes = [_vfiolab_process("fakesys", "render", DEFAULT, str(out)) for _ in range(2)]
    outcomes = [(process.wait(timeout=120), process.communicate()[1]) for process in processes]
    codes = sorted(code for code, _ in outcomes)
    # One renders; the other either found it busy (75) or found the finished render (73).
    assert codes[0] == exitcodes.OK and codes[1] in (exitcodes.OK, exitcodes.CANNOT_CREATE, exitcodes.BUSY), outcomes
    for code, stderr in outcomes:
        assert "Traceback" not in stderr
        if code:
            assert len(stderr.strip().splitlines()) == 1
    reference = scratch / "reference"
    assert _render(reference) == exitcodes.OK
    assert _names(out) == _names(reference)


def test_a_killed_render_leaves_the_old_tree_or_the_new_one(scratch: Path) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    complete = _names(out)
    process = _vfiolab_process("fakesys", "render", "--force", DEFAULT, str(out))
    time.sleep(0.6)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert _names(out) == complete
    # The next render cleans up what the killed one left beside the directory.
    assert _render(out, "--force") == exitcodes.OK
    assert sorted(os.listdir(scratch)) == ["out"]


def _synced(out: Path, scenario: str = DEFAULT) -> tuple[int, str]:
    outcome = run_cli("fakesys", "sync", scenario, str(out))
    return outcome.code, outcome.stderr


def test_sync_refuses_a_root_rendered_from_another_scenario(scratch: Path) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    (out / DEVICE / "power/control").write_text("on\n")
    before = snapshot(out)
    outcome = run_cli("fakesys", "sync", "terramaster-f4-424-pro-vfio-early", str(out))
    outcome.assert_one_line_error(
        exitcodes.DATA, "was rendered from scenario terramaster-f4-424-pro, not terramaster-f4-424-pro-vfio-early"
    )
    assert snapshot(out) == before, "nothing re-rendered, no write recorded"


def test_sync_refuses_a_scenario_changed_since_the_render(scratch: Path) -> None:
    scenario = scratch / "mine.yaml"
    scenario.write_text(f"host: {{extends: {DEFAULT}}}\n")
    out = scratch / "out"
    assert _render(out, scenario=str(scenario)) == exitcodes.OK
    scenario.write_text(f"host: {{extends: {DEFAULT}, kernel: {{cmdline: quiet}}}}\n")
    run_cli("fakesys", "sync", str(scenario), str(out)).assert_one_line_error(
        exitcodes.DATA, "scenario mine changed since"
    )


@pytest.mark.parametrize(
    ("journal", "fragment"),
    [
        ("garbage\n", ":1: not a JSON line"),
        ('{"path": "/sys/bus/pci/rescan", "value": "1", "mtime_ns": 1, "priority": 9}\n', ":1: not a vfiolab journal"),
        ("HEADER\n[1, 2]\n", ":2: expected a write with path, value, mtime_ns, priority"),
        ('HEADER\n{"path": "/sys/x", "value": 1, "mtime_ns": 1, "priority": 1}\n', ":2: value: expected str"),
        ('HEADER\n{"path": "/etc/shadow", "value": "", "mtime_ns": 1, "priority": 1}\n', ":2: path: expected a /sys"),
        ("HEADER\n\xff\n", ":2: not a JSON line"),
        ("HEADER\n" + "[" * 100_000 + "\n", ":2: not a JSON line"),
    ],
    ids=["garbage", "no header", "not an object", "wrong type", "not sysfs", "not UTF-8", "nested too deep"],
)
def test_corrupt_journal_is_one_line_65(scratch: Path, journal: str, fragment: str) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    header = (out / JOURNAL).read_text().splitlines()[0]
    (out / JOURNAL).write_bytes(journal.replace("HEADER", header).encode("utf-8", "surrogateescape"))
    before = snapshot(out)
    outcome = run_cli("fakesys", "sync", DEFAULT, str(out))
    outcome.assert_one_line_error(exitcodes.DATA, f"{out / JOURNAL}{fragment}")
    assert snapshot(out) == before


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_journal_that_is_not_a_regular_file_is_damaged_not_absent(scratch: Path, kind: str) -> None:
    """Read as "no journal", the earlier writes would be forgotten and the planted entry replaced."""
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    journal = out / JOURNAL
    journal.unlink()
    if kind == "directory":
        journal.mkdir()
    elif kind == "fifo":
        os.mkfifo(journal)
    else:
        journal.symlink_to(make_canary(scratch / "canary") / "secret")
    # Not snapshot(): it would read the FIFO.
    before = sorted((str(path), path.lstat().st_mtime_ns) for path in scratch.rglob("*"))
    outcome = run_cli("fakesys", "sync", DEFAULT, str(out))
    outcome.assert_one_line_error(exitcodes.DATA, f"{journal}: not a regular file; the journal is damaged")
    assert sorted((str(path), path.lstat().st_mtime_ns) for path in scratch.rglob("*")) == before


def test_sync_replays_its_journal_and_rebuilds_what_was_rendered(scratch: Path) -> None:
    out = scratch / "out"
    assert run_cli("fakesys", "run", "terramaster-asm1062-vm-start", str(out)).code == exitcodes.OK
    (out / DEVICE / "reset_method").write_text("bus\n")
    assert _synced(out, "terramaster-asm1062-vm-start")[0] == exitcodes.OK
    (out / DEVICE / "d3cold_allowed").write_text("0\n")
    assert _synced(out, "terramaster-asm1062-vm-start")[0] == exitcodes.OK
    journal = read_journal(out)
    assert journal.record is not None and journal.record.steps is True
    assert [write.path.rsplit("/", 1)[1] for write in journal.writes] == ["reset_method", "d3cold_allowed"]
    assert (out / DEVICE / "reset_method").read_text() == "bus\n"
    # Rebuilt with the scenario's steps: VM 100's start left the ASM1062 dead after a bus reset.
    assert "not ready 65535ms after bus reset; giving up" in (out / "var/log/dmesg").read_text()
    assert sorted(os.listdir(scratch)) == ["out"]


def test_sync_does_not_follow_a_planted_symlink(scratch: Path) -> None:
    canary = make_canary(scratch / "canary")
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    override = out / DEVICE / "driver_override"
    override.unlink()
    override.symlink_to(canary / "secret")
    (out / "sys/bus/pci/drivers_probe").unlink()
    (out / "sys/bus/pci/drivers_probe").symlink_to("/dev/zero")
    before = snapshot(canary)
    assert _synced(out)[0] == exitcodes.OK
    assert snapshot(canary) == before
    assert "do not read" not in (out / DEVICE / "driver_override").read_text()
    assert read_journal(out).writes == []


def test_a_write_already_in_the_journal_is_not_applied_twice(scratch: Path) -> None:
    """A sync killed after writing its journal but before re-rendering: the next one must not
    apply the same write again."""
    scenario = load_scenario(DEFAULT)
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    record = read_journal(out).record
    assert record is not None
    (out / DEVICE / "driver/unbind").write_text("0000:03:00.0\n")
    machine = Machine(scenario.host)
    first = sync_root(machine, out, record)
    assert [result > 0 for _, result in first] == [True]
    # Put the written file back as the killed sync would have left it.
    [(write, _)] = first
    unbind = out / "sys/bus/pci/drivers/ahci/unbind"
    unbind.write_text(write.value)
    os.utime(unbind, ns=(write.mtime_ns, write.mtime_ns))
    again = Machine(scenario.host)
    assert sync_root(again, out, record) == []
    assert len(read_journal(out).writes) == 1


def test_sync_racing_a_writer_does_not_crash(scratch: Path) -> None:
    out = scratch / "out"
    assert _render(out) == exitcodes.OK
    stop = threading.Event()

    def writer() -> None:
        counter = 0
        while not stop.is_set():
            counter += 1
            try:
                (out / "sys/devices/pci0000:00" / f"scratch{counter % 50}").write_text("x")
                (out / DEVICE / "reset_method").write_text("bus\n" if counter % 2 else "pm bus\n")
            except OSError:
                pass  # the tree was swapped under the writer: it writes into the new one next time

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(3):
            code, stderr = _synced(out)
            assert code == exitcodes.OK, stderr
            assert "Traceback" not in stderr
    finally:
        stop.set()
        thread.join()
    assert (out / MARKER).is_file()


def test_scenario_run_outputs_that_cannot_be_written_are_73(scratch: Path) -> None:
    slow = str(REPO / "scenarios" / "slow-ready-after-bus-reset.yaml")
    (scratch / "file").write_text("x")
    (scratch / "dir").mkdir()
    run_cli("scenario", "run", slow, "--junit-xml", str(scratch / "dir")).assert_one_line_error(
        exitcodes.CANNOT_CREATE, "is a directory; name the file to write"
    )
    run_cli("scenario", "run", slow, "--keep", str(scratch / "file")).assert_one_line_error(
        exitcodes.CANNOT_CREATE, "not a directory"
    )
    assert sorted(os.listdir(scratch / "dir")) == []
    kept = scratch / "kept"
    outcome = run_cli("scenario", "run", slow, "--keep", str(kept), "--junit-xml", str(scratch / "report.xml"))
    assert outcome.code == exitcodes.OK, outcome.stdout + outcome.stderr
    record = read_journal(kept / "slow-ready-after-bus-reset").record
    assert record is not None and record.steps is True
    assert sorted(os.listdir(scratch)) == ["dir", "file", "kept", "report.xml"]


def test_renderer_proc_files_are_the_ones_files_cannot_replace() -> None:
    tree = MemoryTree()
    render_machine(Machine(load_scenario(DEFAULT).host), tree)
    assert sorted(path for path in tree.files if path.startswith("proc/")) == sorted(PROC_FILES)


def test_journal_record_round_trips(scratch: Path) -> None:
    record = RenderRecord.of(DEFAULT, REPO / "scenarios" / f"{DEFAULT}.yaml", steps=True, unprivileged=True)
    out = scratch / "out"

    def build(path: str) -> None:
        (Path(path) / MARKER).write_text("x")

    rootdir.render_into(out, build, replace=False)
    from fakesys.userspace.sync import Journal

    (out / JOURNAL).write_text(Journal(record).text())
    assert read_journal(out).record == record
    header = json.loads((out / JOURNAL).read_text())
    assert header["format"] == "vfiolab fakesys journal"
    with pytest.raises(JournalError, match="was rendered from scenario"):
        record.refuse_other(RenderRecord("other", record.sha256, True), out)
