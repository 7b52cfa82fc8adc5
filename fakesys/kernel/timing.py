"""Kernel sleeps on the virtual clock: msleep, usleep_range, mdelay and jiffies.

``msleep(m)`` arms a timer ``msecs_to_jiffies(m) + 1`` jiffies ahead (kernel/time/timer.c
``msleep`` -> ``schedule_timeout`` in 6.1.192; 6.12.117 dropped the extra jiffy), and the timer
wheel files it in a bucket whose granularity grows with the distance (``calc_wheel_index``:
levels of 64 buckets, each level 8 times coarser, ``LVL_START(n) = 63 << 3(n-1)``; the expiry
is rounded *up* to the level's granularity, ``calc_index``). The rounding is on absolute
jiffies, so how long a sleep of T jiffies at level n lasts depends on where jiffies stands:
anything in (T, T + 8^n] jiffies. msleep(4096) at HZ=1000 (T = 4097, level 3) wakes 4.098 to
4.609 s later.

Where jiffies stands relative to the printk clock: jiffies starts at ``INITIAL_JIFFIES``
(include/linux/jiffies.h, ``(unsigned long)(unsigned int)(-300*HZ)``, so that it wraps five
minutes after boot), and counts from when the tick started, a moment of each boot that the log
does not show. The model counts jiffies from ``INITIAL_JIFFIES`` at printk time 0; the part of
the phase that is a boot's own is not modelled, so a sleep's modelled length is one point of
its window, and each sleep also widens the clock's window (:mod:`fakesys.clock`) by what the
schedule allows. ``usleep_range`` takes its lower bound (an hrtimer that may end anywhere up to
the upper one), ``mdelay`` busy-waits exactly.
"""

from __future__ import annotations

from typing import Protocol

from fakesys.clock import VirtualClock

LVL_CLK_SHIFT = 3
LVL_BITS = 6
LVL_DEPTH = 9
#: jiffies is an unsigned long (64 bits on x86_64).
JIFFIES_MASK = (1 << 64) - 1


class _HasTime(Protocol):
    clock: VirtualClock

    @property
    def hz(self) -> int: ...

    @property
    def msleep_adds_jiffy(self) -> bool: ...


def initial_jiffies(hz: int) -> int:
    """INITIAL_JIFFIES: ``(unsigned long)(unsigned int)(-300*HZ)``."""
    return (-300 * hz) & 0xFFFFFFFF


def jiffies(kernel: _HasTime) -> int:
    return (initial_jiffies(kernel.hz) + kernel.clock.now_us * kernel.hz // 1_000_000) & JIFFIES_MASK


def msecs_to_jiffies(kernel: _HasTime, milliseconds: int) -> int:
    return -(-milliseconds * kernel.hz // 1000)


def _jiffy_start_us(kernel: _HasTime, tick: int) -> int:
    """The printk time at which jiffies reaches ``tick``."""
    elapsed = (tick - initial_jiffies(kernel.hz)) & JIFFIES_MASK
    return -(-elapsed * 1_000_000 // kernel.hz)


def _level_start(level: int) -> int:
    """LVL_START(n): the first delta filed in wheel level n."""
    return ((1 << LVL_BITS) - 1) << ((level - 1) * LVL_CLK_SHIFT)


def wheel_level(timeout: int) -> int:
    """The wheel level a timer ``timeout`` jiffies away is filed in (calc_wheel_index)."""
    level = 0
    while level + 1 < LVL_DEPTH and timeout >= _level_start(level + 1):
        level += 1
    return level


def timer_expiry(now: int, timeout: int) -> int:
    """The jiffy a timer armed at ``now`` for ``timeout`` jiffies fires at (calc_index)."""
    shift = wheel_level(timeout) * LVL_CLK_SHIFT
    return (((now + timeout) >> shift) + 1) << shift


def msleep_timeout(kernel: _HasTime, milliseconds: int) -> int:
    """The jiffies msleep(m) arms its timer for."""
    return msecs_to_jiffies(kernel, milliseconds) + int(kernel.msleep_adds_jiffy)


def msleep_window_us(kernel: _HasTime, milliseconds: int) -> tuple[int, int]:
    """(least, most) µs msleep(m) can take: (T, T + granularity] jiffies."""
    timeout = msleep_timeout(kernel, milliseconds)
    granularity = 1 << (wheel_level(timeout) * LVL_CLK_SHIFT)
    jiffy_us = 1_000_000 // kernel.hz
    return timeout * jiffy_us, (timeout + granularity) * jiffy_us


def msleep(kernel: _HasTime, milliseconds: int) -> None:
    before = kernel.clock.now_us
    expiry = timer_expiry(jiffies(kernel), msleep_timeout(kernel, milliseconds))
    kernel.clock.now_us = max(before, _jiffy_start_us(kernel, expiry))
    kernel.clock.widen(*msleep_window_us(kernel, milliseconds))


def poll_window_us(kernel: _HasTime, deadline_ms: int, sleep_ms: int) -> tuple[int, int]:
    """(least, most) µs a loop of msleep(``sleep_ms``) that runs until ``time_before(jiffies,
    end)`` fails, with end ``msecs_to_jiffies(deadline_ms)`` ahead, can take: from just under
    the deadline (armed late in a jiffy) to one sleep past it."""
    jiffy_us = 1_000_000 // kernel.hz
    ticks = msecs_to_jiffies(kernel, deadline_ms)
    return (ticks - 1) * jiffy_us, ticks * jiffy_us + msleep_window_us(kernel, sleep_ms)[1]


def usleep_range(kernel: _HasTime, low_us: int, high_us: int) -> None:
    kernel.clock.now_us += low_us
    kernel.clock.widen(low_us, high_us)


def mdelay(kernel: _HasTime, milliseconds: int) -> None:
    kernel.clock.advance_us(milliseconds * 1000)


def time_before(kernel: _HasTime, end_jiffies: int) -> bool:
    """time_before(jiffies, end): the wrap-safe comparison of include/linux/jiffies.h."""
    difference = (jiffies(kernel) - end_jiffies) & JIFFIES_MASK
    return difference >= 1 << 63
