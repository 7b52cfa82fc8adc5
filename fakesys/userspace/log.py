"""Messages printed by userspace programs, kept apart from the kernel log.

Each record names the program and where its output lands on a Proxmox host: ``task`` for the
start task log (qemu-server, and QEMU before it daemonizes), ``journal`` for the system journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakesys.clock import VirtualClock, dmesg_stamp


@dataclass(frozen=True)
class UserspaceRecord:
    timestamp_us: int
    program: str
    text: str
    destination: str = "task"

    def format(self) -> str:
        return f"{dmesg_stamp(self.timestamp_us)} {self.program}: {self.text}"


@dataclass
class UserspaceLog:
    clock: VirtualClock
    records: list[UserspaceRecord] = field(default_factory=list)

    def emit(self, program: str, text: str, destination: str = "task") -> None:
        self.records.append(UserspaceRecord(self.clock.now_us, program, text, destination))

    def lines(self) -> list[str]:
        """The messages as the program printed them (no stamps)."""
        return [record.text for record in self.records]

    def text(self) -> str:
        return "".join(record.format() + "\n" for record in self.records)
