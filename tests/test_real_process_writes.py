"""Writes by a real process on a rendered root end in the same state as the same writes made
through the Python API (fakesys.userspace.sync applies pending writes between steps)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fakesys.sysfs.tree import MemoryTree
from fakesys.userspace.machine import Machine, render_machine
from fakesys.userspace.sync import apply_pending, pending_writes, read_journal
from harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEVICE = "sys/bus/pci/devices/0000:03:00.0"


def _machine() -> Machine:
    machine = Machine(load_scenario(str(SCENARIOS / "terramaster-f4-424-pro.yaml")).host)
    machine.kernel.load_module("vfio_pci")
    return machine


def _snapshot(machine: Machine) -> tuple[dict[str, bytes], dict[str, str]]:
    tree = MemoryTree()
    render_machine(machine, tree)
    return tree.files, tree.links


def test_shell_writes_and_api_writes_end_in_the_same_tree(tmp_path: Path) -> None:
    by_shell = _machine()
    render_machine(by_shell, str(tmp_path))
    device = tmp_path / DEVICE
    subprocess.run(
        [
            "sh",
            "-c",
            f"echo 0000:03:00.0 > {device}/driver/unbind; echo vfio-pci > {device}/driver_override; "
            f"echo 0000:03:00.0 > {tmp_path}/sys/bus/pci/drivers_probe",
        ],
        check=True,
    )
    results = apply_pending(by_shell, tmp_path)
    assert [(write.path, result > 0) for write, result in results] == [
        ("/sys/bus/pci/drivers/ahci/unbind", True),
        ("/sys/bus/pci/devices/0000:03:00.0/driver_override", True),
        ("/sys/bus/pci/drivers_probe", True),
    ]
    by_api = _machine()
    by_api.write("/sys/bus/pci/drivers/ahci/unbind", "0000:03:00.0\n")
    by_api.write("/sys/bus/pci/devices/0000:03:00.0/driver_override", "vfio-pci\n")
    by_api.write("/sys/bus/pci/drivers_probe", "0000:03:00.0\n")
    assert _snapshot(by_shell) == _snapshot(by_api)
    assert (device / "driver").resolve().name == "vfio-pci"
    assert (device / "power_state").read_text() == "D3hot\n"
    assert pending_writes(by_shell, tmp_path) == []


def test_a_rejected_shell_write_changes_nothing(tmp_path: Path) -> None:
    machine = _machine()
    render_machine(machine, str(tmp_path))
    (tmp_path / DEVICE / "reset_method").write_text("magic\n")
    [(_, result)] = apply_pending(machine, tmp_path)
    assert result < 0
    assert (tmp_path / DEVICE / "reset_method").read_text() == "pm bus\n"
    assert machine.kernel.log.records[-1].text == "ahci 0000:03:00.0: Invalid reset method 'magic'"


def test_cli_sync_replays_earlier_writes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    run = [sys.executable, "-m", "harness.cli", "fakesys"]
    subprocess.run([*run, "render", "terramaster-f4-424-pro", str(root)], check=True, capture_output=True)
    (root / DEVICE / "reset_method").write_text("bus\n")
    subprocess.run([*run, "sync", "terramaster-f4-424-pro", str(root)], check=True, capture_output=True)
    (root / DEVICE / "d3cold_allowed").write_text("0\n")
    subprocess.run([*run, "sync", "terramaster-f4-424-pro", str(root)], check=True, capture_output=True)
    # The second sync rebuilt the state from the scenario and the journal: both writes hold.
    assert (root / DEVICE / "reset_method").read_text() == "bus\n"
    assert (root / DEVICE / "d3cold_allowed").read_text() == "0\n"
    journal = read_journal(root)
    assert [write.path.rsplit("/", 1)[1] for write in journal.writes] == ["reset_method", "d3cold_allowed"]
    assert journal.record is not None and journal.record.scenario == "terramaster-f4-424-pro"
