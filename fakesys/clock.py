"""The machine's virtual clock: microseconds since boot, advanced only by simulated waits.

Hardware (a device that becomes ready N ms after a reset) and the kernel (msleep, timeouts, log
timestamps) share one clock, so a wait costs no real time and every run is deterministic.
"""

from __future__ import annotations


def dmesg_stamp(timestamp_us: int) -> str:
    """``[    1.234567]``: a timestamp as dmesg prints it."""
    seconds, micros = divmod(timestamp_us, 1_000_000)
    return f"[{seconds:5d}.{micros:06d}]"


class VirtualClock:
    """Microseconds since boot; only ever advanced explicitly."""

    def __init__(self, start_us: int = 0) -> None:
        self.now_us = start_us

    def advance_ms(self, milliseconds: float) -> None:
        self.now_us += round(milliseconds * 1000)

    def advance_us(self, microseconds: int) -> None:
        self.now_us += microseconds

    @property
    def now_ms(self) -> float:
        return self.now_us / 1000

    @property
    def seconds(self) -> float:
        return self.now_us / 1_000_000
