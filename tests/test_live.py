"""Live runs that must not pass: the failing counterparts of the shipped live scenarios (reported
as ``fail`` with the missing line and the console's tail), boots that cannot start
(``infra-error``), and a guest kernel crash caught on the console. Real guest kernels under QEMU
(``tox -e live``); skipped with the reason where live runs are not possible.

The shipped scenarios themselves (``scenarios/live-*.yaml``) are collected by the vfiolab plugin
as one live item per guest kernel.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.live.assets import GuestAssets
from harness.live.errors import GuestCrash
from harness.live.qemu import build_launch
from harness.live.runner import FAIL, INFRA_ERROR, LiveResult
from harness.live.session import GuestSession, Timeouts
from harness.live.spec import GuestSpec
from harness.scenario import load_scenario
from tests.helpers import system_tool

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
LiveRun = Callable[..., LiveResult]


def _variant(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (SCENARIOS / f"{name}.yaml").read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_ahci_counterpart_that_expects_sdb_fails_with_the_missing_line_and_the_console(
    live_run: LiveRun, tmp_path: Path
) -> None:
    path = _variant(
        tmp_path,
        "live-intel-ahci",
        ('"sd 0:0:0:0: [sda] Attached SCSI disk"', '"sd 0:0:0:0: [sdb] Attached SCSI disk"'),
    )
    result = live_run(load_scenario(str(path)), "6.1")
    assert result.status == FAIL and result.exit_code == 1, result.report()
    assert [failure.layer for failure in result.failures] == ["guest dmesg"]
    report = result.report()
    assert f"{path}:{_line_of(path, '[sdb] Attached')}: guest dmesg: expected line 4 of 4 (in order)" in report
    assert "  expected: 'sd 0:0:0:0: [sdb] Attached SCSI disk'" in report
    assert "nearest: 'sd 0:0:0:0: [sda] Attached SCSI disk'" in report
    assert "console, last " in report and "  | @@VFL-READY" in report
    # The artifacts of a failed run stay, the guest's sysfs snapshot among them, and the real
    # lspci reads the snapshot as the guest's own sysfs.
    artifacts = result.artifacts
    assert artifacts is not None and f"artifacts kept in {artifacts}" in report
    for name in ("console.log", "qemu.log", "qemu-command.txt", "guest-dmesg.txt", "result.json"):
        assert (artifacts / name).is_file(), name
    assert "sd 0:0:0:0: [sda] Attached SCSI disk" in (artifacts / "guest-dmesg.txt").read_text()
    lspci = system_tool("lspci", "pciutils")
    listed = subprocess.run(
        [
            lspci,
            "-A",
            "linux-sysfs",
            "-O",
            f"sysfs.path={artifacts}/guest-sysfs/sys/bus/pci",
            "-O",
            "hwdb.disable=1",
            "-nnk",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "00:01.0 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller" in listed
    )
    assert "\tKernel driver in use: ahci" in listed
    shutil.rmtree(artifacts)


def test_vfio_counterpart_with_wrong_values_fails_on_each_of_them(live_run: LiveRun, tmp_path: Path) -> None:
    path = _variant(
        tmp_path,
        "live-vfio-in-guest",
        ("power_state: D3hot", "power_state: D0"),
        ("      status: 1\n", ""),
    )
    result = live_run(load_scenario(str(path)), "6.12")
    assert result.status == FAIL, result.report()
    report = result.report()
    assert (
        f"{path}:{_line_of(path, 'power_state: D0')}: guest sysfs: /sys/bus/pci/devices/0000:01:00.0/power_state"
        in report
    )
    assert "  expected: 'D0'\n  found:    'D3hot'" in report
    assert "guest step: steps[3] vfio device=0000:01:00.0 reset=True hot_reset=True: exit status" in report
    assert "  expected: 0\n  found:    1" in report
    assert "| vfio: error: VFIO_DEVICE_PCI_HOT_RESET 0000:01:00.0: ENOTTY (Inappropriate ioctl for device)" in report
    assert result.artifacts is not None
    shutil.rmtree(result.artifacts)


def test_qemu_refusing_its_command_line_is_an_infra_error_with_its_words(live_run: LiveRun) -> None:
    result = live_run("live-intel-ahci", "6.1", extra_args=["-device", "no-such-device"])
    assert result.status == INFRA_ERROR and result.exit_code == 3
    assert "QEMU exited in phase 'kernel'" in result.error
    assert "'no-such-device' is not a valid device model name" in result.error
    assert result.artifacts is not None
    shutil.rmtree(result.artifacts)


def test_a_kernel_that_never_runs_is_an_infra_error_of_the_kernel_phase(live_run: LiveRun) -> None:
    # -S: QEMU starts with its CPU stopped, so the kernel never prints its banner.
    result = live_run("live-intel-ahci", "6.1", extra_args=["-S"], timeouts=Timeouts(kernel=2.0))
    assert result.status == INFRA_ERROR
    assert result.error.startswith(r"timeout in phase 'kernel' after 2.")
    assert "waiting for 'Linux version \\\\S+'" in result.error
    assert result.artifacts is not None
    shutil.rmtree(result.artifacts)


def test_a_guest_kernel_panic_is_caught_on_the_console(
    live_assets: Callable[[str], GuestAssets], tmp_path: Path
) -> None:
    launch = build_launch(GuestSpec(), live_assets("6.1"), tmp_path)
    with GuestSession(launch, tmp_path, timeouts=Timeouts()) as session:
        session.boot()
        with pytest.raises(GuestCrash) as caught:
            session.run("echo c > /proc/sysrq-trigger", phase="crash")
    error = caught.value
    assert error.phase == "crash" and error.detail.startswith("panic: [")
    assert "Kernel panic - not syncing: sysrq triggered crash" in error.detail
    assert session.process.poll() is not None
