"""The proxy device server without QEMU: the wire format, the served model (what is cut to fit
x-pci-proxy-dev), the device's answers, and the server against a fake of QEMU's side of the
socket (the realize sequence of hw/remote/proxy.c, the unanswered messages, the watchdog).
The live tests (tests/test_live_compare.py) serve the same models to real guest kernels."""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakesys.hw.ahci import GHC_AE
from fakesys.hw.device import ResetKind
from fakesys.hw.library import load_device
from fakesys.hw.model import Bar, BarKind
from harness.live.proxy import protocol, wrapper
from harness.live.proxy.protocol import Command, Message, ProtocolError
from harness.live.proxy.served import ServedDevice, ServingError, served_model
from harness.live.proxy.server import ProxyServer
from harness.live.spec import Proxy
from harness.pci import regs
from harness.pci.config import ConfigSpace

ASM1062 = Proxy("asmedia-asm1062")


def _config(command: Command, address: int, length: int, value: int = 0) -> Message:
    return Message(command, protocol.CONFIG_ACCESS.pack(address, value, length))


def _bar(command: Command, address: int, size: int, value: int = 0, memory: bool = True) -> Message:
    return Message(command, protocol.BAR_ACCESS.pack(address, value, size, memory))


# --- Wire format ------------------------------------------------------------------------------


def test_messages_round_trip_with_their_descriptors() -> None:
    qemu, remote = socket.socketpair()
    read_end, write_end = os.pipe()
    try:
        protocol.send(qemu, Message(Command.SET_IRQFD, b"", [read_end, write_end]))
        protocol.send(qemu, _config(Command.PCI_CFGREAD, 0x0E, 1))
        first = protocol.receive(remote)
        assert first is not None and first.command is Command.SET_IRQFD and len(first.fds) == 2
        first.close_fds()
        second = protocol.receive(remote)
        assert second is not None and protocol.config_access(second) == protocol.ConfigAccess(0x0E, 0, 1)
        protocol.reply(remote, 0x1234)
        assert protocol.read_reply(qemu) == 0x1234
        qemu.close()
        assert protocol.receive(remote) is None
    finally:
        os.close(read_end)
        os.close(write_end)
        remote.close()


def test_a_stream_qemu_could_not_have_sent_is_a_protocol_error() -> None:
    qemu, remote = socket.socketpair()
    with qemu, remote:
        qemu.sendall(protocol.HEADER.pack(9, 0, 0))
        with pytest.raises(ProtocolError, match="unknown command 9"):
            protocol.receive(remote)
        qemu.sendall(protocol.HEADER.pack(Command.PCI_CFGREAD, 0, 500))
        with pytest.raises(ProtocolError, match="PCI_CFGREAD with a payload of 500 bytes"):
            protocol.receive(remote)
    with pytest.raises(ProtocolError, match="access of 3 bytes"):
        protocol.bar_access(_bar(Command.BAR_READ, 0x1000, 3))


# --- The served model ---------------------------------------------------------------------------


def test_the_asm1062_is_cut_to_256_bytes_without_rom_and_says_so() -> None:
    model = load_device("asmedia-asm1062")
    served = served_model(model)
    assert len(served.model.config) == 256 and served.model.rom is None
    assert regs.read_register(served.model.config, regs.ROM_BAR_TYPE0, 4) == 0
    # Its capabilities (MSI 0x50, PM 0x78, Express v2 0x80 to 0xbc) all fit below 0x100.
    assert [cap.offset for cap in ConfigSpace(served.model.config).capabilities()] == [0x50, 0x78, 0x80]
    assert "extended capabilities not served: vc" in served.cuts
    assert "expansion ROM (0x10000 bytes) not served: QEMU's proxy never maps one" in served.cuts
    assert "BAR 1: I/O, 4 bytes, mapped by QEMU as 16 bytes" in served.cuts
    # The served device's ROM BAR stays 0 whatever is written (no size to probe).
    device = ServedDevice(ASM1062)
    device.config_write(regs.ROM_BAR_TYPE0, 4, 0xFFFFFFFF)
    assert device.config_read(regs.ROM_BAR_TYPE0, 4) == 0
    assert device.config_read(0x100, 4) == 0xFFFFFFFF


def test_a_capability_running_past_0xff_is_unlinked() -> None:
    model = load_device("asmedia-asm1062")
    # Move the Express capability (v2, 0x3c bytes) to 0xd0: it would end at 0x10c.
    config = model.config
    config[0xD0 : 0xD0 + 0x3C] = config[0x80 : 0x80 + 0x3C]
    config[0x80 : 0x80 + 0x3C] = bytes(0x3C)
    config[0x79] = 0xD0
    served = served_model(model)
    assert [cap.offset for cap in ConfigSpace(served.model.config).capabilities()] == [0x50, 0x78]
    assert served.model.config[0x79] == 0
    assert "capability express at 0xd0 (60 bytes) runs past 0xff: unlinked from the list" in served.cuts


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        (Bar(5, BarKind.MEMORY, 0x80000000, 0x4000, bits=64), "BAR 5 is 64-bit"),
        (Bar(5, BarKind.MEMORY, 0x80000000, 0x300), "size 0x300 is not a power of two"),
        (Bar(5, BarKind.MEMORY, 0x80000000, None), "BAR 5 has no size"),
        (Bar(0, BarKind.IO, 0x3000, 512), "an I/O BAR of 512 bytes"),
    ],
)
def test_bars_qemu_cannot_carry_are_refused(bar: Bar, message: str) -> None:
    model = load_device("asmedia-asm1062")
    model.bars = [item for item in model.bars if item.index != bar.index] + [bar]
    with pytest.raises(ServingError, match=message):
        served_model(model)


def test_a_bridge_is_refused() -> None:
    with pytest.raises(ServingError, match="only type 0"):
        served_model(load_device("qemu-pcie-root-port"))


# --- The device behind the socket ---------------------------------------------------------------


def _program_bar5(device: ServedDevice, base: int = 0xFE200000) -> None:
    device.config_write(0x24, 4, base)
    device.config_write(0x04, 2, 0x0007)


def test_ahci_registers_answer_at_the_address_the_guest_gave_bar5() -> None:
    device = ServedDevice(ASM1062)
    device.reset()
    assert device.bar_read(0xFE200000, 4, True) == 0xFFFFFFFF  # BAR5 not programmed yet
    _program_bar5(device)
    assert device.bar_read(0xFE200000, 4, True) == 0xEB32FFA1  # CAP
    assert device.bar_read(0xFE20000C, 4, True) == 0x3  # PI
    assert device.bar_read(0xFE200010, 4, True) == 0x00010200  # VS
    device.bar_write(0xFE200004, 4, GHC_AE, True)
    assert device.bar_read(0xFE200004, 4, True) == GHC_AE
    assert device.bar_read(0xFE200128, 4, True) == 0  # port 0 SSTS: nothing attached
    assert device.bar_read(0xFE200000, 4, False) == 0xFFFFFFFF  # an I/O port there is not BAR5


def test_the_first_device_reset_is_power_on_and_the_next_a_bus_reset_that_kills() -> None:
    device = ServedDevice(Proxy("asmedia-asm1062", ({"name": "link_dead_after_bus_reset"},)))
    assert device.reset() is ResetKind.POWER_CYCLE
    assert device.config_read(0x00, 4) == 0x06121B21
    _program_bar5(device)
    assert device.reset() is ResetKind.SECONDARY_BUS
    assert device.config_read(0x00, 4) == 0xFFFFFFFF
    assert device.bar_read(0xFE200000, 4, True) == 0xFFFFFFFF


def test_a_dead_device_presented_by_vfio_pci_reads_its_ids_and_type_7f() -> None:
    device = ServedDevice(Proxy("asmedia-asm1062", ({"name": "vfio_presented"},), condition="dead"))
    device.reset()
    assert device.config_read(0x00, 4) == 0x06121B21
    assert device.config_read(0x0E, 1) == 0xFF
    assert device.config_read(0x08, 4) == 0xFFFFFFFF
    # QEMU's realize sizes the BARs through the virtualised registers.
    device.config_write(0x24, 4, 0xFFFFFFFF)
    assert device.config_read(0x24, 4) == 0xFFFFFE00


# --- The server against a fake of QEMU's side -------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[ProxyServer, socket.socket]]:
    server = ProxyServer("sata0", ServedDevice(ASM1062), watchdog=0.5)
    qemu = socket.socket(fileno=os.dup(server.qemu_fd))
    server.release_qemu_end()
    server.start()
    try:
        yield server, qemu
    finally:
        qemu.close()
        server.close()


def _ask(qemu: socket.socket, message: Message) -> int:
    protocol.send(qemu, message)
    return protocol.read_reply(qemu)


def test_the_realize_sequence_is_answered_and_the_unanswered_messages_are_not(
    served: tuple[ProxyServer, socket.socket],
) -> None:
    server, qemu = served
    ram_read, ram_write = os.pipe()
    irq_read, irq_write = os.pipe()
    try:
        # proxy_memory_listener's first commit, then setup_irqfd: no reply to either.
        sections = struct.pack("<8Q8Q8q", *([0] * 8), 0x20000000, *([0] * 7), *([0] * 8))
        protocol.send(qemu, Message(Command.SYNC_SYSMEM, sections, [ram_read]))
        protocol.send(qemu, Message(Command.SET_IRQFD, b"", [irq_read, irq_write]))
        # probe_pci_info: IDs, then each BAR slot probed with all-ones and restored.
        assert _ask(qemu, _config(Command.PCI_CFGREAD, 0x00, 2)) == 0x1B21
        assert _ask(qemu, _config(Command.PCI_CFGREAD, 0x02, 2)) == 0x0612
        assert _ask(qemu, _config(Command.PCI_CFGREAD, 0x0A, 2)) == 0x0106
        sizes = []
        for slot in range(7):
            offset = 0x10 + 4 * slot
            original = _ask(qemu, _config(Command.PCI_CFGREAD, offset, 4))
            _ask(qemu, _config(Command.PCI_CFGWRITE, offset, 4, 0xFFFFFFFF))
            probed = _ask(qemu, _config(Command.PCI_CFGREAD, offset, 4))
            _ask(qemu, _config(Command.PCI_CFGWRITE, offset, 4, original))
            sizes.append((~(probed & protocol.FAILED & 0xFFFFFFF0) + 1) & 0xFFFFFFFF)
        assert sizes == [16, 16, 16, 16, 32, 512, 0]
        assert _ask(qemu, Message(Command.DEVICE_RESET)) == 0
    finally:
        for fd in (ram_write, irq_write):
            os.close(fd)
    assert server.stats.messages["SYNC_SYSMEM"] == 1 and server.stats.messages["SET_IRQFD"] == 1
    assert server.stats.ram == [(0, 0x20000000, 0)]
    assert server.stats.resets[0][1] == "power_cycle"
    assert server.failure == ""


def test_a_stuck_answer_trips_the_watchdog_and_ends_the_service(
    served: tuple[ProxyServer, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, qemu = served

    def stuck(offset: int, length: int) -> int:
        time.sleep(2)
        return 0

    monkeypatch.setattr(server.device, "config_read", stuck)
    protocol.send(qemu, _config(Command.PCI_CFGREAD, 0, 4))
    qemu.settimeout(5)
    with pytest.raises(ProtocolError, match="closed the stream"):
        protocol.read_reply(qemu)
    assert server.failure.startswith("watchdog: a request was not answered within 0.5 s")


def test_garbage_ends_the_service_with_the_reason(served: tuple[ProxyServer, socket.socket]) -> None:
    server, qemu = served
    qemu.sendall(protocol.HEADER.pack(Command.RET, 0, 8) + bytes(8))
    qemu.settimeout(5)
    assert qemu.recv(16) == b""
    assert server.failure == "protocol error: RET with a payload of 8 bytes; service ended"


# --- The wrapper ---------------------------------------------------------------------------------

FAKE_QEMU = """
import os, socket, struct, sys
fd = int(sys.argv[1].split("fd=")[1])
sock = socket.socket(fileno=fd)
sock.sendall(struct.pack("<iIQ", 3, 0, 12) + struct.pack("<IIi", 0, 0, 4))
header = sock.recv(16)
value = struct.unpack("<Q", sock.recv(8))[0]
print(f"{value:#x}", " ".join(sys.argv[2:]))
sys.exit(7)
"""


def test_the_wrapper_serves_the_device_and_passes_qemus_status_on(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "fake-qemu.py"
    fake.write_text(FAKE_QEMU)
    status = wrapper.main(
        [
            "--device",
            "sata0=asmedia-asm1062,behaviour=ready_after_reset:ms=5",
            "--memfd-ram",
            "512M",
            "--report-dir",
            str(tmp_path / "reports"),
            "--",
            sys.executable,
            str(fake),
            "x-pci-proxy-dev,id=sata0,fd=proxy:sata0",
        ]
    )
    assert status == 7
    output = capfd.readouterr().out
    assert output.startswith("0x6121b21 -object memory-backend-memfd,id=vfiolab-ram,size=512M,share=on -machine")
    report = json.loads((tmp_path / "reports" / "proxy-sata0.json").read_text())
    assert report["messages"] == {"PCI_CFGREAD": 1} and report["serves"] == "asmedia-asm1062, ready_after_reset"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--device", "sata0"], "expected NAME=MODEL"),
        (["--device", "sata0=asmedia-asm1062,colour=red"], "unknown option 'colour=red'"),
        (["--device", "sata0=asmedia-asm1062", "--", "qemu"], "no x-pci-proxy-dev with fd=proxy:sata0"),
        (["--", "qemu", "x-pci-proxy-dev,fd=proxy:other"], "fd=proxy:other: no --device other=MODEL"),
        (["--memfd-ram", "lots", "--", "qemu"], "--memfd-ram 'lots'"),
    ],
)
def test_wrapper_usage_errors_are_one_line(
    arguments: list[str], message: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert wrapper.main(arguments) == 64
    error = capfd.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_model_the_proxy_cannot_serve_is_bad_data(capfd: pytest.CaptureFixture[str]) -> None:
    assert wrapper.main(["--device", "rp=qemu-pcie-root-port", "--", "qemu", "fd=proxy:rp"]) == 65
    assert "only type 0 (endpoint) headers can be served" in capfd.readouterr().err
