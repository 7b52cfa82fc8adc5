"""The harness's exception hierarchy: what callers of the library can catch, and the exit code
the command line gives each (``harness.exitcodes``).

    VfiolabError                  anything vfiolab reports to a user: one line, no traceback
    ├── UsageError                bad or conflicting arguments                       exit 64
    ├── InputError                malformed input data (scenario, dump, root, ...)    exit 65
    │   └── PasteError            a pasted report (lspci text) that cannot be imported, at file:line
    ├── NoInputError              an input file that does not exist or cannot be read exit 66
    ├── RefusedError              a request refused because acting would be unsafe    exit 2
    ├── CannotRunError            root unreadable, a tool missing, infrastructure    exit 3
    │   ├── CheckerError          the checker could not run
    │   └── LiveError             a live run could not be carried out (harness.live.errors)
    ├── OutputError               an output cannot be created or would be replaced   exit 73
    └── BusyError                 another vfiolab process holds a directory's lock   exit 75

Bad scenario, host and device files raise :class:`fakesys.errors.FakesysError` subclasses (they
are the simulated machine's input; fakesys cannot import this module); the command line treats
them as :class:`InputError`.
"""

from __future__ import annotations

from harness import exitcodes


class VfiolabError(Exception):
    """Base of every error vfiolab reports to a user."""

    exit_code = exitcodes.CANNOT_RUN


class UsageError(VfiolabError):
    """Arguments that are wrong, or do not apply together (``--domain-xml`` with ``proxmox``)."""

    exit_code = exitcodes.USAGE


class InputError(VfiolabError):
    """Input data that is malformed: a scenario, device description, hex dump, journal or root."""

    exit_code = exitcodes.DATA


class PasteError(InputError):
    """A pasted bug report that cannot be imported at all: too large, too many lines, or no
    ``lspci`` output in it. The message starts with ``source:line:``."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.reason = message


class NoInputError(VfiolabError):
    """An input file named on the command line does not exist or cannot be read."""

    exit_code = exitcodes.NO_INPUT


class RefusedError(VfiolabError):
    """A request refused because carrying it out could harm the host (``lab run --yes`` on the
    real root without root privileges, a device the host is using)."""

    exit_code = exitcodes.FAIL


class CannotRunError(VfiolabError):
    """The command could not run: an unreadable root, a missing tool, an infrastructure failure."""

    exit_code = exitcodes.CANNOT_RUN


class CheckerError(CannotRunError):
    """The checker could not run: the root does not exist or nothing useful could be read."""


class OutputError(VfiolabError):
    """An output file or directory cannot be created, or exists and would be replaced."""

    exit_code = exitcodes.CANNOT_CREATE


class BusyError(VfiolabError):
    """Another vfiolab process holds the lock on a directory this command must write."""

    exit_code = exitcodes.BUSY
