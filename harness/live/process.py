"""The QEMU process: started in its own process group with the console on pipes, and killed with
its whole group on every way out (the run ends, an exception, Ctrl-C, SIGTERM, the interpreter
exiting, and, through ``PR_SET_PDEATHSIG``, the harness being killed outright). An orphaned
QEMU keeps a CPU busy under TCG and holds the run's files, so none may survive.

QEMU's stderr goes straight to a file (``qemu.log``); its stdout and stdin are the guest's
first serial port (``-serial stdio``), which :class:`harness.live.console.Console` drains.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.live.errors import LaunchError

_PR_SET_PDEATHSIG = 1
# Looked up once here: the child, between fork and exec, only calls it.
_prctl: Callable[..., int] | None
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None
_running: weakref.WeakSet[QemuProcess] = weakref.WeakSet()
_lock = threading.Lock()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """In the child before exec: SIGKILL when the process that started QEMU dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def kill_all() -> None:
    """Kill every QEMU this process started that still runs (atexit, signal handlers)."""
    with _lock:
        processes = list(_running)
    for process in processes:
        process.kill()


atexit.register(kill_all)


class QemuProcess:
    """One QEMU run. Use as a context manager, or call :meth:`kill` in a ``finally``."""

    def __init__(self, argv: Sequence[str], stderr_path: Path, pass_fds: Sequence[int] = ()) -> None:
        self.argv = list(argv)
        self.stderr_path = stderr_path
        self.pass_fds = tuple(pass_fds)
        self._popen: subprocess.Popen[bytes] | None = None

    def start(self) -> QemuProcess:
        try:
            with self.stderr_path.open("wb") as stderr:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    # Its own process group (killpg reaches QEMU and anything it starts) but
                    # not its own session: a new session is a new scheduler autogroup, which
                    # on a busy machine made boots measurably slower than a plain child's.
                    process_group=0,
                    pass_fds=self.pass_fds,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
                    bufsize=0,
                )
        except OSError as error:
            raise LaunchError(f"{self.argv[0]} could not be started: {error.strerror}") from None
        with _lock:
            _running.add(self)
        return self

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        if self._popen is None:
            raise LaunchError("QEMU was not started")
        return self._popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def stdout_fd(self) -> int:
        assert self.popen.stdout is not None
        return self.popen.stdout.fileno()

    def write(self, data: bytes) -> None:
        """Send bytes to the guest's serial port."""
        assert self.popen.stdin is not None
        # When QEMU has gone, the console reports the EOF.
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.popen.stdin.write(data)

    def poll(self) -> int | None:
        return self.popen.poll() if self._popen is not None else None

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self, lines: int = 10) -> list[str]:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def kill(self) -> None:
        """SIGKILL QEMU's whole process group and reap it. Safe to call more than once."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(10)
        for stream in (popen.stdin, popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with _lock:
            _running.discard(self)

    def __enter__(self) -> QemuProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
