"""A running guest: QEMU started from a :class:`~harness.live.qemu.Launch`, its console, the boot
handshake with the initramfs's ``/init`` (``harness/live/guest/init``), and the guest's shell.

Boot phases, each with its own timeout (:class:`Timeouts`, one scale factor for all):

- ``kernel``: QEMU started and the kernel printed its banner (``Linux version ...``); a timeout
  here means the kernel never ran;
- ``init``: ``/init`` runs (``@@VFL-INIT <uname -r>``);
- ``ready``: the shell reads commands (``@@VFL-READY``).

Commands: ``/init`` reads one line at a time from the console and ``eval``s it, with the
console's echo off. :meth:`GuestSession.run` frames each command as
``echo @@VFL-B:N; ( COMMAND ) </dev/null 2>&1; echo @@VFL-E:N:$?`` and returns its exit status
and output (kernel messages that the console printed meanwhile are dropped from the output; they
are in the console log and in dmesg). A subshell keeps ``exit`` or ``cd`` in a command from
touching the loop, ``</dev/null`` keeps a command from eating the next ones. Data that must
arrive intact (dmesg, sysfs values, the sysfs snapshot) comes base64-encoded, so a kernel
message printed in the middle cannot corrupt it.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import shlex
import tarfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.live.console import Console, Mark
from harness.live.crash import CONSOLE_KERNEL_LINE
from harness.live.errors import LaunchError, LiveError
from harness.live.process import QemuProcess
from harness.live.qemu import HOST_ROOT_MOUNT, HOST_ROOT_TAG, Launch, prepare_disks

TIMEOUT_SCALE_VARIABLE = "VFIOLAB_LIVE_TIMEOUT_SCALE"
#: Written to the guest's kernel log before the first step: ``since: steps`` starts after it.
STEPS_BEGIN = "vfiolab-live: steps begin"
KMSG_PREFIX = "vfiolab-live: "
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/=]+$")
#: busybox dmesg: ``[    2.345678] text``.
_DMESG_LINE = re.compile(r"^\[\s*(\d+)\.(\d+)\] ?(.*)$")

TimedLine = tuple[int, str]


@dataclass(frozen=True)
class Timeouts:
    """Seconds each phase may take, all multiplied by ``scale``
    (``$VFIOLAB_LIVE_TIMEOUT_SCALE``, e.g. 3 on a slow or busy machine)."""

    kernel: float = 30.0
    init: float = 60.0
    ready: float = 30.0
    command: float = 30.0
    shutdown: float = 15.0
    scale: float = 1.0

    def __call__(self, seconds: float) -> float:
        return seconds * self.scale

    @classmethod
    def from_environment(cls, scale: float | None = None) -> Timeouts:
        if scale is None:
            text = os.environ.get(TIMEOUT_SCALE_VARIABLE, "")
            try:
                scale = float(text) if text else 1.0
            except ValueError:
                raise LiveError(f"{TIMEOUT_SCALE_VARIABLE}={text!r}: expected a number such as 2 or 0.5") from None
        return cls(scale=cls.checked_scale(scale))

    @staticmethod
    def checked_scale(scale: float) -> float:
        """``scale`` when it is usable (NaN fails both comparisons), else a :class:`LiveError`."""
        if not 0 < scale <= 100:
            raise LiveError(f"timeout scale {scale}: expected a number above 0 and at most 100")
        return scale


@dataclass(frozen=True)
class CommandResult:
    command: str
    status: int
    output: str
    seconds: float

    def lines(self) -> list[str]:
        return self.output.splitlines()


def parse_dmesg(text: str) -> list[TimedLine]:
    """busybox ``dmesg`` output as (µs since boot, text); continuation lines keep the stamp of
    the message they continue."""
    lines: list[TimedLine] = []
    for raw in text.splitlines():
        match = _DMESG_LINE.match(raw)
        if match is not None:
            seconds, fraction, message = match.groups()
            lines.append((int(seconds) * 1_000_000 + int(fraction.ljust(6, "0")[:6]), message))
        elif raw.strip():
            lines.append((lines[-1][0] if lines else 0, raw))
    return lines


def mount_host_root_command() -> str:
    """The guest's shell line that mounts the host's root (9p, read-only) at /host with the
    guest's /proc, /sys and /dev over the host's, and a writable /dev/shm, so ``chroot /host``
    runs the host's programs on the guest's kernel (the 9p modules must be loaded)."""
    root = HOST_ROOT_MOUNT
    return (
        f"mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose {HOST_ROOT_TAG} {root}"
        f" && mount -t proc proc {root}/proc && mount -t sysfs sysfs {root}/sys"
        f" && mount -t devtmpfs devtmpfs {root}/dev && mkdir -p {root}/dev/shm"
        f" && mount -t tmpfs -o mode=1777 tmpfs {root}/dev/shm"
    )


def _without_kernel_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if CONSOLE_KERNEL_LINE.match(line) is None)


def _decode_base64(text: str, what: str) -> bytes:
    payload = "".join(line.strip() for line in text.splitlines() if _BASE64_LINE.match(line.strip()))
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise LiveError(f"{what}: the guest's base64 did not decode ({error})") from None


class GuestSession:
    """A guest under QEMU: :meth:`start` it, :meth:`boot` it, :meth:`run` commands, then
    :meth:`poweroff`; :meth:`close` (or leaving the ``with`` block) kills QEMU in any case.

    Args:
        launch: the QEMU command (:func:`harness.live.qemu.build_launch`).
        workdir: where the console log (``console.log``), QEMU's stderr (``qemu.log``) and disk
            images go.
        pass_fds: file descriptors QEMU inherits (e.g. an ``x-pci-proxy-dev``'s socket).
    """

    def __init__(
        self,
        launch: Launch,
        workdir: Path,
        *,
        timeouts: Timeouts | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.launch = launch
        self.workdir = workdir
        self.timeouts = timeouts or Timeouts.from_environment()
        self.process = QemuProcess(launch.argv, workdir / "qemu.log", pass_fds)
        self._console: Console | None = None
        self.kernel_release = ""
        self.ready = False
        self._counter = 0

    @property
    def console(self) -> Console:
        if self._console is None:
            raise LaunchError("the guest was not started")
        return self._console

    @property
    def marks(self) -> list[Mark]:
        """The phases reached so far, with their times."""
        return list(self._console.marks) if self._console is not None else []

    def tail(self, lines: int = 40) -> list[str]:
        """The console's last lines (empty before the start)."""
        return self._console.tail(lines) if self._console is not None else []

    def start(self) -> GuestSession:
        """Create the disk images and start QEMU; the console is drained from here on."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        prepare_disks(self.launch)
        (self.workdir / "qemu-command.txt").write_text(self.launch.quoted() + "\n")
        self.process.start()
        self._console = Console(
            self.process.stdout_fd, self.process.write, self.workdir / "console.log", describe_eof=self._qemu_exit
        )
        return self

    def _qemu_exit(self) -> str:
        status = self.process.wait(2)
        said = self.process.stderr_tail(5)
        words = f"QEMU exit status {status}" if status is not None else "the console closed"
        return words + (": " + " / ".join(said) if said else "")

    def boot(self) -> None:
        """Wait through the boot phases until the guest's shell reads commands."""
        console = self.console
        console.expect([r"Linux version \S+"], "kernel", self.timeouts(self.timeouts.kernel))
        console.mark("kernel")
        match = console.expect([r"@@VFL-INIT (\S+)\n"], "init", self.timeouts(self.timeouts.init))
        self.kernel_release = match.group(1)
        console.mark("init")
        console.expect([r"@@VFL-READY\n"], "ready", self.timeouts(self.timeouts.ready))
        console.mark("ready")
        self.ready = True

    def run(
        self, command: str, *, phase: str = "command", timeout: float | None = None, kernel_lines: bool = False
    ) -> CommandResult:
        """Run one shell command (one line) in the guest; its status and output (stdout and
        stderr). ``timeout`` is in unscaled seconds (default: :attr:`Timeouts.command`)."""
        if "\n" in command:
            raise ValueError("a guest command is one line")
        self._counter += 1
        number = self._counter
        limit = self.timeouts(timeout if timeout is not None else self.timeouts.command)
        began = time.monotonic()
        self.console.send_line(f"echo @@VFL-B:{number}; ( {command} ) </dev/null 2>&1; echo @@VFL-E:{number}:$?")
        self.console.expect([rf"@@VFL-B:{number}\n"], phase, limit)
        match = self.console.expect([rf"@@VFL-E:{number}:(\d+)\n"], phase, max(0.0, limit - (time.monotonic() - began)))
        output = self.console.before
        if output.endswith("\n"):
            output = output[:-1]
        if not kernel_lines:
            output = _without_kernel_lines(output)
        return CommandResult(command, int(match.group(1)), output, time.monotonic() - began)

    def check(self, command: str, *, phase: str, timeout: float | None = None) -> CommandResult:
        """:meth:`run` for the harness's own setup: a non-zero status is a :class:`LiveError`."""
        result = self.run(command, phase=phase, timeout=timeout)
        if result.status != 0:
            said = " / ".join(result.lines()[-3:])
            raise LiveError(f"phase {phase!r}: {command} exited {result.status}" + (f": {said}" if said else ""))
        return result

    def _transfer(self, command: str, *, phase: str) -> bytes:
        """The bytes ``command`` prints, sent base64-encoded over the console."""
        with self.console.crash_detection_off():
            result = self.run(f"{command} | base64", phase=phase)
        return _decode_base64(result.output, phase)

    def modprobe(self, names: Iterable[str], *, phase: str = "modules") -> None:
        wanted = list(names)
        if wanted:
            self.check("modprobe -a " + " ".join(shlex.quote(name) for name in wanted), phase=phase)

    def mount_host_root(self) -> None:
        """Mount the host's root at /host (:func:`mount_host_root_command`)."""
        self.check(mount_host_root_command(), phase="host-root")

    def kmsg(self, text: str) -> None:
        """A line in the guest's kernel log (``vfiolab-live: TEXT``), at info level."""
        self.check(f"echo {shlex.quote('<6>' + KMSG_PREFIX + text)} > /dev/kmsg", phase="kmsg")

    def dmesg(self) -> list[TimedLine]:
        """The guest's whole kernel log."""
        return parse_dmesg(self._transfer("dmesg", phase="dmesg").decode(errors="replace"))

    def read_values(self, paths: Sequence[str], binary: Sequence[str] = ()) -> dict[str, str | None]:
        """Each path's content (trailing newline dropped), a symlink's target name, or None when
        it does not exist: what ``guest_sysfs`` compares. The paths in ``binary`` (a ``config``
        file) come as hex bytes separated by spaces."""
        if not paths:
            return {}
        quoted = " ".join(shlex.quote(path) for path in paths)
        script = (
            f'for p in {quoted}; do if [ -L "$p" ]; then echo @@V:L; readlink "$p" | base64;'
            ' elif [ -e "$p" ]; then echo @@V:F; cat "$p" 2>/dev/null | base64; else echo @@V:N; fi; done'
        )
        with self.console.crash_detection_off():
            result = self.run(script, phase="guest-sysfs")
        parts = re.split(r"^@@V:([LFN])$", result.output, flags=re.MULTILINE)[1:]
        kinds, bodies = parts[0::2], parts[1::2]
        if len(kinds) != len(paths):
            raise LiveError(f"phase 'guest-sysfs': expected {len(paths)} values, the guest gave {len(kinds)}")
        values: dict[str, str | None] = {}
        for path, kind, body in zip(paths, kinds, bodies, strict=True):
            if kind == "N":
                values[path] = None
                continue
            raw = _decode_base64(body, "guest-sysfs")
            if path in binary and kind == "F":
                values[path] = raw.hex(" ")
                continue
            text = raw.decode(errors="replace")
            text = text[:-1] if text.endswith("\n") else text
            values[path] = text.rsplit("/", 1)[-1] if kind == "L" else text
        return values

    def snapshot(self, destination: Path) -> Path:
        """The guest's PCI sysfs, in the kernel's layout, under ``destination/sys`` (host
        ``lspci -A linux-sysfs -O sysfs.path=DESTINATION/sys/bus/pci`` reads it)."""
        with self.console.crash_detection_off():
            result = self.run("sh /live/snapshot.sh", phase="snapshot", timeout=60)
        _, _, rest = result.output.partition("@@VFL-SNAPSHOT-BEGIN")
        body, found, _ = rest.partition("@@VFL-SNAPSHOT-END")
        if not found:
            raise LiveError("phase 'snapshot': the guest printed no snapshot")
        archive = _decode_base64(body, "snapshot")
        destination.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(destination, filter=_inside_destination)
        return destination

    def poweroff(self) -> None:
        """Power the guest off and wait for QEMU to exit (killed when it does not in time)."""
        if self._console is None or self.process.poll() is not None:
            return
        self.console.send_line("poweroff -f")
        if not self.console.wait_closed(self.timeouts(self.timeouts.shutdown)):
            self.process.kill()
        self.process.wait(self.timeouts(self.timeouts.shutdown))

    def close(self) -> None:
        """Kill QEMU (if it still runs) and close the console log."""
        self.process.kill()
        if self._console is not None:
            self._console.close()

    def __enter__(self) -> GuestSession:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _inside_destination(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, skipping (not failing on) a member it refuses."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None
