"""``vfiolab lab run`` on a real kernel: the lab code, unchanged, runs inside a live Debian guest
with intel-iommu (tests/data/lab/live-lab-guest.yaml), from the host's root entered with
``chroot``, and the guest is the lab host. Its plan (tests/data/lab/live-guest.yaml) names QEMU's
e1000, which survives its resets (``pass``), the proxy's ASM1062, which dies at its bus reset
(predicted and observed dead: ``pass``, needs a power cycle, the run goes on), and a virtio-net
whose prediction the plan makes wrong on purpose (``fail``, with both sides' evidence). The JUnit
and JSON reports are read back from the guest and the agreement table is printed.

Then the restore journal on the real kernel: a run stopped by SIGTERM at each phase (``bind``,
``open``, ``reset``, ``read-back``; the lab's test-only pause, ``VFIOLAB_LAB_TEST_PAUSE``, holds
it there) puts the e1000 back on its driver; after SIGKILL, ``vfiolab lab restore`` does.

Every sysfs write goes to the guest's own /sys: the host's root is a read-only 9p export, and
the guest's sysfs is mounted over its /sys (checked from the guest's mount table).
"""

from __future__ import annotations

import shlex
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import exitcodes
from harness.lab.reports import table
from harness.lab.results import read_run
from harness.lab.runner import PAUSE_VARIABLE
from harness.live.qemu import HOST_ROOT_MOUNT
from harness.live.runner import LiveResult
from harness.live.session import CommandResult, GuestSession
from harness.live.spec import Step
from harness.live.steps import step_command

pytestmark = pytest.mark.live

DATA = Path(__file__).resolve().parent / "data" / "lab"
GUEST = DATA / "live-lab-guest.yaml"
PLAN = DATA / "live-guest.yaml"
RESTORE_PLAN = DATA / "live-guest-restore.yaml"
#: The lab's files, in the guest's tmpfs: /dev/shm inside the chroot, /host/dev/shm outside it.
SHM = "/dev/shm"
GUEST_SHM = f"{HOST_ROOT_MOUNT}{SHM}"
JOURNAL = f"{SHM}/lab-restore.json"
#: The restore tests' own journal: the main run's keeps the dead ASM1062, which a power cycle
#: alone can give back to ahci, and a lab run does not start over another run's journal.
STOP_JOURNAL = f"{SHM}/stopped-restore.json"
E1000, ASM1062, VIRTIO_NET = "0000:02:01.0", "0000:03:01.0", "0000:01:00.0"
#: Each JUnit case (device and step) and its classification.
EXPECTED_CASES = {
    f"{E1000} vm-start": "pass",
    f"{E1000} restore": "pass",
    f"{ASM1062} vm-start": "pass",
    f"{ASM1062} restore": "infra-error",
    f"{VIRTIO_NET} vm-start": "fail",
    f"{VIRTIO_NET} restore": "pass",
}
#: A lab run waits here at most this long (unscaled seconds): the checker and the VFIO cycles
#: of three devices, under TCG.
LAB_TIMEOUT = 300.0
STOP_PHASES = ("bind", "open", "reset", "read-back")
#: The kernels the restore tests run on: each stopped run costs a lab run (about 20 s under TCG,
#: most of it Python's imports over 9p), so only the newer kernel gets them.
RESTORE_KERNELS = ("6.12",)
LiveRun = Callable[..., LiveResult]


def _vfiolab(*arguments: str, environment: dict[str, str] | None = None) -> str:
    """The guest's shell line running the host's vfiolab in the host's root, with
    ``environment`` added to the clean environment the live steps give it."""
    line = step_command(Step(0, "vfiolab", list(arguments)))
    if environment:
        marker = " env -i "
        assert marker in line, line
        extra = " ".join(shlex.quote(f"{name}={value}") for name, value in environment.items())
        line = line.replace(marker, f"{marker}{extra} ", 1)
    return line


def _binding_state(address: str, journal: str) -> str:
    """Shell that prints the device's driver and override and whether ``journal`` is left."""
    device = f"/sys/bus/pci/devices/{address}"
    return (
        f'd=$(readlink {device}/driver); echo "driver=${{d##*/}}"; echo "override=$(cat {device}/driver_override)";'
        f" if [ -e {HOST_ROOT_MOUNT}{journal} ]; then echo journal=left; else echo journal=none; fi"
    )


def _stopped_at(session: GuestSession, phase: str, signal_name: str) -> CommandResult:
    """A lab run of the restore plan, paused at ``phase`` and sent ``signal_name``."""
    out, err = f"{GUEST_SHM}/stopped.out", f"{GUEST_SHM}/stopped.err"
    lab = _vfiolab(
        "lab", "run", str(RESTORE_PLAN), "--yes", "--journal", STOP_JOURNAL, environment={PAUSE_VARIABLE: phase}
    )
    return session.run(
        # The last run's files go first: a stale pause line would have this run signalled too early.
        f"rm -f {out} {err}; {lab} >{out} 2>{err} & pid=$!;"
        f" until grep -q 'paused before' {err} 2>/dev/null; do kill -0 $pid 2>/dev/null || break; sleep 0.2; done;"
        f" kill -{signal_name} $pid; wait $pid; echo lab-status=$?; cat {err}; {_binding_state(E1000, STOP_JOURNAL)}",
        phase=f"lab run stopped at {phase} by SIG{signal_name}",
        timeout=LAB_TIMEOUT,
    )


def _classification(case: ET.Element) -> str:
    if case.find("failure") is not None:
        return "fail"
    if case.find("error") is not None:
        return "infra-error"
    return "skipped" if case.find("skipped") is not None else "pass"


def _properties(case: ET.Element) -> dict[str, str]:
    return {item.get("name", ""): item.get("value", "") for item in case.iter("property")}


@pytest.mark.parametrize("kernel", ["6.1", "6.12"])
def test_lab_run_in_a_guest_predicts_observes_and_restores(
    live_run: LiveRun, kernel: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said: dict[str, CommandResult] = {}
    files: dict[str, str | None] = {}
    xml, json = f"{SHM}/lab.xml", f"{SHM}/lab.json"

    def drive(session: GuestSession) -> None:
        said["mounts"] = session.run("grep -E ' /host(/sys)? ' /proc/mounts")
        said["run"] = session.run(
            _vfiolab("lab", "run", str(PLAN), "--yes", "--journal", JOURNAL, "--junit-xml", xml, "--json", json)
            + f"; echo lab-status=$?; {_binding_state(E1000, JOURNAL)}",
            phase="lab run",
            timeout=LAB_TIMEOUT,
        )
        files.update(session.read_values([f"{HOST_ROOT_MOUNT}{xml}", f"{HOST_ROOT_MOUNT}{json}"]))
        if kernel not in RESTORE_KERNELS:
            return
        for phase in STOP_PHASES:
            said[f"TERM {phase}"] = _stopped_at(session, phase, "TERM")
        said["KILL"] = _stopped_at(session, "reset", "KILL")
        said["restore"] = session.run(
            _vfiolab("lab", "restore", "--journal", STOP_JOURNAL)
            + f"; echo restore-status=$?; {_binding_state(E1000, STOP_JOURNAL)}",
            phase="lab restore",
            timeout=LAB_TIMEOUT,
        )

    result = live_run(str(GUEST), kernel, after_steps=drive)
    assert result.passed, result.report()

    # The lab acted on the guest's kernel and its own sysfs, never on this machine's.
    mounts = said["mounts"].output
    assert f"hostroot {HOST_ROOT_MOUNT} 9p ro," in mounts, mounts
    assert f"sysfs {HOST_ROOT_MOUNT}/sys sysfs rw" in mounts, mounts

    run = said["run"]
    assert f"lab-status={exitcodes.WARN}" in run.output, run.output  # a disagreement, reported
    # The e1000 is back on its driver; the journal keeps the dead ASM1062 (see below).
    assert "driver=e1000" in run.output and "journal=left" in run.output, run.output
    json_text, xml_text = files[f"{HOST_ROOT_MOUNT}{json}"], files[f"{HOST_ROOT_MOUNT}{xml}"]
    assert json_text is not None and xml_text is not None, run.output
    (tmp_path / "lab.json").write_text(json_text)
    lab = read_run(tmp_path / "lab.json")
    assert lab.kernel_release == result.kernel_release  # the guest's kernel, as its uname -r says
    assert lab.acted and lab.root == "/" and not lab.interrupted

    # JUnit: one case per device and step, each with the expected classification.
    suite = ET.fromstring(xml_text).find("testsuite")
    assert suite is not None
    cases = {case.get("name", ""): case for case in suite.iter("testcase")}
    assert len(cases) == len(list(suite.iter("testcase")))
    assert {name: _classification(case) for name, case in cases.items()} == EXPECTED_CASES, xml_text
    for case in cases.values():
        assert _properties(case)["kernel"] == result.kernel_release
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "1", "1")

    steps = {step.case: step for step in lab.steps}
    survived = steps[f"{E1000} vm-start"]
    assert (survived.predicted_survives, survived.observed_survives, survived.agree) == (True, True, True)
    assert "survives: config space reads back" in survived.outcome
    # The ASM1062: predicted dead by the checker's reset analysis, found dead, reported as needing
    # a power cycle; its driver cannot have it back, and the report says why.
    dead = steps[f"{ASM1062} vm-start"]
    assert (dead.predicted_survives, dead.observed_survives, dead.agree) == (False, False, True)
    assert dead.needs_power_cycle and "dead: config space reads all-ones" in dead.outcome
    assert any(line.startswith("reset.bus-reset-breaks-device:") for line in dead.prediction_evidence)
    assert f"sys/bus/pci/devices/{ASM1062}/config: ff ff ff ff" in "\n".join(dead.outcome_evidence)
    unrestored = steps[f"{ASM1062} restore"]
    assert f"{ASM1062} is bound to no driver, was ahci" in unrestored.reason
    assert "reads all-ones: it needs a power cycle before ahci can have it" in unrestored.reason
    assert lab.not_restored == [unrestored.outcome]
    # The run went on after the dead device; the wrong prediction is a disagreement, with both
    # sides' evidence in the JUnit failure.
    wrong = steps[f"{VIRTIO_NET} vm-start"]
    assert (wrong.predicted_survives, wrong.observed_survives, wrong.agree) == (False, True, False)
    failure = cases[f"{VIRTIO_NET} vm-start"].find("failure")
    assert failure is not None and failure.text is not None
    assert "prediction and outcome disagree" in failure.get("message", "")
    assert "[prediction set by the plan]" in failure.text and "  reset.flr: " in failure.text
    assert "outcome: a QEMU reset worked; survives" in failure.text
    assert "  vfio: qemu reset: VFIO_DEVICE_RESET ok" in failure.text

    with capsys.disabled():
        print(f"\n{result.summary()}\nagreement table, guest kernel {lab.kernel_release}:\n{table(lab)}")
    if kernel not in RESTORE_KERNELS:
        return
    # SIGTERM at each phase: the run restores before it exits 130.
    for phase in STOP_PHASES:
        stopped = said[f"TERM {phase}"].output
        assert f"lab: {PAUSE_VARIABLE}: paused before {phase} of {E1000}" in stopped, stopped
        assert "lab: SIGTERM received" in stopped and f"lab-status={exitcodes.INTERRUPTED}" in stopped, stopped
        if phase != "bind":  # at bind nothing was changed yet
            assert f"lab: {E1000}: restore: {E1000} bound to e1000 again" in stopped, stopped
        assert "driver=e1000\noverride=(null)\njournal=none" in stopped, stopped
    # SIGKILL with the device open in VFIO: the journal is left, and lab restore replays it.
    killed = said["KILL"].output
    assert "lab-status=137" in killed and "driver=vfio-pci" in killed and "journal=left" in killed, killed
    restored = said["restore"].output
    assert f"lab restore: restored: {E1000} bound to e1000 again" in restored, restored
    assert "restore-status=0\ndriver=e1000\noverride=(null)\njournal=none" in restored, restored
