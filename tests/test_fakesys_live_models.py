"""The fakesys pieces live runs brought: the AHCI register file, QEMU's ports whose link status
is fixed, vfio-pci's presentation of a device, enumeration messages and devices the kernel
never finds, and the sleep schedule's windows (INITIAL_JIFFIES, the wheel's rounding)."""

from __future__ import annotations

import pytest

from fakesys.clock import VirtualClock
from fakesys.hw.ahci import AhciError, AhciHba, AhciSpec
from fakesys.hw.behaviour import make_behaviour
from fakesys.hw.device import Device, ResetKind
from fakesys.hw.library import load_device
from fakesys.hw.link import train
from fakesys.kernel import timing
from fakesys.kernel.profile import get_profile
from harness.live.proxy.counterpart import counterpart_host
from harness.live.spec import GuestSpec

ASM1062_AHCI = AhciSpec(cap=0xEB32FFA1, pi=0x3, version=0x00010200)


# --- AHCI registers -----------------------------------------------------------------------------


def test_hba_reset_write_one_to_clear_and_engines_following_their_enables() -> None:
    hba = AhciHba(ASM1062_AHCI)
    hba.write(0x04, 4, 1 << 31 | 1 << 1)
    assert hba.read(0x04, 4) == 1 << 31 | 1 << 1
    hba.ports[0]["is"] = 0x41
    hba.write(0x110, 4, 0x01)
    assert hba.read(0x110, 4) == 0x40
    hba.write(0x118, 4, 0x11)  # ST and FRE: CR and FR follow
    assert hba.read(0x118, 4) == 0xC011
    hba.write(0x128, 4, 0x1)  # SSTS is the HBA's
    assert hba.read(0x128, 4) == 0
    hba.write(0x04, 1, 0x01)  # GHC.HR: back to power-on values, HR reads 0
    assert hba.read(0x04, 4) == 0 and hba.read(0x118, 4) == 0 and hba.read(0x00, 4) == 0xEB32FFA1
    assert hba.read(0x200, 4) == 0  # port 2 is not implemented: reserved space
    hba.write(0x100, 8, 0x1_FEDC_B400)  # CLB and CLBU in one 8-byte write (CAP.S64A)
    assert hba.read(0x100, 8) == 0x1_FEDC_B400
    assert hba.read(0x00, 2) == 0xFFA1 and hba.read(0x02, 2) == 0xEB32


def test_ahci_descriptions_are_checked() -> None:
    with pytest.raises(AhciError, match=r"names ports beyond the 2 CAP\.NP allows"):
        AhciSpec.from_data({"cap": 0xEB32FFA1, "pi": 0x7, "version": 0x10200})
    with pytest.raises(AhciError, match="unknown key 'ports'"):
        AhciSpec.from_data({"cap": 1, "pi": 1, "version": 1, "ports": 2})
    model = load_device("asmedia-asm1062")
    assert model.ahci == ASM1062_AHCI
    device = Device(model)
    device.bar_write(5, 0x04, 4, 1 << 31)
    device.reset(ResetKind.SECONDARY_BUS)
    assert device.bar_read(5, 0x04, 4) == 0  # the register file resets with the function


# --- Ports, presentation ------------------------------------------------------------------------


def test_a_qemu_root_port_keeps_its_link_status_whatever_the_device_does() -> None:
    port = Device(load_device("qemu-pcie-root-port-5gt-x1"), behaviours=[make_behaviour({"name": "fixed_link_status"})])
    device = Device(load_device("asmedia-asm1062"), behaviours=[make_behaviour({"name": "link_dead_after_bus_reset"})])
    port.downstream.append(device)
    lnksta = port.express_offset + 0x12
    before = port.read(lnksta, 2)
    assert not before & 0x2000  # Data Link Layer Link Active is never set
    assert train(port)
    device.reset(ResetKind.SECONDARY_BUS)
    device.alive = False
    assert not train(port)
    assert port.read(lnksta, 2) == before


def test_vfio_presented_keeps_the_virtualised_header_of_a_dead_device() -> None:
    device = Device(load_device("asmedia-asm1062"), behaviours=[make_behaviour({"name": "vfio_presented"})])
    device.alive = False
    assert device.read(0x00, 4) == 0x06121B21
    assert device.read(0x3C, 2) == 0x01FF  # interrupt line (0xff) and pin A from vfio's copy
    # Command.INTx-disable comes from vfio's copy (clear), the rest of Command and Status from the device.
    assert device.read(0x04, 4) == 0xFFFFFBFF
    assert device.read(0x34, 1) == 0x50 and device.read(0x50, 1) == 0xFF
    assert device.read_block(0, 4) == bytes.fromhex("211b1206")


# --- Enumeration --------------------------------------------------------------------------------


def _counterpart_kernel(kernel: str, condition: str, behaviours: list[dict[str, str]]) -> list[str]:
    from fakesys.userspace.machine import Machine

    spec = GuestSpec.from_data(
        {
            "devices": [
                {"id": "rp1", "type": "pcie-root-port", "addr": "02.0"},
                {
                    "id": "sata0",
                    "type": "x-pci-proxy-dev",
                    "bus": "rp1",
                    "model": "asmedia-asm1062",
                    "condition": condition,
                    "behaviours": behaviours,
                },
            ]
        }
    )
    host, _ = counterpart_host(spec, kernel)
    machine = Machine(host)
    assert ("0000:01:00.0" in [dev.name for dev in machine.kernel.present]) == (condition == "ok")
    return [record.text for record in machine.kernel.log.records if "01:00.0" in record.text]


@pytest.mark.parametrize(
    ("kernel", "suffix"),
    [("6.1", ""), ("6.12", " conventional PCI")],
)
def test_a_dead_device_behind_vfio_ids_is_ignored_with_the_kernels_words(kernel: str, suffix: str) -> None:
    lines = _counterpart_kernel(kernel, "dead", [{"name": "vfio_presented"}])
    assert lines == [
        f"pci 0000:01:00.0: [1b21:0612] type 7f class 0xffffff{suffix}",
        "pci 0000:01:00.0: unknown header type 7f, ignoring device",
    ]


def test_a_device_that_answers_nothing_is_never_found() -> None:
    assert _counterpart_kernel("6.12", "dead", []) == []


def test_a_healthy_device_is_logged_with_its_type_on_68_and_later() -> None:
    assert _counterpart_kernel("6.12", "ok", [])[0] == (
        "pci 0000:01:00.0: [1b21:0612] type 00 class 0x010601 PCIe Legacy Endpoint"
    )
    assert _counterpart_kernel("6.1", "ok", [])[0] == "pci 0000:01:00.0: [1b21:0612] type 00 class 0x010601"
    assert get_profile("6.8").logs_device_type and not get_profile("5.10").logs_device_type


# --- The sleep schedule -------------------------------------------------------------------------


class _Kernel:
    def __init__(self, hz: int, adds_jiffy: bool = True) -> None:
        self.clock = VirtualClock()
        self.hz = hz
        self.msleep_adds_jiffy = adds_jiffy


def test_jiffies_start_at_initial_jiffies() -> None:
    assert timing.initial_jiffies(1000) == 2**32 - 300_000
    assert timing.initial_jiffies(1000) % 4096 == 3104
    assert timing.jiffies(_Kernel(250)) == 2**32 - 75_000


@pytest.mark.parametrize(
    ("hz", "adds_jiffy", "milliseconds", "window_ms"),
    [
        (1000, True, 1, (2, 3)),
        (1000, True, 4096, (4097, 4609)),
        (1000, True, 32768, (32769, 36865)),
        (250, True, 1024, (1028, 1060)),
        (250, False, 1, (4, 8)),
    ],
)
def test_msleep_lands_inside_its_window_and_widens_the_clocks(
    hz: int, adds_jiffy: bool, milliseconds: int, window_ms: tuple[int, int]
) -> None:
    low, high = window_ms
    assert timing.msleep_window_us(_Kernel(hz, adds_jiffy), milliseconds) == (low * 1000, high * 1000)
    for start_us in (0, 1_234_567, 986_073_584):
        kernel = _Kernel(hz, adds_jiffy)
        kernel.clock.now_us = start_us
        kernel.clock.track_window()
        kernel.clock.take_window()
        timing.msleep(kernel, milliseconds)
        # The sleep ends on a tick inside the window (the arming point lies inside a jiffy).
        jiffy_us = 1_000_000 // hz
        assert low * 1000 - jiffy_us < kernel.clock.now_us - start_us <= high * 1000
        assert kernel.clock.take_window() == (low * 1000, high * 1000)


def test_a_boundary_leaves_the_next_message_without_a_window() -> None:
    clock = VirtualClock()
    assert clock.take_window() is None
    clock.track_window()
    assert clock.take_window() is None
    clock.advance_us(5)
    assert clock.take_window() == (5, 5)
    clock.boundary()
    clock.advance_us(7)
    assert clock.take_window() is None
