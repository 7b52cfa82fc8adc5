"""A tree of files and relative symlinks, written to any file system the ``os`` module reaches.

The renderer describes a root as operations on paths relative to that root; :class:`TreeWriter`
performs them. Under pyfakefs the ``os`` module is patched, so the same writer fills a fake file
system; on a real directory it writes real files that subprocesses (``lspci``) can read.
"""

from __future__ import annotations

import os
import posixpath

MARKER = ".vfiolab-root"


def relative_target(directory: str, target: str) -> str:
    """``target`` as seen from ``directory`` (both root-relative, normalised): what
    posixpath.relpath gives, without its absolute-path work (this runs for every link)."""
    here = directory.split("/") if directory else []
    there = target.split("/")
    common = 0
    while common < len(here) and common < len(there) and here[common] == there[common]:
        common += 1
    return "/".join([".."] * (len(here) - common) + there[common:]) or "."


class TreeWriter:
    """Writes files, directories and relative symlinks below ``root``."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") or "/"
        self._made: set[str] = set()

    def _abs(self, relative: str) -> str:
        return f"{self.root}/{relative}" if relative else self.root

    def directory(self, relative: str) -> None:
        if relative in self._made:
            return
        os.makedirs(self._abs(relative), exist_ok=True)
        self._made.add(relative)

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> None:
        self.directory(posixpath.dirname(relative))
        data = content.encode() if isinstance(content, str) else content
        fd = os.open(self._abs(relative), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def link(self, relative: str, target: str) -> None:
        """A symlink at ``relative`` pointing at root-relative ``target``, written relative."""
        parent = posixpath.dirname(relative)
        self.directory(parent)
        os.symlink(relative_target(parent, target), self._abs(relative))

    def mark(self) -> None:
        self.file(MARKER, "written by vfiolab fakesys render; safe to delete\n")
