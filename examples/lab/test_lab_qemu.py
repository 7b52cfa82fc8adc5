"""The labgrid path without lab hardware: labgrid's pytest plugin, its QEMUDriver and its
ShellDriver, with vfiolab's live guest as the target (``qemu-env.yaml``): a real Debian guest
kernel under QEMU (TCG) with intel-iommu, the proxy's ASMedia ASM1062 behind a PCIe root port
and an e1000 behind a PCI bridge. The tests run vfiolab in the guest, on the guest's kernel,
through labgrid's CommandProtocol, as ``test_lab_host.py`` does on a lab host over SSH::

    pytest --lg-env examples/lab/qemu-env.yaml -m lab examples/lab/test_lab_qemu.py

(``tox -e labgrid`` in vfiolab's CI).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness import exitcodes
from harness.lab.results import PLANNED, read_run
from harness.live.session import mount_host_root_command
from harness.live.spec import Step
from harness.live.steps import step_command

pytestmark = pytest.mark.lab

#: The guest's drivers for the devices, and 9p for the host's root.
GUEST_MODULES = ("ahci", "e1000", "virtio_pci", "9pnet_virtio", "9p")
#: Under TCG, Python started from the host's root over 9p takes seconds to import vfiolab.
VFIOLAB_TIMEOUT = 240.0
ASM1062 = "0000:01:00.0"
E1000 = "0000:02:01.0"


def vfiolab(*arguments: str) -> str:
    """The guest's shell line running the host's vfiolab on the guest's kernel (as the live
    runner's ``vfiolab:`` step does)."""
    return step_command(Step(0, "vfiolab", list(arguments)))


@pytest.fixture(scope="module")
def shell(target: Any, strategy: Any) -> Any:
    """labgrid's CommandProtocol on the booted guest, with the host's root mounted at /host."""
    strategy.transition("shell")
    command = target.get_driver("CommandProtocol")
    command.run_check("modprobe -a " + " ".join(GUEST_MODULES))
    command.run_check(mount_host_root_command())
    return command


def test_the_guest_kernel_sees_the_proxied_asm1062(shell: Any) -> None:
    ids = shell.run_check(f"cat /sys/bus/pci/devices/{ASM1062}/vendor /sys/bus/pci/devices/{ASM1062}/device")
    assert ids == ["0x1b21", "0x0612"]
    groups = shell.run_check("ls /sys/kernel/iommu_groups")
    assert len(groups[0].split()) > 1, "the guest's intel-iommu made no IOMMU groups"


def test_vfiolab_check_in_the_guest(shell: Any) -> None:
    stdout, _, code = shell.run(
        vfiolab("check", "--json", "--device", ASM1062, "--device", E1000), timeout=VFIOLAB_TIMEOUT
    )
    text = "\n".join(stdout)
    report = json.loads(text[text.index("{") :])
    assert code == report["exit_code"] == exitcodes.FAIL, text
    assert "platform.iommu-active" in {finding["code"] for finding in report["findings"]}, text
    devices = {device["bdf"]: device for device in report["devices"]}
    assert set(devices) == {ASM1062, E1000}, text
    asm1062, e1000 = devices[ASM1062], devices[E1000]
    assert (asm1062["id"], asm1062["driver"], asm1062["verdict"]) == ("1b21:0612", "ahci", "fail"), text
    # It will be bus-reset (the port's secondary bus reset), which the ASM1062 does not survive.
    assert "reset.bus-reset-breaks-device" in {finding["code"] for finding in asm1062["findings"]}, text
    assert (e1000["id"], e1000["driver"], e1000["verdict"]) == ("8086:100e", "e1000", "pass"), text


def test_vfiolab_lab_run_dry_run_in_the_guest(shell: Any, tmp_path: Path) -> None:
    # The guest reads the host's root read-only through /host, where chroot puts it at /; the
    # report goes to the chroot's writable /dev/shm (the guest's /host/dev/shm).
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        textwrap.dedent(
            f"""\
            name: labgrid-qemu
            devices:
              - {{address: "{ASM1062}", ids: "1b21:0612", name: proxied-asm1062}}
              - {{address: "{E1000}", ids: "8086:100e", name: e1000}}
            """
        ),
        encoding="utf-8",
    )
    stdout, _, code = shell.run(
        vfiolab("lab", "run", str(plan), "--json", "/dev/shm/lab-run.json"), timeout=VFIOLAB_TIMEOUT
    )
    text = "\n".join(stdout)
    assert code == exitcodes.OK, text
    assert "dry run: nothing is written" in text, text
    (tmp_path / "lab-run.json").write_text("\n".join(shell.run_check("cat /host/dev/shm/lab-run.json")))
    run = read_run(tmp_path / "lab-run.json")
    assert not run.acted
    assert run.kernel_release == shell.run_check("uname -r")[0]
    steps = {step.address: step for step in run.steps}
    assert set(steps) == {ASM1062, E1000}, text
    assert {step.classification for step in run.steps} == {PLANNED}, text
    assert steps[ASM1062].predicted_survives is False, text
    assert steps[E1000].predicted_survives is True, text
    print(text)
