"""The kernel log of a checked root: its lines, split into timestamp and text, and which of them
name a given PCI function.

The log comes from ``var/log/dmesg`` or ``var/log/kern.log`` under the root (a capture, a fakesys
tree, or a real host's boot log); the checker never runs ``dmesg`` itself. Lines look like
``[    1.234567] vfio-pci 0000:03:00.0: message`` (dmesg) or carry a syslog prefix
(``Nov 26 10:00:00 host kernel: [ ...] ...``); both are understood. The file is read through
the root's bounded reader (its first 8 MiB) and each line is cut at :data:`MAX_LINE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PREFIX = re.compile(r"^(?:.*?\bkernel:\s*)?(?:\[\s*(?P<seconds>\d+\.\d+)\]\s*)?(?P<text>.*)$")
_DEVICE = re.compile(r"\b(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b")


@dataclass(frozen=True)
class LogLine:
    number: int  # 1-based line number in the file
    seconds: float | None
    text: str
    raw: str

    def names(self, address: str) -> bool:
        """The line is about the PCI function ``address`` (``0000:03:00.0``)."""
        return address in self.text or address[5:] in _DEVICE.findall(self.text)


#: The kernel stores a message in at most 1024 bytes and formats it, prefix included, into at
#: most 2048 (kernel/printk/internal.h ``PRINTKRB_RECORD_MAX``, ``PRINTK_MESSAGE_MAX``; older
#: kernels: ``LOG_LINE_MAX``); a syslog prefix adds little. A longer line in a captured log is
#: cut here, so that no search over it costs more than a real line does.
MAX_LINE = 4096


def parse(lines: list[str]) -> list[LogLine]:
    parsed = []
    for number, raw in enumerate(lines, start=1):
        if len(raw) > MAX_LINE:
            raw = raw[:MAX_LINE]
        match = _PREFIX.match(raw)
        assert match is not None  # the pattern matches any line
        seconds = float(match["seconds"]) if match["seconds"] else None
        parsed.append(LogLine(number, seconds, match["text"].strip(), raw))
    return parsed


def search(lines: list[LogLine], pattern: str | re.Pattern[str]) -> list[LogLine]:
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    return [line for line in lines if compiled.search(line.text)]


_NUMBER = re.compile(r"\d+")


def group_similar(lines: list[LogLine]) -> list[list[LogLine]]:
    """Lines grouped by their text with numbers blanked (the seven "not ready %dms" lines of one
    wait, the same retrain message each round), in order of first appearance."""
    groups: dict[str, list[LogLine]] = {}
    for line in lines:
        groups.setdefault(_NUMBER.sub("#", line.text), []).append(line)
    return list(groups.values())


def describe_group(path: str, group: list[LogLine]) -> tuple[str, str]:
    """(where, text) for one group: ``/var/log/dmesg:34`` and the first line, with how many more
    similar lines there are and the last one when it differs."""
    first, rest = group[0], group[1:]
    where = f"{path}:{first.number}"
    if not rest:
        return where, first.text
    numbers = ", ".join(str(line.number) for line in rest[:6]) + (", ..." if len(rest) > 6 else "")
    where += f" (+{len(rest)} similar: {numbers})"
    last = group[-1].text
    return where, first.text if last == first.text else f"{first.text} ... {last}"
