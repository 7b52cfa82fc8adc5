"""The labgrid examples of ``examples/lab`` do not rot: each environment loads through labgrid's
own Environment and target factory (resources and drivers created and bound, nothing
connected, nothing powered), the QEMU environment's command line is the one the guest needs,
and the GitLab CI example is YAML whose jobs name the environment's targets. The tests that
need labgrid are skipped without it (``pip install 'vfiolab[lab]'``; ``tox -e labgrid``); the
QEMU target itself is booted by ``examples/lab/test_lab_qemu.py`` in ``tox -e labgrid``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "lab"
LAB_ENV = EXAMPLES / "env.yaml"
QEMU_ENV = EXAMPLES / "qemu-env.yaml"
GITLAB_CI = EXAMPLES / "gitlab-ci.yml"


def _environment(path: Path) -> Any:
    labgrid = pytest.importorskip("labgrid", reason="labgrid is not installed (pip install 'vfiolab[lab]')")
    return labgrid.Environment(config_file=str(path))


def _drivers(target: Any) -> dict[str, Any]:
    return {type(driver).__name__: driver for driver in target.drivers}


def test_the_lab_host_environment_loads_every_target_with_ssh_and_a_power_driver() -> None:
    env = _environment(LAB_ENV)
    names = list(env.config.get_targets())
    assert names == ["f4-424", "n100"]
    for name in names:
        target = env.get_target(name)
        drivers = _drivers(target)
        assert "SSHDriver" in drivers, name
        # What test_lab_host.py asks for, without activating it (that would connect).
        power = target.get_driver("PowerProtocol", activate=False)
        assert type(power).__name__ in ("ExternalPowerDriver", "NetworkPowerDriver"), name
        assert env.config.get_target_option(name, "plan") == "/etc/vfiolab/lab-plan.yaml"
    f4, n100 = (_drivers(env.get_target(name)) for name in names)
    # IPMI through ipmitool; the PDU's model is a labgrid power backend (imported when the
    # driver is created, so a misspelt model fails here).
    ipmi = f4["ExternalPowerDriver"]
    assert all(command.startswith("ipmitool ") for command in (ipmi.cmd_on, ipmi.cmd_off, ipmi.cmd_cycle))
    assert n100["NetworkPowerDriver"].backend.__name__ == "labgrid.driver.power.gude"
    env.cleanup()


def test_the_qemu_environment_gives_qemu_the_live_guest_and_its_initrd_through_the_proxy_wrapper(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (ci/install-system-packages.sh)")
    monkeypatch.setenv("LG_VFIOLAB_VMLINUX", str(tmp_path / "vmlinux"))
    monkeypatch.setenv("LG_VFIOLAB_INITRAMFS", str(tmp_path / "initramfs.cpio"))
    env = _environment(QEMU_ENV)
    target = env.get_target("main")
    drivers = _drivers(target)
    assert {"QEMUDriver", "ShellDriver", "LiveGuestStrategy"} <= set(drivers)
    assert drivers["ShellDriver"].prompt == "vfiolab-guest# "
    # The wrapper answers QEMUDriver's version question itself (no device served then).
    argv = drivers["QEMUDriver"].get_qemu_base_args()
    assert argv[0] == str(EXAMPLES / "qemu-proxy.sh")
    assert argv[argv.index("-kernel") + 1] == str(tmp_path / "vmlinux")
    assert argv[argv.index("-initrd") + 1] == str(tmp_path / "initramfs.cpio")
    assert "vfiolab.console=shell" in argv[argv.index("-append") + 1].split()
    assert "x-pci-proxy-dev,id=sata0,bus=rp1,fd=proxy:sata0" in argv
    assert argv[argv.index("-m") + 1] == "512M"
    env.cleanup()


def test_the_qemu_environment_and_the_proxy_wrapper_serve_the_same_memory() -> None:
    # The proxy's memfd RAM replaces QEMU's own: both sizes must be the guest's.
    memory = yaml.safe_load(QEMU_ENV.read_text().replace("!template", ""))["targets"]["main"]["drivers"]["QEMUDriver"]
    assert f"--memfd-ram {memory['memory']} " in (EXAMPLES / "qemu-proxy.sh").read_text()


def test_the_gitlab_ci_example_runs_one_job_per_lab_host_and_collects_its_junit() -> None:
    pipeline = yaml.safe_load(GITLAB_CI.read_text())
    targets = yaml.safe_load(LAB_ENV.read_text())["targets"]
    template = pipeline[".lab-host"]
    assert template["stage"] in pipeline["stages"]
    script = " ".join(template["script"])
    assert "--lg-env examples/lab/env.yaml" in script and "-m lab" in script
    assert "--junitxml=junit-$LAB_HOST.xml" in script
    assert template["artifacts"]["reports"]["junit"] == "junit-$LAB_HOST.xml"
    assert template["artifacts"]["when"] == "always"
    jobs = {name: job for name, job in pipeline.items() if not name.startswith(".") and name != "stages"}
    hosts = [job["variables"]["LAB_HOST"] for job in jobs.values()]
    assert sorted(hosts) == sorted(targets)
    for name, job in jobs.items():
        assert job["extends"] == ".lab-host", name
        # One runner per lab host: each job is tagged with its own host.
        assert job["tags"] == [f"lab-{job['variables']['LAB_HOST']}"], name
        assert (EXAMPLES.parent.parent / job["variables"]["LG_ENV"]) == LAB_ENV, name
