"""The kernel log on a virtual clock.

Waits in the simulated kernel advance the machine's virtual clock (:mod:`fakesys.clock`); nothing
sleeps. Records are kept as
(timestamp, text) and printed the way ``dmesg`` prints them: ``[%5lu.%06lu] text``
(kernel/printk/printk.c ``print_time``). Device messages carry the prefix ``dev_printk`` builds:
the bound driver's name (or the bus name, ``pci``, when unbound), the device name and a colon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fakesys.clock import VirtualClock, dmesg_stamp

_STAMP = re.compile(r"^\[\s*(\d+)\.(\d{6})\]\s?(.*)$")


@dataclass(frozen=True)
class LogRecord:
    timestamp_us: int
    text: str
    level: str = "info"
    #: (least, most) µs the waits since the previous record can take, when accounted for
    #: (:class:`fakesys.clock.VirtualClock` windows); the gap to the previous record lies in it.
    window_us: tuple[int, int] | None = None

    def format(self) -> str:
        return f"{dmesg_stamp(self.timestamp_us)} {self.text}"


@dataclass
class KernelLog:
    clock: VirtualClock
    records: list[LogRecord] = field(default_factory=list)

    def emit(self, text: str, level: str = "info") -> LogRecord:
        record = LogRecord(self.clock.now_us, text, level, self.clock.take_window())
        self.records.append(record)
        return record

    def device(self, prefix: str, name: str, message: str, level: str = "info") -> LogRecord:
        return self.emit(f"{prefix} {name}: {message}", level)

    def add_raw(self, line: str) -> LogRecord:
        """A line from a host description; a ``[ secs.usecs]`` stamp moves the clock there."""
        match = _STAMP.match(line)
        if match:
            stamp = int(match[1]) * 1_000_000 + int(match[2])
            self.clock.now_us = max(self.clock.now_us, stamp)
            record = LogRecord(stamp, match[3])
            self.records.append(record)
            return record
        return self.emit(line)

    def text(self) -> str:
        return "".join(record.format() + "\n" for record in self.records)
