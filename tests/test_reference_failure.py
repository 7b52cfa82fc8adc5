"""The reference failure, reproduced by the simulated kernel and userspace, per kernel profile.

Expected lines are the kernel's own format strings; each is listed with the source line it
comes from (Debian linux-source 6.1.192 and 6.12.117 under drivers/pci; the 6.8 texts are those
of v6.5-v6.11, before 59100eb248c0).
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path

import pytest

from fakesys.kernel import timing
from fakesys.userspace.machine import Machine, render_machine
from harness.scenario import load_scenario
from harness.scenario.runner import run_scenario, run_steps
from tests.conftest import DATA, lspci_path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
_STAMP = re.compile(r"^\[\s*(\d+)\.(\d{6})\] (.*)$")


def _scenario(name: str, profile: str | None = None) -> Machine:
    scenario = load_scenario(str(SCENARIOS / f"{name}.yaml"))
    if profile is not None:
        scenario.host.kernel.profile = profile
    machine, _ = run_steps(scenario)
    return machine


def _texts(machine: Machine) -> list[str]:
    return [record.text for record in machine.kernel.log.records]


def _reference_journal() -> list[str]:
    lines = []
    for line in (DATA / "reference-journal.txt").read_text().splitlines():
        match = _STAMP.match(line)
        assert match is not None
        lines.append(match[3])
    return lines


def test_scenario_expectations_hold() -> None:
    result = run_scenario(load_scenario(str(SCENARIOS / "terramaster-asm1062-vm-start.yaml")))
    assert result.passed, result.report()


def test_68_log_ends_with_the_reference_journal() -> None:
    texts = _texts(_scenario("terramaster-asm1062-vm-start"))
    reference = _reference_journal()
    assert len(reference) == 23
    assert texts[-23:] == reference


def test_68_start_rounds_come_before_the_release_rounds() -> None:
    """QEMU's hot reset at machine reset (S1) and its VFIO_DEVICE_RESET fallback (S2) fail
    the same way before the guest runs; the reference excerpt shows only the release rounds."""
    texts = _texts(_scenario("terramaster-asm1062-vm-start"))
    giving_up = [i for i, text in enumerate(texts) if text.endswith("not ready 65535ms after bus reset; giving up")]
    assert len(giving_up) == 4
    broken = [text for text in texts if "broken device, retraining" in text]
    assert len(broken) == 8  # two per round: pcie_wait_for_link_delay, then pci_dev_wait's retrain


def test_68_gaps_equal_the_modelled_waits() -> None:
    machine = _scenario("terramaster-asm1062-vm-start")
    hz = machine.kernel.profile.hz
    records = machine.kernel.log.records
    waiting = re.compile(r"vfio-pci 0000:03:00\.0: not ready (\d+)ms after bus reset; (waiting|giving up)")
    checked = 0
    for previous, current in itertools.pairwise(records):
        first = waiting.match(previous.text)
        second = waiting.match(current.text)
        if first and second and first[2] == "waiting":
            # pci_dev_wait prints, then msleep(delay) with delay = printed + 1 (pci.c pci_dev_wait).
            start = previous.timestamp_us * hz // 1_000_000
            expiry = timing.timer_expiry(start, -(-(int(first[1]) + 1) * hz // 1000) + 1)
            assert current.timestamp_us == -(-expiry * 1_000_000 // hz), (previous.text, current.text)
            checked += 1
        if "broken device" in previous.text and current.text.endswith("retraining failed"):
            # pcie_retrain_link's pre-wait: pcie_wait_for_link_status polls 1000 ms with msleep(1).
            gap_ms = (current.timestamp_us - previous.timestamp_us) / 1000
            assert 1000 <= gap_ms <= 1003
            checked += 1
    assert checked == 4 * 6 + 8


def test_final_tree_is_what_the_kernel_would_show(tmp_path: Path) -> None:
    machine = _scenario("terramaster-asm1062-vm-start")
    render_machine(machine, str(tmp_path))
    device = tmp_path / "sys/bus/pci/devices/0000:03:00.0"
    assert (device / "driver").resolve().name == "vfio-pci"
    assert (device / "power_state").read_text() == "D3cold\n"
    assert (device / "reset_method").read_text() == "pm bus\n"
    output = subprocess.run(
        [lspci_path(), "-A", "linux-sysfs", "-O", f"sysfs.path={tmp_path}/sys/bus/pci", "-vv", "-s", "03:00.0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\t!!! Unknown header type 7f" in output.splitlines()
    assert "\tInterrupt: pin ? routed to IRQ 18" in output.splitlines()


# Per round, from source (t = the secondary bus reset):
# 6.12.117: quirks.c:98 "broken device, retraining non-functional downstream link at 2.5GT/s",
#           quirks.c:124 "retraining failed", pci.c:4880 "Data Link Layer Link Active not set in
#           %d msec" (delay = 100); pci.c:799 "Device config space inaccessible; unable to %s"
#           before a save of the dead device; pci.c:4921 pci_warn_once "unlocked secondary bus
#           reset via: %pS" for the VFIO_DEVICE_RESET fallback (symbol only: offsets vary by build).
# 6.1.192:  pci.c:5053 "Data Link Layer Link Active not set in 1000 msec"; no retrain quirk.
# Both:     pci.c pci_set_low_power_state "Unable to change power state from %s to %s, device
#           inaccessible" at the release's runtime suspend.
PROFILE_LOGS = {
    "6.12": [
        "pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s",
        "pcieport 0000:00:1c.6: retraining failed",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 100 msec",
        "vfio-pci 0000:03:00.0: Device config space inaccessible; unable to save state",
        "pcieport 0000:00:1c.6: unlocked secondary bus reset via: pci_reset_bus_function",
        "pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s",
        "pcieport 0000:00:1c.6: retraining failed",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 100 msec",
        "pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s",
        "pcieport 0000:00:1c.6: retraining failed",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 100 msec",
        "vfio-pci 0000:03:00.0: Device config space inaccessible; unable to save state",
        "pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s",
        "pcieport 0000:00:1c.6: retraining failed",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 100 msec",
        "vfio-pci 0000:03:00.0: Unable to change power state from D0 to D3hot, device inaccessible",
    ],
    "6.1": [
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 1000 msec",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 1000 msec",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 1000 msec",
        "pcieport 0000:00:1c.6: Data Link Layer Link Active not set in 1000 msec",
        "vfio-pci 0000:03:00.0: Unable to change power state from D0 to D3hot, device inaccessible",
    ],
}


@pytest.mark.parametrize("profile", sorted(PROFILE_LOGS))
def test_other_profiles_log_what_their_sources_print(profile: str) -> None:
    scenario = load_scenario(str(SCENARIOS / "terramaster-asm1062-vm-start.yaml"))
    scenario.host.kernel.profile = profile
    machine, start = run_steps(scenario)
    texts = [record.text for record in machine.kernel.log.records[start:]]
    assert texts == ["VFIO - User Level meta-driver version: 0.3", *PROFILE_LOGS[profile]]


def test_intel_sata_start_has_no_kernel_errors_and_qemu_says_it_cannot_reset() -> None:
    result = run_scenario(load_scenario(str(SCENARIOS / "terramaster-intel-sata-vm-start.yaml")))
    assert result.passed, result.report()
    assert [text for _, text in result.kernel_lines] == ["VFIO - User Level meta-driver version: 0.3"]


def test_slow_device_comes_back_without_giving_up() -> None:
    result = run_scenario(load_scenario(str(SCENARIOS / "slow-ready-after-bus-reset.yaml")))
    assert result.passed, result.report()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [("6.8", ["not ready 1023ms", "ready 2047ms"]), ("6.12", ["not ready 1023ms", "not ready 2047ms", "ready 4095ms"])],
)
def test_slow_device_wait_series_per_profile(profile: str, expected: list[str]) -> None:
    """6.8's quirk reports success when nothing needed retraining, so pci_dev_wait restarts its
    polling once (the delays 712e49c96706 fixed); 6.12 keeps counting."""
    machine = _scenario("slow-ready-after-bus-reset", profile)
    texts = [record.text.split(": ", 1)[1] for record in machine.kernel.log.records if "after bus reset" in record.text]
    assert [text.split(" after")[0] for text in texts] == expected


ASM1164_HOST = """\
host:
  kernel: {{release: {release}}}
  pci:
    - {{bdf: 00:1c.0, device: intel-adln-root-port-54be, driver: pcieport, bus: {{secondary: 1}}}}
    - {{bdf: 01:00.0, device: asmedia-asm1164, driver: ahci, behaviours: [{{name: link_dead_after_bus_reset}}]}}
  files:
    /etc/pve/qemu-server/100.conf: |
      machine: q35
      hostpci0: 0000:01:00.0,pcie=1
steps:
  - vm_start: 100
  - vm_stop: 100
"""


@pytest.mark.parametrize(("release", "fails"), [("6.8.12-4-pve", True), ("6.12.117+deb12-amd64", False)])
def test_asm1164_fails_on_68_and_not_on_612(tmp_path: Path, release: str, fails: bool) -> None:
    path = tmp_path / "asm1164.yaml"
    path.write_text(ASM1164_HOST.format(release=release))
    scenario = load_scenario(str(path))
    machine, start = run_steps(scenario)
    texts = [record.text for record in machine.kernel.log.records[start:]]
    dev = machine.kernel.device("01:00.0")
    if fails:
        assert dev.reset_methods == ["pm", "bus"]
        assert sum("giving up" in text for text in texts) == 4
        assert not dev.device.responding
    else:
        # quirk_no_bus_reset: bus leaves reset_method, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO fails,
        # QEMU (silent: the device has a PM reset) falls back to VFIO_DEVICE_RESET, a PM reset.
        assert dev.reset_methods == ["pm"]
        assert texts == ["VFIO - User Level meta-driver version: 0.3"]
        assert dev.device.responding
        assert machine.userspace.records == []
