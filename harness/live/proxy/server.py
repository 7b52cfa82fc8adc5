"""The proxy server: one socket pair and one thread per proxied device, answering QEMU's
``x-pci-proxy-dev`` from a :class:`~harness.live.proxy.served.ServedDevice`, with a watchdog.

QEMU blocks the vCPU that made an access until the remote answers, with no timeout
(``mpqemu_msg_send_and_await_reply``); a remote that hangs freezes the guest. The watchdog
bounds that: a request not answered within ``watchdog`` seconds ends the device's service (both
directions of the socket are shut down), QEMU's wait returns with an error, the guest reads
all-ones from then on, and :attr:`ProxyServer.failure` says what happened. A request QEMU could
not have sent (a bad header, a payload of the wrong size) ends the service the same way.

The server never replies to ``SYNC_SYSMEM`` or ``SET_IRQFD``: QEMU does not wait for them and
would take the reply as the answer to its next request. The descriptors they bring are closed
(the guest RAM's memfd sections) or kept for the device's life (the INTx eventfds, which only a
KVM guest would deliver).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.live.proxy import protocol
from harness.live.proxy.protocol import Command, Message, ProtocolError
from harness.live.proxy.served import ServedDevice

#: Seconds one request may take before the watchdog ends the service. The model answers in
#: microseconds; anything near this is a bug or a hang.
DEFAULT_WATCHDOG = 10.0
MAX_EVENTS = 200


@dataclass
class ProxyStats:
    """What one device's service saw: messages by command, resets, the slowest answer."""

    messages: Counter[str] = field(default_factory=Counter)
    resets: list[tuple[float, str]] = field(default_factory=list)
    slowest_ms: float = 0.0
    #: (gpa, size, offset) of each guest RAM section of the last SYNC_SYSMEM.
    ram: list[tuple[int, int, int]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def event(self, text: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": dict(sorted(self.messages.items())),
            "resets": [{"seconds": round(when, 3), "kind": kind} for when, kind in self.resets],
            "slowest_ms": round(self.slowest_ms, 3),
            "ram": [{"gpa": gpa, "size": size, "offset": offset} for gpa, size, offset in self.ram],
            "events": self.events,
        }


class ProxyServer:
    """Serves one device on a socket pair; QEMU gets :attr:`qemu_fd`.

    Use as a context manager (or :meth:`start` and :meth:`close`). Pass :attr:`qemu_fd` to QEMU
    (``pass_fds``) with ``-device x-pci-proxy-dev,...,fd=N``, then close it in this process
    (:meth:`release_qemu_end`) so that QEMU's exit ends the service.
    """

    def __init__(self, name: str, device: ServedDevice, *, watchdog: float = DEFAULT_WATCHDOG) -> None:
        self.name = name
        self.device = device
        self.watchdog = watchdog
        self.stats = ProxyStats()
        self.failure = ""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = ours
        self._qemu_end: socket.socket | None = theirs
        self._began = time.monotonic()
        self._busy_since: float | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"proxy-{name}", daemon=True)
        self._watch = threading.Thread(target=self._watchdog, name=f"proxy-{name}-watchdog", daemon=True)
        self._irqfds: list[int] = []

    @property
    def qemu_fd(self) -> int:
        if self._qemu_end is None:
            raise ValueError("QEMU's end of the socket was already released")
        return self._qemu_end.fileno()

    def release_qemu_end(self) -> None:
        """Close QEMU's end here once QEMU holds its own copy."""
        if self._qemu_end is not None:
            self._qemu_end.close()
            self._qemu_end = None

    def start(self) -> ProxyServer:
        self._thread.start()
        self._watch.start()
        return self

    def close(self) -> None:
        """End the service (QEMU's later requests fail) and free every descriptor."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        if self._thread.is_alive():
            self._thread.join(5)
        if self._watch.is_alive():
            self._watch.join(5)
        self._socket.close()
        self.release_qemu_end()
        for fd in self._irqfds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._irqfds = []

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._began

    def write_report(self, path: Path) -> None:
        """The service's statistics and what it served, as JSON."""
        report = {
            "device": self.name,
            "serves": self.device.spec.describe(),
            "cuts": self.device.cuts,
            "failure": self.failure,
            **self.stats.to_json(),
        }
        path.write_text(json.dumps(report, indent=1) + "\n")

    # --- Service ------------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        if not self.failure:
            self.failure = reason
            self.stats.event(f"{self.seconds:.3f} {reason}")
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)

    def _watchdog(self) -> None:
        while not self._stopping.wait(min(0.5, self.watchdog / 4)):
            began = self._busy_since
            if began is not None and time.monotonic() - began > self.watchdog:
                self._fail(f"watchdog: a request was not answered within {self.watchdog:g} s; service ended")
                return

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._serve_one():
                    return
            except ProtocolError as error:
                self._fail(f"protocol error: {error}; service ended")
                return
            except OSError as error:
                if not self._stopping.is_set():
                    self._fail(f"socket error: {error.strerror}; service ended")
                return

    def _serve_one(self) -> bool:
        """Answer one message; False when QEMU closed its end."""
        message = protocol.receive(self._socket)
        if message is None:
            self.stats.event(f"{self.seconds:.3f} QEMU closed the socket")
            return False
        self.stats.messages[message.command.name] += 1
        self._busy_since = began = time.monotonic()
        try:
            answer = self._handle(message)
            if answer is not None:
                protocol.reply(self._socket, answer)
        finally:
            self._busy_since = None
            message.close_fds()
        self.stats.slowest_ms = max(self.stats.slowest_ms, (time.monotonic() - began) * 1000)
        return True

    def _handle(self, message: Message) -> int | None:
        """The value to reply with, or None for the messages QEMU does not wait on."""
        command = message.command
        device = self.device
        if command is Command.PCI_CFGREAD:
            access = protocol.config_access(message)
            return device.config_read(access.address, access.length)
        if command is Command.PCI_CFGWRITE:
            access = protocol.config_access(message)
            device.config_write(access.address, access.length, access.value)
            return 0
        if command is Command.BAR_READ:
            bar = protocol.bar_access(message)
            return device.bar_read(bar.address, bar.size, bar.memory)
        if command is Command.BAR_WRITE:
            bar = protocol.bar_access(message)
            device.bar_write(bar.address, bar.size, bar.value, bar.memory)
            return 0
        if command is Command.DEVICE_RESET:
            kind = device.reset()
            self.stats.resets.append((self.seconds, str(kind)))
            self.stats.event(f"{self.seconds:.3f} DEVICE_RESET #{device.resets}: {kind}")
            return 0
        if command is Command.SYNC_SYSMEM:
            self._sync_sysmem(message)
            return None
        if command is Command.SET_IRQFD:
            for fd in self._irqfds:
                os.close(fd)
            self._irqfds, message.fds = message.fds, []
            return None
        raise ProtocolError(f"unexpected {command.name}")

    def _sync_sysmem(self, message: Message) -> None:
        if len(message.payload) != protocol.SYNC_SYSMEM.size:
            raise ProtocolError(f"SYNC_SYSMEM: payload of {len(message.payload)} bytes, expected 192")
        values = protocol.SYNC_SYSMEM.unpack(message.payload)
        count = len(message.fds)
        gpas, sizes, offsets = values[0:8], values[8:16], values[16:24]
        self.stats.ram = [(gpas[index], sizes[index], offsets[index]) for index in range(count)]
