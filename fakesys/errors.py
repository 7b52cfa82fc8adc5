"""The exceptions fakesys raises for bad input.

Every error a user can cause (a bad data file, a malformed dump, an impossible topology)
derives from :class:`FakesysError` and carries a one-line message; the CLI prints it without a
traceback. ``SourceError`` adds the file and line the problem was found at.
"""

from __future__ import annotations


class FakesysError(Exception):
    """Base class of every user-facing fakesys error."""


class SourceError(FakesysError):
    """A problem in a data file, located by file and line (0 when the file itself is the problem)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        location = f"{path}:{line}" if line else path
        super().__init__(f"{location}: {message}")
        self.path = path
        self.line = line
        self.message = message


class HexDumpError(FakesysError):
    """An ``lspci -x`` style dump that cannot be read back into configuration space."""


class TopologyError(FakesysError):
    """A host whose devices cannot be arranged as the PCI hierarchy it claims."""


class DescriptionError(FakesysError):
    """A device description that cannot be encoded as configuration space."""
