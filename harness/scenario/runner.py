"""Running a scenario: boot its host, apply its steps, check every expectation layer.

The runner builds the simulated machine (fakesys), applies ``steps:`` through
:mod:`harness.scenario.steps`, then checks the layers in order: the kernel log and userspace
messages the steps produced, sysfs values (read from an in-memory render), and, on a root
rendered to a directory, the checker's verdicts and the generator's output. Every failure is
collected with what was expected, what was found and the neighbouring lines. The root of a
failed run is kept on disk for inspection and its path is part of the report.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakesys.errors import OutputDirectoryError, SourceError
from fakesys.sysfs.rootdir import render_into
from fakesys.sysfs.tree import MemoryTree, TreeWriter
from fakesys.userspace.machine import Machine, MachineError, render_machine
from fakesys.userspace.sync import RenderRecord, start_journal
from harness.scenario.expect import Failure, TimedLine, check_log, check_sysfs
from harness.scenario.loader import LIVE_LAYERS, Scenario
from harness.scenario.steps import apply_step
from harness.scratch import scratch_root

#: Layers read from a root directory on disk (the checker and generator read roots, never fakesys).
ROOT_LAYERS = ("checker", "generator")
#: tmpfs, when there is one: a Terramaster root is ~1,000 files, and writing them to a disk-backed
#: /tmp costs several times what the rest of a scenario does.


class StepError(SourceError):
    """A step that cannot be carried out on this host (VM not running, no VM config...)."""


@dataclass
class RunResult:
    scenario: Scenario
    machine: Machine | None
    kernel_lines: list[TimedLine] = field(default_factory=list)
    userspace_lines: list[TimedLine] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: Where the final root was written and left (--keep, or a failed run's root).
    kept: Path | None = None
    #: Layers compared, in order; layers that need a live run are listed apart.
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def skip_reason(self) -> str | None:
        """Why nothing of this scenario was checked (it is then reported as skipped, never as
        passed); None when some layer was compared."""
        if self.checked:
            return None
        if self.unchecked:
            return f"{self.live_reason}"
        return "the scenario has no expectations"

    @property
    def live_reason(self) -> str:
        """Why the live layers were not checked, with the command that checks them."""
        name = self.scenario.name
        return f"{', '.join(self.unchecked)} need a live run (vfiolab live run {name}, or vfiolab scenario run --live)"

    def report(self) -> str:
        """The failures as a diff-like text: file:line, the expectation, expected, found and
        context; then where the root was kept."""
        text = [failure.report(str(self.scenario.path)) for failure in self.failures]
        if self.kept is not None:
            text.append(f"rendered root kept in {self.kept}")
        return "\n".join(text)


def run_steps(scenario: Scenario) -> tuple[Machine, int]:
    """Boot the host and apply every step; returns the machine and where the steps' part of
    the kernel log starts (0 after a host reboot: the new boot's whole log). A step that cannot
    be carried out raises :class:`StepError` with the step's line."""
    machine = Machine(scenario.host)
    start = len(machine.kernel.log.records)
    for index, step in enumerate(scenario.steps):
        before = machine.kernel
        try:
            apply_step(machine, step)
        except MachineError as error:
            action = next(iter(step))
            raise StepError(
                str(scenario.path), scenario.line("steps", index), f"steps[{index}].{action}: {error}"
            ) from None
        if machine.kernel is not before:
            start = 0
    return machine, start


def run_scenario(
    scenario: Scenario, keep: Path | None = None, keep_failed: bool = True, failed_dir: Path | None = None
) -> RunResult:
    """Run ``scenario`` and check its expectations.

    Args:
        keep: write the final root to this directory and leave it there (created; an earlier
            vfiolab render in it is replaced; anything else there, a symlink or a file raises
            :class:`~fakesys.errors.OutputDirectoryError`, another process rendering into it
            :class:`~fakesys.errors.DirectoryBusyError`).
        keep_failed: when the run fails and ``keep`` is not given, keep the final root in a new
            directory under ``failed_dir`` (default: the system's temporary directory).
    """
    began = time.perf_counter()
    result = RunResult(scenario, None)
    try:
        machine, start = run_steps(scenario)
    except StepError as error:
        result.failures.append(
            Failure("steps", "every step can be carried out", "the step runs", error.message, [], error.line)
        )
        result.seconds = time.perf_counter() - began
        return result
    result.machine = machine
    expect = scenario.expect
    kernel_spec: dict[str, Any] = expect.get("kernel_log", {})
    records = machine.kernel.log.records if kernel_spec.get("since") == "boot" else machine.kernel.log.records[start:]
    result.kernel_lines = [(record.timestamp_us, record.text) for record in records]
    result.userspace_lines = [
        (record.timestamp_us, f"{record.program}: {record.text}") for record in machine.userspace.records
    ]
    for layer in ("kernel_log", "userspace"):
        if layer in expect:
            lines = result.kernel_lines if layer == "kernel_log" else result.userspace_lines

            def line_of(*at: str | int, layer: str = layer) -> int:
                return scenario.line("expect", layer, *at)

            name = "kernel log" if layer == "kernel_log" else layer
            result.failures += check_log(name, lines, expect[layer], line_of(), line_of)
            result.checked.append(layer)
    needs_directory = keep is not None or any(layer in expect for layer in ROOT_LAYERS)
    with _rendered(scenario, machine, keep if needs_directory else None, needs_directory) as (tree, root):
        if "sysfs" in expect:
            sysfs_lines = {path: scenario.line("expect", "sysfs", path) for path in expect["sysfs"]}
            result.failures += check_sysfs(tree, expect["sysfs"], sysfs_lines)
            result.checked.append("sysfs")
        if root is not None:
            result.failures += _check_root_layers(scenario, root)
            result.checked += [layer for layer in ROOT_LAYERS if layer in expect]
    result.unchecked = [layer for layer in LIVE_LAYERS if layer in expect]
    if keep is not None:
        result.kept = keep
    elif result.failures and keep_failed:
        kept = Path(tempfile.mkdtemp(prefix=f"vfiolab-{scenario.name}-", dir=failed_dir))
        render_machine(machine, str(kept))
        result.kept = kept
    result.seconds = time.perf_counter() - began
    return result


def _check_root_layers(scenario: Scenario, root: Path) -> list[Failure]:
    # Imported here: a scenario with only log and sysfs expectations needs neither.
    from harness.checker import check_root
    from harness.checks.base import CheckOptions
    from harness.errors import CheckerError
    from harness.scenario.expect_checker import check_checker
    from harness.scenario.expect_generator import check_generator

    failures: list[Failure] = []
    expect = scenario.expect
    report = None
    if "checker" in expect:
        spec = expect["checker"]

        def checker_line(*at: str | int) -> int:
            return scenario.line("expect", "checker", *at)

        try:
            report = check_root(root, CheckOptions(vm_firmware=spec.get("vm_firmware", "ovmf")))
        except CheckerError as error:
            failures.append(Failure("checker", "the checker runs", "a report", str(error), [], checker_line()))
        else:
            failures += check_checker(report, spec, checker_line)
    if "generator" in expect:

        def generator_line(*at: str | int) -> int:
            return scenario.line("expect", "generator", *at)

        shared = report if report is not None and report.options.vm_firmware == "ovmf" else None
        failures += check_generator(root, expect["generator"], generator_line, shared)
    return failures


class _BothTrees:
    """A :class:`~fakesys.sysfs.tree.Tree` that renders into memory and a directory at once, so
    the machine is rendered once for the sysfs expectations and for the checker."""

    def __init__(self, memory: MemoryTree, writer: TreeWriter) -> None:
        self.memory = memory
        self.writer = writer

    def directory(self, relative: str) -> None:
        self.memory.directory(relative)
        self.writer.directory(relative)

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> None:
        self.memory.file(relative, content, mode)
        self.writer.file(relative, content, mode)

    def link(self, relative: str, target: str) -> None:
        self.memory.link(relative, target)
        self.writer.link(relative, target)

    def mark(self) -> None:
        self.memory.mark()
        self.writer.mark()


@contextmanager
def _rendered(
    scenario: Scenario, machine: Machine, keep: Path | None, to_directory: bool
) -> Iterator[tuple[MemoryTree, Path | None]]:
    """The machine rendered in memory and, when asked, to a directory: ``keep`` (written
    atomically under its lock, replacing an earlier vfiolab render, with the journal header that
    ``fakesys sync`` checks), or a scratch directory removed afterwards."""
    memory = MemoryTree()
    if not to_directory:
        render_machine(machine, memory)
        yield memory, None
        return
    if keep is not None:
        record = RenderRecord.of(scenario.name, scenario.path, steps=True)

        def build(path: str) -> None:
            render_machine(machine, _BothTrees(memory, TreeWriter(path)))
            start_journal(path, record)

        render_into(keep, build, replace=True)
        yield memory, keep
        return
    rendered: list[MemoryTree] = []

    def fill(path: Path) -> None:
        # A fresh memory tree per attempt: a render that ran out of room is redone elsewhere.
        rendered[:] = [MemoryTree()]
        render_machine(machine, _BothTrees(rendered[0], TreeWriter(str(path))))

    with scratch_root(fill, "vfiolab-scenario-") as scratch:
        yield rendered[0], scratch


def render_final_root(scenario: Scenario, directory: Path | str) -> None:
    """Boot the scenario's host, apply its steps and write the resulting root to ``directory``
    (what ``vfiolab check --scenario`` checks)."""
    machine, _ = run_steps(scenario)
    try:
        render_machine(machine, str(directory))
    except OSError as error:
        raise OutputDirectoryError(f"{directory}: cannot write the render: {error.strerror or error}") from None


@contextmanager
def final_root_in_scratch(scenario: Scenario) -> Iterator[Path]:
    """The scenario after its steps, rendered to a temporary root in memory when there is room
    (:mod:`harness.scratch`) and removed afterwards: what ``check --scenario`` and ``generate
    --scenario`` read."""
    machine, _ = run_steps(scenario)
    with scratch_root(lambda path: render_machine(machine, str(path)), "vfiolab-check-") as root:
        yield root
