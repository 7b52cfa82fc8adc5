"""The console, the QEMU process and the guest session without QEMU: the console reads a pipe; a
shell script (tests/data/fake-guest.sh) stands in for QEMU and the guest's /init and speaks the
same protocol over its stdio, so the framing, base64 transfers, timeouts, EOFs and crash
detection are exercised by a real shell."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.live.console import Console, readable
from harness.live.crash import crash_in_message, crash_on_console
from harness.live.errors import ConsoleEOF, ConsoleTimeout, GuestCrash, LiveError
from harness.live.process import QemuProcess
from harness.live.qemu import Launch
from harness.live.session import GuestSession, Timeouts, parse_dmesg

FAKE_GUEST = Path(__file__).resolve().parent / "data" / "fake-guest.sh"


@pytest.fixture
def pipe_console(tmp_path: Path) -> Iterator[tuple[Console, int]]:
    read_fd, write_fd = os.pipe()
    console = Console(read_fd, lambda data: None, tmp_path / "console.log")
    yield console, write_fd
    with contextlib.suppress(OSError):
        os.close(write_fd)
    console.close()
    os.close(read_fd)


def test_line_endings_are_normalised_in_the_log_and_the_stream(pipe_console: tuple[Console, int]) -> None:
    console, writer = pipe_console
    # \r\r\n from a pty, \r\n from a pipe, a \r split from its \n across two reads.
    os.write(writer, b"one\r\r\ntwo\r\nthree\r")
    time.sleep(0.05)
    os.write(writer, b"\nMARK\n")
    console.expect([r"MARK\n"], "test", 5)
    assert console.before == "one\ntwo\nthree\n"
    os.close(writer)
    assert console.wait_closed(5)
    assert console.log_path.read_text() == "one\ntwo\nthree\nMARK\n"


def test_the_reader_drains_while_nobody_waits(pipe_console: tuple[Console, int]) -> None:
    """QEMU drops serial output nobody reads: the reader must take it all even when the test
    does not call expect for a while (a pipe holds 64 KiB; this is 1 MiB)."""
    console, writer = pipe_console
    block = b"x" * 1023 + b"\n"

    def produce() -> None:
        for _ in range(1024):
            os.write(writer, block)
        os.write(writer, b"END\n")

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(10)
    assert not producer.is_alive(), "the console stopped reading"
    console.expect([r"END\n"], "drain", 10)
    assert console.log_path.stat().st_size == 1024 * 1024 + 4


def test_a_marker_deep_inside_a_big_read_is_still_found(pipe_console: tuple[Console, int]) -> None:
    """pexpect searches only the last searchwindowsize characters after each read: the console
    hands it at most a quarter of that at a time."""
    console, writer = pipe_console
    os.write(writer, b"@@BEGIN\n" + b"y" * 60000 + b"\n@@END\n")
    console.expect([r"@@BEGIN\n"], "test", 5)
    console.expect([r"@@END\n"], "test", 5)
    assert len(console.before) == 60001


def test_timeout_names_the_phase_pattern_wait_and_tail(pipe_console: tuple[Console, int]) -> None:
    console, writer = pipe_console
    os.write(writer, b"[    0.1] booting\nstill booting\n")
    with pytest.raises(ConsoleTimeout) as caught:
        console.expect([r"@@VFL-READY\n"], "ready", 0.5)
    error = caught.value
    assert error.phase == "ready" and error.pattern == r"@@VFL-READY\n" and 0.4 < error.waited < 3
    assert error.tail[-2:] == ["[    0.1] booting", "still booting"]
    report = error.report()
    assert report.startswith("timeout in phase 'ready' after 0.") and "  | still booting" in report
    assert f"console log: {console.log_path}" in report


def test_a_kernel_crash_ends_any_wait(pipe_console: tuple[Console, int]) -> None:
    console, writer = pipe_console
    os.write(writer, b"[    5.000001] BUG: kernel NULL pointer dereference, address: 0000000000000000\n")
    os.write(writer, b"[    5.000002] #PF: supervisor read access in kernel mode\n")
    with pytest.raises(GuestCrash) as caught:
        console.expect([r"@@VFL-E:3:(\d+)\n"], "steps[2] reset 0000:01:00.0", 10)
    assert caught.value.phase == "steps[2] reset 0000:01:00.0"
    assert caught.value.detail == "bug: [    5.000001] BUG: kernel NULL pointer dereference, address: 0000000000000000"
    assert caught.value.waited < 5


def test_crash_lines_only_count_as_kernel_messages() -> None:
    kinds = {
        "[   12.345678] Kernel panic - not syncing: Attempted to kill init!": "panic",
        "[    1.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]": "soft-lockup",
        "[    1.0] WARNING: CPU: 0 PID: 1 at drivers/pci/pci.c:1 x+0x1/0x2": "warning",
        "[    1.0] rcu: INFO: rcu_preempt self-detected stall on CPU": "rcu-stall",
        "[    1.0] INFO: task sh:77 blocked for more than 120 seconds.": "hung-task",
        "[    1.0] Oops: general protection fault, probably for non-canonical address": "oops",
    }
    for line, kind in kinds.items():
        found = crash_on_console(line)
        assert found is not None and found.kind == kind, line
    # A program printing the words is not the kernel.
    assert crash_on_console("grep: BUG: soft lockup") is None
    assert crash_on_console("[    1.0] pci 0000:01:00.0: not ready 1023ms after bus reset; waiting") is None
    assert crash_in_message("kernel BUG at drivers/vfio/vfio.c:100!") is not None


def test_base64_runs_are_one_line_in_tails() -> None:
    data = ["QUJD" * 19] * 5
    assert readable(["a", *data, "b", "QUJD", "c"]) == ["a", "[5 lines of base64 data]", "b", "QUJD", "c"]


# --- the QEMU process ---------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_the_whole_process_group_is_killed_on_the_way_out(tmp_path: Path) -> None:
    script = f"cd {tmp_path} || exit 1; sleep 60 & echo $! > child.pid; exec sleep 60"
    with QemuProcess(["sh", "-c", script], tmp_path / "qemu.log") as process:
        deadline = time.monotonic() + 5
        while not (tmp_path / "child.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int((tmp_path / "child.pid").read_text())
        assert os.getpgid(process.pid) == process.pid != os.getpgid(0)
        with pytest.raises(RuntimeError):
            raise RuntimeError("a test failing while the guest runs")
    time.sleep(0.2)
    assert not _alive(process.pid) and not _alive(child)


def test_qemu_dies_with_the_harness_even_when_it_is_killed_outright(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: SIGKILL of the process that started QEMU (no atexit, no finally)."""
    program = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from harness.live.process import QemuProcess
        process = QemuProcess(["sleep", "60"], Path({str(tmp_path)!r}) / "qemu.log").start()
        print(process.pid, flush=True)
        time.sleep(60)
        """
    )
    harness_process = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    assert harness_process.stdout is not None
    qemu_pid = int(harness_process.stdout.readline())
    assert _alive(qemu_pid)
    harness_process.send_signal(signal.SIGKILL)
    harness_process.wait(10)
    deadline = time.monotonic() + 5
    while _alive(qemu_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(qemu_pid)


def test_a_program_that_cannot_start_is_a_launch_error(tmp_path: Path) -> None:
    with pytest.raises(LiveError, match="could not be started"):
        QemuProcess([str(tmp_path / "no-such-qemu")], tmp_path / "qemu.log").start()


# --- the session against the fake guest ---------------------------------------------------------


def _session(tmp_path: Path, mode: str = "normal", **limits: float) -> GuestSession:
    os.environ["FAKE_GUEST_MODE"] = mode
    launch = Launch(("sh", str(FAKE_GUEST)))
    timeouts = Timeouts(**{"kernel": 5.0, "init": 5.0, "ready": 5.0, "command": 5.0, "shutdown": 5.0, **limits})
    return GuestSession(launch, tmp_path / "run", timeouts=timeouts)


@pytest.fixture(autouse=True)
def _fake_guest_mode() -> Iterator[None]:
    yield
    os.environ.pop("FAKE_GUEST_MODE", None)


def test_boot_phases_commands_status_and_output(tmp_path: Path) -> None:
    with _session(tmp_path) as session:
        session.boot()
        assert session.kernel_release == "6.1.0-fake"
        assert [mark.phase for mark in session.marks] == ["kernel", "init", "ready"]
        result = session.run("echo hello; echo world >&2; false")
        assert (result.status, result.output) == (1, "hello\nworld")
        # exit and cd in a command touch only its subshell; stdin is not the console.
        assert session.run("cd /; exit 7").status == 7
        assert session.run("read line; echo got=$line").output == "got="
        assert session.run("pwd").status == 0
        # Kernel messages printed meanwhile are not the command's output.
        result = session.run("echo before; kernel_says 'pci 0000:01:00.0: something'; echo after")
        assert result.output == "before\nafter"
        assert session.run("kernel_says x", kernel_lines=True).output.startswith("[    3.000001] x")
        session.modprobe(["ahci", "sd_mod"])
        with pytest.raises(LiveError, match=r"phase 'modules': modprobe -a missing exited 1: modprobe: module missing"):
            session.modprobe(["missing"])
        with pytest.raises(ValueError, match="one line"):
            session.run("echo a\necho b")
        session.poweroff()
        assert session.process.poll() == 0
    assert (tmp_path / "run/qemu-command.txt").read_text() == f"sh {FAKE_GUEST}\n"
    assert "@@VFL-READY" in (tmp_path / "run/console.log").read_text()


def test_dmesg_and_values_arrive_intact_through_base64(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("pm bus\n")
    (tmp_path / "link").symlink_to("../../kernel/iommu_groups/4")
    with _session(tmp_path) as session:
        session.boot()
        lines = session.dmesg()
        assert lines[1] == (
            1_250_000,
            "ahci 0000:00:01.0: AHCI 0001.0000 32 slots 6 ports 1.5 Gbps 0x3f impl SATA mode",
        )
        assert lines[-1] == (2_500_000, "    continued line")
        values = session.read_values([str(tmp_path / "file"), str(tmp_path / "link"), str(tmp_path / "none")])
        assert values == {str(tmp_path / "file"): "pm bus", str(tmp_path / "link"): "4", str(tmp_path / "none"): None}
        session.poweroff()


def test_a_command_that_hangs_is_a_timeout_of_its_phase(tmp_path: Path) -> None:
    with _session(tmp_path, command=0.5) as session:
        session.boot()
        with pytest.raises(ConsoleTimeout) as caught:
            session.run("sleep 30", phase="steps[0] sleep 30")
        assert caught.value.phase == "steps[0] sleep 30"


def test_a_guest_that_never_boots_times_out_in_the_kernel_phase(tmp_path: Path) -> None:
    with _session(tmp_path, "silent", kernel=0.5) as session, pytest.raises(ConsoleTimeout) as caught:
        session.boot()
    assert caught.value.phase == "kernel" and caught.value.pattern == r"Linux version \S+"


def test_qemu_exiting_early_is_an_eof_with_its_exit_status_and_stderr(tmp_path: Path) -> None:
    with _session(tmp_path, "die-at-init") as session, pytest.raises(ConsoleEOF) as caught:
        session.boot()
    assert caught.value.phase == "init"
    assert caught.value.detail == "QEMU exit status 1: qemu-system-x86_64: fake: guest died"
    assert caught.value.tail[-1] == "[    0.512345] Run /init as init process"


def test_timeouts_scale_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOLAB_LIVE_TIMEOUT_SCALE", "2.5")
    timeouts = Timeouts.from_environment()
    assert timeouts(timeouts.kernel) == 75.0
    monkeypatch.setenv("VFIOLAB_LIVE_TIMEOUT_SCALE", "fast")
    with pytest.raises(LiveError, match="VFIOLAB_LIVE_TIMEOUT_SCALE='fast': expected a number"):
        Timeouts.from_environment()
    with pytest.raises(LiveError, match="above 0"):
        Timeouts.from_environment(0)


def test_parse_dmesg_reads_busybox_dmesg() -> None:
    assert parse_dmesg("[    0.000000] Linux version x\n[   12.3456] short fraction\ncontinued\n") == [
        (0, "Linux version x"),
        (12_345_600, "short fraction"),
        (12_345_600, "continued"),
    ]


def test_file_descriptors_reach_qemu(tmp_path: Path) -> None:
    """pass_fds: how an x-pci-proxy-dev's socket (fd=N) gets to QEMU."""
    read_end, write_end = os.pipe()
    try:
        with QemuProcess(
            ["sh", "-c", f"echo through-fd > /proc/self/fd/{write_end}"], tmp_path / "qemu.log", [write_end]
        ) as process:
            os.close(write_end)
            write_end = -1
            assert process.wait(5) == 0
            assert os.read(read_end, 100) == b"through-fd\n"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
