"""Resets this host has seen fail (reset.flr-failed-here, reset.bus-reset-failed-here; family 3)
on small hosts: the MT7922 host of mt7922-flr-all-ones-6-12 with its card's IDs changed to an
unknown device (so no kernel quirk or known-devices entry speaks for it), reset through sysfs.

- a device that survives FLR: no finding;
- one whose FLR never finishes while reset_method still lists flr: fail, with the reset_method
  write (and its udev rule) that skips FLR;
- the same once reset_method no longer lists flr: info;
- a known device: left to the reset check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checker import DeviceReport, check_root
from harness.checks.base import CheckOptions
from harness.findings import Severity
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import write_scenario

CARD = "0000:01:00.0"
SCENARIO_DEVICES = Path(__file__).resolve().parent.parent / "scenarios" / "devices"
UNKNOWN = {"header": {"vendor": 0x14C3, "device": 0x0600}}
DIES_AFTER_FLR = [{"name": "all_ones_after_reset", "after": ["flr"], "recovered_by": ["secondary_bus"]}]


def checked(
    tmp_path: Path, behaviours: list[dict[str, Any]], steps: list[Any], override: Any = UNKNOWN
) -> DeviceReport:
    card: dict[str, Any] = {"bdf": "01:00.0", "behaviours": behaviours}
    if override is not None:
        card["override"] = override
    path = write_scenario(tmp_path, "variant", {"extends": "mt7922-flr-all-ones-6-12", "pci": [card]}, steps)
    root = tmp_path / "root"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFIOLAB_DEVICE_PATH", str(SCENARIO_DEVICES))
        render_final_root(load_scenario(str(path)), root)
    report = check_root(root, CheckOptions(devices=[CARD]))
    return next(item for item in report.devices if item.function.name == CARD)


def codes(device: DeviceReport) -> dict[str, Severity]:
    return {item.code: item.severity for item in device.findings}


def test_a_device_that_survives_flr_has_no_finding(tmp_path: Path) -> None:
    device = checked(tmp_path, [], [{"reset": "01:00.0"}])
    assert "reset.flr-failed-here" not in codes(device)
    assert device.verdict.name == "PASS"


def test_flr_that_never_finished_fails_with_the_reset_method_fix(tmp_path: Path) -> None:
    device = checked(tmp_path, DIES_AFTER_FLR, [{"reset": "01:00.0"}])
    found = next(item for item in device.findings if item.code == "reset.flr-failed-here")
    assert found.severity is Severity.FAIL
    assert "`echo bus > /sys/bus/pci/devices/0000:01:00.0/reset_method`" in found.fix
    assert 'KERNEL=="0000:01:00.0", ATTR{reset_method}="bus"' in found.fix
    assert any("not ready 65535ms after FLR; giving up" in item.value for item in found.evidence)
    assert any(item.path.endswith("0000:01:00.0/reset_method") and item.value == "flr bus" for item in found.evidence)
    assert "reset.flr-breaks-device" not in codes(device)


def test_once_reset_method_skips_flr_it_is_information(tmp_path: Path) -> None:
    steps = [{"reset": "01:00.0"}, {"reset_method": {"device": "01:00.0", "value": "bus"}}]
    device = checked(tmp_path, DIES_AFTER_FLR, steps)
    assert codes(device)["reset.flr-failed-here"] is Severity.INFO


def test_a_known_device_is_left_to_the_reset_check(tmp_path: Path) -> None:
    device = checked(tmp_path, DIES_AFTER_FLR, [{"reset": "01:00.0"}], override=None)
    assert "reset.flr-failed-here" not in codes(device)
    assert codes(device)["reset.flr-breaks-device"] is Severity.FAIL


def test_a_bus_reset_that_killed_the_device_fails_and_one_it_survived_does_not(final_root: Any) -> None:
    dead = check_root(final_root("fw643-z690-bus-reset-link-dead"), CheckOptions(devices=["0000:03:00.0"]))
    [fw643] = [item for item in dead.devices if item.function.name == "0000:03:00.0"]
    found = next(item for item in fw643.findings if item.code == "reset.bus-reset-failed-here")
    assert found.severity is Severity.FAIL
    assert "through 00:1c.1" in found.message and "ignores reset_method" in found.why
    alive = check_root(final_root("fw643-x570-bus-reset-works"), CheckOptions(devices=["0000:06:00.0"]))
    assert all(item.code != "reset.bus-reset-failed-here" for item in alive.devices[0].findings)
