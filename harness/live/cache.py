"""vfiolab's cache of live-run assets: ``$XDG_CACHE_HOME/vfiolab/live`` (``~/.cache/...`` when
the variable is unset), and the lock that lets parallel test workers share one build.

Built assets live in ``assets/KEY/``, where KEY is the hash of everything the build used (the
packages' checksums, the module list, the guest scripts, the builder's version), so a changed
input never reuses a stale build and an unchanged one is never rebuilt. A directory appears
under its key only when complete (built beside it, then renamed).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.live.errors import AssetError

LOCK_TIMEOUT = 900.0


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vfiolab" / "live"


@contextmanager
def locked(name: str, root: Path | None = None, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``locks/NAME.lock`` exclusively; other processes wait (up to ``timeout`` s) and
    then find what the holder built."""
    directory = (root or cache_root()) / "locks"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise AssetError(f"cannot use the cache {directory.parent}: {error.strerror}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssetError(
                        f"another vfiolab process has held {directory / name}.lock for {timeout:.0f} s "
                        "(a build that hangs?); try again when it has finished"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(handle)
