"""Report files written atomically: a temporary file beside the target, then a rename, so a
reader (CI collecting JUnit) never sees half a file; missing parent directories are created and
any failure is one :class:`~harness.errors.OutputError` naming the option."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from harness.errors import OutputError


def check_output_path(path: Path, option: str) -> None:
    """Refuse, before anything runs, a path the report could not be written to (a directory)."""
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; name the file to write")


def write_atomically(path: Path, data: bytes, option: str, durable: bool = False) -> None:
    """``durable``: fsync the data before the rename (a journal that must survive a crash)."""
    check_output_path(path, option)
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise OutputError(f"{option} {path}: cannot write: {error.strerror or error}") from None
