"""Temporary roots in memory: where vfiolab writes a root it renders only to read it back
(``check --scenario``, ``generate --scenario``, the scenario runner).

Writing a rendered host is thousands of small files; on a disk that costs a second where a
memory file system (tmpfs) takes milliseconds. So a scratch root goes to ``/dev/shm``, else to
``$XDG_RUNTIME_DIR`` (both tmpfs on systemd hosts), else to the system temporary directory, and
a render that runs out of room (``/dev/shm`` is often only 64 MiB in containers) moves on to the
next place instead of failing.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import OutputError

_NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def scratch_bases() -> list[Path]:
    """Where scratch roots may go, fastest first: memory file systems that exist and are
    writable, then the system temporary directory."""
    candidates = [Path("/dev/shm")]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        candidates.append(Path(runtime))
    bases = [path for path in candidates if path.is_dir() and os.access(path, os.W_OK | os.X_OK)]
    bases.append(Path(tempfile.gettempdir()))
    return bases


@contextmanager
def scratch_root(fill: Callable[[Path], None], prefix: str = "vfiolab-") -> Iterator[Path]:
    """A fresh directory ``.../root`` filled by ``fill`` in the fastest place with room; removed
    afterwards. ``fill`` runs again in the next place when it runs out of room."""
    problem = "no writable temporary directory"
    for base in scratch_bases():
        try:
            holder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        except OSError as error:
            problem = f"{base}: {error.strerror or error}"
            continue
        root = holder / "root"
        try:
            fill(root)
        except OSError as error:
            shutil.rmtree(holder, ignore_errors=True)
            if error.errno in _NO_ROOM:
                problem = f"{base}: {error.strerror}"
                continue
            raise OutputError(f"{root}: cannot write the temporary root: {error.strerror or error}") from None
        except BaseException:
            shutil.rmtree(holder, ignore_errors=True)
            raise
        try:
            yield root
        finally:
            shutil.rmtree(holder, ignore_errors=True)
        return
    raise OutputError(f"cannot create a temporary root ({problem})")
