"""Issue 14's round trip: every shipped scenario, rendered, captured, imported and rendered again,
gives the same ``lspci -vvv -nn`` (the real lspci) and the same checker verdicts and finding codes.

"Captured" is a capture bundle made by :func:`harness.capture.bundle.capture` (``vfiolab capture
--root ROOT``, unredacted), read back by the bundle reader. The imported scenario's own
expectations (the checker verdicts of the capture) must pass under the scenario runner too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness.capture.bundle import capture
from harness.checker import check_root
from harness.scenario import load_scenario
from harness.scenario.importer import import_sources
from harness.scenario.runner import run_scenario
from tests.conftest import REPO, RenderRoot, RunLspci

#: Shipped scenarios that run in a live guest are not hosts to capture.
SCENARIOS = sorted(path.stem for path in (REPO / "scenarios").glob("*.yaml") if not load_scenario(str(path)).live)


def captured(root: Path, directory: Path) -> Path:
    """What ``vfiolab capture --root ROOT --no-redact`` makes of a root."""
    bundle = directory / "capture.tar.gz"
    capture(root, bundle, redact=False)
    return bundle


def verdicts(root: Path) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    report = check_root(root)
    devices = [
        (device.function.name, device.verdict.label, sorted(finding.code for finding in device.findings))
        for device in report.devices
    ]
    return sorted(devices), sorted(finding.code for finding in report.host_findings)


def test_every_host_scenario_is_checked() -> None:
    assert "terramaster-f4-424-pro" in SCENARIOS and "amd-ryzen-radeon-gpu" in SCENARIOS
    assert not any(name.startswith("live-") for name in SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_render_capture_import_render_is_the_same_host(
    name: str, scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    original = scenario_root(name)
    bundle = captured(original, tmp_path)
    result = import_sources([str(bundle)], f"{name}-imported", tmp_path / "imported")
    print(f"{name}: imported from {bundle.name}; {len(result.assumptions)} assumptions, {len(result.notes)} notes")
    for item in [*result.assumptions, *result.notes, *result.draft.group_summary]:
        print(f"  {item}")
    scenario = load_scenario(str(result.scenario))
    again = tmp_path / "again"
    render(FakeKernel(scenario.host), str(again))
    assert lspci(again, "-vvv", "-nn") == lspci(original, "-vvv", "-nn")
    assert verdicts(again) == verdicts(original)
    run = run_scenario(scenario)
    assert run.passed, run.report()
    assert result.draft.group_summary[0].startswith("the simulated kernel forms")
    total = result.draft.group_summary[0].split(" of the ")[1].split()[0]
    assert result.draft.group_summary[0].split("forms ")[1].split()[0] == total, result.draft.group_summary
