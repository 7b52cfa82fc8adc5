"""``vfiolab lab``: plans, dry runs that write nothing, refusals, predictions compared with what
the simulated kernel does behind a rendered root (the fake of the sysfs and VFIO protocol),
classification, JSON, JUnit and ``lab diff``. No test touches this machine's /sys."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness import exitcodes
from harness.errors import InputError, NoInputError, RefusedError
from harness.lab.journal import RestoreJournal
from harness.lab.kernel import HostKernel, driver_file
from harness.lab.plan import load_plan
from harness.lab.reports import diff, junit_tree
from harness.lab.results import FAIL, INFRA_ERROR, PASS, PLANNED, LabRun, read_run
from harness.lab.runner import LabRunner
from harness.scenario import load_scenario
from harness.scenario.labkernel import SimulatedKernel
from tests.conftest import RenderRoot
from tests.helpers import vfiolab

DATA = Path(__file__).resolve().parent / "data" / "lab"
LAB_HOST = DATA / "terramaster-lab.yaml"
PLAN = DATA / "f4-424.yaml"


def _plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def simulated(scenario_root: RenderRoot, tmp_path: Path) -> Callable[..., SimulatedKernel]:
    """A simulated host behind a root rendered once per session (writes go to the simulated
    kernel, never into the shared tree)."""

    def make(name: str = str(LAB_HOST)) -> SimulatedKernel:
        return SimulatedKernel(load_scenario(name), scenario_root(name), render=False, operations=tmp_path / "ops")

    return make


def _run(kernel: SimulatedKernel, tmp_path: Path, plan: Path, act: bool = True) -> LabRun:
    runner = LabRunner(load_plan(plan), kernel, RestoreJournal(tmp_path / "journal.json"), act=act, emit=lambda _: None)
    return runner.run()


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = Path(directory) / name
            digest.update(str(path.relative_to(root)).encode())
            if not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


# The plan


def test_plan_loads_canonical_addresses_ids_and_steps(tmp_path: Path) -> None:
    plan = load_plan(
        _plan(
            tmp_path,
            """\
            name: bench-1
            devices:
              - {address: "03:00.0", ids: "1B21:0612", steps: [vm-start, function-reset]}
              - {address: "0000:00:17.0", ids: "8086:54d3", predict: {survives: false}}
            """,
        )
    )
    assert plan.name == "bench-1"
    first, second = plan.devices
    assert (first.address, first.ids, first.steps) == ("0000:03:00.0", "1b21:0612", ("vm-start", "function-reset"))
    assert (second.steps, second.survives_override) == (("vm-start",), False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices: []\n", "plan.yaml:1:"),
        ("devices:\n  - {address: 3:0.0, ids: '1b21:0612'}\n", "plan.yaml:2:"),
        ("devices:\n  - {address: '03:00.0', ids: 1b21}\n", "plan.yaml:2:"),
        ("devices:\n  - {address: '03:00.0', ids: '1b21:0612', steps: [reboot]}\n", "plan.yaml:2:"),
        (
            "devices:\n  - {address: '03:00.0', ids: '1b21:0612'}\n  - {address: '0000:03:00.0', ids: '1b21:0612'}\n",
            "plan.yaml:3: 0000:03:00.0 is planned twice",
        ),
        ("a: &a [1]\nb: &b [*a, *a]\ndevices: *b\n", "plan.yaml:"),
    ],
)
def test_a_bad_plan_is_one_line_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        load_plan(_plan(tmp_path, text))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_unreadable_plan_is_no_input(tmp_path: Path) -> None:
    with pytest.raises(NoInputError):
        load_plan(tmp_path / "missing.yaml")
    result = vfiolab("lab", "run", str(tmp_path / "missing.yaml"), "--root", str(tmp_path))
    assert result.returncode == exitcodes.NO_INPUT, result.stderr
    assert "Traceback" not in result.stderr


# Dry runs


class _WriteGuard:
    """Fails the test on any open for writing, os.write or rename below ``root``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = str(root)
        real_open = os.open

        def guarded_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC) and str(path).startswith(self.root):
                raise AssertionError(f"dry run opened {path} for writing")
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", guarded_open)
        monkeypatch.setattr(HostKernel, "write", self._refuse)
        monkeypatch.setattr(SimulatedKernel, "write", self._refuse)
        monkeypatch.setattr(SimulatedKernel, "vfio_cycle", self._refuse)

    @staticmethod
    def _refuse(*args: object) -> None:
        raise AssertionError(f"dry run wrote: {args[1:]}")


def test_a_dry_run_writes_nothing_and_says_what_it_would_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    render(FakeKernel(load_scenario(str(LAB_HOST)).host), str(root))
    before = _tree_digest(root)
    lines: list[str] = []
    _WriteGuard(monkeypatch, root)
    runner = LabRunner(
        load_plan(PLAN), HostKernel(root), RestoreJournal(tmp_path / "j.json"), act=False, emit=lines.append
    )
    run = runner.run()
    assert _tree_digest(root) == before
    assert not (tmp_path / "j.json").exists()
    assert {step.classification for step in run.steps} == {PLANNED}
    assert run.exit_code == exitcodes.OK
    text = "\n".join(lines)
    assert "dry run: nothing is written" in text
    assert "0000:03:00.0: would write vfio-pci to driver_override, unbind it from ahci" in text
    assert (
        "predicted VM start: VFIO_DEVICE_PCI_HOT_RESET (bus reset) then VFIO_DEVICE_RESET (pm); does not survive"
        in text
    )


def test_the_command_line_dry_run_on_a_rendered_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    render(FakeKernel(load_scenario(str(LAB_HOST)).host), str(root))
    before = _tree_digest(root)
    result = vfiolab("lab", "run", str(PLAN), "--root", str(root), "--junit-xml", str(tmp_path / "dry.xml"))
    assert result.returncode == exitcodes.OK, result.stderr
    assert _tree_digest(root) == before
    assert "would write vfio-pci" in result.stderr
    suite = ET.parse(tmp_path / "dry.xml").getroot()[0]
    assert suite.get("skipped") == "5"


def test_a_missing_or_moved_device_is_an_infra_error_with_its_reason(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    plan = _plan(
        tmp_path,
        """\
        devices:
          - {address: "0000:05:00.0", ids: "1b21:0612", name: moved-asm}
          - {address: "0000:02:00.0", ids: "1b21:0612", name: other-card}
        """,
    )
    run = _run(simulated(), tmp_path, plan)
    moved, other = run.steps
    assert moved.classification == other.classification == INFRA_ERROR
    assert moved.reason == "0000:05:00.0 is not on this host (moved or removed?); the plan expects 1b21:0612 there"
    assert other.reason == "0000:02:00.0 is 10ec:8125, the plan expects 1b21:0612: a different card is in this slot"
    assert run.exit_code == exitcodes.CANNOT_RUN
    result = vfiolab("lab", "run", str(plan), "--root", str(simulated().root))
    assert result.returncode == exitcodes.CANNOT_RUN
    assert "0000:05:00.0 is not on this host (moved or removed?)" in result.stderr


@pytest.mark.parametrize(
    ("address", "ids", "reason"),
    [
        ("0000:04:00.0", "144d:a809", "nvme0n1 holds the host's root filesystem"),
        ("0000:01:00.0", "10ec:8125", "carries the network interface enp1s0, which is up, a port of vmbr0"),
    ],
)
def test_devices_the_host_uses_are_refused_and_left_alone(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel], address: str, ids: str, reason: str
) -> None:
    kernel = simulated()
    run = _run(kernel, tmp_path, _plan(tmp_path, f'devices:\n  - {{address: "{address}", ids: "{ids}"}}\n'))
    (step,) = run.steps
    assert step.refused and step.classification == INFRA_ERROR
    assert step.reason.startswith("refused: ") and reason in step.reason
    assert kernel.driver(address) in ("nvme", "r8169")
    assert run.exit_code == exitcodes.FAIL


def test_a_device_in_a_group_with_a_used_device_is_refused(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    kernel = simulated("amd-ryzen-radeon-gpu")
    plan = load_plan(_plan(tmp_path, 'devices:\n  - {address: "0000:02:00.1", ids: "1022:43eb"}\n'))
    run = LabRunner(plan, kernel, RestoreJournal(tmp_path / "j.json"), act=True, emit=lambda _: None).run()
    (step,) = run.steps
    assert step.refused
    assert "its group peer 04:00.0 carries the network interface enp4s0" in step.reason


def test_acting_on_the_real_root_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    _WriteGuard(monkeypatch, Path("/sys"))
    runner = LabRunner(load_plan(PLAN), HostKernel("/"), RestoreJournal(tmp_path / "j.json"), act=True, emit=print)
    with pytest.raises(RefusedError, match="run it as root"):
        runner.run()


# Acting on the simulated host


def test_predictions_and_the_simulated_kernel_agree(tmp_path: Path, simulated: Callable[..., SimulatedKernel]) -> None:
    kernel = simulated()
    run = _run(kernel, tmp_path, PLAN)
    table = {(step.address, step.step): (step.classification, step.agree, step.needs_power_cycle) for step in run.steps}
    assert table == {
        ("0000:00:17.0", "vm-start"): (PASS, True, False),
        ("0000:00:17.0", "function-reset"): (PASS, True, False),
        ("0000:02:00.0", "function-reset"): (PASS, True, False),
        ("0000:02:00.0", "vm-start"): (PASS, True, False),
        ("0000:03:00.0", "vm-start"): (PASS, True, True),
        ("0000:00:17.0", "restore"): (PASS, None, False),
        ("0000:02:00.0", "restore"): (PASS, None, False),
        ("0000:03:00.0", "restore"): (PASS, None, False),
    }
    asm = run.steps[-2]
    assert run.steps[-1].outcome == "0000:03:00.0 bound to ahci again"
    assert "does not survive" in asm.prediction and "dead: config space reads all-ones" in asm.outcome
    assert any("ff ff ff ff" in line for line in asm.outcome_evidence)
    # The original drivers are back, the journal is gone.
    assert [kernel.driver(address) for address in ("0000:00:17.0", "0000:02:00.0", "0000:03:00.0")] == [
        "ahci",
        "r8169",
        "ahci",
    ]
    assert not (tmp_path / "journal.json").exists()
    assert run.exit_code == exitcodes.OK and not run.not_restored


def test_a_wrong_prediction_is_a_failure_with_both_sides_evidence(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    plan = _plan(
        tmp_path,
        """\
        devices:
          - {address: "0000:03:00.0", ids: "1b21:0612", steps: [vm-start, function-reset], predict: {survives: true}}
          - {address: "0000:02:00.0", ids: "10ec:8125"}
        """,
    )
    run = _run(simulated(), tmp_path, plan)
    wrong, after_death, asm_restored, healthy, healthy_restored = run.steps
    assert asm_restored.step == healthy_restored.step == "restore"
    assert (wrong.classification, wrong.agree) == (FAIL, False)
    assert "[prediction set by the plan]" in wrong.prediction
    assert wrong.prediction_evidence and wrong.outcome_evidence
    assert after_death.classification == INFRA_ERROR and "needs a power cycle" in after_death.reason
    assert healthy.classification == PASS  # the run went on after the dead device
    assert run.exit_code == exitcodes.WARN
    failure = junit_tree(run).getroot().find(".//testcase[@name='0000:03:00.0 vm-start']/failure")
    assert failure is not None and "disagree" in str(failure.get("message"))


def test_vfio_pci_missing_is_an_infra_error_and_the_binding_comes_back(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    kernel = simulated("terramaster-f4-424-pro")
    plan = load_plan(_plan(tmp_path, 'devices:\n  - {address: "0000:02:00.0", ids: "10ec:8125"}\n'))
    run = LabRunner(plan, kernel, RestoreJournal(tmp_path / "j.json"), act=True, emit=lambda _: None).run()
    step, restored = run.steps
    assert step.classification == INFRA_ERROR
    assert "vfio-pci" in step.reason
    assert (restored.step, restored.classification) == ("restore", PASS)
    assert kernel.driver("0000:02:00.0") == "r8169"


def test_a_group_vfio_cannot_open_is_an_infra_error(tmp_path: Path, simulated: Callable[..., SimulatedKernel]) -> None:
    # The audio function shares group 9 with the SMBus and SPI controllers, which keep their
    # host drivers: the group is not viable, so VFIO cannot open the device.
    kernel = simulated()
    plan = _plan(tmp_path, 'devices:\n  - {address: "0000:00:1f.3", ids: "8086:54c8"}\n')
    step, restored = _run(kernel, tmp_path, plan).steps
    assert step.classification == INFRA_ERROR and step.agree is None
    assert step.reason == "VFIO could not open the device: vfio 0000:00:1f.3: group 9 is not viable"
    assert (restored.classification, kernel.driver("0000:00:1f.3")) == (PASS, "snd_hda_intel")


# Reports


def test_junit_has_one_case_per_device_and_step_with_properties(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    run = _run(simulated(), tmp_path, PLAN)
    suite = junit_tree(run).getroot()[0]
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [f"{step.address} {step.step}" for step in run.steps]
    properties = {item.get("name"): item.get("value") for item in cases[-2].iter("property")}
    assert properties["kernel"] == "6.8.12-4-pve"
    assert properties["ids"] == "1b21:0612"
    assert "does not survive" in str(properties["prediction"])
    assert properties["agree"] == "true"


def test_json_round_trips_and_lab_diff_names_what_changed(
    tmp_path: Path, simulated: Callable[..., SimulatedKernel]
) -> None:
    good = _run(simulated(), tmp_path / "a", PLAN)
    wrong_plan = _plan(
        tmp_path,
        """\
        devices:
          - {address: "0000:03:00.0", ids: "1b21:0612", predict: {survives: true}}
          - {address: "0000:00:17.0", ids: "8086:54d3", steps: [vm-start]}
        """,
    )
    bad = _run(simulated(), tmp_path / "b", wrong_plan)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(good.to_json()), encoding="utf-8")
    new.write_text(json.dumps(bad.to_json()), encoding="utf-8")
    assert read_run(old) == good
    lines = diff(read_run(old), read_run(new))
    assert any(line.startswith("changed  0000:03:00.0 vm-start: pass -> fail") for line in lines)
    assert any(line.startswith("gone     0000:02:00.0 function-reset") for line in lines)
    result = vfiolab("lab", "diff", str(old), str(new))
    assert result.returncode == exitcodes.WARN and result.stdout.splitlines() == lines
    assert vfiolab("lab", "diff", str(old), str(old)).returncode == exitcodes.OK
    (tmp_path / "junk.json").write_text("{}", encoding="utf-8")
    assert vfiolab("lab", "diff", str(old), str(tmp_path / "junk.json")).returncode == exitcodes.DATA


def test_the_command_line_acts_on_a_simulated_host(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    result = vfiolab(
        "lab", "run", str(PLAN), "--scenario", str(LAB_HOST), "--yes", "--keep", str(keep),
        "--junit-xml", str(tmp_path / "lab.xml"), "--json", str(tmp_path / "lab.json"),
    )  # fmt: skip
    assert result.returncode == exitcodes.OK, result.stderr
    assert result.stdout.splitlines()[0].split()[:2] == ["device", "step"]
    assert len(result.stdout.splitlines()) == 1 + 5 + 3  # the heading, five steps, three restores
    assert read_run(keep / "lab-run.json") == read_run(tmp_path / "lab.json")
    # The checker's report the predictions came from: the ASM1062 fails on its bus reset.
    check = json.loads((keep / "check.json").read_text(encoding="utf-8"))
    asm = next(device for device in check["devices"] if device["bdf"] == "0000:03:00.0")
    assert asm["verdict"] == "fail"
    assert "reset.bus-reset-breaks-device" in {finding["code"] for finding in asm["findings"]}
    # The kept root shows the final state: the ASM1062 is back on ahci.
    assert os.readlink(keep / "root/sys/bus/pci/devices/0000:03:00.0/driver").endswith("/ahci")


# The kernel interface on a real root (a rendered tree stands in for /)


def test_host_kernel_writes_only_sysfs_paths_below_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    render(FakeKernel(load_scenario(str(LAB_HOST)).host), str(root))
    kernel = HostKernel(root)
    assert kernel.driver("0000:03:00.0") == "ahci"
    assert kernel.read("sys/bus/pci/devices/0000:03:00.0/config")[:4] == bytes.fromhex("211b1206")  # type: ignore[index]
    assert kernel.new_log_lines() == []  # no /dev/kmsg under a rendered root
    kernel.write("sys/bus/pci/devices/0000:03:00.0/driver_override", "vfio-pci")
    assert (root / "sys/bus/pci/devices/0000:03:00.0/driver_override").read_text() == "vfio-pci"
    for bad in ("sys/../etc/passwd", "etc/passwd", "/sys/bus/pci/drivers_probe", "sys//x"):
        with pytest.raises(ValueError, match="not a sysfs path"):
            kernel.write(bad, "x")
    with pytest.raises(FileNotFoundError):  # never creates a file: sysfs has them all
        kernel.write("sys/bus/pci/devices/0000:03:00.0/no_such_attribute", "1")
    with pytest.raises(ValueError, match="not a driver name"):
        driver_file("../../x", "bind")
    # No /dev/vfio under the root: the VFIO client's open fails, which the runner reports as an
    # infra-error (VFIO could not be opened), not as an outcome.
    cycle = kernel.vfio_cycle("0000:03:00.0")
    assert (cycle.opened, cycle.reset_worked) == (False, None)
    assert f"open container {root}/dev/vfio/vfio: ENOENT" in str(cycle.error)


def test_command_line_usage_and_refusals(tmp_path: Path) -> None:
    result = vfiolab("lab", "run", str(PLAN), "--scenario", str(LAB_HOST), "--root", str(tmp_path))
    assert result.returncode == exitcodes.USAGE and "use --keep DIR" in result.stderr
    result = vfiolab("lab", "restore", "--scenario", str(LAB_HOST))
    assert result.returncode == exitcodes.USAGE


@pytest.mark.skipif(os.geteuid() == 0, reason="as root, lab run --yes on / would act on this machine's devices")
def test_the_command_line_refuses_to_act_on_slash_without_root(tmp_path: Path) -> None:
    result = vfiolab("lab", "run", str(PLAN), "--yes", "--journal", str(tmp_path / "j.json"))
    assert result.returncode == exitcodes.FAIL and "run it as root" in result.stderr
