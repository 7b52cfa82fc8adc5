"""A tree of files and relative symlinks: written to a file system, or kept in memory.

The renderer describes a root as operations on paths relative to that root. :class:`TreeWriter`
performs them with the ``os`` module: on a real directory real tools (``lspci``) can read the
result, and under pyfakefs, which patches ``os``, the same writer fills the fake file system.
:class:`MemoryTree` keeps the same operations in a dictionary, for reading the rendered view
back quickly (scenario expectations) without touching a disk.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from dataclasses import dataclass, field
from typing import Protocol

from fakesys.errors import OutputDirectoryError
from fakesys.names import MARKER


def relative_target(directory: str, target: str) -> str:
    """``target`` as seen from ``directory`` (both root-relative, normalised): what
    posixpath.relpath gives, without its absolute-path work (this runs for every link)."""
    here = directory.split("/") if directory else []
    there = target.split("/")
    common = 0
    while common < len(here) and common < len(there) and here[common] == there[common]:
        common += 1
    return "/".join([".."] * (len(here) - common) + there[common:]) or "."


class Tree(Protocol):
    """What the renderer writes to."""

    def directory(self, relative: str) -> None: ...

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> None: ...

    def link(self, relative: str, target: str) -> None: ...

    def mark(self) -> None: ...


class TreeWriter:
    """Writes files, directories and relative symlinks below ``root``, and nowhere else.

    Every relative path is checked (no absolute, empty, ``.`` or ``..`` components) and every
    directory on the way is created by the writer or, if it was there before, checked to be a
    real directory, never a symlink: so neither a name that slipped through validation nor a
    symlink planted in the tree (or one the writer made itself) can lead a write outside
    ``root``. Files are opened with ``O_NOFOLLOW``. A refused path raises
    :class:`~fakesys.errors.OutputDirectoryError`.
    """

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self._made: set[str] = set()
        self._links: set[str] = set()

    def _abs(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def _refuse(self, relative: str, why: str) -> OutputDirectoryError:
        return OutputDirectoryError(f"{self.root}: refusing to write {relative!r}: {why}")

    def _check(self, relative: str) -> None:
        if relative.startswith("/") or any(part in ("", ".", "..") for part in relative.split("/")):
            raise self._refuse(relative, "not a plain path inside the root")

    def directory(self, relative: str) -> None:
        if relative in self._made:
            return
        if not relative:
            os.makedirs(self.root, exist_ok=True)
            self._made.add(relative)
            return
        self._check(relative)
        parent = posixpath.dirname(relative)
        self.directory(parent)
        if relative in self._links:
            raise self._refuse(relative, "it is a symlink the render made")
        path = self._abs(relative)
        try:
            os.mkdir(path)
        except FileExistsError:
            info = os.lstat(path)
            if not stat.S_ISDIR(info.st_mode):
                raise self._refuse(relative, "something that is not a directory is in the way") from None
        self._made.add(relative)

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> None:
        self._check(relative)
        self.directory(posixpath.dirname(relative))
        data = content.encode() if isinstance(content, str) else content
        try:
            fd = os.open(
                self._abs(relative), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode
            )
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise self._refuse(relative, "it is a symlink") from None
            raise
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def link(self, relative: str, target: str) -> None:
        """A symlink at ``relative`` pointing at root-relative ``target``, written relative."""
        self._check(relative)
        self._check(target)
        parent = posixpath.dirname(relative)
        self.directory(parent)
        os.symlink(relative_target(parent, target), self._abs(relative))
        self._links.add(relative)

    def mark(self) -> None:
        self.file(MARKER, "written by vfiolab fakesys render; safe to delete\n")


@dataclass
class MemoryTree:
    """The rendered tree kept in memory: files by path, symlinks by path (root-relative)."""

    files: dict[str, bytes] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)

    def directory(self, relative: str) -> None:
        while relative and relative not in self.directories:
            self.directories.add(relative)
            relative = posixpath.dirname(relative)

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> None:
        self.directory(posixpath.dirname(relative))
        self.files[relative] = content.encode() if isinstance(content, str) else content

    def link(self, relative: str, target: str) -> None:
        self.directory(posixpath.dirname(relative))
        self.links[relative] = target

    def mark(self) -> None:
        self.file(MARKER, "written by vfiolab fakesys render; safe to delete\n")

    def resolve(self, path: str) -> str:
        """Follow symlinks in every component of a root-relative path."""
        parts = [part for part in path.strip("/").split("/") if part]
        resolved: list[str] = []
        hops = 0
        while parts:
            resolved.append(parts.pop(0))
            current = "/".join(resolved)
            if current in self.links:
                hops += 1
                if hops > 40:
                    raise OSError(f"too many levels of symbolic links: {path}")
                resolved = self.links[current].split("/")
        return "/".join(resolved)

    def exists(self, path: str) -> bool:
        resolved = self.resolve(path)
        return resolved in self.files or resolved in self.directories

    def read(self, path: str) -> bytes | None:
        return self.files.get(self.resolve(path))

    def link_at(self, path: str) -> str | None:
        """The symlink at ``path`` itself (its parents resolved), as a root-relative target."""
        parent, name = posixpath.split(path.strip("/"))
        return self.links.get(posixpath.join(self.resolve(parent), name) if parent else name)

    def readlink_name(self, path: str) -> str | None:
        """The last component of a symlink's target (``driver`` -> ``vfio-pci``)."""
        target = self.link_at(path)
        return None if target is None else posixpath.basename(target)
