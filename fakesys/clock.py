"""The machine's virtual clock: microseconds since boot, advanced only by simulated waits.

Hardware (a device that becomes ready N ms after a reset) and the kernel (msleep, timeouts, log
timestamps) share one clock, so a wait costs no real time and every run is deterministic.

A wait whose length the real kernel does not fix (a timer wheel's rounding depends on when it
was armed) moves the clock to one point and widens the *window*: the least and most time the
waits since the last kernel message can have taken. A kernel message takes the window with it
(:class:`fakesys.kernel.log.LogRecord`), so a log compares its gaps with what the sleep schedule
allows. Windows are kept from :meth:`VirtualClock.track_window` on; a :meth:`boundary` (the kernel
entered from userspace: a sysfs write, an ioctl, a close) leaves the next message without one,
since what userspace did in between is not the kernel's schedule.
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
        self.window: tuple[int, int] | None = None
        self.tracking = False

    def advance_ms(self, milliseconds: float) -> None:
        self.advance_us(round(milliseconds * 1000))

    def advance_us(self, microseconds: int) -> None:
        self.now_us += microseconds
        self.widen(microseconds, microseconds)

    def widen(self, low_us: int, high_us: int) -> None:
        """A wait of ``low_us`` to ``high_us`` happened (the caller moved the clock)."""
        if self.window is not None:
            self.window = (self.window[0] + low_us, self.window[1] + high_us)

    def track_window(self) -> None:
        """Keep windows from here on (from the next message)."""
        self.tracking = True
        self.window = None

    def boundary(self) -> None:
        """The kernel was entered from userspace: the next message has no window."""
        self.window = None

    def take_window(self) -> tuple[int, int] | None:
        """The window since the last message; the next one starts at zero when tracked."""
        window = self.window
        self.window = (0, 0) if self.tracking else None
        return window

    @property
    def now_ms(self) -> float:
        return self.now_us / 1000

    @property
    def seconds(self) -> float:
        return self.now_us / 1_000_000
