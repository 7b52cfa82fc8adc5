"""Running a scenario: boot its host, apply its steps, check its expectations.

The runner builds the simulated machine (fakesys), applies ``steps:`` through
:mod:`harness.scenario.steps`, renders the result in memory for the sysfs expectations (or to a
directory when asked) and checks each expectation layer, collecting every failure with what was
expected, what was found and the surrounding lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fakesys.sysfs.tree import MemoryTree
from fakesys.userspace.machine import Machine, render_machine
from harness.scenario.expect import Failure, TimedLine, check_log, check_sysfs
from harness.scenario.loader import Scenario
from harness.scenario.steps import apply_step


@dataclass
class RunResult:
    scenario: Scenario
    machine: Machine
    kernel_lines: list[TimedLine]
    userspace_lines: list[TimedLine]
    failures: list[Failure] = field(default_factory=list)
    kept: Path | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    def report(self) -> str:
        text = [failure.report(str(self.scenario.path)) for failure in self.failures]
        if self.kept is not None:
            text.append(f"rendered root kept in {self.kept}")
        return "\n".join(text)


def run_steps(scenario: Scenario) -> tuple[Machine, int]:
    """Boot the host and apply every step; returns the machine and where the steps' part of
    the kernel log starts (0 after a host reboot: the new boot's whole log)."""
    machine = Machine(scenario.host)
    start = len(machine.kernel.log.records)
    for step in scenario.steps:
        before = machine.kernel
        apply_step(machine, step)
        if machine.kernel is not before:
            start = 0
    return machine, start


def run_scenario(scenario: Scenario, keep: Path | None = None) -> RunResult:
    machine, start = run_steps(scenario)
    expect = scenario.expect
    kernel_spec = expect.get("kernel_log", {})
    since_boot = kernel_spec.get("since") == "boot"
    records = machine.kernel.log.records if since_boot else machine.kernel.log.records[start:]
    kernel_lines = [(record.timestamp_us, record.text) for record in records]
    userspace_lines = [
        (record.timestamp_us, f"{record.program}: {record.text}") for record in machine.userspace.records
    ]
    result = RunResult(scenario, machine, kernel_lines, userspace_lines)
    if kernel_spec:
        result.failures += check_log("kernel log", kernel_lines, kernel_spec, scenario.line("expect", "kernel_log"))
    if "userspace" in expect:
        result.failures += check_log(
            "userspace", userspace_lines, expect["userspace"], scenario.line("expect", "userspace")
        )
    if "sysfs" in expect:
        tree = MemoryTree()
        render_machine(machine, tree)
        lines = {path: scenario.line("expect", "sysfs", path) for path in expect["sysfs"]}
        result.failures += check_sysfs(tree, expect["sysfs"], lines)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        render_machine(machine, str(keep))
        result.kept = keep
    return result


def render_final_root(scenario: Scenario, directory: Path | str) -> None:
    """Boot the scenario's host, apply its steps and write the resulting root to ``directory``
    (what ``vfiolab check --scenario`` checks)."""
    machine, _ = run_steps(scenario)
    render_machine(machine, str(directory))
