"""``vfiolab live`` and ``vfiolab scenario run --live`` as a user runs them, and the pytest
plugin's live items, without booting a guest: what happens when live runs cannot happen (no
assets, offline, live runs turned off) and what is printed when they can."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from harness import exitcodes
from harness.live.runner import INFRA_ERROR, run_live
from harness.scenario import load_scenario
from tests.helpers import vfiolab

REPO = Path(__file__).resolve().parent.parent
AHCI = REPO / "scenarios" / "live-intel-ahci.yaml"

pytest_plugins = ["pytester"]


def _environment(cache: Path, *, without_apt: bool = False) -> dict[str, str]:
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if without_apt:
        # No apt-cache: resolving the kernel fails at once, as on a machine without apt.
        environment["PATH"] = str(Path(sys.executable).parent)
    return environment


def _fake_cached_assets(cache: Path, series: str = "6.1") -> Path:
    directory = cache / "vfiolab/live/assets/cafe"
    directory.mkdir(parents=True)
    (directory / "vmlinux").write_bytes(b"\x7fELF")
    (directory / "initramfs.cpio").write_bytes(b"070701")
    manifest = {
        "series": series,
        "kernel_package": "linux-image-6.1.0-99-amd64",
        "kernel_version": "6.1.999-1",
        "kernel_release": "6.1.0-99-amd64",
        "busybox_version": "1:1.35.0-4",
        "modules": ["ahci", "sd_mod"],
        "builtin": [],
        "key": "cafe",
        "build_seconds": 12.5,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_assets_offline_with_an_empty_cache_is_one_line_and_cannot_run(tmp_path: Path) -> None:
    done = vfiolab("live", "assets", "--offline", "--kernel", "6.12", env=_environment(tmp_path))
    assert done.returncode == exitcodes.CANNOT_RUN
    assert done.stderr.strip().splitlines() == [
        f"vfiolab: error: no 6.12 guest in the cache {tmp_path}/vfiolab/live; run vfiolab live assets --kernel 6.12 "
        "once online"
    ]


def test_assets_lists_a_cached_build(tmp_path: Path) -> None:
    directory = _fake_cached_assets(tmp_path)
    done = vfiolab("live", "assets", "--offline", "--kernel", "6.1", env=_environment(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        "6.1: linux-image-6.1.0-99-amd64 6.1.999-1 (uname -r 6.1.0-99-amd64), busybox 1:1.35.0-4",
        f"    {directory} (cached; built in 12.5 s; key cafe)",
    ]


def test_cmdline_prints_the_quoted_command_and_makes_the_disks(tmp_path: Path) -> None:
    directory = _fake_cached_assets(tmp_path / "cache")
    workdir = tmp_path / "work dir"
    done = vfiolab(
        "live",
        "cmdline",
        "live-intel-ahci",
        "--offline",
        "--workdir",
        str(workdir),
        env=_environment(tmp_path / "cache"),
    )
    assert done.returncode == 0, done.stderr
    argv = shlex.split(done.stdout)
    assert argv[0].endswith("qemu-system-x86_64") and argv[argv.index("-kernel") + 1] == str(directory / "vmlinux")
    assert f"if=none,id=ahci0-disk,file={workdir}/ahci0.img,format=raw" in argv
    assert (workdir / "ahci0.img").read_bytes()[:16] == b"LIVEDISK-MARKER!"
    assert f"disk images in {workdir}" in done.stderr
    again = vfiolab(
        "live",
        "cmdline",
        "live-intel-ahci",
        "--offline",
        "--workdir",
        str(workdir),
        env=_environment(tmp_path / "cache"),
    )
    assert again.returncode == exitcodes.CANNOT_CREATE and "is not empty" in again.stderr


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_cmdline_workdir_that_is_not_a_directory_is_73_before_any_asset_is_looked_for(
    tmp_path: Path, kind: str
) -> None:
    workdir = tmp_path / "workdir"
    if kind == "file":
        workdir.write_text("x")
    else:
        os.mkfifo(workdir)
    # An empty cache and no apt: had the assets been looked for first, this would be exit 3.
    done = vfiolab(
        "live", "cmdline", str(AHCI), "--workdir", str(workdir), env=_environment(tmp_path, without_apt=True)
    )
    assert done.returncode == exitcodes.CANNOT_CREATE, done.stderr
    assert done.stderr.strip().splitlines() == [f"vfiolab: error: --workdir {workdir}: exists and is not a directory"]


@pytest.mark.parametrize("scale", ["-1", "0", "nan", "inf", "101", "x"])
def test_a_timeout_scale_out_of_range_is_a_usage_error(tmp_path: Path, scale: str) -> None:
    done = vfiolab("live", "run", str(AHCI), "--timeout-scale", scale, "--offline", env=_environment(tmp_path))
    assert done.returncode == exitcodes.USAGE, done.stderr
    assert "argument --timeout-scale: " in done.stderr and "Traceback" not in done.stderr


def test_run_without_assets_is_an_infra_error_with_the_reason(tmp_path: Path) -> None:
    done = vfiolab("live", "run", "live-intel-ahci", "--kernel", "6.1", "--offline", env=_environment(tmp_path))
    assert done.returncode == exitcodes.CANNOT_RUN, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("INFRA-ERROR live-intel-ahci[6.1] (6.1) ")
    assert "no 6.1 guest in the cache" in done.stdout and "artifacts kept in " in done.stdout
    assert lines[-1].startswith("1 live run: 0 passed, 0 failed, 1 infra-error")


def test_scenario_run_live_runs_the_simulated_part_then_the_guest(tmp_path: Path) -> None:
    done = vfiolab("scenario", "run", str(AHCI), "--live", env=_environment(tmp_path, without_apt=True))
    assert done.returncode == exitcodes.CANNOT_RUN, done.stdout + done.stderr
    assert "LIVE live-intel-ahci: guest_dmesg, guest_sysfs are checked by the live runs below" in done.stdout
    assert "SKIP" not in done.stdout and "PASS live-intel-ahci" not in done.stdout
    assert "INFRA-ERROR live-intel-ahci[6.1]" in done.stdout and "INFRA-ERROR live-intel-ahci[6.12]" in done.stdout
    assert "apt-cache not found" in done.stdout


def test_a_guest_part_that_cannot_be_run_is_bad_input(tmp_path: Path) -> None:
    text = AHCI.read_text().replace("name: live-intel-ahci", "name: bad-guest").replace('addr: "01.0"', "bus: rp7")
    (tmp_path / "bad-guest.yaml").write_text(text)
    done = vfiolab("live", "run", str(tmp_path / "bad-guest.yaml"), "--offline", env=_environment(tmp_path))
    assert done.returncode == exitcodes.DATA
    assert done.stderr.strip() == (
        f"vfiolab: error: {tmp_path}/bad-guest.yaml:17: guest.devices[0].bus: no earlier port or bridge 'rp7'"
    )


def test_an_infra_error_keeps_its_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = run_live(load_scenario(str(AHCI)), "6.12", offline=True)
    assert result.status == INFRA_ERROR and result.exit_code == exitcodes.CANNOT_RUN and not result.passed
    assert result.artifacts is not None
    recorded = json.loads((result.artifacts / "result.json").read_text())
    assert recorded["status"] == "infra-error" and "no 6.12 guest in the cache" in recorded["error"]
    kept = run_live(load_scenario(str(AHCI)), "6.12", offline=True, keep=tmp_path / "keep")
    assert kept.artifacts == tmp_path / "keep" / "live-intel-ahci-6.12"


def test_live_items_per_kernel_are_marked_and_skipped_with_the_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    (pytester.path / "scenarios").mkdir()
    (pytester.path / "scenarios" / AHCI.name).write_text(AHCI.read_text())
    pytester.makepyfile(
        test_uses_live_run="""
        def test_boots(live_run):
            live_run("live-intel-ahci", "6.1")
        """
    )
    collected = pytester.runpytest("-p", "harness.pytest_plugin", "--co", "-q", "-m", "live")
    collected.stdout.fnmatch_lines(
        [
            "scenarios/live-intel-ahci.yaml::live-intel-ahci[[]6.1[]]",
            "scenarios/live-intel-ahci.yaml::live-intel-ahci[[]6.12[]]",
        ]
    )
    # No simulated item: this scenario expects nothing of the simulated host.
    pytester.runpytest("-p", "harness.pytest_plugin", "-m", "not live", "scenarios").assert_outcomes()
    result = pytester.runpytest("-p", "harness.pytest_plugin", "-rs")
    result.assert_outcomes(skipped=3)
    # Whichever is missing first, QEMU or apt, is the reason given.
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *live runs are not possible here: *not found*"])
