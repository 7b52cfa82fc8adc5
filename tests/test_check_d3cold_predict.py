"""The D3cold prediction of the power check (power-link.d3cold-idle, power-link.d3cold-wake,
power-link.d3cold-not-judged) on small hosts: the Arc A770 host of arc-a770-vfio-6-1 (GPU 03:00.0
behind the card's switch 01:00.0 / 02:01.0, root port 00:01.0 whose ACPI companion lists power
resources) with one change each.

- the platform can cut power, the kernel's vfio-pci idles through runtime PM, disable_idle_d3 not
  set, nothing known against the devices: warn;
- the same with disable_idle_d3 running, d3cold_allowed 0, a companion without _PR3, or a kernel
  built before the runtime-PM change was posted: pass (no finding);
- a port above it that the kernel's D3 quirk table names: pass where the judged kernel carries
  the quirk, fail where it lacks it, warn (could not judge) where that is unknown;
- a root that shows no ACPI companion: skipped with its reason (an info note), the verdict left
  alone;
- and the simulated kernel: the idle card goes to D3cold at boot, and stays in D0 on 5.10.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.checker import CheckReport, check_root
from harness.checks.base import CheckOptions
from harness.findings import Finding, Severity
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import write_scenario

GPU = "0000:03:00.0"
PORT = "0000:02:01.0"
CODES = ("power-link.d3cold-idle", "power-link.d3cold-wake", "power-link.d3cold-not-judged")
SCENARIO_DEVICES = Path(__file__).resolve().parent.parent / "scenarios" / "devices"


def render(tmp_path: Path, steps: list[Any] | None = None, **host: Any) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    path = write_scenario(tmp_path, "variant", {"extends": "arc-a770-vfio-6-1", **host}, steps)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFIOLAB_DEVICE_PATH", str(SCENARIO_DEVICES))
        render_final_root(load_scenario(str(path)), root)
    return root


def check(root: Path, assume_kernel: str | None = None) -> CheckReport:
    return check_root(root, CheckOptions(devices=[GPU], assume_kernel=assume_kernel))


def prediction(report: CheckReport) -> list[Finding]:
    device = next(item for item in report.devices if item.function.name == GPU)
    return [item for item in device.findings if item.code in CODES]


def only(report: CheckReport) -> Finding:
    found = prediction(report)
    assert len(found) == 1, [item.code for item in found]
    return found[0]


def test_a_platform_that_can_cut_power_warns_with_disable_idle_d3_and_its_cost(tmp_path: Path) -> None:
    found = only(check(render(tmp_path)))
    assert found.code == "power-link.d3cold-idle" and found.severity is Severity.WARN
    assert "power cut at 00:01.0" in found.message
    assert "7ab5e10eda02" in found.why and "6.1 is built on it" in found.why
    assert "`options vfio-pci disable_idle_d3=1`" in found.fix and "`vfio_pci.disable_idle_d3=1`" in found.fix
    assert "full idle power" in found.fix
    shown = {item.path.rsplit("/", 2)[-2] + "/" + item.path.rsplit("/", 1)[-1]: item.value for item in found.evidence}
    assert shown["firmware_node/power_resources_D3hot"].startswith("listed (ACPI _PR3)")
    assert shown["firmware_node/real_power_state"] == "D3cold"


def test_disable_idle_d3_running_passes(tmp_path: Path) -> None:
    assert prediction(check(render(tmp_path, modules={"vfio_pci": {"disable_idle_d3": "Y"}}))) == []


def test_d3cold_allowed_0_passes(tmp_path: Path) -> None:
    steps = [{"write": {"path": f"/sys/bus/pci/devices/{GPU}/d3cold_allowed", "value": "0"}}]
    root = render(tmp_path, steps)
    assert (root / f"sys/bus/pci/devices/{GPU}/d3cold_allowed").read_text() == "0\n"
    assert prediction(check(root)) == []


def test_a_companion_without_power_resources_for_d3hot_passes(tmp_path: Path) -> None:
    """A companion with _PR0 but no _PR3: D3cold is not valid (drivers/acpi/scan.c)."""
    root = render(tmp_path)
    node = (root / "sys/bus/pci/devices/0000:00:01.0/firmware_node").resolve()
    assert node.is_relative_to(root)
    shutil.rmtree(node / "power_resources_D3hot")
    assert prediction(check(root)) == []


def test_a_kernel_built_before_the_runtime_pm_change_passes(tmp_path: Path) -> None:
    """Before 7ab5e10eda02 vfio-pci's idle state was D3hot: nothing cuts the power, and the
    simulated 5.10 kernel leaves the port in D0."""
    kernel = {
        "release": "5.10.0-9-amd64",
        "version": "Linux version 5.10.0-9-amd64 #1 SMP Debian 5.10.70-1 (2021-09-30)",
    }
    root = render(tmp_path, kernel=kernel)
    assert (root / "sys/bus/pci/devices/0000:00:01.0/power_state").read_text() != "D3cold\n"
    assert prediction(check(root)) == []


def test_no_acpi_companion_is_skipped_with_a_note(tmp_path: Path) -> None:
    report = check(render(tmp_path, pci=[{"bdf": "00:01.0", "acpi_power_resources": False}]))
    found = only(report)
    assert found.code == "power-link.d3cold-not-judged" and found.severity is Severity.INFO
    assert not found.could_not_judge
    assert "no ACPI companion (firmware_node)" in found.why


@pytest.fixture
def plx_root(tmp_path: Path) -> Path:
    """The GPU behind a PLX PEX 8533 downstream port (02:01.0 with that switch's IDs), which the
    kernel's quirk_plx_pex_no_d3 keeps out of D3."""
    plx = {"bdf": "02:01.0", "override": {"header": {"vendor": 0x10B5, "device": 0x8533}}}
    root = render(tmp_path, pci=[plx])
    assert (root / f"sys/bus/pci/devices/{PORT}/device").read_text() == "0x8533\n"
    return root


def test_a_port_in_the_quirk_table_passes_where_the_kernel_carries_the_quirk(plx_root: Path) -> None:
    assert prediction(check(plx_root, assume_kernel="6.12.117-1~deb12u1")) == []


def test_a_port_in_the_quirk_table_fails_where_the_kernel_lacks_it(plx_root: Path) -> None:
    found = only(check(plx_root, assume_kernel="7.2.13-1"))
    assert found.code == "power-link.d3cold-wake" and found.severity is Severity.FAIL
    assert "02:01.0 is known not to come back" in found.message
    assert "quirk_plx_pex_no_d3" in found.why and "does not carry" in found.why
    assert "disable_idle_d3=1" in found.fix


def test_a_port_in_the_quirk_table_warns_where_the_kernel_cannot_be_judged(plx_root: Path) -> None:
    found = only(check(plx_root, assume_kernel="6.6.50"))
    assert found.code == "power-link.d3cold-wake" and found.severity is Severity.WARN
    assert found.could_not_judge
    assert "could not be judged" in found.why


def test_a_board_in_bridge_d3_blacklist_is_named_and_old_firmware_too(tmp_path: Path) -> None:
    """Ports on a bridge_d3_blacklist board stay in D0 in the kernels read, but whether the judged
    kernel has the entry is not recorded: the warning names it instead of passing."""
    board = {"board_vendor": "Gigabyte Technology Co., Ltd.", "board_name": "X299 DESIGNARE EX-CF"}
    found = only(check(render(tmp_path / "x299", dmi_id=board)))
    assert found.code == "power-link.d3cold-idle" and "bridge_d3_blacklist" in found.why
    found = only(check(render(tmp_path / "old", dmi_id={"bios_date": "03/14/2013"})))
    assert "the firmware is from 2013" in found.why
