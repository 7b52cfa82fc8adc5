"""Checking what a live guest did against the scenario: ``guest_dmesg`` (with the matcher of the
simulated runner's kernel log, :func:`harness.scenario.expect.check_log`: lines in order, as
the tail or exactly, regexes, absent lines), ``guest_sysfs`` (the same comparison as ``sysfs``,
:func:`harness.scenario.expect.check_values`) and each step's exit status and output.

Every failure is a :class:`harness.scenario.expect.Failure`, so live and simulated reports read
the same: file:line of the expectation, what was expected, what was found, the lines around.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.live.crash import crash_in_message
from harness.live.session import KMSG_PREFIX, STEPS_BEGIN, TimedLine
from harness.live.spec import Step
from harness.scenario.expect import Failure, check_log, check_values
from harness.scenario.loader import Scenario

OUTPUT_CONTEXT_LINES = 10


@dataclass
class StepOutcome:
    """What a step did: its exit status (None when it did not finish) and output."""

    step: Step
    status: int | None
    output: str
    seconds: float


def dmesg_since(lines: Sequence[TimedLine], since: str) -> list[TimedLine]:
    """The guest's kernel log since boot, or since the steps began (``since: steps``, the
    default, as for the simulated kernel log); vfiolab's own marker lines are left out."""
    start = 0
    if since != "boot":
        marker = f"{STEPS_BEGIN}"
        start = next((index + 1 for index, (_, text) in enumerate(lines) if text == marker), len(lines))
    return [(stamp, text) for stamp, text in lines[start:] if not text.startswith(KMSG_PREFIX)]


def check_guest_dmesg(scenario: Scenario, lines: Sequence[TimedLine]) -> list[Failure]:
    spec: Mapping[str, Any] = scenario.expect["guest_dmesg"]

    def line_of(*at: str | int) -> int:
        return scenario.line("expect", "guest_dmesg", *at)

    selected = dmesg_since(lines, spec.get("since", "steps"))
    return check_log("guest dmesg", selected, spec, line_of(), line_of)


def check_guest_sysfs(scenario: Scenario, found: Mapping[str, str | None]) -> list[Failure]:
    expected: Mapping[str, str | None] = scenario.expect["guest_sysfs"]
    lines = {path: scenario.line("expect", "guest_sysfs", path) for path in expected}
    return check_values("guest sysfs", expected, found, lines)


def check_step(scenario: Scenario, outcome: StepOutcome) -> list[Failure]:
    """The step's exit status against ``status:`` (default 0) and its output against
    ``output:``."""
    step = outcome.step
    failures: list[Failure] = []
    output_lines = outcome.output.splitlines()
    if outcome.status is not None and outcome.status != step.status:
        failures.append(
            Failure(
                "guest step",
                f"{step.describe()}: exit status",
                str(step.status),
                str(outcome.status),
                [f"| {line}" for line in output_lines[-OUTPUT_CONTEXT_LINES:]] or ["(no output)"],
                step.line,
            )
        )
    if step.output is not None:

        def line_of(*at: str | int) -> int:
            return scenario.line("guest", "steps", step.index, "output", *at)

        timed = [(0, line) for line in output_lines]
        failures += check_log(f"guest {step.describe()}: output", timed, step.output, line_of(), line_of)
    return failures


def crashes_in_dmesg(lines: Sequence[TimedLine]) -> list[Failure]:
    """A crash that only dmesg shows (the console's log level hid it): one failure for the first."""
    for index, (_, text) in enumerate(lines):
        crash = crash_in_message(text)
        if crash is not None:
            context = [line for _, line in lines[index : index + 8]]
            return [Failure("guest kernel", "no oops, panic, BUG:, lockup or WARNING", "none", text, context, 0)]
    return []
