"""Recognising a guest kernel in trouble from its messages: oopses, panics, ``BUG:``, soft
lockups, RCU stalls, hung tasks and ``WARNING:`` splats, wherever they show up (the live console,
or the dmesg read at the end, which also has the messages the console's log level hid).

The headers are the kernel's own (Linux 6.1 and 6.12): ``panic()`` in ``kernel/panic.c``
("Kernel panic - not syncing"), ``__warn()`` in ``kernel/panic.c`` ("WARNING: CPU: %d PID: %d at
..."), ``die()``/``__die_header()`` in ``arch/x86/kernel/dumpstack.c`` ("Oops: "),
``report_bug()`` in ``lib/bug.c`` ("kernel BUG at"), ``page_fault_oops()`` in
``arch/x86/mm/fault.c`` ("BUG: unable to handle page fault", "BUG: kernel NULL pointer
dereference"), ``watchdog_timer_fn()`` in ``kernel/watchdog.c`` ("BUG: soft lockup"),
``print_cpu_stall()`` in ``kernel/rcu/tree_stall.h`` ("rcu: INFO: ... detected stall"),
``check_hung_task()`` in ``kernel/hung_task.c`` ("INFO: task ... blocked for more than"), and
``exc_general_protection()`` in ``arch/x86/kernel/traps.c`` ("general protection fault").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: (kind, pattern searched in a message's text), the more specific first.
CRASH_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("panic", re.compile(r"Kernel panic - not syncing")),
    ("soft-lockup", re.compile(r"BUG: soft lockup")),
    ("bug", re.compile(r"(?:^|: )BUG: |kernel BUG at ")),
    ("oops", re.compile(r"^Oops: |general protection fault")),
    ("rcu-stall", re.compile(r"INFO: rcu\S* (?:self-)?detected stall")),
    ("hung-task", re.compile(r"INFO: task \S+ blocked for more than")),
    ("warning", re.compile(r"^WARNING: CPU: \d+ PID: \d+ at ")),
)
#: A kernel message as the console shows it: ``[    2.345678] text`` (CONFIG_PRINTK_TIME).
CONSOLE_KERNEL_LINE = re.compile(r"^\[\s*(\d+)\.(\d+)\] (.*)$")


@dataclass(frozen=True)
class Crash:
    kind: str
    line: str


def crash_in_message(text: str) -> Crash | None:
    """The crash a kernel message (its text, without the timestamp) announces, if any."""
    for kind, pattern in CRASH_PATTERNS:
        if pattern.search(text):
            return Crash(kind, text)
    return None


def crash_on_console(line: str) -> Crash | None:
    """The crash a console line announces, if it is a kernel message that announces one (lines
    of the guest's programs never count, whatever they print)."""
    match = CONSOLE_KERNEL_LINE.match(line)
    if match is None:
        return None
    found = crash_in_message(match.group(3))
    return Crash(found.kind, line) if found is not None else None
