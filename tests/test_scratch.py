"""Temporary roots go to memory first and move on when a place runs out of room."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest

from harness import scratch
from harness.errors import OutputError


def test_memory_file_systems_come_before_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    bases = scratch.scratch_bases()
    assert bases[-1] == Path(tempfile.gettempdir())
    assert runtime in bases and bases.index(runtime) < len(bases) - 1
    if Path("/dev/shm").is_dir():
        assert bases[0] == Path("/dev/shm")


def test_a_render_that_runs_out_of_room_moves_on_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, roomy = tmp_path / "full", tmp_path / "roomy"
    full.mkdir()
    roomy.mkdir()
    monkeypatch.setattr(scratch, "scratch_bases", lambda: [full, roomy])
    attempts: list[Path] = []

    def fill(root: Path) -> None:
        attempts.append(root)
        root.mkdir()
        (root / "file").write_text("x")
        if root.is_relative_to(full):
            raise OSError(errno.ENOSPC, "No space left on device")

    with scratch.scratch_root(fill) as root:
        assert root.is_relative_to(roomy) and (root / "file").read_text() == "x"
    assert [path.parent.parent for path in attempts] == [full, roomy]
    assert list(full.iterdir()) == [] and list(roomy.iterdir()) == []


def test_other_write_errors_are_one_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "scratch_bases", lambda: [tmp_path])

    def fill(root: Path) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    with pytest.raises(OutputError, match="Permission denied"), scratch.scratch_root(fill):
        pass
    assert list(tmp_path.iterdir()) == []


def test_no_room_anywhere_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "scratch_bases", lambda: [tmp_path])

    def fill(root: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="No space left"), scratch.scratch_root(fill):
        pass
