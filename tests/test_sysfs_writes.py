"""Every sysfs write the simulated kernel accepts, with the kernel's results and messages."""

from __future__ import annotations

import errno
import textwrap
from pathlib import Path

import pytest

from fakesys.kernel.kernel import FakeKernel
from fakesys.kernel.reset import reset_function_locked
from harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ASM = "/sys/bus/pci/devices/0000:03:00.0"
SATA = "/sys/bus/pci/devices/0000:00:17.0"


def _kernel(profile: str | None = None, modules: str = "") -> FakeKernel:
    host = load_scenario(str(SCENARIOS / "terramaster-f4-424-pro.yaml")).host
    if profile is not None:
        host.kernel.profile = profile
    if modules:
        host.modules[modules] = {}
    return FakeKernel(host)


def _messages(kernel: FakeKernel, start: int) -> list[str]:
    return [record.text for record in kernel.log.records[start:]]


def test_unbind_and_bind_move_a_device_between_drivers() -> None:
    kernel = _kernel(modules="vfio_pci")
    assert kernel.write("/sys/bus/pci/drivers/ahci/unbind", "0000:03:00.0\n") == 13
    assert kernel.device("03:00.0").driver is None
    assert kernel.write("/sys/bus/pci/drivers/ahci/bind", "0000:03:00.0") == 12
    assert kernel.device("03:00.0").driver == "ahci"


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("/sys/bus/pci/drivers/ahci/bind", "0000:03:00.0", errno.EBUSY),  # already bound
        ("/sys/bus/pci/drivers/nosuch/bind", "0000:03:00.0", errno.ENOENT),  # no such driver
        ("/sys/bus/pci/drivers/ahci/bind", "0000:09:00.0", errno.ENODEV),  # no such device
        ("/sys/bus/pci/drivers/nvme/bind", "0000:00:17.0", errno.ENODEV),  # the driver does not match
        ("/sys/bus/pci/drivers/ahci/bind", "03:00.0", errno.ENODEV),  # not the sysfs name
        ("/sys/bus/pci/drivers/nvme/unbind", "0000:03:00.0", errno.ENODEV),  # bound to ahci, not nvme
        ("/sys/bus/pci/drivers_probe", "0000:09:00.0", errno.ENODEV),
        ("/sys/bus/pci/drivers/ahci/new_id", "1b21", errno.EINVAL),  # fewer than two fields
        ("/sys/bus/pci/drivers/ahci/remove_id", "1b21 9999", errno.ENODEV),  # no such dynamic ID
        (f"{ASM}/reset", "2", errno.EINVAL),  # only "1" resets
        (f"{ASM}/reset", "yes", errno.EINVAL),
        (f"{SATA}/reset", "1", errno.ENOENT),  # no reset method: no reset file
        (f"{SATA}/reset_method", "pm", errno.ENOENT),
        (f"{ASM}/d3cold_allowed", "maybe", errno.EINVAL),
        (f"{ASM}/vendor", "0x1234", errno.EACCES),  # read-only attribute
    ],
)
def test_bad_writes_fail_like_the_kernel(path: str, value: str, error: int) -> None:
    kernel = _kernel()
    assert kernel.write(path, value) == -error


def test_new_id_adds_an_id_binds_matching_devices_and_rejects_duplicates() -> None:
    kernel = _kernel(modules="vfio_pci")
    assert kernel.write("/sys/bus/pci/drivers/ahci/unbind", "0000:03:00.0") > 0
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/new_id", "1b21 0612") > 0
    assert kernel.device("03:00.0").driver == "vfio-pci"
    assert kernel.device("00:17.0").driver == "ahci"  # a bound device is not taken over
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/new_id", "1b21 0612") == -errno.EEXIST
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/remove_id", "1b21 0612") > 0
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/remove_id", "1b21 0612") == -errno.ENODEV


def test_driver_override_decides_what_drivers_probe_binds() -> None:
    kernel = _kernel(modules="vfio_pci")
    dev = kernel.device("03:00.0")
    assert kernel.write(f"{ASM}/driver/unbind", "0000:03:00.0") > 0
    assert kernel.write(f"{ASM}/driver_override", "vfio-pci\n") == 9
    assert dev.driver_override == "vfio-pci"
    # With an override only that driver matches: ahci's bind is refused, the probe picks vfio-pci.
    assert kernel.write("/sys/bus/pci/drivers/ahci/bind", "0000:03:00.0") == -errno.ENODEV
    assert kernel.write("/sys/bus/pci/drivers_probe", "0000:03:00.0") > 0
    assert dev.driver == "vfio-pci"
    assert (dev.current_state, dev.runtime_status) == ("D3hot", "suspended")  # vfio-pci idles it
    assert kernel.write(f"{ASM}/driver_override", "\n") == 1
    assert dev.driver_override is None


def test_drivers_probe_without_a_matching_driver_succeeds_and_binds_nothing() -> None:
    kernel = _kernel()
    assert kernel.write(f"{ASM}/driver/unbind", "0000:03:00.0") > 0
    assert kernel.write(f"{ASM}/driver_override", "vfio-pci") > 0  # vfio-pci is not loaded
    assert kernel.write("/sys/bus/pci/drivers_probe", "0000:03:00.0") > 0
    assert kernel.device("03:00.0").driver is None


def test_power_state_after_unbind_depends_on_the_kernel() -> None:
    # 6.8's pci_device_remove() sets PCI_UNKNOWN for a device left in D0; Debian 6.12.117 does not.
    for profile, expected in (("6.8", "unknown"), ("6.12", "D0"), ("6.1", "D0")):
        kernel = _kernel(profile)
        assert kernel.write(f"{ASM}/driver/unbind", "0000:03:00.0") > 0
        assert kernel.device("03:00.0").current_state == expected, profile


def test_reset_write_resumes_a_runtime_suspended_device_first() -> None:
    kernel = _kernel(modules="vfio_pci")
    dev = kernel.device("03:00.0")
    kernel.write(f"{ASM}/driver/unbind", "0000:03:00.0")
    kernel.write(f"{ASM}/driver_override", "vfio-pci")
    kernel.write("/sys/bus/pci/drivers_probe", "0000:03:00.0")
    assert dev.current_state == "D3hot"
    start = len(kernel.log.records)
    # Without the resume pci_pm_reset would see D3hot and return -EINVAL.
    assert kernel.write(f"{ASM}/reset", "1") == 1
    assert _messages(kernel, start) == []
    assert dev.device.responding
    assert dev.current_state == "D3hot"  # suspended again by pm_runtime_put


def test_pm_reset_outside_d0_stops_the_method_chain() -> None:
    kernel = _kernel()
    dev = kernel.device("03:00.0")
    dev.current_state = "D3hot"
    resets: list[str] = []
    port = kernel.device("00:1c.6").device
    original = port._assert_secondary_reset

    def spy() -> None:
        resets.append("bus")
        original()

    port._assert_secondary_reset = spy  # type: ignore[method-assign]
    assert reset_function_locked(kernel, dev) == -errno.EINVAL
    assert resets == []  # pm returned -EINVAL, so bus was not tried


def test_reset_of_a_device_whose_methods_were_disabled() -> None:
    kernel = _kernel()
    start = len(kernel.log.records)
    assert kernel.write(f"{ASM}/reset_method", "\n") == 1
    assert _messages(kernel, start) == ["ahci 0000:03:00.0: All device reset methods disabled by user"]
    assert kernel.device("03:00.0").reset_methods == []
    assert kernel.write(f"{ASM}/reset", "1") == -errno.ENOTTY
    assert kernel.write(f"{ASM}/reset_method", "default") == 7
    assert kernel.device("03:00.0").reset_methods == ["pm", "bus"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("flr", "ahci 0000:03:00.0: Unsupported reset method 'flr'"),
        ("pm magic", "ahci 0000:03:00.0: Invalid reset method 'magic'"),
        ("pm pm pm pm pm pm pm", "ahci 0000:03:00.0: Too many reset methods"),
    ],
)
def test_reset_method_errors_keep_the_old_list(value: str, message: str) -> None:
    kernel = _kernel()
    start = len(kernel.log.records)
    assert kernel.write(f"{ASM}/reset_method", value) == -errno.EINVAL
    assert _messages(kernel, start) == [message]
    assert kernel.device("03:00.0").reset_methods == ["pm", "bus"]


def test_reset_method_write_restricts_and_reorders() -> None:
    kernel = _kernel()
    assert kernel.write(f"{ASM}/reset_method", "bus pm") == 6
    assert kernel.device("03:00.0").reset_methods == ["bus", "pm"]
    assert kernel.write(f"{ASM}/reset_method", "pm\n") == 3
    assert kernel.device("03:00.0").reset_methods == ["pm"]


def test_unsupported_method_on_a_dead_device_is_pm() -> None:
    # A dead device's PMCSR reads all-ones, so its No_Soft_Reset bit reads set.
    kernel = _kernel()
    kernel.kill(kernel.device("03:00.0"))
    start = len(kernel.log.records)
    assert kernel.write(f"{ASM}/reset_method", "pm") == -errno.EINVAL
    assert _messages(kernel, start) == ["ahci 0000:03:00.0: Unsupported reset method 'pm'"]


def test_d3cold_allowed_is_stored() -> None:
    kernel = _kernel()
    assert kernel.write(f"{ASM}/d3cold_allowed", "0") == 1
    assert kernel.device("03:00.0").d3cold_allowed is False


def test_remove_and_rescan() -> None:
    kernel = _kernel()
    assert kernel.write(f"{ASM}/remove", "1") == 1
    assert kernel.find(kernel.device("03:00.0").bdf) is None
    assert kernel.write(f"{ASM}/reset", "1") == -errno.ENOENT
    assert kernel.write("/sys/bus/pci/rescan", "1") == 1
    dev = kernel.device("03:00.0")
    assert kernel.find(dev.bdf) is dev and dev.driver == "ahci"


def test_a_dead_device_does_not_come_back_on_rescan() -> None:
    kernel = _kernel()
    dev = kernel.device("03:00.0")
    kernel.write(f"{ASM}/remove", "1")
    kernel.kill(dev)
    kernel.write("/sys/bus/pci/rescan", "1")
    assert kernel.find(dev.bdf) is None


def test_writes_through_the_device_tree_path_work_too() -> None:
    kernel = _kernel()
    path = "/sys/devices/pci0000:00/0000:00:1c.6/0000:03:00.0/reset_method"
    assert kernel.write(path, "pm") == 2
    assert kernel.device("03:00.0").reset_methods == ["pm"]


def test_vfio_bound_device_with_idle_d3_disabled_stays_in_d0(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            host:
              extends: terramaster-f4-424-pro
              modules:
                vfio_pci: {disable_idle_d3: true}
              pci:
                - {bdf: 03:00.0, driver: vfio-pci}
            """
        )
    )
    kernel = FakeKernel(load_scenario(str(path)).host)
    assert kernel.device("03:00.0").current_state == "D0"


def test_new_id_leaves_a_removed_device_alone() -> None:
    kernel = _kernel(modules="vfio_pci")
    dev = kernel.device("03:00.0")
    kernel.write("/sys/bus/pci/drivers/ahci/unbind", "0000:03:00.0")
    kernel.write(f"{ASM}/remove", "1")
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/new_id", "1b21 0612") > 0
    assert dev.driver is None


def test_a_dead_device_keeps_its_link_down_through_a_retrain() -> None:
    from fakesys.hw import link
    from harness.pci import regs

    kernel = _kernel()
    dev = kernel.device("03:00.0")
    kernel.kill(dev)
    port = dev.parent
    assert port is not None
    assert not link.retrain(port.device)
    lnksta = port.device.read(port.pcie_cap + 0x12, 2)
    assert not lnksta & regs.EXPRESS_LNKSTA_DLLLA and lnksta & regs.EXPRESS_LNKSTA_LBMS


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        # drivers/base/dd.c call_driver_probe: pr_warn in 6.1.192, dev_err from v6.9 (32de4b4f9dfa).
        ("6.1", "vfio-pci: probe of {port} failed with error -22"),
        ("6.8", "vfio-pci: probe of {port} failed with error -22"),
        ("6.12", "vfio-pci {port}: probe with driver vfio-pci failed with error -22"),
    ],
)
def test_a_failed_probe_is_logged_as_the_profile_kernel_logs_it(profile: str, message: str) -> None:
    kernel = _kernel(profile, modules="vfio_pci")
    parent = kernel.device("03:00.0").parent
    assert parent is not None
    port = parent.name
    kernel.write(f"/sys/bus/pci/devices/{port}/driver_override", "vfio-pci")
    kernel.write("/sys/bus/pci/drivers/pcieport/unbind", port)
    start = len(kernel.log.records)
    # vfio_pci_probe refuses a bridge with -EINVAL, and bind returns the probe's error.
    assert kernel.write("/sys/bus/pci/drivers/vfio-pci/bind", port) == -errno.EINVAL
    assert message.format(port=port) in _messages(kernel, start)


def test_a_probe_that_rejects_the_match_logs_nothing() -> None:
    # -ENODEV and -ENXIO are a rejected match: dev_dbg/pr_debug only (dd.c call_driver_probe).
    from fakesys.kernel import binding

    kernel = _kernel("6.12")
    dev = kernel.device("03:00.0")
    start = len(kernel.log.records)
    binding._log_probe_failure(kernel, dev, "ahci", -binding.ENODEV)
    binding._log_probe_failure(kernel, dev, "ahci", -binding.ENXIO)
    assert _messages(kernel, start) == []
