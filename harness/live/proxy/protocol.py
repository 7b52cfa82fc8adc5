"""The wire protocol of QEMU 7.2's ``x-pci-proxy-dev`` (multi-process QEMU), remote side.

One ``AF_UNIX`` stream socket per proxied device carries messages of a 16-byte header (the C
struct ``MPQemuMsg`` of ``include/hw/remote/mpqemu-link.h``: ``int cmd``, 4 bytes of padding,
``size_t size``) followed by ``size`` bytes of payload (at most the 192-byte data union); file
descriptors travel as ``SCM_RIGHTS`` with the header (at most ``REMOTE_MAX_FDS`` = 8). The
layout is the x86_64 host ABI's; there is no version field and no handshake.

QEMU (``hw/remote/proxy.c``, ``hw/remote/mpqemu-link.c``) waits for one ``RET`` after each
config read or write, BAR read or write and device reset (``mpqemu_msg_send_and_await_reply``,
no timeout); it sends ``SYNC_SYSMEM`` and ``SET_IRQFD`` without waiting, and a reply to either
would be taken as the answer to the next request.
"""

from __future__ import annotations

import array
import os
import socket
import struct
from dataclasses import dataclass, field
from enum import IntEnum


class Command(IntEnum):
    """``MPQemuCmd``."""

    SYNC_SYSMEM = 0
    RET = 1
    PCI_CFGWRITE = 2
    PCI_CFGREAD = 3
    BAR_WRITE = 4
    BAR_READ = 5
    SET_IRQFD = 6
    DEVICE_RESET = 7


#: Commands QEMU waits on: exactly one RET answers each.
ANSWERED = frozenset(
    {Command.PCI_CFGWRITE, Command.PCI_CFGREAD, Command.BAR_WRITE, Command.BAR_READ, Command.DEVICE_RESET}
)
HEADER = struct.Struct("<iIQ")
#: ``PciConfDataMsg``: u32 addr, u32 val, int len.
CONFIG_ACCESS = struct.Struct("<IIi")
#: ``BarAccessMsg``: u64 addr (guest-physical or I/O port), u64 val, unsigned size, bool memory.
BAR_ACCESS = struct.Struct("<QQIB3x")
#: ``SyncSysmemMsg``: u64 gpas[8], u64 sizes[8], off_t offsets[8].
SYNC_SYSMEM = struct.Struct("<8Q8Q8q")
RET_VALUE = struct.Struct("<Q")
MAX_PAYLOAD = 192
MAX_FDS = 8
#: The reply value QEMU reports as a failed operation ("Failed to perform PCI config ...").
FAILED = 0xFFFF_FFFF_FFFF_FFFF


class ProtocolError(Exception):
    """The stream does not hold a message QEMU could have sent."""


@dataclass
class Message:
    command: Command
    payload: bytes = b""
    fds: list[int] = field(default_factory=list)

    def close_fds(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


@dataclass(frozen=True)
class ConfigAccess:
    address: int
    value: int
    length: int


@dataclass(frozen=True)
class BarAccess:
    address: int
    value: int
    size: int
    memory: bool


def config_access(message: Message) -> ConfigAccess:
    if len(message.payload) != CONFIG_ACCESS.size:
        raise ProtocolError(f"{message.command.name}: payload of {len(message.payload)} bytes, expected 12")
    address, value, length = CONFIG_ACCESS.unpack(message.payload)
    if length not in (1, 2, 4):
        raise ProtocolError(f"{message.command.name}: {length} bytes at {address:#x}")
    return ConfigAccess(address, value, length)


def bar_access(message: Message) -> BarAccess:
    if len(message.payload) != BAR_ACCESS.size:
        raise ProtocolError(f"{message.command.name}: payload of {len(message.payload)} bytes, expected 24")
    address, value, size, memory = BAR_ACCESS.unpack(message.payload)
    if size not in (1, 2, 4, 8):
        raise ProtocolError(f"{message.command.name}: access of {size} bytes at {address:#x}")
    return BarAccess(address, value, size, bool(memory))


def _receive_exactly(sock: socket.socket, length: int, fds: list[int]) -> bytes | None:
    """``length`` bytes (None at a clean end of stream before the first); descriptors that come
    with them are appended to ``fds``."""
    data = bytearray()
    ancillary = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
    while len(data) < length:
        chunk, ancdata, _, _ = sock.recvmsg(length - len(data), ancillary)
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received = array.array("i")
                received.frombytes(payload[: len(payload) - len(payload) % received.itemsize])
                fds.extend(received)
        if not chunk:
            if data or fds:
                for fd in fds:
                    os.close(fd)
                raise ProtocolError(f"the stream ended inside a message ({len(data)} of {length} bytes)")
            return None
        data += chunk
    return bytes(data)


def receive(sock: socket.socket) -> Message | None:
    """The next message, or None when QEMU closed its end."""
    fds: list[int] = []
    header = _receive_exactly(sock, HEADER.size, fds)
    if header is None:
        return None
    number, _, size = HEADER.unpack(header)
    try:
        command = Command(number)
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise ProtocolError(f"unknown command {number}") from None
    if size > MAX_PAYLOAD or command is Command.RET:
        for fd in fds:
            os.close(fd)
        raise ProtocolError(f"{command.name} with a payload of {size} bytes")
    payload = _receive_exactly(sock, size, fds) if size else b""
    if payload is None:
        raise ProtocolError(f"the stream ended after the header of {command.name}")
    return Message(command, payload, fds)


def reply(sock: socket.socket, value: int) -> None:
    """The ``RET`` that answers a request: a u64 value."""
    sock.sendall(HEADER.pack(Command.RET, 0, RET_VALUE.size) + RET_VALUE.pack(value & FAILED))


def send(sock: socket.socket, message: Message) -> None:
    """Send a message as QEMU does (for tests and fakes of QEMU's side)."""
    data = HEADER.pack(message.command, 0, len(message.payload)) + message.payload
    if message.fds:
        fds = array.array("i", message.fds)
        sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
    else:
        sock.sendall(data)


def read_reply(sock: socket.socket) -> int:
    """The value of the next ``RET`` (QEMU's side, for tests)."""
    fds: list[int] = []
    header = _receive_exactly(sock, HEADER.size, fds)
    if header is None:
        raise ProtocolError("the remote closed the stream")
    number, _, size = HEADER.unpack(header)
    if number != Command.RET or size != RET_VALUE.size:
        raise ProtocolError(f"expected RET with 8 bytes, got command {number} with {size}")
    value = _receive_exactly(sock, size, fds)
    if value is None:
        raise ProtocolError("the remote closed the stream inside a reply")
    (result,) = RET_VALUE.unpack(value)
    return int(result)
