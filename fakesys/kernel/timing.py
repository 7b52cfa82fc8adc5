"""Kernel sleeps on the virtual clock: msleep, usleep_range, mdelay and jiffies.

``msleep(m)`` arms a timer ``msecs_to_jiffies(m) + 1`` jiffies ahead (kernel/time/timer.c
``msleep`` -> ``schedule_timeout``), and the timer wheel files it in a bucket whose granularity
grows with the distance (``calc_wheel_index``: levels of 64 buckets, each level 8 times coarser,
expiry rounded up to the level's granularity). So msleep(4096) at HZ=1000 wakes between 4098 and
4609 ms later depending on the phase, which is what the reference journal's 4.544 s step shows.
``usleep_range`` takes its lower bound (an hrtimer), ``mdelay`` busy-waits exactly.
"""

from __future__ import annotations

from typing import Protocol

from fakesys.clock import VirtualClock


class _HasTime(Protocol):
    clock: VirtualClock

    @property
    def hz(self) -> int: ...

    @property
    def msleep_adds_jiffy(self) -> bool: ...


def jiffies(kernel: _HasTime) -> int:
    return kernel.clock.now_us * kernel.hz // 1_000_000


def msecs_to_jiffies(kernel: _HasTime, milliseconds: int) -> int:
    return -(-milliseconds * kernel.hz // 1000)


def _jiffy_start_us(kernel: _HasTime, tick: int) -> int:
    return -(-tick * 1_000_000 // kernel.hz)


LVL_CLK_SHIFT = 3
LVL_BITS = 6
LVL_DEPTH = 9


def _level_start(level: int) -> int:
    """LVL_START(n): the first delta filed in wheel level n."""
    return ((1 << LVL_BITS) - 1) << ((level - 1) * LVL_CLK_SHIFT)


def timer_expiry(now: int, timeout: int) -> int:
    """The jiffy a timer armed at ``now`` for ``timeout`` jiffies fires at (calc_wheel_index)."""
    level = 0
    while level + 1 < LVL_DEPTH and timeout >= _level_start(level + 1):
        level += 1
    shift = level * LVL_CLK_SHIFT
    return (((now + timeout) >> shift) + 1) << shift


def msleep(kernel: _HasTime, milliseconds: int) -> None:
    now = jiffies(kernel)
    expiry = timer_expiry(now, msecs_to_jiffies(kernel, milliseconds) + int(kernel.msleep_adds_jiffy))
    kernel.clock.now_us = max(kernel.clock.now_us, _jiffy_start_us(kernel, expiry))


def usleep_range(kernel: _HasTime, low_us: int, high_us: int) -> None:
    kernel.clock.advance_us(low_us)


def mdelay(kernel: _HasTime, milliseconds: int) -> None:
    kernel.clock.advance_us(milliseconds * 1000)


def time_before(kernel: _HasTime, end_jiffies: int) -> bool:
    return jiffies(kernel) < end_jiffies
