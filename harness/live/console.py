"""The guest's serial console, driven with pexpect.

One reader thread owns the console's file descriptor and never stops draining it, whatever the
test does meanwhile: QEMU's 16550 model drops bytes when nobody reads (``hw/char/serial.c``
gives up after ``MAX_XMIT_RETRY`` tries), so a reader that pauses loses output instead of
delaying it. As it reads, it normalises line endings (``\\r\\r\\n`` from a pty, ``\\r\\n`` from
a pipe become ``\\n``), appends to the console log on disk, keeps the last lines for error
reports, and watches kernel messages for crashes (:mod:`harness.live.crash`), at any time.

Waiting is pexpect's: :class:`_DrainedSpawn` is a :class:`pexpect.spawnbase.SpawnBase` whose
reads come from the reader's queue (labgrid's console does the same over its drivers), so
``expect`` works with regexes, ``searchwindowsize`` keeps the search cheap, and ``before``
holds everything up to the match. Every wait names its phase; it ends in a typed error
(:class:`~harness.live.errors.ConsoleTimeout`, :class:`~harness.live.errors.ConsoleEOF`,
:class:`~harness.live.errors.GuestCrash`) carrying the phase, the pattern, the seconds waited,
the console's last lines and the log's path.

The console knows nothing of QEMU: it reads one file descriptor and writes through a callable,
so a socket or a real serial port in a lab serves as well as QEMU's stdio.
"""

from __future__ import annotations

import codecs
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pexpect
from pexpect.spawnbase import SpawnBase

from harness.live.crash import Crash, crash_on_console
from harness.live.errors import ConsoleEOF, ConsoleError, ConsoleTimeout, GuestCrash

TAIL_LINES = 200
SEARCH_WINDOW = 16384
#: After data arrives, wait this long before reading again, so the bytes QEMU writes one at a
#: time (a UART) are taken in one read: it keeps the reader's wake-ups, and so its share of a
#: loaded machine's CPU, small. The pipe holds 64 KiB meanwhile; nothing is lost.
COALESCE_S = 0.01
_CR_BEFORE_LF = re.compile(r"\r+\n")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")


class _Crashed(Exception):
    """Raised inside pexpect's loop when the reader saw a crash; becomes a GuestCrash."""


# pexpect's classes are generic in its type stubs only.
if TYPE_CHECKING:
    _TextSpawn = SpawnBase[str]
else:
    _TextSpawn = SpawnBase


class _DrainedSpawn(_TextSpawn):
    """A pexpect spawn whose input is what the console's reader thread already read."""

    def __init__(self, console: Console, searchwindowsize: int) -> None:
        super().__init__(
            timeout=30,
            maxread=searchwindowsize // 4,
            searchwindowsize=searchwindowsize,
            encoding="utf-8",
            codec_errors="replace",
        )
        self.console = console
        # pexpect sleeps this long after each read by default; the queue blocks instead.
        self.delayafterread = None
        self._eof = False
        self._pending = ""

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        # At most ``size`` (maxread) characters at a time: pexpect searches only the last
        # ``searchwindowsize`` characters after each read, so a marker early in one big read
        # would otherwise be missed.
        if self.console.crash is not None and self.console.crash_detection:
            raise _Crashed()
        if not self._pending:
            self._pending = self._take(self.timeout if timeout == -1 else timeout)
        text, self._pending = self._pending[:size], self._pending[size:]
        return text

    def _take(self, wait: float | None) -> str:
        """What the reader has queued (waiting up to ``wait`` s for something); EOF when the
        console closed."""
        if self._eof:
            self.flag_eof = True
            raise pexpect.EOF("console closed")
        try:
            # Wake up now and then to notice a crash the reader saw in a quiet console.
            item = self.console._queue.get(timeout=min(0.5, wait) if wait is not None else 0.5)
        except queue.Empty:
            return ""
        chunks = []
        while item is not None:
            chunks.append(item)
            try:
                item = self.console._queue.get_nowait()
            except queue.Empty:
                return "".join(chunks)
        self._eof = True
        if chunks:
            return "".join(chunks)
        self.flag_eof = True
        raise pexpect.EOF("console closed")


def readable(lines: Sequence[str]) -> list[str]:
    """``lines`` with each run of three or more base64 lines replaced by one line saying so."""
    shown: list[str] = []
    run: list[str] = []
    for line in lines:
        if len(line) >= 60 and _BASE64_LINE.match(line):
            run.append(line)
            continue
        shown += [f"[{len(run)} lines of base64 data]"] if len(run) >= 3 else run
        run = []
        shown.append(line)
    return shown + ([f"[{len(run)} lines of base64 data]"] if len(run) >= 3 else run)


@dataclass(frozen=True)
class Mark:
    """A phase reached: its name and the seconds since the console started."""

    phase: str
    seconds: float


class Console:
    """A guest console: ``read_fd`` is drained by a thread, ``write`` sends to the guest.

    Args:
        read_fd: the console's output (QEMU's stdout).
        write: sends bytes to the guest's console input.
        log_path: the console log, written as it is read.
        on_eof: called once when the console closes (e.g. to reap QEMU).
        describe_eof: extra words for an EOF error (e.g. QEMU's exit status and stderr).
    """

    def __init__(
        self,
        read_fd: int,
        write: Callable[[bytes], None],
        log_path: Path,
        *,
        describe_eof: Callable[[], str] | None = None,
        searchwindowsize: int = SEARCH_WINDOW,
    ) -> None:
        self._read_fd = read_fd
        self._write = write
        self.log_path = log_path
        self._describe_eof = describe_eof
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""
        self._tail_lock = threading.Lock()
        self.crash: Crash | None = None
        #: Off while the guest prints something that quotes kernel messages back.
        self.crash_detection = True
        self.started = time.monotonic()
        self.marks: list[Mark] = []
        self.closed = threading.Event()
        self._log = log_path.open("w", encoding="utf-8", errors="replace")
        self.spawn = _DrainedSpawn(self, searchwindowsize)
        self._thread = threading.Thread(target=self._drain, name="vfiolab-console", daemon=True)
        self._thread.start()

    # --- the reader -------------------------------------------------------------------------

    def _drain(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending_cr = ""
        try:
            while True:
                try:
                    data = os.read(self._read_fd, 65536)
                except OSError:
                    data = b""
                if data and len(data) < 4096:
                    time.sleep(COALESCE_S)
                text = decoder.decode(data, final=not data)
                # A \r at a chunk's end may be the start of \r\n: hold it back.
                text = pending_cr + text
                pending_cr = ""
                if data and text.endswith("\r"):
                    stripped = text.rstrip("\r")
                    pending_cr = text[len(stripped) :]
                    text = stripped
                text = _CR_BEFORE_LF.sub("\n", text)
                if text:
                    self._log.write(text)
                    self._log.flush()
                    self._watch(text)
                    self._queue.put(text)
                if not data:
                    break
        finally:
            self._log.flush()
            self._queue.put(None)
            self.closed.set()

    def _watch(self, text: str) -> None:
        with self._tail_lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._tail.append(line)
                if self.crash is None and self.crash_detection:
                    found = crash_on_console(line)
                    if found is not None:
                        self.crash = found

    # --- what callers use -------------------------------------------------------------------

    def tail(self, lines: int = 40) -> list[str]:
        """The console's last lines (the unfinished one included), runs of base64 data (the
        dmesg and snapshot transfers) shown as one line each."""
        with self._tail_lock:
            found = list(self._tail)
            if self._partial:
                found.append(self._partial)
        return readable(found)[-lines:]

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def mark(self, phase: str) -> None:
        """Record that ``phase`` was reached now."""
        self.marks.append(Mark(phase, round(self.elapsed(), 3)))

    def send_line(self, text: str) -> None:
        self._write(text.encode() + b"\n")

    def expect(self, patterns: Sequence[str], phase: str, timeout: float) -> re.Match[str]:
        """Wait for the first of ``patterns`` (regexes); returns its match (``.re`` tells which).
        ``before`` holds what came before it."""
        began = time.monotonic()
        shown = " | ".join(patterns)
        kind: type[ConsoleError] = ConsoleTimeout
        detail = ""
        try:
            self.spawn.expect(list(patterns), timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        except (_Crashed, pexpect.EOF):
            self._settle()
            if self.crash is not None and self.crash_detection:
                kind, detail = GuestCrash, f"{self.crash.kind}: {self.crash.line}"
            else:
                kind = ConsoleEOF
                detail = self._describe_eof() if self._describe_eof is not None else ""
        else:
            match = self.spawn.match
            assert isinstance(match, re.Match)
            return match
        raise kind(phase, shown, time.monotonic() - began, tail=self.tail(), log_path=self.log_path, detail=detail)

    @property
    def before(self) -> str:
        """What came before the last match."""
        before: str = self.spawn.before or ""
        return before

    def _settle(self, quiet: float = 0.3, limit: float = 2.0) -> None:
        """Let the rest of a crash report (or QEMU's last words) reach the log and the tail."""
        deadline = time.monotonic() + limit
        last = len(self.tail(TAIL_LINES))
        while time.monotonic() < deadline and not self.closed.wait(quiet):
            now = len(self.tail(TAIL_LINES))
            if now == last:
                break
            last = now

    @contextmanager
    def crash_detection_off(self) -> Iterator[None]:
        """For output that quotes the kernel's messages back (a dmesg dump)."""
        self.crash_detection = False
        try:
            yield
        finally:
            self.crash_detection = True

    def wait_closed(self, timeout: float) -> bool:
        return self.closed.wait(timeout)

    def close(self) -> None:
        """Close the log once the reader has seen the end (stop QEMU first)."""
        if self.closed.wait(5):
            self._log.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
