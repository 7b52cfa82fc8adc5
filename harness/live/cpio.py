"""Writing initramfs archives: the ``newc`` cpio format the kernel unpacks (its own reader is
``init/initramfs.c``; the format is documented in the kernel's
``Documentation/driver-api/early-userspace/buffer-format.rst``).

Written in Python so that building a guest needs no ``cpio`` binary and no root: device nodes
(``/dev/console``) and ownership (root) are plain header fields here. Entries are written in the
order given; every parent directory must come before its children, as the kernel creates them
in order.
"""

from __future__ import annotations

import stat
from typing import BinaryIO

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


class NewcWriter:
    """Appends entries to a newc archive; :meth:`close` writes the trailer."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._inode = 0
        self._written = 0
        self._names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/") or "."
        if name in self._names:
            raise ValueError(f"initramfs entry {name!r} written twice")
        self._names.add(name)
        self._inode += 1
        encoded = name.encode() + b"\0"
        fields = (
            self._inode,
            mode,
            0,  # uid: root
            0,  # gid: root
            2 if stat.S_ISDIR(mode) else 1,
            0,  # mtime: fixed, so the same inputs give the same bytes
            len(data),
            0,
            0,
            rdev[0],
            rdev[1],
            len(encoded),
            0,  # checksum: unused by newc (070701)
        )
        header = _MAGIC + b"".join(b"%08x" % value for value in fields)
        self._write(header + encoded + _pad(len(header) + len(encoded)))
        self._write(data + _pad(len(data)))

    def _write(self, chunk: bytes) -> None:
        self._out.write(chunk)
        self._written += len(chunk)

    def directory(self, name: str, mode: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def close(self) -> int:
        """Write the trailer; returns the archive's size in bytes."""
        self._entry(_TRAILER, 0)
        return self._written
