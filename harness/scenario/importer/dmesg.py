"""Kernel log excerpts as people paste them: which lines are the kernel's, their times, which
ones matter.

Recognised forms, with or without mail quoting, CRLF line ends and Markdown fences:

- ``dmesg``: ``[    1.234567] text`` (any number of fraction digits), ``dmesg -r``'s ``<4>``
  level in front, ``dmesg -x``'s ``kern  :warn  : `` facility and level;
- ``dmesg -T``: ``[Mon Mar 13 10:00:00 2023] text`` (wall-clock time: no kernel timestamp);
- syslog and ``journalctl -k``: ``Mar 13 10:00:00 host kernel: text`` (with the dmesg stamp
  after ``kernel:`` when the log has one), and ``2023-03-13T10:00:00+0100 host kernel: text``;
- lines without a stamp in the kernel's own formats: ``driver 0000:03:00.0: message``
  (``dev_printk``) and the prefixes the PCI, IOMMU, ACPI, ATA and NVMe code print
  (``DMAR:``, ``AMD-Vi:``, ``pci_bus 0000:00:``, ``ata3:``, ``ACPI BIOS Error`` ...).

Every other line is left to the other parsers (:attr:`LogExcerpt.lines` lists the ones taken).
Times become the ``[%5lu.%06lu]`` stamp the simulated kernel's log keeps (``host.kernel.log``).
Lines are cut at :data:`harness.kernellog.MAX_LINE`; the excerpt is bounded by the paste limits.
Every pattern is linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.capture.paste import split_lines, unquote
from harness.kernellog import MAX_LINE

#: Kernel log lines the simulated kernel writes itself when it boots (they are not carried over
#: from the capture, whatever numbers they hold: it writes its own).
BOOT_LINES = re.compile(
    r"^(?:Linux version |Command line: |DMI: |Hypervisor detected: |DMAR: IOMMU enabled$|DMAR-IR: Enabled IRQ remapping"
    r"|AMD-Vi: Interrupt remapping enabled$|iommu: Default domain type: |VFIO - User Level meta-driver version"
    r"|\S+ [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: Adding to iommu group \d+$)"
)
#: The scenario's kernel log: at most this many bytes of lines (the rest is summarised in a note).
LOG_BUDGET = 256 * 1024
_STAMP = re.compile(r"^\[\s{0,12}(\d{1,10})\.(\d{1,9})\]\s?(.*)$")
_LEVEL = re.compile(r"^<\d{1,3}>")
_FACILITY = re.compile(r"^[a-z]{2,8}\s{0,4}:[a-z]{2,8}\s{0,4}: ")
_WALL_STAMP = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\]\s?(.*)$")
_SYSLOG = re.compile(
    r"^(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S{0,16})"
    r" \S{1,255} kernel: (.*)$"
)
_DEVICE_LINE = re.compile(r"^[\w.-]{1,64} (?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]: \S")
#: What the kernel's PCI, IOMMU, ACPI, storage and boot code put in front of a line (most of them
#: end in a colon; an lspci line never starts with one of these).
_PREFIXES = re.compile(
    r"^(?:(?:DMAR(?:-IR)?|AMD-Vi|iommu|PCI|pci_bus [0-9a-f]{4}:[0-9a-f]{2}|vfio[-_]pci|Command line|Kernel command line"
    r"|ata\d{1,3}(?:\.\d\d)?|nvme nvme\d{1,4}|DMI|AER|EDAC|mce|x86/cpu|kvm|smpboot|ACPI|Hypervisor detected"
    r"|sd \d{1,4}:\d{1,4}:\d{1,4}:\d{1,4}|scsi host\d{1,4}): "
    r"|ACPI(?: BIOS)? (?:Error|Warning|Exception)\b|VFIO - User Level|Linux version \d)"
)
_FENCE = re.compile(r"^\s{0,3}(?:```|~~~)")


@dataclass(frozen=True)
class LogEntry:
    """One kernel log line: where it was, its time (microseconds) when it had one, its text."""

    line: int
    time_us: int | None
    text: str

    def formatted(self) -> str:
        """As ``dmesg`` prints it (the form ``host.kernel.log`` holds)."""
        if self.time_us is None:
            return self.text
        return f"[{self.time_us // 1_000_000:5d}.{self.time_us % 1_000_000:06d}] {self.text}"


@dataclass
class LogExcerpt:
    source: str
    entries: list[LogEntry] = field(default_factory=list)
    #: Lines of the source that were kernel log lines.
    lines: set[int] = field(default_factory=set)


#: Control characters other than tab (a log line shows them as spaces).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def _microseconds(seconds: str, fraction: str) -> int:
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def log_entry(number: int, raw: str) -> LogEntry | None:
    """The kernel log line in ``raw`` (one physical line), or None when it is not one."""
    text = unquote(raw.rstrip("\r\n")).strip()
    text = _CONTROL.sub(" ", text[:MAX_LINE])
    syslog = _SYSLOG.match(text)
    if syslog is not None:
        text = syslog[1]
    text = _LEVEL.sub("", text)
    text = _FACILITY.sub("", text)
    stamp = _STAMP.match(text)
    if stamp is not None:
        return LogEntry(number, _microseconds(stamp[1], stamp[2]), stamp[3].strip())
    wall = _WALL_STAMP.match(text)
    if wall is not None:
        return LogEntry(number, None, wall[1].strip())
    if syslog is not None or _DEVICE_LINE.match(text) or _PREFIXES.match(text):
        return LogEntry(number, None, text)
    return None


def parse_log(text: str, source: str = "<paste>") -> LogExcerpt:
    """Every kernel log line of ``text`` (other lines are not part of the excerpt)."""
    excerpt = LogExcerpt(source)
    for number, raw in split_lines(text, source):
        if _FENCE.match(raw):
            continue
        entry = log_entry(number, raw)
        if entry is not None and entry.text:
            excerpt.entries.append(entry)
            excerpt.lines.add(number)
    return excerpt


def worth_expecting(text: str) -> str | None:
    """Why a log line is worth an expectation (the checker's known lines), or None."""
    # Imported here: the checks package loads every check, which a paste without a log never needs.
    from harness.checks.kernel_log import DEVICE_PATTERNS

    for pattern in DEVICE_PATTERNS:
        if pattern.regex.search(text):
            return f"{pattern.code}: {pattern.meaning}"
    return None
