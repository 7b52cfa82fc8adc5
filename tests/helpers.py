"""Helpers several test modules share: running the vfiolab command as a user would, and finding
the real system tools the tests use as judges."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

REPO = Path(__file__).resolve().parent.parent


def vfiolab(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``vfiolab ARGS`` through this interpreter (no PATH lookup), output captured. The checkout
    under test comes first on the module path whatever ``cwd`` is, so a test run from another
    directory never reaches an older installed copy."""
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        env=environment,
    )


def system_tool(name: str, package: str | None = None) -> str:
    """The path of a real tool (also in the sbin directories a non-root PATH lacks); the test
    fails, naming the Debian package, when it is missing."""
    found = shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(path)), None
    )
    if found is None:
        pytest.fail(f"{name} is not installed: run ci/install-system-packages.sh ({package or 'see that script'})")
    return found


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail with TimeoutError instead of hanging (a FIFO opened for reading blocks until a
    writer comes). Main thread only (SIGALRM)."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
