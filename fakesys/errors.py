"""The exceptions fakesys raises for bad input and unusable output directories.

Every error a user can cause derives from :class:`FakesysError` and carries a one-line message;
the CLI prints it without a traceback::

    FakesysError                 bad input data (the CLI exits 65) unless a subclass says otherwise
    ├── SourceError              a problem in a data file, with file and line
    │   └── JournalError         a rendered root's .vfiolab-writes that cannot be used
    ├── HexDumpError             an lspci -x dump that cannot be read back
    ├── TopologyError            devices that cannot form the PCI hierarchy they claim
    ├── DescriptionError         a device description that cannot be encoded
    ├── OutputDirectoryError     the render directory cannot be used (exit 73)
    └── DirectoryBusyError       another process is rendering into it (exit 75)
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x00``): a name taken
    from a hostile file cannot break an error message into several lines."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


class FakesysError(Exception):
    """Base class of every user-facing fakesys error; its message is always one line."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(str(message)))


class SourceError(FakesysError):
    """A problem in a data file, located by file and line (0 when the file itself is the problem)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        location = f"{path}:{line}" if line else path
        super().__init__(f"{location}: {message}")
        self.path = path
        self.line = line
        self.message = message


class UnreadableFileError(SourceError):
    """The data file itself cannot be read: it does not exist, is not a regular file (a FIFO, a
    device, a directory), is larger than the limit, or reading it failed. Its contents were never
    judged, so a command that was given the file reports it as unreadable, not as malformed."""


class HexDumpError(FakesysError):
    """An ``lspci -x`` style dump that cannot be read back into configuration space."""


class TopologyError(FakesysError):
    """A host whose devices cannot be arranged as the PCI hierarchy it claims."""


class DescriptionError(FakesysError):
    """A device description that cannot be encoded as configuration space."""


class OutputDirectoryError(FakesysError):
    """The directory a root is rendered into cannot be used: a symlink, a file, a directory that
    holds something else, or one that cannot be created or written (the CLI exits 73)."""


class DirectoryBusyError(FakesysError):
    """Another process holds the lock on the directory a root is rendered into (the CLI exits
    75: try again when it is done)."""


class JournalError(SourceError):
    """A rendered root's journal of applied writes (``.vfiolab-writes``) that cannot be used: not
    vfiolab's format, damaged, or recorded for another scenario."""
