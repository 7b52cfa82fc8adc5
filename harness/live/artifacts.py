"""Where a live run keeps its files: the console log, QEMU's command and stderr, the guest's
dmesg and sysfs snapshot, disk images and ``result.json``.

With ``--keep DIR`` each run writes to ``DIR/SCENARIO-KERNEL`` and leaves it; otherwise a
temporary directory is used and removed when the run passes, kept (and named in the report) when
it does not. A kept directory is only ever replaced when a previous live run wrote it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness.errors import OutputError

MARKER = ".vfiolab-live"


class Artifacts:
    """The directory of one run."""

    def __init__(self, name: str, keep: Path | None = None) -> None:
        self.requested = keep is not None
        if keep is None:
            self.path = Path(tempfile.mkdtemp(prefix=f"vfiolab-live-{name}-"))
        else:
            self.path = keep / name
            if self.path.exists() and any(self.path.iterdir()):
                if not (self.path / MARKER).exists():
                    raise OutputError(f"{self.path} is not empty and was not written by a vfiolab live run")
                shutil.rmtree(self.path)
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise OutputError(f"cannot create {self.path}: {error.strerror}") from None
        (self.path / MARKER).write_text("written by vfiolab live run; replaced by the next run with --keep\n")

    def finish(self, keep: bool) -> Path | None:
        """Leave the files (returns where) or remove them (returns None)."""
        if keep or self.requested:
            return self.path
        shutil.rmtree(self.path, ignore_errors=True)
        return None
