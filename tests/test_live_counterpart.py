"""The simulated counterpart of a live guest and the comparison of two kernels, without a guest:
addresses as QEMU and the firmware give them, the simulated kernel's messages for the proxy
scenarios (the lines the real Debian guests printed, recorded from live runs), and the
comparison's verdicts on made-up logs. tests/test_live_compare.py compares with real guests."""

from __future__ import annotations

import pytest

from harness.live.compare import (
    ASSIGNED_BITS,
    EXECUTION_ALLOWANCE_US,
    GUEST_ONLY,
    SAME,
    SIMULATED_ONLY,
    _Message,
    align,
    masked_config,
    outside_reason,
    scope_of,
    value_paths,
)
from harness.live.errors import GuestSpecError
from harness.live.proxy.counterpart import NoCounterpart, counterpart_host, guest_addresses, run_counterpart
from harness.live.spec import GuestSpec
from harness.pci.address import Bdf
from harness.scenario import load_scenario

#: What the real guests printed during the steps of live-asm1062-bus-reset (Debian
#: 6.12.117+deb12-amd64 and 6.1.0-57-amd64 6.1.192-3, QEMU 7.2.22, TCG).
GUEST_612 = [
    "ahci 0000:01:00.0: not ready 1023ms after bus reset; giving up",
    "vfio-pci 0000:02:00.0: not ready 1023ms after bus reset; giving up",
    "vfio-pci 0000:02:00.0: Device config space inaccessible; unable to save state",
    "pcieport 0000:00:03.0: unlocked secondary bus reset via: __pci_reset_function_locked+0x41/0x70",
    "vfio-pci 0000:02:00.0: not ready 1023ms after bus reset; giving up",
    "vfio-pci 0000:02:00.0: not ready 1023ms after bus reset; giving up",
    "vfio-pci 0000:02:00.0: Device config space inaccessible; unable to save state",
    "vfio-pci 0000:02:00.0: not ready 1023ms after bus reset; giving up",
    "vfio-pci 0000:02:00.0: Unable to change power state from D0 to D3hot, device inaccessible",
    "ahci 0000:01:00.0: Device config space inaccessible; unable to save state",
    "ahci 0000:01:00.0: not ready 1023ms after bus reset; giving up",
]


def _series(driver: str, bdf: str) -> list[str]:
    waits = [f"{driver} {bdf}: not ready {(1 << k) - 1}ms after bus reset; waiting" for k in range(10, 16)]
    return [*waits, f"{driver} {bdf}: not ready 65535ms after bus reset; giving up"]


GUEST_61 = [
    *_series("ahci", "0000:01:00.0"),
    *(_series("vfio-pci", "0000:02:00.0") * 4),
    "vfio-pci 0000:02:00.0: Unable to change power state from D0 to D3hot, device inaccessible",
    *_series("ahci", "0000:01:00.0"),
]


def _spec(name: str) -> GuestSpec:
    return GuestSpec.from_scenario(load_scenario(name))


def test_addresses_follow_qemu_and_the_firmware() -> None:
    addresses, secondary = guest_addresses(_spec("live-asm1062-bus-reset"))
    assert addresses == {
        "rp1": Bdf.parse("00:02.0"),
        "sata0": Bdf.parse("01:00.0"),
        "rp2": Bdf.parse("00:03.0"),
        "sata1": Bdf.parse("02:00.0"),
    }
    assert secondary == {"rp1": 1, "rp2": 2}
    spec = GuestSpec.from_data(
        {
            "devices": [
                {"id": "rpb", "type": "pcie-root-port", "addr": "01.0"},
                {"id": "rpa", "type": "pcie-root-port"},
                {"id": "dev", "type": "x-pci-proxy-dev", "bus": "rpa", "model": "asmedia-asm1062"},
            ]
        }
    )
    addresses, secondary = guest_addresses(spec)
    # rpa took the first free slot (QEMU adds devices in order); buses are numbered in slot order.
    assert addresses["rpa"] == Bdf.parse("00:02.0") and addresses["dev"] == Bdf.parse("02:00.0")
    assert secondary == {"rpb": 1, "rpa": 2}


def test_a_guest_with_devices_the_simulation_lacks_has_no_counterpart() -> None:
    with pytest.raises(NoCounterpart, match="no simulated model of e1000"):
        counterpart_host(_spec("live-vfio-hot-reset"), "6.1")
    spec = GuestSpec.from_data({"devices": [{"id": "rp1", "type": "pcie-root-port", "speed": "8"}]})
    with pytest.raises(NoCounterpart, match="x-speed=8"):
        counterpart_host(spec, "6.12")


@pytest.mark.parametrize(("kernel", "expected"), [("6.12", GUEST_612), ("6.1", GUEST_61)])
def test_the_simulated_kernel_prints_what_the_real_guests_printed(kernel: str, expected: list[str]) -> None:
    run = run_counterpart(_spec("live-asm1062-bus-reset"), kernel)
    assert [record.text for record in run.steps_log] == expected
    assert [step.status for step in run.steps] == [0, 0, 1, 0, 1, 1]


def test_what_is_compared() -> None:
    spec = _spec("live-asm1062-bus-reset")
    _, addresses = counterpart_host(spec, "6.1")
    assert scope_of(spec, addresses) == {
        "rp1": "0000:00:02.0",
        "rp2": "0000:00:03.0",
        "sata0": "0000:01:00.0",
        "sata1": "0000:02:00.0",
    }
    paths, binary = value_paths(spec, addresses)
    assert binary == ["/sys/bus/pci/devices/0000:01:00.0/config", "/sys/bus/pci/devices/0000:02:00.0/config"]
    assert "/sys/bus/pci/devices/0000:00:03.0/current_link_speed" in paths and binary[0] in paths


def test_alignment_verdicts_and_gaps() -> None:
    scope = ["0000:01:00.0"]
    guest = [
        _Message("pci 0000:01:00.0: BAR 5 [mem 0xfe200000-0xfe2001ff]", 0),
        _Message("ahci 0000:01:00.0: not ready 1023ms after bus reset; waiting", 1_000_000),
        _Message("random: crng init done", 1_500_000),
        _Message("ahci 0000:01:00.0: not ready 2047ms after bus reset; waiting", 2_055_000),
        _Message("ahci 0000:01:00.0: only the guest said this", 2_100_000),
        _Message("ahci 0000:01:00.0: not ready 4095ms after bus reset; waiting", 4_500_000),
    ]
    simulated = [
        _Message("ahci 0000:01:00.0: not ready 1023ms after bus reset; waiting", 7_000_000),
        _Message("ahci 0000:01:00.0: not ready 2047ms after bus reset; waiting", 8_056_000, (1_028_000, 1_060_000)),
        _Message("ahci 0000:01:00.0: not ready 4095ms after bus reset; waiting", 10_000_000, (2_052_000, 2_308_000)),
        _Message("ahci 0000:01:00.0: only the simulation said this", 11_000_000, (0, 0)),
    ]
    rows, outside = align(guest, simulated, scope, timed=True)
    assert [row.reason for row in outside] == ["resource assignment (firmware's and the kernel's allocator)"]
    assert [row.verdict for row in rows] == [SAME, SAME, GUEST_ONLY, SAME, SIMULATED_ONLY]
    assert rows[1].guest_gap_us == 1_055_000 and rows[1].gap_fits is True
    # After a message only one side has, the next gap is not timed.
    assert rows[3].guest_gap_us is None
    late = [guest[1], _Message(guest[3].text, 1_000_000 + 1_060_000 + EXECUTION_ALLOWANCE_US + 1)]
    rows, _ = align(late, simulated[:2], scope, timed=True)
    assert rows[1].gap_fits is False


def test_driver_messages_outside_the_model_are_named() -> None:
    assert outside_reason("ahci 0000:01:00.0: AHCI vers 0001.0200, 32 command slots, 6 Gbps, SATA mode").startswith(
        "the ahci driver's own messages"
    )
    assert outside_reason("pcieport 0000:00:02.0: AER: enabled with IRQ 24") == "PCIe port services (drivers/pci/pcie)"
    assert outside_reason("ahci 0000:01:00.0: not ready 1023ms after bus reset; giving up") == ""


def test_guest_specs_with_proxied_devices() -> None:
    with pytest.raises(GuestSpecError, match="an x-pci-proxy-dev needs model:"):
        GuestSpec.from_data({"devices": [{"id": "d", "type": "x-pci-proxy-dev"}]})
    with pytest.raises(GuestSpecError, match="model, behaviours and condition apply to x-pci-proxy-dev, not e1000"):
        GuestSpec.from_data({"devices": [{"id": "d", "type": "e1000", "model": "asmedia-asm1062"}]})
    with pytest.raises(GuestSpecError, match="speed and width apply to pcie-root-port"):
        GuestSpec.from_data({"devices": [{"id": "d", "type": "e1000", "speed": "5"}]})


def test_config_bytes_are_compared_without_what_firmware_and_the_kernel_set() -> None:
    from fakesys.hw.library import load_device

    config = bytearray(load_device("asmedia-asm1062").config[:256])
    config[0x05] |= 0x01  # Command.SERR, set by SeaBIOS
    config[0x24:0x28] = bytes.fromhex("0000e0fe")  # BAR5 where the guest's firmware put it
    config[0x88] = (config[0x88] & ~0xE0) | 0x00  # DevCtl MPS 128, the guest kernel's choice
    config[0x52] |= 0x01  # MSI enabled ...
    config[0x54:0x5C] = bytes.fromhex("0010e0fe25400000")  # ... with the kernel's address and data
    guest = masked_config(config.hex(" "))
    model = masked_config(load_device("asmedia-asm1062").config[:256].hex(" "))
    assert guest is not None and model is not None
    different = [offset for offset, (a, b) in enumerate(zip(guest.split(), model.split(), strict=True)) if a != b]
    assert different == [0x52]  # the MSI enable bit is the driver's and stays compared
    assert guest.split()[0x24] == ".." and guest.split()[0x54] == ".."
    dead = masked_config("ff " * 255 + "ff")
    assert dead == " ".join(
        ".." if ASSIGNED_BITS.get(offset) == 0xFF else f"{0xFF & ~ASSIGNED_BITS.get(offset, 0):02x}"
        for offset in range(256)
    )
    assert masked_config(None) is None
