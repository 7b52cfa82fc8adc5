"""The argument parser of every vfiolab entry point (the ``vfiolab`` command and the
``python -m harness.live.proxy`` wrapper): argparse, except that a usage error exits with the
usage code (64, :mod:`harness.exitcodes`). argparse's own code is 2, the code of "a device fails"
or "refused", so a typo in CI would read as the expected verdict.
"""

from __future__ import annotations

import argparse
import sys

from harness import exitcodes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from typing import NoReturn


class UsageParser(argparse.ArgumentParser):
    """argparse whose usage errors exit with the usage code (64), never a verdict code."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")
