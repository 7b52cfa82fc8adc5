"""The harness's exception hierarchy: what callers of the library can catch.

    VfiolabError              anything vfiolab reports to a user, one line, no traceback
    └── CheckerError          the checker could not run (no such root, nothing readable): exit 3

Bad scenario or host files raise :class:`fakesys.errors.FakesysError` subclasses (they are the
simulated machine's input) and carry file and line.
"""

from __future__ import annotations


class VfiolabError(Exception):
    """Base of every error vfiolab reports to a user."""


class CheckerError(VfiolabError):
    """The checker could not run: the root does not exist or nothing useful could be read."""
