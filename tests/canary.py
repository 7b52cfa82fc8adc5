"""What hostile-input tests share: a canary directory whose every byte and link is snapshotted
before a command runs and compared after, and the command line run in-process with its exit
code and both streams."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

Snapshot = dict[str, tuple[str, bytes | str]]


def snapshot(directory: Path) -> Snapshot:
    """Every entry below ``directory`` (not following symlinks): kind and content or target."""
    found: Snapshot = {}
    for current, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(current) / name
            relative = str(path.relative_to(directory))
            if path.is_symlink():
                found[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                found[relative] = ("dir", b"")
            else:
                found[relative] = ("file", path.read_bytes())
    return found


def make_canary(directory: Path) -> Path:
    """A directory with a file, a subdirectory and a symlink, for hostile input to aim at."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "secret").write_text("do not read or replace me\n")
    (directory / "sub").mkdir(exist_ok=True)
    (directory / "sub" / "keep").write_text("keep\n")
    if not (directory / "link").is_symlink():
        (directory / "link").symlink_to("secret")
    return directory


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def assert_one_line_error(self, code: int, fragment: str) -> None:
        """Exit ``code``, exactly one line on stderr holding ``fragment``, no traceback."""
        assert self.code == code, (self.code, self.stderr)
        assert "Traceback" not in self.stderr
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, self.stderr
        assert fragment in lines[0], lines[0]


def run_cli(*args: str) -> Outcome:
    """``vfiolab ARGS`` in this process (``harness.cli.main``), streams captured."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Outcome(code, out.getvalue(), err.getvalue())
