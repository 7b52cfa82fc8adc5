"""Scenarios reproduced from public bug reports: the outcome each report states (``report:``)
against the checker verdicts the scenario expects.

The report's result is recorded from the report; the verdict comes from the checker's rules,
which are written from kernel, QEMU and firmware sources. Where they differ the scenario must
say why (``report.disagreement``); this test prints the table the closing note quotes.
"""

from __future__ import annotations

import pytest

from harness.scenario import list_scenarios, load_scenario
from harness.scenario.loader import Scenario

# The verdicts that agree with each stated result. "degraded" (it worked at a cost) agrees with a
# warning or a failure; "unresolved" agrees with anything, since the report never says.
AGREEING = {
    "fails": {"fail"},
    "works": {"pass", "warn"},
    "degraded": {"warn", "fail"},
    "unresolved": {"pass", "warn", "fail"},
}


def _reported() -> list[Scenario]:
    scenarios = [load_scenario(str(path)) for path in list_scenarios().values()]
    return [scenario for scenario in scenarios if scenario.report]


REPORTED = _reported()


def _expected_verdict(scenario: Scenario, bdf: str) -> str | None:
    devices = scenario.expect.get("checker", {}).get("devices", {})
    for key, expectation in devices.items():
        if key.removeprefix("0000:") == bdf.removeprefix("0000:"):
            verdict = expectation.get("verdict")
            return str(verdict) if verdict is not None else None
    return None


@pytest.mark.parametrize("scenario", REPORTED, ids=[scenario.name for scenario in REPORTED])
def test_each_reported_device_has_a_verdict_and_differences_are_explained(scenario: Scenario) -> None:
    result = scenario.report["result"]
    rows = []
    for bdf in scenario.report["devices"]:
        verdict = _expected_verdict(scenario, bdf)
        assert verdict is not None, f"{scenario.name}: report.devices names {bdf}, which has no expected verdict"
        agrees = verdict in AGREEING[result]
        rows.append(f"{scenario.name} {bdf}: report {result}, checker {verdict}, {'agree' if agrees else 'differ'}")
        if not agrees:
            assert scenario.report.get("disagreement"), (
                f"{scenario.name}: the report says {result} for {bdf} and the checker is expected to say "
                f"{verdict}; say why in report.disagreement"
            )
    print("\n".join(rows))
