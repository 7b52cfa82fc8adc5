"""A scenario's host booted in the simulated kernel, for a test to drive step by step (the
pytest plugin's ``fake_kernel`` fixture).

Steps are the scenario file's own (``host.step("vm_start", 100)`` is ``- vm_start: 100``) and
are checked against the same schema, so a typo fails with what to write instead. The kernel
log, userspace messages and sysfs values can be read after each step, and the state rendered
to a directory for tools that read a root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.tree import MemoryTree
from fakesys.userspace.machine import Machine, render_machine
from harness.scenario.loader import Scenario
from harness.scenario.schema import validate_step
from harness.scenario.steps import apply_step


class SimulatedHost:
    """The booted host of ``scenario``; its ``steps:`` are not applied until :meth:`run_steps`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.machine = Machine(scenario.host)
        self._boot_lines = len(self.machine.kernel.log.records)

    @property
    def kernel(self) -> FakeKernel:
        """The running simulated kernel (a new one after ``host_reboot``)."""
        return self.machine.kernel

    def step(self, action: str, value: Any = True) -> None:
        """Apply one step, written as in a scenario file: ``step("reset", "01:00.0")``,
        ``step("write", {"path": ..., "value": ...})``, ``step("host_reboot")``."""
        step = {action: value}
        validate_step(step)
        before = self.machine.kernel
        apply_step(self.machine, step)
        if self.machine.kernel is not before:
            self._boot_lines = 0

    def run_steps(self) -> None:
        """Apply the scenario's own ``steps:``."""
        for step in self.scenario.steps:
            [(action, value)] = step.items()
            self.step(action, value)

    def kernel_log(self, since_boot: bool = False) -> list[str]:
        """The kernel log's texts (no timestamps): what the steps produced, or since boot."""
        records = self.machine.kernel.log.records
        return [record.text for record in (records if since_boot else records[self._boot_lines :])]

    def userspace_log(self) -> list[str]:
        """qemu-server, QEMU and shell messages, as ``program: text``."""
        return [f"{record.program}: {record.text}" for record in self.machine.userspace.records]

    def read(self, path: str) -> str | None:
        """A sysfs/proc value now (trailing newline removed), a symlink's target name, or None
        when it does not exist."""
        tree = MemoryTree()
        render_machine(self.machine, tree)
        relative = path.lstrip("/")
        if tree.link_at(relative) is not None:
            return tree.readlink_name(relative)
        content = tree.read(relative)
        if content is None:
            return None
        text = content.decode(errors="replace")
        return text[:-1] if text.endswith("\n") else text

    def render(self, directory: Path) -> Path:
        """Write the current state as a root directory (for the checker, lspci...)."""
        render_machine(self.machine, str(directory))
        return directory
