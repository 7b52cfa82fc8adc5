"""The vfiolab pytest plugin, tested with ``pytester``: scenario files as test items, failure
reports, JUnit XML, the fixtures and markers.

Each inner run disables entry-point autoloading and loads the plugin by module name, so the
plugin is active exactly once whether or not the package's ``pytest11`` entry point is
installed, and no other installed plugin takes part.
"""

from __future__ import annotations

import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import __version__

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SLOW = REPO / "scenarios" / "slow-ready-after-bus-reset.yaml"
PLUGIN = ("-p", "harness.pytest_plugin")


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # Failed scenarios keep their root in the temporary directory: keep it inside this test's.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return pytester


def _scenario_copy(directory: Path, *replacements: tuple[str, str]) -> Path:
    text = SLOW.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SLOW.name
    path.write_text(text)
    return path


def test_project_registers_the_plugin_and_collects_scenarios() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {"vfiolab": "harness.pytest_plugin"}
    assert "scenarios" in pyproject["tool"]["pytest"]["ini_options"]["testpaths"]


def test_each_scenario_file_is_a_test_named_after_the_scenario(inner: pytest.Pytester) -> None:
    _scenario_copy(inner.path / "scenarios")
    result = inner.runpytest(*PLUGIN, "-v", "--scenario-keep", "kept")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["scenarios/slow-ready-after-bus-reset.yaml::slow-ready-after-bus-reset PASSED*"])
    result.stdout.fnmatch_lines(["vfiolab *; scenario directories: */scenarios"])
    # --scenario-keep DIR: the final root of each scenario in DIR/NAME.
    assert (inner.path / "kept/slow-ready-after-bus-reset/sys/bus/pci/devices/0000:01:00.0/power_state").is_file()


def test_wrong_expectation_fails_with_a_report_of_what_was_found(inner: pytest.Pytester) -> None:
    path = _scenario_copy(
        inner.path / "scenarios", ("power_state: D0", "power_state: D3hot"), ("verdict: warn\n", "verdict: pass\n")
    )
    result = inner.runpytest(*PLUGIN)
    result.assert_outcomes(failed=1)
    lines = path.read_text().splitlines()
    sysfs_line = next(number for number, line in enumerate(lines, 1) if "D3hot" in line)
    result.stdout.fnmatch_lines(
        [
            "*slow-ready-after-bus-reset (kernel profile 6.8): 2 expectations failed",
            f"{path}:{sysfs_line}: sysfs: /sys/bus/pci/devices/0000:01:00.0/power_state",
            "  expected: 'D3hot'",
            "  found:    'D0'",
            "*: checker: verdict of 0000:01:00.0",
            "  expected: pass",
            "  found:    warn",
            "  context:",
            "    findings of 0000:01:00.0 (verdict warn):",
            "*kernel-log.not-ready (warn): *",
            "rendered root kept in *",
        ]
    )
    # The report is the failure, not a Python traceback into the runner.
    assert "runner.py" not in result.stdout.str()


def test_junit_xml_carries_scenario_kernel_profile_report_and_version(inner: pytest.Pytester) -> None:
    _scenario_copy(inner.path / "scenarios", ("power_state: D0", "power_state: D3hot"))
    result = inner.runpytest(*PLUGIN, "--junitxml=out.xml")
    result.assert_outcomes(failed=1)
    suite = ET.parse(inner.path / "out.xml").getroot().find("testsuite")
    assert suite is not None
    suite_properties = {prop.get("name"): prop.get("value") for prop in suite.findall("properties/property")}
    assert suite_properties == {"vfiolab_version": __version__}
    [case] = suite.findall("testcase")
    assert case.get("name") == "slow-ready-after-bus-reset"
    properties = {prop.get("name"): prop.get("value") for prop in case.findall("properties/property")}
    assert properties["scenario"] == "slow-ready-after-bus-reset"
    assert properties["kernel_profile"] == "6.8"
    failure = case.find("failure")
    assert failure is not None
    assert "expected: 'D3hot'" in (failure.text or "") and "found:    'D0'" in (failure.text or "")


def test_scenario_dir_option_and_ini_key_choose_the_directories(inner: pytest.Pytester) -> None:
    _scenario_copy(inner.path / "elsewhere")
    # Not under scenarios/: a YAML file elsewhere is not a test.
    inner.runpytest(*PLUGIN, "elsewhere").assert_outcomes()
    inner.runpytest(*PLUGIN, "--scenario-dir", "elsewhere", "elsewhere").assert_outcomes(passed=1)
    inner.makeini("[pytest]\nvfiolab_scenario_dirs = elsewhere\n")
    inner.runpytest(*PLUGIN, "elsewhere").assert_outcomes(passed=1)


def test_device_descriptions_beside_scenarios_are_not_collected(inner: pytest.Pytester) -> None:
    scenario = _scenario_copy(inner.path / "scenarios")
    devices = inner.path / "scenarios" / "devices"
    devices.mkdir()
    # An imported scenario's device descriptions live in devices/ beside it: not scenarios.
    (devices / "imported-00-17.0.yaml").write_text("title: not a scenario\nconfig: {}\n")
    inner.runpytest(*PLUGIN, "-v").assert_outcomes(passed=1)
    scenario.unlink()
    inner.runpytest(*PLUGIN).assert_outcomes()


def test_a_file_that_does_not_load_is_a_one_line_collection_error(inner: pytest.Pytester) -> None:
    path = _scenario_copy(inner.path / "scenarios", ("  - wait: 100", "  - wait: soon"))
    result = inner.runpytest(*PLUGIN)
    result.assert_outcomes(errors=1)
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "soon" in text)
    result.stdout.fnmatch_lines(
        [f"{path}:{line}: steps[0].wait: expected a number (seconds of virtual time), got 'soon'"]
    )
    assert "Traceback" not in result.stdout.str()


def test_tags_select_scenarios_and_markers_are_registered(inner: pytest.Pytester) -> None:
    _scenario_copy(inner.path / "scenarios")
    inner.runpytest(*PLUGIN, "-k", "readiness").assert_outcomes(passed=1)
    inner.runpytest(*PLUGIN, "-k", "asm1062").assert_outcomes()
    result = inner.runpytest(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.live:*", "@pytest.mark.lab:*", "@pytest.mark.scenario(name):*"])


def test_a_scenario_with_live_expectations_gets_a_live_item_skipped_when_live_runs_are_off(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scenario_copy(inner.path / "scenarios", ("expect:\n", "expect:\n  guest_dmesg:\n    lines: [ahci]\n"))
    # The simulated layers still run as their own item; the guest's is the live item.
    inner.runpytest(*PLUGIN, "-m", "not live").assert_outcomes(passed=1)
    monkeypatch.setenv("VFIOLAB_LIVE", "off")
    result = inner.runpytest(*PLUGIN, "-m", "live", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED *live runs are turned off (VFIOLAB_LIVE=off)"])


def test_fixtures_give_the_scenario_a_live_kernel_and_a_rendered_root(inner: pytest.Pytester) -> None:
    _scenario_copy(inner.path / "scenarios")
    inner.makepyfile(
        test_fixtures="""
        import pytest

        pytestmark = pytest.mark.scenario("slow-ready-after-bus-reset")


        def test_scenario_is_the_marked_one(scenario):
            assert scenario.name == "slow-ready-after-bus-reset"
            assert scenario.path.parent.name == "scenarios"


        def test_fake_kernel_is_booted_without_steps(fake_kernel):
            assert fake_kernel.kernel_log() == []
            fake_kernel.step("reset", "01:00.0")
            assert "not ready 1023ms after bus reset; waiting" in fake_kernel.kernel_log()[0]


        def test_fake_host_is_the_root_after_the_steps(fake_host):
            assert (fake_host / "sys/bus/pci/devices/0000:01:00.0/power_state").read_text() == "D0\\n"
            assert "ready 2047ms after bus reset" in (fake_host / "var/log/dmesg").read_text()


        @pytest.mark.parametrize("scenario", ["terramaster-f4-424-pro"], indirect=True)
        def test_indirect_parameter_wins(scenario, fake_kernel):
            assert scenario.name == "terramaster-f4-424-pro"
            assert fake_kernel.kernel.device("03:00.0") is not None
        """
    )
    inner.makepyfile(
        test_default="""
        def test_without_a_choice_the_default_scenario(scenario):
            assert scenario.name == "terramaster-f4-424-pro"
        """
    )
    inner.runpytest(*PLUGIN, "test_fixtures.py", "test_default.py", "--strict-markers").assert_outcomes(passed=5)
