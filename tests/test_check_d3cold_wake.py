"""The D3cold wake check (power-link.d3cold-wake-failed, family 4) on small hosts: the Arc A770
host of the arc-a770-vfio-6-1 scenario (GPU 03:00.0 and audio 04:00.0 behind a switch:
01:00.0 upstream, 02:01.0 and 02:04.0 downstream) with kernel log lines added.

- no wake failure in the log: no finding (the GPU passes);
- a wake failure of the device, or of a port above it, that still reads all-ones: fail, with the
  disable_idle_d3 fix and its cost;
- the same while the device answers now: warn;
- a wake failure of another branch of the switch: nothing for this device;
- disable_idle_d3 already in effect (running module or modprobe.d): the fix points elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checker import CheckReport, DeviceReport, check_root
from harness.checks.base import CheckOptions
from harness.findings import Finding, Severity, Verdict
from harness.known_devices import D3COLD_WAKE_FAILURE, KnownDevice, Problem
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import write_scenario

GPU = "0000:03:00.0"
AUDIO = "0000:04:00.0"
CODE = "power-link.d3cold-wake-failed"
GPU_LOST = "[   17.286576] vfio-pci 0000:03:00.0: Unable to change power state from D3cold to D0, device inaccessible"
PORT_LOST = "[   15.051067] pcieport 0000:02:01.0: Unable to change power state from D3cold to D0, device inaccessible"
GPU_NOT_READY = "[   17.286554] vfio-pci 0000:03:00.0: not ready 1023ms after resume; giving up"


#: The base scenario's imported device descriptions: a scenario written elsewhere that extends it
#: finds them through the device search path.
SCENARIO_DEVICES = Path(__file__).resolve().parent.parent / "scenarios" / "devices"


def checked(tmp_path: Path, **host: Any) -> CheckReport:
    tmp_path.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    path = write_scenario(tmp_path, "variant", {"extends": "arc-a770-vfio-6-1", **host})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFIOLAB_DEVICE_PATH", str(SCENARIO_DEVICES))
        render_final_root(load_scenario(str(path)), root)
    return check_root(root, CheckOptions(devices=[GPU, AUDIO]))


def finding(report: CheckReport, bdf: str) -> Finding | None:
    device = next(item for item in report.devices if item.function.name == bdf)
    return next((item for item in device.findings if item.code == CODE), None)


def verdict(report: CheckReport, bdf: str) -> Verdict:
    return next(item.verdict for item in report.devices if item.function.name == bdf)


def _warnings(device: DeviceReport) -> set[str]:
    """The codes of a device's warnings and failures. The GPU of these hosts is their boot VGA
    device, which the GPU check warns about (gpu.boot-vga) whatever its power state."""
    return {item.code for item in device.findings if item.severity >= Severity.WARN}


def test_no_wake_failure_in_the_log_no_finding(tmp_path: Path) -> None:
    report = checked(tmp_path, kernel={"log": ["[    1.000000] pci 0000:03:00.0: PME# supported from D0 D3hot"]})
    assert finding(report, GPU) is None
    device = next(item for item in report.devices if item.function.name == GPU)
    # The D3cold prediction warns: root port 00:01.0's ACPI companion can cut the card's power.
    assert _warnings(device) == {"gpu.boot-vga", "power-link.d3cold-idle"}


def test_a_dead_device_that_did_not_wake_fails_with_the_disable_idle_d3_fix(tmp_path: Path) -> None:
    report = checked(
        tmp_path,
        kernel={"log": [GPU_NOT_READY, GPU_LOST]},
        pci=[{"bdf": "03:00.0", "condition": "dead", "power": "D3cold"}],
    )
    found = finding(report, GPU)
    assert found is not None and found.severity is Severity.FAIL
    assert found.message.startswith("the kernel could not wake it from D3cold; 03:00.0 still reads all-ones")
    assert found.fix.startswith("Power-cycle the host")
    assert "`options vfio-pci disable_idle_d3=1` in /etc/modprobe.d/vfio.conf" in found.fix
    assert "`vfio_pci.disable_idle_d3=1`" in found.fix
    assert "full idle power" in found.fix
    assert "echo 0 > /sys/bus/pci/devices/0000:03:00.0/d3cold_allowed" in found.fix
    assert any("not ready 1023ms after resume" in item.value for item in found.evidence)
    assert finding(report, AUDIO) is None


def test_a_switch_port_above_that_did_not_wake_is_the_devices_problem_too(tmp_path: Path) -> None:
    report = checked(
        tmp_path,
        kernel={"log": [PORT_LOST]},
        pci=[{"bdf": "02:01.0", "condition": "dead"}, {"bdf": "03:00.0", "condition": "dead"}],
    )
    found = finding(report, GPU)
    assert found is not None and found.severity is Severity.FAIL
    assert "the port(s) above it (02:01.0)" in found.message
    assert "/sys/bus/pci/devices/0000:02:01.0/d3cold_allowed" in found.fix
    # The audio function hangs off the other downstream port, which woke.
    assert finding(report, AUDIO) is None


def test_a_device_that_answers_again_is_a_warning(tmp_path: Path) -> None:
    report = checked(tmp_path, kernel={"log": [GPU_LOST]})
    found = finding(report, GPU)
    assert found is not None and found.severity is Severity.WARN
    assert "it answers now" in found.message
    assert not found.fix.startswith("Power-cycle")
    # The kernel-log check still fails the device on the 'device inaccessible' line itself.
    assert verdict(report, GPU) is Verdict.FAIL


A770_D3COLD = KnownDevice(
    0x8086, 0x56A0, "test entry", (Problem(D3COLD_WAKE_FAILURE, "does not come back from D3cold", ("a test",)),)
)


def _known(vendor: int | None, device: int | None) -> KnownDevice | None:
    return A770_D3COLD if (vendor, device) == (0x8086, 0x56A0) else None


def test_a_known_device_fails_until_vfio_pci_keeps_it_in_d0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table-driven prediction (power-link.d3cold-wake) for a device known not to wake from
    D3cold: a failure while vfio-pci may idle it into D3cold (the host's root port can cut its
    power), nothing once disable_idle_d3 is in effect."""
    monkeypatch.setattr("harness.checks.power_link.lookup", _known)
    report = checked(tmp_path / "idle")
    device = next(item for item in report.devices if item.function.name == GPU)
    failed = next(item for item in device.findings if item.code == "power-link.d3cold-wake")
    assert failed.severity is Severity.FAIL and "disable_idle_d3=1" in failed.fix
    assert "03:00.0 is known not to come back" in failed.message
    assert device.verdict is Verdict.FAIL
    report = checked(tmp_path / "kept", modules={"vfio_pci": {"disable_idle_d3": "Y"}})
    device = next(item for item in report.devices if item.function.name == GPU)
    assert not {item.code for item in device.findings} & {"power-link.d3cold-wake", "power-link.d3cold-idle"}
    assert _warnings(device) == {"gpu.boot-vga"}


def test_with_disable_idle_d3_running_the_fix_is_not_disable_idle_d3(tmp_path: Path) -> None:
    report = checked(
        tmp_path,
        kernel={"log": [GPU_LOST]},
        modules={"vfio_pci": {"disable_idle_d3": "Y"}},
        pci=[{"bdf": "03:00.0", "condition": "dead"}],
    )
    found = finding(report, GPU)
    assert found is not None and found.severity is Severity.FAIL
    assert "disable_idle_d3 is set" in found.why
    assert "options vfio-pci disable_idle_d3=1" not in found.fix
    assert "do not suspend the host" in found.fix
    assert any(item.path.endswith("sys/module/vfio_pci/parameters/disable_idle_d3") for item in found.evidence)


def test_disable_idle_d3_configured_in_modprobe_d_counts_too(tmp_path: Path) -> None:
    conf = "options vfio-pci ids=8086:56a0,8086:4f90 disable_idle_d3=1\nsoftdep drm pre: vfio-pci\n"
    report = checked(tmp_path, kernel={"log": [GPU_LOST]}, files={"/etc/modprobe.d/vfio.conf": conf})
    found = finding(report, GPU)
    assert found is not None
    assert "disable_idle_d3 is set" in found.why
    assert any(item.path == "/etc/modprobe.d/vfio.conf:1" for item in found.evidence)
