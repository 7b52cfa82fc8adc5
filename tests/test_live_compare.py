"""The oracle, live: the proxy scenarios on the real Debian guest kernels against their simulated
counterparts (harness.live.compare), and what the real kernels settled about the profiles. Each
scenario runs once per kernel and session: the scenario's own live item and these tests share
the run (the plugin's ``live_compare``). On 6.1, live-asm1062-bus-reset takes about 7 minutes
(six bus resets of a dead device, 65 s each)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.live.compare import SAME, Comparison
from harness.live.runner import LiveResult

pytestmark = pytest.mark.live

Compare = Callable[[str, str], tuple[Comparison, LiveResult]]
KERNELS = ("6.1", "6.12")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", ["live-asm1062-dead", "live-asm1062-bus-reset"])
def test_the_real_and_the_simulated_kernel_agree(live_compare: Compare, name: str, kernel: str) -> None:
    comparison, live = live_compare(name, kernel)
    assert live.passed, live.report()
    assert comparison.agrees, comparison.table()
    assert comparison.boot, "the enumeration of the proxied devices was compared"


@pytest.mark.parametrize(("kernel", "suffix"), [("6.1", ""), ("6.12", " conventional PCI")])
def test_the_dead_controller_is_ignored_with_each_kernels_exact_words(
    live_compare: Compare, kernel: str, suffix: str
) -> None:
    _, live = live_compare("live-asm1062-dead", kernel)
    texts = [text for _, text in live.dmesg]
    assert f"pci 0000:01:00.0: [1b21:0612] type 7f class 0xffffff{suffix}" in texts
    assert "pci 0000:01:00.0: unknown header type 7f, ignoring device" in texts
    assert live.values["/sys/bus/pci/devices/0000:01:00.0/config"] is None


@pytest.mark.parametrize(
    ("kernel", "last_wait"),
    [("6.1", "not ready 65535ms after bus reset; giving up"), ("6.12", "not ready 1023ms after bus reset; giving up")],
)
def test_each_kernel_waits_for_the_dead_controller_as_its_source_says(
    live_compare: Compare, kernel: str, last_wait: str
) -> None:
    """6.1 polls for PCIE_RESET_READY_POLL_MS - 100 behind a port of at most 5 GT/s; 6.12 polls
    PCI_RESET_WAIT - 100 and then stops, since the port does not show Data Link Layer Link
    Active (drivers/pci/pci.c pci_bridge_wait_for_secondary_bus of each)."""
    comparison, _ = live_compare("live-asm1062-bus-reset", kernel)
    matched = [row for row in comparison.steps if row.verdict == SAME]
    assert f"ahci 0000:01:00.0: {last_wait}" in [row.guest for row in matched]
    timed = [row for row in matched if row.gap_fits is not None]
    assert timed and all(row.gap_fits for row in timed)


def test_612_settles_the_open_questions(live_compare: Compare) -> None:
    """(a) 6.12.117 does log "Device config space inaccessible; unable to save state" (drivers/pci
    pci.c pci_dev_config_accessible, from pci_dev_save_and_disable); (b) on a port without Link
    Active, a dead device gets "not ready 1023ms ...; giving up" once per reset, and the
    VFIO_DEVICE_RESET fallback is the one unlocked bus reset."""
    comparison, _ = live_compare("live-asm1062-bus-reset", "6.12")
    guest = [row.guest for row in comparison.steps if row.verdict == SAME]
    assert "vfio-pci 0000:02:00.0: Device config space inaccessible; unable to save state" in guest
    assert "pcieport 0000:00:03.0: unlocked secondary bus reset via: __pci_reset_function_locked+0x41/0x70" in guest
