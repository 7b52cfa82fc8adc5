"""The report scenarios whose ``guest:`` part serves the report's own device to a real guest kernel
(failure families 1, 2, 3 and 9 of the scenario library), without QEMU: the proxy finds each
scenario's device descriptions beside it, the served device does at the register level what the
guest's expectations rely on, and the expected wait series is the one drivers/pci/pci.c's
pci_dev_wait prints. The guests themselves run in ``tox -e live`` (each scenario file is a live
test item per guest kernel, harness.pytest_plugin)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from fakesys.hw.device import ResetKind
from harness.live.proxy.served import ServedDevice, ServingError, load_served
from harness.live.runner import FAIL, LiveResult
from harness.live.spec import GuestSpec, Proxy
from harness.scenario import load_scenario

#: Report scenario: (guest kernels, the proxied device's model).
REPORT_GUESTS = {
    "amd-starship-148c-flr-5.8": (("6.1", "6.12"), "amd-starship-148c-flr-5.8-05-00.3"),
    "intel-p4510-nvme-flr-delay-debian12": (("6.1", "6.12"), "intel-p4510-nvme-flr-delay-debian12-01-00.0"),
    "mt7922-flr-all-ones-6-12": (("6.1",), "mt7922-flr-all-ones-6-12-01-00.0"),
    "mt7922-flr-quirk-6-12-16": (("6.12",), "mt7922-flr-all-ones-6-12-01-00.0"),
    "intel-i219v-rootbus-no-reset": (("6.1", "6.12"), "intel-i219v-rootbus-no-reset-00-1f.6"),
}
#: drivers/pci/pci.c (Debian linux-source-6.1 6.1.192-3 and linux-source-6.12 6.12.118-1):
#: pci_dev_wait logs "waiting" once the doubling delay passes PCI_RESET_WAIT, and gives up once
#: it passes the timeout pcie_flr gives it, PCIE_RESET_READY_POLL_MS.
PCI_RESET_WAIT_MS = 1000
PCIE_RESET_READY_POLL_MS = 60000
EXPRESS_DEVCTL = 0x08
DEVCTL_INITIATE_FLR = 0x8000


def _proxy(name: str) -> Proxy:
    (device,) = GuestSpec.from_scenario(load_scenario(name)).proxies
    assert device.proxy is not None
    return device.proxy


@pytest.mark.parametrize("name", sorted(REPORT_GUESTS))
def test_each_report_guest_serves_the_reports_own_device_on_its_kernels(name: str) -> None:
    kernels, model = REPORT_GUESTS[name]
    scenario = load_scenario(name)
    assert scenario.report, "a report scenario"
    assert {"guest_dmesg", "guest_sysfs"} <= set(scenario.expect)
    assert GuestSpec.from_scenario(scenario).kernels == kernels
    proxy = _proxy(name)
    assert proxy.model == model
    assert load_served(proxy).model.name == model


def test_a_reports_device_is_found_only_beside_its_scenario() -> None:
    proxy = _proxy("mt7922-flr-all-ones-6-12")
    with pytest.raises(ServingError, match=re.escape("mt7922-flr-all-ones-6-12-01-00.0")):
        load_served(Proxy(proxy.model))


def _flr(device: ServedDevice) -> None:
    express = device.device.express_offset
    assert express, "the model advertises FLR in its Express capability"
    device.config_write(express + EXPRESS_DEVCTL, 2, DEVCTL_INITIATE_FLR)


def test_the_mt7922_reads_all_ones_after_flr_until_a_bus_reset() -> None:
    device = ServedDevice(_proxy("mt7922-flr-all-ones-6-12"))
    assert device.reset() is ResetKind.POWER_CYCLE
    assert device.config_read(0x00, 4) == 0x061614C3
    _flr(device)
    assert device.config_read(0x04, 4) == 0xFFFFFFFF  # pci_dev_wait reads Command
    assert device.reset() is ResetKind.SECONDARY_BUS
    assert device.config_read(0x00, 4) == 0x061614C3


def test_the_starship_never_answers_after_flr_but_survives_a_bus_reset() -> None:
    device = ServedDevice(_proxy("amd-starship-148c-flr-5.8"))
    device.reset()
    _flr(device)
    assert device.config_read(0x04, 4) == 0xFFFFFFFF
    device.reset()
    assert device.config_read(0x00, 4) == 0x148C1022


def test_the_p4510_answers_at_once_after_flr() -> None:
    device = ServedDevice(_proxy("intel-p4510-nvme-flr-delay-debian12"))
    device.reset()
    _flr(device)
    assert device.config_read(0x00, 4) == 0x0A548086


def test_the_i219v_offers_no_reset_the_guest_kernel_could_use() -> None:
    model = load_served(_proxy("intel-i219v-rootbus-no-reset")).model
    assert not list(model.space.capabilities())


def _pci_dev_wait_never_ready(reset_type: str, timeout_ms: int) -> list[str]:
    """What pci_dev_wait prints for a device that never answers (delays 1, 2, 4, ... ms)."""
    lines: list[str] = []
    delay = 1
    while True:
        if delay > timeout_ms:
            return [*lines, f"not ready {delay - 1}ms after {reset_type}; giving up"]
        if delay > PCI_RESET_WAIT_MS:
            lines.append(f"not ready {delay - 1}ms after {reset_type}; waiting")
        delay *= 2


def test_the_mt7922_guest_expects_the_whole_wait_series_of_61() -> None:
    scenario = load_scenario("mt7922-flr-all-ones-6-12")
    expected = [f"pci 0000:01:00.0: {text}" for text in _pci_dev_wait_never_ready("FLR", PCIE_RESET_READY_POLL_MS)]
    assert scenario.expect["guest_dmesg"]["lines"] == expected


@pytest.mark.live
def test_the_mt7922_expectations_fail_on_the_guest_kernel_that_carries_its_quirk(
    live_run: Callable[..., LiveResult],
) -> None:
    """The same guest on Debian's 6.12.118, whose quirk_no_flr for 14c3:0616 keeps FLR out of
    reset_method: the reset is a bus reset and no wait is printed, so the 6.1 expectations fail
    (the guest kernel, not the proxy, decides what the scenario shows)."""
    result = live_run(load_scenario("mt7922-flr-all-ones-6-12"), "6.12")
    assert result.status == FAIL, result.report()
    failed = {(failure.layer, failure.found) for failure in result.failures}
    assert ("guest sysfs", "'bus'") in failed, result.report()
    assert any(layer == "guest dmesg" for layer, _ in failed), result.report()
    assert any(layer.startswith("guest steps[0] read") for layer, _ in failed), result.report()
    texts = [text for _, text in result.dmesg]
    assert not any("after FLR" in text for text in texts)
