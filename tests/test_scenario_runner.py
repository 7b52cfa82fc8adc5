"""The scenario runner and ``vfiolab scenario run/list/show``: every layer checked, failure
reports that read like a diff, kept roots, exit codes and JUnit XML.

Most cases copy the small ``slow-ready-after-bus-reset`` scenario and break one expectation, so
each failure report is compared with what the simulated host really did.
"""

from __future__ import annotations

import io
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from fakesys.names import MARKER
from harness import __version__
from harness.errors import OutputError
from harness.scenario import ScenarioError, load_scenario
from harness.scenario.commands import list_command, run_command, show_command
from harness.scenario.loader import LIVE_LAYERS
from harness.scenario.runner import RunResult, run_scenario
from harness.scenario.simulated import SimulatedHost

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
SLOW = SCENARIOS / "slow-ready-after-bus-reset.yaml"


def _copy(tmp_path: Path, source: Path, *replacements: tuple[str, str], name: str | None = None) -> Path:
    """A copy of a scenario with text replaced (each replacement must apply)."""
    text = source.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    stem = name or source.stem
    text = text.replace(f"name: {source.stem}\n", f"name: {stem}\n")
    path = tmp_path / f"{stem}.yaml"
    path.write_text(text)
    return path


def _run(path: Path, tmp_path: Path) -> RunResult:
    return run_scenario(load_scenario(str(path)), failed_dir=tmp_path)


def _line_of(path: Path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# --- The shipped scenarios ---------------------------------------------------------------------


def test_every_shipped_scenario_checks_the_layers_it_exercises() -> None:
    for path in sorted(SCENARIOS.glob("*.yaml")):
        scenario = load_scenario(str(path))
        if scenario.guest is not None and not scenario.steps:
            # A live scenario (harness.live): its subject is the guest, not the simulated host.
            assert {"guest_dmesg", "guest_sysfs"} & set(scenario.expect), f"{path.name}: no guest expectations"
            continue
        assert "checker" in scenario.expect, f"{path.name}: no checker expectations"
        assert scenario.expect["checker"].get("devices"), f"{path.name}: no device verdicts"
        assert "sysfs" in scenario.expect, f"{path.name}: no sysfs expectations"
        if scenario.steps:
            assert "kernel_log" in scenario.expect, f"{path.name}: steps but no kernel log expectation"
        if any("vm_start" in step for step in scenario.steps):
            assert "userspace" in scenario.expect, f"{path.name}: a VM start but no userspace expectation"


def test_the_default_scenario_checks_the_reference_verdicts_and_the_generator() -> None:
    expect = load_scenario(str(SCENARIOS / "terramaster-f4-424-pro.yaml")).expect
    devices = expect["checker"]["devices"]
    assert devices["0000:00:17.0"]["verdict"] == "pass"
    assert devices["0000:03:00.0"]["verdict"] == "fail"
    assert "reset.bus-reset-breaks-device" in devices["0000:03:00.0"]["findings"]
    refused = [entry for entry in expect["generator"] if entry.get("refused")]
    assert [entry["devices"] for entry in refused] == [["0000:03:00.0"]]


# --- Failure reports, one per layer -------------------------------------------------------------


def test_kernel_log_failure_names_the_expected_line_and_shows_the_log_around_it(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ('"r8169 0000:01:00.0: not ready 1023ms', '"r8169 0000:01:00.0: not ready 999ms'))
    result = _run(path, tmp_path)
    assert not result.passed
    [failure] = result.failures
    report = result.report()
    assert report.startswith(f"{path}:{_line_of(path, 'not ready 999ms')}: kernel log: expected line 1 of 2 (in order)")
    assert "  expected: 'r8169 0000:01:00.0: not ready 999ms after bus reset; waiting'" in report
    assert "nearest: 'r8169 0000:01:00.0: not ready 1023ms after bus reset; waiting'" in report
    # The line found nearest is marked in the context, with its neighbours and timestamps.
    marked = [line for line in failure.context if line.startswith("> ")]
    assert len(marked) == 1 and "not ready 1023ms after bus reset; waiting" in marked[0]
    assert any("ready 2047ms after bus reset" in line for line in failure.context)


def test_absent_line_failure_shows_the_offending_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ('- {regex: ".*giving up.*"}', '- {regex: ".*after bus reset; waiting"}'))
    result = _run(path, tmp_path)
    [failure] = result.failures
    assert failure.expectation == "a line that must not appear"
    assert failure.found == "'r8169 0000:01:00.0: not ready 1023ms after bus reset; waiting'"
    assert failure.line == _line_of(path, 'after bus reset; waiting"}')


def test_sysfs_failure_shows_expected_and_found_values(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("power_state: D0", "power_state: D3hot"))
    [failure] = _run(path, tmp_path).failures
    assert (failure.layer, failure.expected, failure.found) == ("sysfs", "'D3hot'", "'D0'")
    assert failure.line == _line_of(path, "power_state: D3hot")


def test_checker_verdict_failure_lists_the_findings_of_that_device(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("        verdict: warn\n", "        verdict: pass\n"))
    result = _run(path, tmp_path)
    [failure] = result.failures
    assert (failure.layer, failure.expectation) == ("checker", "verdict of 0000:01:00.0")
    assert (failure.expected, failure.found) == ("pass", "warn")
    assert failure.context[0] == "findings of 0000:01:00.0 (verdict warn):"
    assert any(line.strip().startswith("kernel-log.not-ready (warn): ") for line in failure.context)
    assert failure.line == _line_of(path, "verdict: pass")


def test_checker_finding_failures_name_the_code(tmp_path: Path) -> None:
    path = _copy(
        tmp_path,
        SLOW,
        ("findings: [kernel-log.not-ready, reset.bus]", "findings: [kernel-log.not-ready, reset.flr]"),
        ("absent: [kernel-log.link-retrain-failed,", "absent: [kernel-log.not-ready,"),
    )
    failures = _run(path, tmp_path).failures
    assert [failure.expectation for failure in failures] == [
        "finding reset.flr on 0000:01:00.0",
        "no finding kernel-log.not-ready on 0000:01:00.0",
    ]
    assert failures[0].found.startswith("not there; found isolation.own-group, reset.bus")


def test_checker_group_members_and_unreported_devices(tmp_path: Path) -> None:
    path = _copy(
        tmp_path,
        SLOW,
        ("2: {verdict: warn, devices: [0000:01:00.0]}", "2: {verdict: warn, devices: [0000:01:00.0, 0000:00:1c.0]}"),
        ("    groups:\n", "      0000:00:1c.0: {verdict: pass}\n    groups:\n      9: {verdict: pass}\n"),
    )
    failures = _run(path, tmp_path).failures
    by_expectation = {failure.expectation: failure for failure in failures}
    assert set(by_expectation) == {"0000:00:1c.0 is checked", "members of IOMMU group 2", "IOMMU group 9"}
    assert by_expectation["members of IOMMU group 2"].found == "0000:01:00.0"
    assert "reports endpoints" in by_expectation["0000:00:1c.0 is checked"].found


def test_generator_failures_show_the_output_and_the_refusal(tmp_path: Path) -> None:
    """Needs harness.generate."""
    path = tmp_path / "generated.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            host: {extends: terramaster-f4-424-pro}
            expect:
              generator:
                - target: modprobe
                  devices: [00:17.0]
                  lines: ["options vfio-pci ids=8086:ffff"]
                - target: modprobe
                  devices: [00:17.0]
                  absent: [{regex: "options vfio-pci.*"}]
                - target: proxmox
                  devices: [03:00.0]
                - target: proxmox
                  devices: [00:17.0]
                  refused: true
            """
        )
    )
    failures = _run(path, tmp_path).failures
    assert [failure.expectation for failure in failures] == [
        "line 1 of the expected output of modprobe for 0000:00:17.0 (in order)",
        "a line that must not appear in the output of modprobe for 0000:00:17.0",
        "proxmox for 0000:03:00.0 generates output",
        "proxmox for 0000:00:17.0 is refused",
    ]
    assert "nearest: 'options vfio-pci ids=8086:54d3'" in failures[0].found
    assert any(line.startswith(">") and "options vfio-pci ids=8086:54d3" in line for line in failures[0].context)
    assert failures[2].found == "refused"
    assert any("reset.bus-reset-breaks-device" in line for line in failures[2].context)
    assert [failure.line for failure in failures] == [6, 9, 10, 14]


def test_a_step_that_cannot_run_is_a_failure_at_its_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("  - reset: 01:00.0\n", "  - reset: 01:00.0\n  - vm_stop: 100\n"))
    result = _run(path, tmp_path)
    [failure] = result.failures
    assert failure.layer == "steps"
    assert failure.line == _line_of(path, "vm_stop: 100")
    assert failure.found == "steps[2].vm_stop: VM 100 is not running"


# --- Kept roots ---------------------------------------------------------------------------------


def test_a_failed_run_keeps_its_root_and_says_where(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("power_state: D0", "power_state: D3hot"))
    result = _run(path, tmp_path)
    assert result.kept is not None and result.kept.parent == tmp_path
    assert result.report().endswith(f"rendered root kept in {result.kept}")
    assert (result.kept / "sys/bus/pci/devices/0000:01:00.0/power_state").read_text() == "D0\n"


def test_a_passing_run_keeps_nothing_unless_asked(tmp_path: Path) -> None:
    result = _run(SLOW, tmp_path)
    assert result.passed and result.kept is None
    assert list(tmp_path.iterdir()) == []
    kept = run_scenario(load_scenario(str(SLOW)), keep=tmp_path / "kept")
    assert kept.kept == tmp_path / "kept"
    assert (tmp_path / "kept" / MARKER).is_file()


def test_live_layers_are_reported_as_not_checked(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("expect:\n", "expect:\n  guest_dmesg:\n    lines: [ahci]\n"))
    scenario = load_scenario(str(path))
    assert scenario.live and "guest_dmesg" in scenario.layers
    result = run_scenario(scenario)
    assert result.passed
    assert result.unchecked == ["guest_dmesg"]
    assert "guest_dmesg" not in result.checked


# --- vfiolab scenario run / list / show ------------------------------------------------------


def test_run_of_all_shipped_scenarios_writes_junit_with_one_case_per_scenario(tmp_path: Path) -> None:
    out = io.StringIO()
    junit = tmp_path / "out.xml"
    assert run_command([], junit, None, out) == 0, out.getvalue()
    names = sorted(path.stem for path in SCENARIOS.glob("*.yaml"))
    # Scenarios with simulated and live layers (report scenarios with a guest) get a second,
    # skipped case for their live layers, NAME[live].
    mixed = [name for name in names if _has_simulated_and_live_layers(SCENARIOS / f"{name}.yaml")]
    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites"
    [suite] = suites.findall("testsuite")
    assert suite.get("name") and suite.get("tests") == str(len(names) + len(mixed))
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")
    assert {prop.get("name"): prop.get("value") for prop in suite.iter("property")}["vfiolab_version"] == __version__
    every = suite.findall("testcase")
    live_parts = [case for case in every if (case.get("name") or "").endswith("[live]")]
    assert sorted(case.get("name") or "" for case in live_parts) == [f"{name}[live]" for name in mixed]
    assert all(case.find("skipped") is not None for case in live_parts)
    cases = [case for case in every if case not in live_parts]
    assert sorted(case.get("name") or "" for case in cases) == names
    for case in cases:
        assert case.get("classname") and float(case.get("time") or "x") >= 0
        properties = {prop.get("name"): prop.get("value") for prop in case.iter("property")}
        assert properties["scenario"] == case.get("name")
        expected = load_scenario(str(SCENARIOS / f"{case.get('name')}.yaml")).kernel_profile
        assert properties["kernel_profile"] == expected
        assert case.find("failure") is None and case.find("error") is None
    # Live-only scenarios compare nothing without a live run: skipped with the reason, never passed.
    live_only = [case.get("name") for case in cases if case.find("skipped") is not None]
    assert live_only and all(str(name).startswith("live-") for name in live_only)
    assert suite.get("skipped") == str(len(live_only) + len(mixed))
    for case in cases:
        skipped = case.find("skipped")
        if skipped is not None:
            assert "need a live run (vfiolab live run" in (skipped.get("message") or "")
    text = out.getvalue()
    passed = len(names) - len(live_only)
    assert f"{len(names)} scenarios: {passed} passed, 0 failed, {len(live_only)} skipped" in text
    assert f"SKIP {live_only[0]} (kernel 6.8): " in text
    assert f"PASS {live_only[0]}" not in text
    assert "PASS terramaster-f4-424-pro (kernel 6.8; kernel_log, sysfs, checker, generator)" in text


def _has_simulated_and_live_layers(path: Path) -> bool:
    layers = load_scenario(str(path)).layers
    return any(layer in LIVE_LAYERS for layer in layers) and any(layer not in LIVE_LAYERS for layer in layers)


def test_run_with_a_failing_scenario_exits_1_and_junit_carries_the_report(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("power_state: D0", "power_state: D3hot"))
    out = io.StringIO()
    junit = tmp_path / "out.xml"
    assert run_command([str(path), "slow-ready-after-bus-reset"], junit, tmp_path / "kept", out) == 1
    text = out.getvalue()
    assert "FAIL slow-ready-after-bus-reset" in text and "PASS slow-ready-after-bus-reset" in text
    assert f"{path}:{_line_of(path, 'D3hot')}: sysfs: /sys/bus/pci/devices/0000:01:00.0/power_state" in text
    [failure] = ET.parse(junit).getroot().iter("failure")
    assert "expected: 'D3hot'" in (failure.text or "")
    assert failure.get("message") == (
        "1 expectation failed; first: sysfs: /sys/bus/pci/devices/0000:01:00.0/power_state"
    )
    # --keep: each scenario's root under DIR/NAME (the second run of the same name replaced it).
    assert (tmp_path / "kept" / "slow-ready-after-bus-reset" / MARKER).is_file()


def test_run_of_a_file_that_does_not_load_exits_65_with_one_line(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("  - wait: 100", "  - wait: soon"))
    out = io.StringIO()
    junit = tmp_path / "out.xml"
    assert run_command([str(path)], junit, None, out) == 65
    [error_line] = [line for line in out.getvalue().splitlines() if line.startswith("ERROR")]
    assert error_line == f"ERROR {path}:{_line_of(path, 'wait: soon')}: steps[0].wait: expected a number " + (
        "(seconds of virtual time), got 'soon'"
    )
    [error] = ET.parse(junit).getroot().iter("error")
    assert error.get("message") == error_line.removeprefix("ERROR ")
    assert run_command(["no-such-scenario"], None, None, io.StringIO()) == 65


def test_run_refuses_to_keep_into_a_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "kept" / "slow-ready-after-bus-reset"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("mine")
    out = io.StringIO()
    # An output that cannot be written stops the run with the cannot-create code (73).
    with pytest.raises(OutputError, match="not empty and was not written by vfiolab") as raised:
        run_command([str(SLOW)], None, tmp_path / "kept", out)
    assert raised.value.exit_code == 73
    assert (foreign / "precious.txt").read_text() == "mine"


def test_list_shows_name_layers_tags_and_description() -> None:
    out = io.StringIO()
    assert list_command(out) == 0
    lines = out.getvalue().splitlines()
    heading = next(line for line in lines if line.startswith("terramaster-asm1062-vm-start "))
    assert heading == (
        "terramaster-asm1062-vm-start  [kernel_log, userspace, sysfs, checker]  "
        "tags: terramaster, asm1062, proxmox, vm-start, reference"
    )
    description = lines[lines.index(heading) + 1]
    assert description.startswith("    The default Terramaster host (Proxmox VE 8, kernel 6.8) starts VM 100")
    assert len(description) <= 104


def test_list_names_a_scenario_that_does_not_load_and_exits_65(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy(tmp_path, SLOW, ("  - wait: 100", "  - wait: soon"), name="aaa-broken")
    monkeypatch.setenv("VFIOLAB_SCENARIOS", str(tmp_path))
    out = io.StringIO()
    assert list_command(out) == 65
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"aaa-broken  (does not load: {tmp_path}/aaa-broken.yaml:")
    assert any(line.startswith("terramaster-f4-424-pro  [") for line in lines)


def test_show_prints_the_resolved_host_and_steps_as_yaml() -> None:
    out = io.StringIO()
    assert show_command("terramaster-asm1062-vm-start", out) == 0
    data = yaml.safe_load(out.getvalue())
    # extends: resolved: the base's functions and disks, this file's VM config.
    assert "extends" not in data["host"]
    assert "asmedia-asm1062" in [entry["device"] for entry in data["host"]["pci"]]
    assert [disk["name"] for disk in data["host"]["disks"]] == ["sda", "sdb", "sdc", "sdd", "nvme0n1"]
    assert "hostpci0: 0000:03:00.0,pcie=1" in data["host"]["files"]["/etc/pve/qemu-server/100.conf"]
    assert data["steps"] == [{"wait": 840}, {"vm_start": 100}, {"wait": 60}, {"vm_stop": 100}]
    assert "__where__" not in out.getvalue()
    assert out.getvalue().startswith("# scenario terramaster-asm1062-vm-start from ")


def test_show_of_an_unknown_scenario_exits_65() -> None:
    out = io.StringIO()
    assert show_command("no-such-scenario", out) == 65
    assert "no scenario of that name" in out.getvalue()


# --- Driving a host from a test -------------------------------------------------------------


def test_simulated_host_applies_steps_and_reads_the_result() -> None:
    host = SimulatedHost(load_scenario(str(SLOW)))
    assert host.kernel_log() == []
    host.step("reset", "01:00.0")
    assert host.kernel_log()[0] == "r8169 0000:01:00.0: not ready 1023ms after bus reset; waiting"
    assert host.read("/sys/bus/pci/devices/0000:01:00.0/driver") == "r8169"
    assert host.read("/sys/bus/pci/devices/0000:01:00.0/no-such-file") is None


def test_simulated_host_rejects_a_step_as_the_file_format_would() -> None:
    host = SimulatedHost(load_scenario(str(SLOW)))
    with pytest.raises(
        ScenarioError, match=r"^<step>: reset: expected a PCI address .* got '1:0\.0'; write 0000:01:00\.0$"
    ):
        host.step("reset", "1:0.0")


def test_live_layers_of_a_simulated_scenario_get_their_own_skipped_junit_case(tmp_path: Path) -> None:
    path = _copy(tmp_path, SLOW, ("expect:\n", "expect:\n  guest_dmesg:\n    lines: [ahci]\n"))
    out = io.StringIO()
    junit = tmp_path / "out.xml"
    assert run_command([str(path)], junit, None, out) == 0
    assert "not checked: guest_dmesg need a live run" in out.getvalue()
    [suite] = ET.parse(junit).getroot().findall("testsuite")
    assert (suite.get("tests"), suite.get("skipped")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert cases["slow-ready-after-bus-reset"].find("skipped") is None
    live = cases["slow-ready-after-bus-reset[live]"].find("skipped")
    assert live is not None and "vfiolab live run slow-ready-after-bus-reset" in (live.get("message") or "")
