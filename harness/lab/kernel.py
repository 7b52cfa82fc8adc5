"""The kernel interface the lab exercises, as a protocol, and its implementation on a real root.

:class:`LabKernel` is everything ``vfiolab lab`` does to and reads from a host: sysfs writes
(``driver_override``, ``unbind``/``bind``, ``drivers_probe``, ``reset``), sysfs reads (driver,
override, config space), a VFIO cycle in QEMU's order, and the kernel log lines the run produced.
:class:`HostKernel` does them on a root directory (``/`` on a lab host, the host's root
entered with ``chroot`` in a live guest); the simulated kernel behind a rendered fakesys root
(:mod:`harness.scenario.labkernel`) is the same protocol for tests. Every path is built from a
canonical PCI address and a driver name checked here, never from data unchecked.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.pci.address import Bdf
from harness.sysfs import PCI_DEVICES, PCI_DRIVERS

_DRIVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
#: sysfs attributes are at most a page; config space at most 4096 bytes.
_READ_LIMIT = 4096


@dataclass
class VfioCycle:
    """What opening the device through VFIO, resetting it in QEMU's order and releasing it gave."""

    opened: bool
    #: True: one of QEMU's resets worked; False: none did; None: not tried (open failed).
    reset_worked: bool | None
    lines: list[str] = field(default_factory=list)
    error: str | None = None


#: Called at a phase boundary inside a kernel operation (``open``, ``reset``).
PhaseHook = Callable[[str], object]


class LabKernel(Protocol):
    """What the lab needs from the kernel of the host it runs on."""

    root: Path

    def write(self, relative: str, value: str) -> None:
        """Write ``value`` to the sysfs file ``relative`` (below the root); OSError on failure."""
        ...

    def read(self, relative: str) -> bytes | None:
        """A sysfs file's bytes (at most a page), or None when it is absent or unreadable."""
        ...

    def driver(self, address: str) -> str | None:
        """The driver the device is bound to, or None."""
        ...

    def vfio_cycle(self, address: str, phase: PhaseHook | None = None) -> VfioCycle:
        """Open the device through VFIO, reset it in QEMU's order, read config space, release;
        ``phase`` is called with ``open`` before the open and ``reset`` before the resets (an
        exception it raises ends the cycle, the device released)."""
        ...

    def new_log_lines(self) -> list[str]:
        """The kernel log lines since the last call (the first call: since the kernel was opened)."""
        ...


def driver_name(name: str) -> str:
    if not _DRIVER_NAME.match(name):
        raise ValueError(f"not a driver name: {name[:70]!r}")
    return name


def device_file(address: str, attribute: str) -> str:
    return f"{PCI_DEVICES}/{Bdf.parse(address)}/{attribute}"


def driver_file(driver: str, attribute: str) -> str:
    return f"{PCI_DRIVERS}/{driver_name(driver)}/{attribute}"


class HostKernel:
    """The real kernel's interfaces under ``root``: sysfs files, ``/dev/vfio`` through
    :mod:`harness.live.vfio`, ``/dev/kmsg``."""

    def __init__(self, root: Path | str = "/") -> None:
        self.root = Path(root)
        self._kmsg = self._open_kmsg()

    def _path(self, relative: str) -> str:
        parts = relative.split("/")
        if not relative.startswith("sys/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"not a sysfs path below the root: {relative!r}")
        return os.path.join(self.root, relative)

    def write(self, relative: str, value: str) -> None:
        # O_TRUNC as a shell's redirection: sysfs ignores it, a plain file needs it.
        fd = os.open(self._path(relative), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def read(self, relative: str) -> bytes | None:
        try:
            fd = os.open(self._path(relative), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return os.read(fd, _READ_LIMIT)
        except OSError:
            return None
        finally:
            os.close(fd)

    def driver(self, address: str) -> str | None:
        try:
            target = os.readlink(self._path(device_file(address, "driver")))
        except OSError:
            return None
        return target.rsplit("/", 1)[-1] or None

    def vfio_cycle(self, address: str, phase: PhaseHook | None = None) -> VfioCycle:
        from harness.live import vfio

        lines: list[str] = []
        if phase is not None:
            phase("open")
        try:
            session = vfio.VfioSession(address, root=str(self.root))
        except vfio.VfioError as error:
            return VfioCycle(False, None, lines, str(error))
        with session:
            assert session.device is not None
            lines.append(f"vfio: group {session.group.number} opened, device {address}")
            if phase is not None:
                phase("reset")
            try:
                info = session.device.info()
                config = session.device.read_config(0, 256)
                worked = vfio.qemu_reset(session, info.can_reset, config, lines.append)
            except vfio.VfioError as error:
                return VfioCycle(True, False, lines, str(error))
        return VfioCycle(True, worked, lines)

    def _open_kmsg(self) -> int | None:
        try:
            fd = os.open(os.path.join(self.root, "dev", "kmsg"), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            os.lseek(fd, 0, os.SEEK_END)
        except OSError:
            os.close(fd)
            return None
        return fd

    def new_log_lines(self) -> list[str]:
        """Records from ``/dev/kmsg`` (``prio,seq,usec,flags;text``: the text is kept)."""
        if self._kmsg is None:
            return []
        lines = []
        while True:
            try:
                record = os.read(self._kmsg, 8192)
            except OSError as error:
                if error.errno == errno.EPIPE:  # overwritten before read: skip ahead
                    continue
                break
            if not record:
                break
            text = record.decode("utf-8", "replace").split(";", 1)[-1].split("\n", 1)[0]
            lines.append(text)
        return lines

    def close(self) -> None:
        if self._kmsg is not None:
            os.close(self._kmsg)
            self._kmsg = None
