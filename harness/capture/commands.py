"""The commands a capture of this machine runs, bounded: ``lspci -vvv -nn -k``, ``lspci -xxxx``
and the kernel log (``dmesg``, or ``journalctl -k -b`` where dmesg is refused).

They describe the machine vfiolab runs on, so they are run only when the captured root is this
machine's ``/``; on any other root they would describe the wrong machine, and running tools on a
tree someone else made is what the confined reader exists to avoid. Each runs from a fixed
``PATH`` with ``LC_ALL=C``, no input, at most :data:`COMMAND_SECONDS` seconds and
:data:`OUTPUT_LIMIT` bytes of output (what is beyond is cut and said so).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from harness.rootfs import LOG_LIMIT

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COMMAND_SECONDS = 10.0
OUTPUT_LIMIT = LOG_LIMIT
_ERROR_LIMIT = 4096

LSPCI_VERBOSE = ("lspci", "-vvv", "-nn", "-k")
LSPCI_HEX = ("lspci", "-xxxx")
DMESG = ("dmesg",)
#: journald's kernel messages of this boot in dmesg's ``[seconds]`` form, without the hostname.
JOURNAL = ("journalctl", "-k", "-b", "--no-pager", "-o", "short-monotonic", "--no-hostname")


@dataclass
class CommandOutput:
    argv: tuple[str, ...]
    #: The member the output goes to in the bundle (``vfiolab-commands/<name>``).
    member: str
    exit: int | None = None
    output: bytes = b""
    truncated: bool = False
    #: Why there is no (usable) output: not installed, timed out, the first line of stderr.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit == 0 and bool(self.output.strip())


def run_bounded(
    argv: tuple[str, ...], member: str, limit: int = OUTPUT_LIMIT, seconds: float = COMMAND_SECONDS
) -> CommandOutput:
    """Run ``argv`` with its output capped at ``limit`` bytes and its time at ``seconds``."""
    result = CommandOutput(argv, member)
    program = shutil.which(argv[0], path=SAFE_PATH)
    if program is None:
        result.error = f"{argv[0]} is not installed"
        return result
    try:
        process = subprocess.Popen(
            [program, *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": SAFE_PATH, "LC_ALL": "C", "LANG": "C"},
            close_fds=True,
            start_new_session=True,
        )
    except OSError as error:
        result.error = f"{argv[0]}: {error.strerror or error}"
        return result
    assert process.stdout is not None and process.stderr is not None
    out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
    streams = {out_fd: bytearray(), err_fd: bytearray()}
    caps = {out_fd: limit + 1, err_fd: _ERROR_LIMIT}
    deadline = time.monotonic() + seconds
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                buffer = streams[key.fd]
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                buffer += chunk[: max(0, caps[key.fd] - len(buffer))]
                if key.fd == out_fd and len(buffer) > limit:
                    result.truncated = True
                    selector.unregister(key.fd)
    if timed_out or result.truncated:
        _stop(process)
    result.exit = process.wait()
    process.stdout.close()
    process.stderr.close()
    result.output = bytes(streams[out_fd][:limit])
    errors = bytes(streams[err_fd]).decode("utf-8", "replace").strip()
    if timed_out:
        result.error = f"stopped after {seconds:g} s"
    elif result.exit != 0:
        result.error = errors.splitlines()[0] if errors else f"exit code {result.exit}"
    return result


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class HostCommands:
    """:func:`run_host_commands` in a thread of its own, so that the commands run while the
    capture reads the root; :meth:`results` waits for them."""

    def __init__(self) -> None:
        self._results: list[CommandOutput] = []
        self._thread = threading.Thread(target=self._run, name="vfiolab-capture-commands", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._results = run_host_commands()

    def results(self) -> list[CommandOutput]:
        self._thread.join()
        return self._results


def run_host_commands() -> list[CommandOutput]:
    """lspci's decoded and hex views, and the kernel log, of this machine."""
    results = [
        run_bounded(LSPCI_VERBOSE, "vfiolab-commands/lspci-vvv-nn-k.txt"),
        run_bounded(LSPCI_HEX, "vfiolab-commands/lspci-xxxx.txt"),
    ]
    log = run_bounded(DMESG, "vfiolab-commands/dmesg.txt")
    results.append(log)
    if not log.ok:
        results.append(run_bounded(JOURNAL, "vfiolab-commands/journalctl-k.txt"))
    return results
