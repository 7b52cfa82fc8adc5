"""Shared fixtures: scenario roots rendered once per session, and the real lspci."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness.scenario import load_scenario
from tests.helpers import system_tool

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
REFERENCE_IDS = DATA / "reference.pci.ids"

RenderRoot = Callable[..., Path]
RunLspci = Callable[..., str]


@pytest.fixture(scope="session")
def scenario_root(tmp_path_factory: pytest.TempPathFactory) -> RenderRoot:
    """Render a scenario (by name or path) once per session; returns the root directory."""
    cache: dict[tuple[str, bool], Path] = {}

    def make(name: str, unprivileged: bool = False) -> Path:
        key = (name, unprivileged)
        if key not in cache:
            root = tmp_path_factory.mktemp("root")
            render(
                FakeKernel(load_scenario(str(REPO / "scenarios" / f"{name}.yaml") if "/" not in name else name).host),
                str(root),
                unprivileged,
            )
            cache[key] = root
        return cache[key]

    return make


@pytest.fixture(scope="session")
def final_root(tmp_path_factory: pytest.TempPathFactory) -> RenderRoot:
    """A shipped scenario after its steps (VM starts, writes...), rendered once per session."""
    from harness.scenario.runner import render_final_root

    cache: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in cache:
            root = tmp_path_factory.mktemp(name) / "root"
            render_final_root(load_scenario(str(REPO / "scenarios" / f"{name}.yaml")), root)
            cache[name] = root
        return cache[name]

    return make


def lspci_path() -> str:
    return system_tool("lspci", "pciutils")


@pytest.fixture(scope="session")
def lspci() -> RunLspci:
    """Run the real lspci on a rendered root with the reference's pci.ids and no hwdb."""

    def run(root: Path, *args: str, ids: Path | None = REFERENCE_IDS) -> str:
        command = [lspci_path(), "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-O", "hwdb.disable=1"]
        if ids is not None:
            command += ["-i", str(ids)]
        completed = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    return run


@pytest.fixture
def chdir_repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(REPO)
    yield REPO


#: Room a tmpfs needs for ``scratch`` to use it (CI containers often have a 64 MiB /dev/shm).
_SCRATCH_ROOM = 512 * 1024 * 1024


@contextmanager
def tmpfs_directory(fallback: Path, prefix: str = "vfiolab-test-") -> Iterator[Path]:
    """A fresh empty directory on tmpfs (/dev/shm) when it is writable and has room, else
    ``fallback``; removed afterwards. Rendering and copying roots runs several times faster off
    the disk; rename, flock and symlinks behave the same on both."""
    shm = Path("/dev/shm")
    try:
        usable = os.access(shm, os.W_OK | os.X_OK) and shutil.disk_usage(shm).free >= _SCRATCH_ROOM
    except OSError:
        usable = False
    if not usable:
        yield fallback
        return
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A fresh empty directory on tmpfs when there is room (:func:`tmpfs_directory`), else
    ``tmp_path``. Tests that render many roots run several times faster there."""
    with tmpfs_directory(tmp_path) as directory:
        yield directory
