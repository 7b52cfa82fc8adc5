"""JUnit XML for scenario runs: one ``<testcase>`` per scenario, in one ``<testsuite>``.

The layout follows what pytest's ``--junitxml`` writes (family xunit2), so CI tools read both the
same way: the suite carries the vfiolab version as a property; each test case carries the
scenario name and kernel profile as properties, a ``<failure>`` with the full failure report
when an expectation failed, or an ``<error>`` when the file did not load.
"""

from __future__ import annotations

import io
import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness import __version__
from harness.outputs import check_output_path, write_atomically
from harness.scenario.runner import RunResult

SUITE_NAME = "vfiolab.scenarios"


@dataclass(frozen=True)
class LoadFailure:
    """A scenario that could not be loaded (or run): its name as asked for and the one-line error."""

    name: str
    message: str


def _properties(parent: ET.Element, items: Sequence[tuple[str, str]]) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in items:
        ET.SubElement(properties, "property", name=name, value=value)


def _summary(result: RunResult) -> str:
    count = len(result.failures)
    first = result.failures[0]
    return f"{count} expectation{'s' if count != 1 else ''} failed; first: {first.layer}: {first.expectation}"


def junit_tree(results: Sequence[RunResult], load_failures: Sequence[LoadFailure] = ()) -> ET.ElementTree[ET.Element]:
    failures = sum(not result.passed for result in results)
    # A scenario none of whose layers ran is a skipped case; one whose live layers did not run
    # gets a second, skipped case for them (NAME[live]): neither is ever counted as passed.
    skipped = sum(result.passed and result.skip_reason is not None for result in results) + sum(
        bool(result.checked and result.unchecked) for result in results
    )
    tests = len(results) + len(load_failures) + sum(bool(result.checked and result.unchecked) for result in results)
    total_time = sum(result.seconds for result in results)
    counts = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": str(len(load_failures)),
        "skipped": str(skipped),
        "time": f"{total_time:.3f}",
    }
    suites = ET.Element("testsuites", {"name": "vfiolab", **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": SUITE_NAME,
            **counts,
            "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
            "hostname": platform.node() or "localhost",
        },
    )
    _properties(suite, [("vfiolab_version", __version__)])
    for result in results:
        scenario = result.scenario
        case = ET.SubElement(suite, "testcase", classname=SUITE_NAME, name=scenario.name, time=f"{result.seconds:.3f}")
        _properties(
            case,
            [
                ("scenario", scenario.name),
                ("scenario_file", str(scenario.path)),
                ("kernel_profile", scenario.kernel_profile),
                ("layers", ",".join(result.checked)),
            ],
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=_summary(result), type="ScenarioExpectationFailed")
            failure.text = result.report()
        elif result.skip_reason is not None:
            ET.SubElement(case, "skipped", message=result.skip_reason, type="ScenarioNotChecked")
        out = [f"scenario {scenario.name} ({scenario.path}), kernel profile {scenario.kernel_profile}"]
        out.append(f"layers checked: {', '.join(result.checked) or 'none'}")
        if result.unchecked:
            out.append(f"not checked (need a live run): {', '.join(result.unchecked)}")
        ET.SubElement(case, "system-out").text = "\n".join(out) + "\n"
        if result.checked and result.unchecked:
            live = ET.SubElement(suite, "testcase", classname=SUITE_NAME, name=f"{scenario.name}[live]", time="0.000")
            _properties(live, [("scenario", scenario.name), ("layers", ",".join(result.unchecked))])
            ET.SubElement(live, "skipped", message=result.live_reason, type="ScenarioNotChecked")
    for problem in load_failures:
        case = ET.SubElement(suite, "testcase", classname=SUITE_NAME, name=problem.name, time="0.000")
        _properties(case, [("scenario", problem.name)])
        error = ET.SubElement(case, "error", message=problem.message, type="ScenarioError")
        error.text = problem.message
    ET.indent(suites)
    return ET.ElementTree(suites)


def check_junit_path(path: Path) -> None:
    """Refuse, before anything runs, a path the report could not be written to (a directory)."""
    check_output_path(path, "--junit-xml")


def write_junit(path: Path, results: Sequence[RunResult], load_failures: Sequence[LoadFailure] = ()) -> None:
    """Write the report atomically (:func:`harness.outputs.write_atomically`), creating missing
    parent directories; any failure is an :class:`~harness.errors.OutputError`."""
    stream = io.BytesIO()
    junit_tree(results, load_failures).write(stream, encoding="utf-8", xml_declaration=True)
    write_atomically(path, stream.getvalue(), "--junit-xml")
