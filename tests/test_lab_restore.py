"""The lab's restore journal: a run interrupted by SIGTERM at any phase puts the original
bindings back before it exits 130; after SIGKILL, ``vfiolab lab restore`` does; what cannot be
restored is said exactly and stays in the journal. Every run is against the simulated kernel
behind a rendered root."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from harness import exitcodes
from harness.errors import BusyError, CannotRunError
from harness.lab.journal import Change, RestoreJournal, restore_binding
from harness.lab.kernel import PhaseHook, VfioCycle
from harness.lab.plan import load_plan
from harness.lab.runner import PAUSE_VARIABLE, LabRunner
from harness.scenario import load_scenario
from harness.scenario.labkernel import SimulatedKernel
from tests.conftest import RenderRoot
from tests.helpers import REPO, vfiolab

DATA = Path(__file__).resolve().parent / "data" / "lab"
LAB_HOST = DATA / "terramaster-lab.yaml"
ORIGINAL = {"0000:00:17.0": "ahci", "0000:03:00.0": "ahci"}
PLAN_TEXT = """\
devices:
  - {address: "0000:00:17.0", ids: "8086:54d3", steps: [vm-start, function-reset]}
  - {address: "0000:03:00.0", ids: "1b21:0612", steps: [vm-start, function-reset]}
"""
#: Every phase boundary of the plan above, in order (the ASM1062 dies at VM start: its
#: function-reset step is not run).
VM_START = ("vm-start", "open", "reset", "read-back")
PHASES = [
    *(("0000:00:17.0", phase) for phase in ("bind", *VM_START, "function-reset", "read-back", "restore")),
    *(("0000:03:00.0", phase) for phase in ("bind", *VM_START, "restore")),
]


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN_TEXT, encoding="utf-8")
    return path


@pytest.mark.parametrize("stop", range(len(PHASES)), ids=[f"{a}-{p}-{i}" for i, (a, p) in enumerate(PHASES)])
def test_sigterm_at_each_phase_restores_the_bindings(tmp_path: Path, scenario_root: RenderRoot, stop: int) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed in the main thread")
    root = scenario_root(str(LAB_HOST))
    kernel = SimulatedKernel(load_scenario(str(LAB_HOST)), root, render=False, operations=tmp_path / "ops")
    seen: list[tuple[str, str]] = []

    def at_phase(address: str, phase: str) -> None:
        seen.append((address, phase))
        if len(seen) - 1 == stop:
            os.kill(os.getpid(), signal.SIGTERM)

    lines: list[str] = []
    journal = RestoreJournal(tmp_path / "journal.json")
    run = LabRunner(load_plan(_plan(tmp_path)), kernel, journal, act=True, emit=lines.append, on_phase=at_phase).run()
    assert seen[stop] == PHASES[stop]
    assert run.interrupted and run.exit_code == exitcodes.INTERRUPTED
    assert any("SIGTERM received" in line for line in lines)
    assert {address: kernel.driver(address) for address in ORIGINAL} == ORIGINAL
    assert kernel.read(f"sys/bus/pci/devices/{PHASES[stop][0]}/driver_override") == b"(null)\n"
    assert not run.not_restored
    assert not journal.path.exists()
    # A step cut off before its outcome was read says so; none is left without a reason.
    assert all(step.reason for step in run.steps if step.classification == "infra-error")
    # Nothing after the signal ran: the second device was not touched when the first was stopped.
    if PHASES[stop][0] == "0000:00:17.0":
        assert all(step.address == "0000:00:17.0" for step in run.steps)


def test_sigint_is_handled_like_sigterm(tmp_path: Path, scenario_root: RenderRoot) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed in the main thread")
    kernel = SimulatedKernel(
        load_scenario(str(LAB_HOST)), scenario_root(str(LAB_HOST)), render=False, operations=tmp_path / "ops"
    )

    def at_phase(address: str, phase: str) -> None:
        if phase == "vm-start":
            os.kill(os.getpid(), signal.SIGINT)

    journal = RestoreJournal(tmp_path / "journal.json")
    callers_handler = signal.getsignal(signal.SIGINT)  # pytest's default, or SIG_IGN in an xdist worker
    run = LabRunner(load_plan(_plan(tmp_path)), kernel, journal, act=True, emit=lambda _: None, on_phase=at_phase).run()
    assert run.interrupted and run.exit_code == exitcodes.INTERRUPTED
    assert [(step.step, step.classification) for step in run.steps] == [("restore", "pass")]
    assert {address: kernel.driver(address) for address in ORIGINAL} == ORIGINAL
    assert signal.getsignal(signal.SIGINT) is callers_handler  # the caller's handler is back


_KILLED_RUN = """\
import os, signal, sys
from harness.lab.journal import RestoreJournal
from harness.lab.plan import load_plan
from harness.lab.runner import LabRunner
from harness.scenario import load_scenario
from harness.scenario.labkernel import SimulatedKernel

host, plan, root, journal, address, target = sys.argv[1:]
kernel = SimulatedKernel(load_scenario(host), root)

def at_phase(where, phase):
    if (where, phase) == (address, target):
        os.kill(os.getpid(), signal.SIGKILL)

LabRunner(load_plan(plan), kernel, RestoreJournal(journal), act=True, emit=print, on_phase=at_phase).run()
"""


@pytest.mark.parametrize(
    ("address", "phase"),
    [
        ("0000:00:17.0", "vm-start"),
        ("0000:00:17.0", "reset"),
        ("0000:00:17.0", "restore"),
        ("0000:03:00.0", "open"),
        ("0000:03:00.0", "read-back"),
    ],
)
def test_after_sigkill_lab_restore_puts_the_binding_back(tmp_path: Path, address: str, phase: str) -> None:
    root, journal = tmp_path / "root", tmp_path / "journal.json"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED_RUN,
            str(LAB_HOST),
            str(_plan(tmp_path)),
            str(root),
            str(journal),
            address,
            phase,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert journal.exists()
    left = SimulatedKernel.attach(load_scenario(str(LAB_HOST)), root)
    assert left.driver(address) == "vfio-pci"
    restored = vfiolab("lab", "restore", "--scenario", str(LAB_HOST), "--root", str(root), "--journal", str(journal))
    assert restored.returncode == exitcodes.OK, restored.stderr
    assert f"restored: {address} bound to ahci again" in restored.stdout
    after = SimulatedKernel.attach(load_scenario(str(LAB_HOST)), root)
    assert {item: after.driver(item) for item in ORIGINAL} == ORIGINAL
    assert not journal.exists()
    again = vfiolab("lab", "restore", "--scenario", str(LAB_HOST), "--root", str(root), "--journal", str(journal))
    assert again.returncode == exitcodes.OK and "nothing to restore" in again.stderr


def test_what_cannot_be_restored_is_said_exactly_and_stays_in_the_journal(
    tmp_path: Path, scenario_root: RenderRoot
) -> None:
    root, path = scenario_root(str(LAB_HOST)), tmp_path / "journal.json"
    kernel = SimulatedKernel(load_scenario(str(LAB_HOST)), root, render=False, operations=tmp_path / "ops")
    with RestoreJournal(path).locked() as journal:
        # A journal saying the NIC was on nvme: that driver cannot take it.
        journal.record(Change("0000:02:00.0", "nvme", None))
        (result,) = journal.restore(kernel)
    assert not result.restored
    assert result.detail == (
        "0000:02:00.0 is bound to r8169, was nvme (sys/bus/pci/drivers/nvme/bind <- 0000:02:00.0: No such device)"
    )
    assert path.exists()
    kernel.close()
    # A new process meets the simulated host as this one left it (its operations replayed).
    (tmp_path / "root").symlink_to(root)
    (tmp_path / ".root.vfiolab-lab-ops").symlink_to(tmp_path / "ops")
    cli = vfiolab(
        "lab", "restore", "--scenario", str(LAB_HOST), "--root", str(tmp_path / "root"), "--journal", str(path)
    )
    assert cli.returncode == exitcodes.CANNOT_RUN
    assert "NOT restored: 0000:02:00.0 is bound to r8169, was nvme" in cli.stdout


def test_a_run_does_not_start_over_an_earlier_runs_journal(tmp_path: Path, scenario_root: RenderRoot) -> None:
    journal = RestoreJournal(tmp_path / "journal.json")
    with journal.locked():
        journal.record(Change("0000:03:00.0", "ahci", None))
    kernel = SimulatedKernel(
        load_scenario(str(LAB_HOST)), scenario_root(str(LAB_HOST)), render=False, operations=tmp_path / "ops"
    )
    runner = LabRunner(load_plan(_plan(tmp_path)), kernel, journal, act=True, emit=lambda _: None)
    with pytest.raises(CannotRunError, match=r"earlier run left \(0000:03:00.0\): run vfiolab lab restore first"):
        runner.run()
    assert kernel.driver("0000:00:17.0") == "ahci"


def test_a_second_lab_process_on_the_journal_is_busy(tmp_path: Path) -> None:
    first, second = RestoreJournal(tmp_path / "journal.json"), RestoreJournal(tmp_path / "journal.json")
    with first.locked(), pytest.raises(BusyError, match="another vfiolab lab process holds it"), second.locked():
        pass


def test_a_damaged_journal_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text(
        textwrap.dedent('{"format": "vfiolab-lab-restore", "version": 1, "changes": [{"address": "../x"}]}')
    )
    result = vfiolab("lab", "restore", "--root", str(tmp_path), "--journal", str(path))
    assert result.returncode == exitcodes.DATA
    assert "damaged" in result.stderr and "Traceback" not in result.stderr


class _DeadDeviceKernel:
    """A kernel whose device answers all-ones and whose driver's probe fails (ENODEV), as a
    real kernel's ahci does for the dead ASM1062 (tests/test_live_lab.py)."""

    root = Path("/nonexistent")

    def __init__(self) -> None:
        self.bound: str | None = "vfio-pci"

    def write(self, relative: str, value: str) -> None:
        if relative.endswith("/unbind"):
            self.bound = None
        elif relative.endswith("/bind") or relative.endswith("drivers_probe"):
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), relative)

    def read(self, relative: str) -> bytes | None:
        return b"\xff" * 256 if relative.endswith("/config") else None

    def driver(self, address: str) -> str | None:
        return self.bound

    def vfio_cycle(self, address: str, phase: PhaseHook | None = None) -> VfioCycle:
        raise AssertionError("not used")

    def new_log_lines(self) -> list[str]:
        return []


def test_a_dead_device_that_its_driver_cannot_have_back_is_said_to_need_a_power_cycle() -> None:
    result = restore_binding(_DeadDeviceKernel(), Change("0000:03:01.0", "ahci", None))
    assert not result.restored
    assert result.detail == (
        "0000:03:01.0 is bound to no driver, was ahci (sys/bus/pci/drivers/ahci/bind <- 0000:03:01.0: No such "
        "device; sys/bus/pci/drivers_probe <- 0000:03:01.0: No such device); its config space reads all-ones: it "
        "needs a power cycle before ahci can have it"
    )


def test_the_test_only_pause_holds_a_run_at_its_phase_until_sigterm(tmp_path: Path) -> None:
    root, journal = tmp_path / "root", tmp_path / "journal.json"
    environment = dict(os.environ, PYTHONPATH=str(REPO), **{PAUSE_VARIABLE: "reset"})
    command = [sys.executable, "-m", "harness.cli", "lab", "run", str(_plan(tmp_path)), "--yes"]
    command += ["--scenario", str(LAB_HOST), "--keep", str(tmp_path), "--journal", str(journal)]
    with subprocess.Popen(command, cwd=REPO, env=environment, stderr=subprocess.PIPE, text=True) as lab:
        assert lab.stderr is not None
        said = []
        for line in lab.stderr:
            said.append(line)
            if "paused before" in line:
                break
        assert said[-1] == f"lab: {PAUSE_VARIABLE}: paused before reset of 0000:00:17.0; waiting for a signal\n"
        # The device is open in VFIO: bound to vfio-pci, the journal holding its original driver.
        assert SimulatedKernel.attach(load_scenario(str(LAB_HOST)), root).driver("0000:00:17.0") == "vfio-pci"
        assert journal.exists()
        lab.send_signal(signal.SIGTERM)
        rest = lab.stderr.read()
        assert lab.wait(30) == exitcodes.INTERRUPTED
    assert "lab: 0000:00:17.0: restore: 0000:00:17.0 bound to ahci again" in rest
    assert "0000:03:00.0" not in rest  # nothing ran after the signal
    after = SimulatedKernel.attach(load_scenario(str(LAB_HOST)), root)
    assert {item: after.driver(item) for item in ORIGINAL} == ORIGINAL
    assert not journal.exists()


def test_the_test_only_pause_names_a_phase(tmp_path: Path) -> None:
    environment = dict(os.environ, **{PAUSE_VARIABLE: "sometime"})
    result = vfiolab("lab", "run", str(_plan(tmp_path)), "--scenario", str(LAB_HOST), env=environment)
    assert result.returncode == exitcodes.USAGE
    assert f"{PAUSE_VARIABLE}='sometime': expected one of bind, vm-start" in result.stderr
