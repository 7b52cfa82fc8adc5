"""How the simulated machine's errors reach a user: each :class:`fakesys.errors.FakesysError` as
the :mod:`harness.errors` error that carries its exit code.

fakesys cannot import harness (it is the simulated machine, not the tool), so its errors say
what went wrong and this module says what it means for a command: an output directory that
cannot be used is :class:`~harness.errors.OutputError` (73), one another process is rendering
into is :class:`~harness.errors.BusyError` (75), a file that cannot be read at all is
:class:`~harness.errors.UnreadableInputError` (66), anything else is bad input data,
:class:`~harness.errors.InputError` (65).
"""

from __future__ import annotations

from fakesys.errors import DirectoryBusyError, FakesysError, OutputDirectoryError, UnreadableFileError
from harness.errors import BusyError, InputError, OutputError, UnreadableInputError, VfiolabError


def vfiolab_error(error: FakesysError) -> VfiolabError:
    """The harness error, with its exit code, that reports ``error`` (same message)."""
    if isinstance(error, DirectoryBusyError):
        return BusyError(str(error))
    if isinstance(error, OutputDirectoryError):
        return OutputError(str(error))
    if isinstance(error, UnreadableFileError):
        return UnreadableInputError(str(error))
    return InputError(str(error))
