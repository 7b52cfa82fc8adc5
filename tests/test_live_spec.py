"""A scenario's guest: part: loading and its errors, the QEMU command built from it (judged by
QEMU itself), and the shell lines of the guest steps (judged by sh -n)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fakesys.errors import SourceError
from harness.live.assets import GuestAssets
from harness.live.errors import GuestSpecError
from harness.live.proxy.devices import ProxiedDevices
from harness.live.qemu import HOST_ROOT_TAG, build_launch, prepare_disks
from harness.live.spec import ACTIONS, GuestSpec, Step
from harness.live.steps import step_command
from harness.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


def _assets(tmp_path: Path) -> GuestAssets:
    return GuestAssets("6.1", "linux-image-test", "1", "6.1.0-test", "1", tmp_path / "assets", ("ahci",), (), "key")


def _scenario(tmp_path: Path, guest: str, expect: str = "") -> Path:
    text = (
        "name: guest-test\nhost:\n  pci:\n    - {bdf: 00:00.0, device: intel-adln-host-bridge}\n"
        f"guest:\n{guest}" + (f"expect:\n{expect}" if expect else "")
    )
    path = tmp_path / "guest-test.yaml"
    path.write_text(text)
    return path


def test_shipped_live_scenarios_load_with_both_kernels() -> None:
    for name in ("live-intel-ahci", "live-vfio-in-guest"):
        scenario = load_scenario(name)
        spec = GuestSpec.from_scenario(scenario)
        assert scenario.live and spec.kernels == ("6.1", "6.12")
        assert {"guest_dmesg", "guest_sysfs"} <= set(scenario.layers)


def test_schema_errors_in_the_guest_part_name_the_line(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "  devices:\n    - {id: nic0, type: e1000, romfile: /etc/shadow}\n")
    with pytest.raises(SourceError, match=r"guest-test.yaml:7: guest.devices\[0\].romfile: unknown key 'romfile'"):
        load_scenario(str(path))
    path = _scenario(tmp_path, "  steps:\n    - lspci: [-F, /etc/shadow]\n")
    with pytest.raises(SourceError, match=r"guest.steps\[0\].lspci\[\d\]: expected lspci options"):
        load_scenario(str(path))
    path = _scenario(tmp_path, "  steps:\n    - read: {path: /mnt/host/etc/shadow}\n")
    with pytest.raises(SourceError, match=r"guest.steps\[0\].read.path: expected an absolute path under /sys"):
        load_scenario(str(path))
    path = _scenario(tmp_path, "  steps:\n    - write: {path: /sys/../proc/x, value: '1'}\n")
    with pytest.raises(SourceError, match=r"guest.steps\[0\].write.path"):
        load_scenario(str(path))


@pytest.mark.parametrize(
    ("guest", "message"),
    [
        (
            "  devices:\n    - {id: a, type: e1000}\n    - {id: a, type: e1000}\n",
            r":8: guest.devices\[1\].id: 'a' is used twice",
        ),
        ("  devices:\n    - {id: nic, type: e1000, bus: rp9}\n", r"devices\[0\].bus: no earlier port or bridge 'rp9'"),
        (
            "  devices:\n    - {id: a, type: e1000}\n    - {id: b, type: e1000, bus: a}\n",
            r"a \(e1000\) provides no bus",
        ),
        ("  devices:\n    - {id: a, type: e1000, disk: {size_mib: 1}}\n", r"only ich9-ahci and nvme take a disk"),
        ("  devices:\n    - {id: a, type: e1000, chassis: 3}\n", r"chassis and slot apply to"),
        ("  devices:\n    - {id: d, type: xio3130-downstream}\n", r"a downstream port goes on an x3130-upstream port"),
        ("  devices:\n    - {id: a, type: e1000, addr: '1e.0'}\n", r"slot 1e of pcie.0 is reserved"),
        (
            "  steps:\n    - {rescan: true, sleep: 1}\n",
            r":7: guest.steps\[0\]: expected exactly one action .* found rescan, sleep",
        ),
        ("  steps:\n    - {status: 1}\n", r"found none"),
    ],
)
def test_what_the_schema_cannot_say_is_one_line_with_file_and_line(tmp_path: Path, guest: str, message: str) -> None:
    scenario = load_scenario(str(_scenario(tmp_path, guest)))
    with pytest.raises(GuestSpecError, match=message):
        GuestSpec.from_scenario(scenario)


def test_command_line_has_the_guest_devices_iommu_and_host_root_in_order(tmp_path: Path) -> None:
    spec = GuestSpec.from_data(
        {
            "iommu": {"caching_mode": True},
            "devices": [
                {"id": "rp1", "type": "pcie-root-port"},
                {"id": "nvme0", "type": "nvme", "bus": "rp1"},
                {"id": "br1", "type": "pci-bridge", "chassis": 7},
                {"id": "nic1", "type": "e1000", "bus": "br1", "addr": "01.0"},
            ],
            "steps": [{"vfio": {"device": "01:00.0"}}],
        }
    )
    launch = build_launch(spec, _assets(tmp_path), tmp_path / "run,1", qemu="qemu-system-x86_64")
    argv = list(launch.argv)
    joined = " ".join(argv)
    assert argv[argv.index("-machine") + 1] == "q35,kernel-irqchip=split"
    assert argv.index("intel-iommu,intremap=on,caching-mode=on") < argv.index("pcie-root-port,id=rp1,chassis=1,slot=0")
    assert "nvme,id=nvme0,bus=rp1,serial=nvme0,drive=nvme0-disk" in argv
    # A comma in the run's directory is doubled inside QEMU's option syntax.
    assert f"if=none,id=nvme0-disk,file={tmp_path}/run,,1/nvme0.img,format=raw" in argv
    assert "pci-bridge,id=br1,chassis_nr=7" in argv and "e1000,id=nic1,bus=br1,addr=01.0,romfile=" in argv
    assert f"virtio-9p-pci,fsdev={HOST_ROOT_TAG},mount_tag={HOST_ROOT_TAG},bus=pcie.0,addr=1e.0" in argv
    assert "readonly=on" in joined
    assert argv[-2:] == ["-append", "console=ttyS0 panic=-1 no_timer_check intel_iommu=on"]
    assert shlex.split(launch.quoted()) == argv


def test_without_steps_that_need_it_the_host_root_is_not_exported(tmp_path: Path) -> None:
    launch = build_launch(GuestSpec(), _assets(tmp_path), tmp_path, qemu="qemu-system-x86_64")
    assert "-fsdev" not in launch.argv and "intel-iommu" not in " ".join(launch.argv)


def test_disk_images_are_sparse_with_the_marker_first(tmp_path: Path) -> None:
    spec = GuestSpec.from_data({"devices": [{"id": "ahci0", "type": "ich9-ahci", "disk": {"marker": "HELLO"}}]})
    launch = build_launch(spec, _assets(tmp_path), tmp_path, qemu="qemu-system-x86_64")
    prepare_disks(launch)
    image = tmp_path / "ahci0.img"
    assert image.stat().st_size == 16 << 20 and image.read_bytes()[:6] == b"HELLO\0"


def test_qemu_accepts_the_devices_of_every_shipped_live_scenario(tmp_path: Path) -> None:
    """QEMU judges the command: started paused with no kernel it must get past option parsing
    and device creation (its monitor then quits it)."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.fail("qemu-system-x86_64 is not installed: run ci/install-system-packages.sh (qemu-system-x86)")
    cases = [(name, False) for name in sorted(path.stem for path in SCENARIOS.glob("live-*.yaml"))]
    # Guest RAM in a shared memfd, as an x-pci-proxy-dev's remote needs it.
    cases.append(("live-vfio-in-guest", True))
    for name, memfd_ram in cases:
        spec = GuestSpec.from_scenario(load_scenario(name))
        # Proxied devices are served by the proxy, as in a live run: QEMU's realize probes them.
        with ProxiedDevices(spec.proxies) as proxied:
            launch = build_launch(
                spec, _assets(tmp_path), tmp_path, qemu=qemu, memfd_ram=memfd_ram, proxy_fds=proxied.fds
            )
            prepare_disks(launch)
            _quit_from_the_monitor(name, list(launch.argv), proxied.pass_fds)
        assert not proxied.failure, proxied.failure
        for server in proxied.servers:
            # realize read the IDs and probed the BARs; the machine's creation reset the device.
            assert server.stats.messages["PCI_CFGREAD"] >= 11 and server.stats.messages["DEVICE_RESET"] == 1


def _quit_from_the_monitor(name: str, argv: list[str], pass_fds: tuple[int, ...]) -> None:
    # No kernel to boot: drop -kernel/-initrd/-append, start paused, quit from the monitor.
    for option in ("-kernel", "-initrd", "-append"):
        index = argv.index(option)
        del argv[index : index + 2]
    argv = [*argv, "-S", "-monitor", "stdio", "-serial", "none"]
    argv.remove("stdio")  # the -serial stdio pair's value; -serial none replaces it
    argv.remove("-serial")
    done = subprocess.run(
        argv, input="info pci\nquit\n", capture_output=True, text=True, timeout=60, check=False, pass_fds=pass_fds
    )
    assert done.returncode == 0, f"{name}: {done.stderr}"


def _step(action: str, value: Any) -> Step:
    data = GuestSpec.from_data({"steps": [{action: value}]})
    return data.steps[0]


STEP_EXAMPLES: dict[str, Any] = {
    "modprobe": "vfio-pci",
    "bind": {"device": "01:00.0", "driver": "vfio-pci"},
    "unbind": "01:00.0",
    "driver_override": {"device": "01:00.0", "driver": None},
    "reset_method": {"device": "01:00.0", "value": "bus"},
    "reset": "01:00.0",
    "remove": "01:00.0",
    "rescan": True,
    "write": {"path": "/sys/bus/pci/devices/0000:01:00.0/d3cold_allowed", "value": "0; reboot"},
    "read": {"path": "/dev/sda", "bytes": 16},
    "wait_for": "/sys/block/sda",
    "sleep": 0.5,
    "lspci": ["-nn", "-s", "01:00.0"],
    "vfiolab": ["check", "--root", "/", "$(reboot)"],
    "vfio": {"device": "01:00.0", "reset": True, "hot_reset": True, "config_bytes": 16},
}


def test_every_step_is_one_line_of_valid_shell_with_its_values_quoted() -> None:
    sh = shutil.which("sh")
    assert sh is not None
    assert set(STEP_EXAMPLES) == set(ACTIONS)
    for action, value in STEP_EXAMPLES.items():
        command = step_command(_step(action, value))
        assert "\n" not in command
        checked = subprocess.run([sh, "-n", "-c", command], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, f"{action}: {command}: {checked.stderr}"
    assert "printf '%s\\n' '0; reboot' > /sys/bus/pci/devices/0000:01:00.0/d3cold_allowed" in step_command(
        _step("write", STEP_EXAMPLES["write"])
    )
    assert "'$(reboot)'" in step_command(_step("vfiolab", STEP_EXAMPLES["vfiolab"]))
    vfio = step_command(_step("vfio", STEP_EXAMPLES["vfio"]))
    assert vfio.startswith("chroot /host env -i ") and " -S -m harness.live.vfio 0000:01:00.0 " in vfio
    assert vfio.endswith("--config-bytes 16 --reset --hot-reset")


def test_bind_puts_the_device_on_the_driver_and_fails_when_it_does_not_end_up_there(tmp_path: Path) -> None:
    """The bind line run against a fake sysfs: a device on ahci goes to vfio-pci through
    driver_override, unbind and drivers_probe (the probe is simulated by a link change)."""
    sh = shutil.which("sh")
    assert sh is not None
    command = step_command(_step("bind", {"device": "01:00.0", "driver": "vfio-pci"}))
    root = tmp_path / "sys/bus/pci"
    device = root / "devices/0000:01:00.0"
    (root / "drivers/ahci").mkdir(parents=True)
    (root / "drivers/vfio-pci").mkdir(parents=True)
    device.mkdir(parents=True)
    (device / "driver").symlink_to(root / "drivers/ahci")
    fake = command.replace("/sys/", f"{tmp_path}/sys/").replace("modprobe", "true")
    # drivers_probe: the kernel binds the device to the override's driver.
    probe = f"ln -sfn {root}/drivers/vfio-pci {device}/driver"
    fake = fake.replace(f"> {tmp_path}/sys/bus/pci/drivers_probe", f"> {tmp_path}/probe && {probe}")
    (root / "drivers/ahci/unbind").write_text("")
    done = subprocess.run([sh, "-c", fake], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (device / "driver_override").read_text() == "vfio-pci\n"
    assert (root / "drivers/ahci/unbind").read_text() == "0000:01:00.0\n"
    # Without the probe binding it, the step fails and says where the device is.
    (device / "driver").unlink()
    (device / "driver").symlink_to(root / "drivers/ahci")
    stuck = fake.replace(f" && {probe}", "")
    done = subprocess.run([sh, "-c", stuck], capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "0000:01:00.0 is bound to " in done.stderr and "not vfio-pci" in done.stderr
