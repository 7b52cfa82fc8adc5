"""Presenting a :class:`~harness.checker.CheckReport`: the JSON document (``check.schema.json``,
shipped in the package) and the human table, coloured only on a terminal.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, TextIO

from harness import __version__
from harness.checker import CheckReport, DeviceReport
from harness.findings import Finding, Severity, Verdict
from harness.packaged import packaged_text
from harness.paste import printable
from harness.pciids import IDS_LIMIT, LOCATIONS, PciNames, find_ids_file
from harness.sysfs import version_text


def load_schema() -> dict[str, Any]:
    text = packaged_text("harness", "check.schema.json")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _names(report: CheckReport) -> PciNames:
    functions = [item.function for item in report.devices]
    vendors = {function.vendor for function in functions if function.vendor is not None}
    devices = {
        (function.vendor, function.device)
        for function in functions
        if function.vendor is not None and function.device is not None
    }
    for location in LOCATIONS:
        text = report.view.read_text(location, limit=IDS_LIMIT)
        if text is not None:
            return PciNames.from_text(text, vendors, devices)
    return PciNames(find_ids_file(), vendors, devices)


@dataclass(frozen=True)
class Answer:
    """One device that does not pass, as the summary names it: its worst finding and what to do."""

    verdict: Verdict
    bdf: str
    name: str
    code: str
    reason: str
    next_step: str


@dataclass(frozen=True)
class Summary:
    """What a user acts on: one answer per device that does not pass on its own findings, and the
    host-level blockers once, with the devices they block (not repeated per device)."""

    answers: list[Answer]
    blockers: list[tuple[Finding, list[str]]]


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    head, separator, _ = flat.partition(". ")
    return head + "." if separator else flat


def _device_name(item: DeviceReport, names: PciNames) -> str:
    function = item.function
    return names.device(function.vendor, function.device) or function.label or function.id_text


def summarize(report: CheckReport, names: PciNames | None = None) -> Summary:
    names = names or _names(report)
    answers = []
    blocked: dict[str, list[str]] = {}
    for item in report.devices:
        for code in item.blocked_by:
            blocked.setdefault(code, []).append(item.function.name)
        worst = max(item.findings, key=lambda finding: finding.severity, default=None)
        if worst is None or worst.severity is Severity.INFO:
            continue
        answers.append(
            Answer(
                Verdict.of([worst.severity]),
                item.function.name,
                _device_name(item, names),
                worst.code,
                worst.message,
                _first_sentence(worst.fix) if worst.fix else "",
            )
        )
    answers.sort(key=lambda answer: (-answer.verdict, answer.bdf))
    blockers = [(finding, blocked[finding.code]) for finding in report.host_findings if finding.code in blocked]
    return Summary(answers, blockers)


def _summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "not_passing": [
            {
                "bdf": answer.bdf,
                "name": answer.name,
                "verdict": answer.verdict.label,
                "code": answer.code,
                "reason": answer.reason,
                "next_step": answer.next_step,
            }
            for answer in summary.answers
        ],
        "blocked_by": [
            {"code": finding.code, "message": finding.message, "fix": finding.fix, "devices": devices}
            for finding, devices in summary.blockers
        ],
    }


def to_json(report: CheckReport, title: str | None = None) -> dict[str, Any]:
    view = report.view
    names = _names(report)
    counts = {"pass": 0, "warn": 0, "fail": 0}
    devices = []
    for item in report.devices:
        function = item.function
        counts[item.verdict.label] += 1
        devices.append(
            {
                "bdf": function.name,
                "id": function.id_text,
                "class": f"{function.class_code:06x}" if function.class_code is not None else None,
                "name": names.device(function.vendor, function.device),
                "driver": function.driver,
                "iommu_group": function.iommu_group,
                "verdict": item.verdict.label,
                "blocked_by": item.blocked_by,
                "findings": [finding.to_json() for finding in item.findings],
            }
        )
    return {
        "vfiolab": __version__,
        "root": title or str(view.root),
        "host": {
            "kernel_release": view.kernel_release,
            "kernel_version": version_text(view.kernel_version),
            "assumed_kernel": view.assumed_kernel.describe() if view.assumed_kernel is not None else None,
            "cpu_vendor": view.cpu.vendor,
            "cpu_model": view.cpu.model,
            "iommu_active": view.iommu_active,
            "iommu_groups": len(view.groups),
            "unseen": [{"path": path, "reason": reason} for path, reason in view.unseen],
        },
        "devices": devices,
        "groups": [
            {
                "group": group.number,
                "devices": [str(bdf) for bdf in group.devices],
                "checked": [item.function.name for item in group.checked],
                "verdict": group.verdict.label,
            }
            for group in report.groups
        ],
        "findings": [finding.to_json() for finding in report.host_findings],
        "summary": {**counts, **_summary_json(summarize(report, names))},
        "exit_code": report.exit_code,
    }


def write_json(report: CheckReport, out: TextIO, title: str | None = None) -> None:
    """The document as ``json.dumps(document, indent=2)`` writes it, byte for byte, followed by a
    newline; encoded by :func:`_encode_json` and written in blocks of a few hundred KiB: json.dump
    would make a write() call per token (~300,000 on a large host), and one string of the whole
    document doubles the peak memory."""
    parts: list[str] = []
    _encode_json(to_json(report, title), parts, "\n", out)
    parts.append("\n")
    out.write("".join(parts))


#: Encoded parts of the JSON document joined per write (a few hundred KiB).
_PARTS_PER_WRITE = 32768


def _encode_json(value: object, parts: list[str], newline: str, out: TextIO) -> None:
    """``value`` encoded as ``json.dumps(indent=2)`` encodes it (ensure_ascii, ``", "``-free
    separators, NaN and Infinity as JSON spells them), appended to ``parts``, which are written
    to ``out`` between the items of a list once there are many. With an indent the standard
    library encodes in Python, token by token through nested generators; this is the same
    output from one recursive function, several times faster."""
    if isinstance(value, str):
        parts.append(_json_string(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_json_float(value))
    elif isinstance(value, list | tuple):
        if not value:
            parts.append("[]")
            return
        inner = newline + "  "
        parts.append("[" + inner)
        for index, item in enumerate(value):
            if index:
                parts.append("," + inner)
            _encode_json(item, parts, inner, out)
            if len(parts) >= _PARTS_PER_WRITE:
                out.write("".join(parts))
                parts.clear()
        parts.append(newline + "]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        inner = newline + "  "
        parts.append("{" + inner)
        for index, (key, item) in enumerate(value.items()):
            if index:
                parts.append("," + inner)
            parts.append(_json_string(_json_key(key)) + ": ")
            _encode_json(item, parts, inner, out)
        parts.append(newline + "}")
    else:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _json_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_key(key: object) -> str:
    """A key as json.dumps turns it into a string."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _json_float(key)
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


# --- Human output -------------------------------------------------------------------------------

_COLOURS = {"pass": "32", "info": "36", "warn": "33", "fail": "31;1"}


def use_colour(out: TextIO) -> bool:
    return out.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


class _Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, label: str, text: str | None = None) -> str:
        shown = label.upper() if text is None else text
        if not self.colour or label not in _COLOURS:
            return shown
        return f"\033[{_COLOURS[label]}m{shown}\033[0m"


_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_KEEP_TOGETHER = "\x00"


def _wrap(prefix: str, text: str, width: int, indent: str) -> list[str]:
    """:func:`_wrapped` as a list. Devices of one kind share their findings' texts, so a large
    host wraps the same few hundred paragraphs thousands of times: they are wrapped once."""
    return list(_wrapped(prefix, text, width, indent))


@lru_cache(maxsize=4096)
def _wrapped(prefix: str, text: str, width: int, indent: str) -> tuple[str, ...]:
    """Text wrapped for a terminal: words filled greedily up to ``width`` (runs of white space
    become one space), a word longer than a line on a line of its own. A command in a code span
    (`...`) is one word, so it is never broken across lines and what a user copies from one line
    is the whole command. Host strings are shown printable (no escape sequences reach the
    terminal). Written out rather than textwrap: a report of a thousand devices wraps tens of
    thousands of paragraphs, and this is several times faster."""
    shown = printable(text)
    if "`" in shown:
        shown = _CODE_SPAN.sub(lambda match: match[0].replace(" ", _KEEP_TOGETHER), shown)
    words = shown.split()
    if not words:
        return (prefix.rstrip(),)
    flat = " ".join(words)
    filled = _fill(flat, width - len(prefix), width - len(indent))
    if filled is not None:
        lines = [prefix + filled[0], *(indent + line for line in filled[1:])]
    else:
        lines = _fill_words(prefix, words, width, indent)
    if "`" in text:
        return tuple(line.replace(_KEEP_TOGETHER, " ") for line in lines)
    return tuple(lines)


def _fill_words(prefix: str, words: list[str], width: int, indent: str) -> list[str]:
    """Greedy filling word by word (what :func:`_fill` does faster, and what places a word longer
    than its line, alone on it)."""
    lines = []
    current = prefix + words[0]
    for word in words[1:]:
        if len(current) + 1 + len(word) <= width:
            current += " " + word
        else:
            lines.append(current)
            current = indent + word
    lines.append(current)
    return lines


def _fill(flat: str, first: int, rest: int) -> list[str] | None:
    """Greedy filling of words joined by single spaces: as many words on a line as fit in
    ``first`` characters (``rest`` after the first line), each line found by one search for the
    last space that fits instead of a step per word. None when a word is longer than its line
    (the word-by-word loop places it)."""
    if first < 1 or rest < 1:
        return None
    lines = []
    position = 0
    end = len(flat)
    room = first
    while end - position > room:
        cut = flat.rfind(" ", position, position + room + 1)
        if cut <= position:
            return None
        lines.append(flat[position:cut])
        position = cut + 1
        room = rest
    lines.append(flat[position:])
    return lines


def _finding_lines(finding: Finding, paint: _Painter, verbose: bool, width: int) -> list[str]:
    label = finding.severity.label
    lines = [f"  {paint(label, f'{label:<4}')}  {printable(finding.message)}  [{finding.code}]"]
    if finding.severity is Severity.INFO and not verbose:
        return lines
    indent = "        "
    lines += _wrap(f"{indent}why: ", finding.why, width, indent + "     ")
    if finding.evidence:
        lines.append(f"{indent}evidence:")
        for item in finding.evidence:
            lines += _wrap(f"{indent}  {item.path}: ", item.value, width, indent + "    ")
    if finding.fix:
        lines += _wrap(f"{indent}fix: ", finding.fix, width, indent + "     ")
    return lines


def _device_heading(item: DeviceReport, names: PciNames, paint: _Painter) -> str:
    function = item.function
    kind = names.class_name(function.class_code) or (f"class {function.class_code:06x}" if function.class_code else "")
    name = names.device(function.vendor, function.device) or function.label or ""
    group = f"group {function.iommu_group}" if function.iommu_group is not None else "no group"
    driver = f"driver {function.driver}" if function.driver else "no driver"
    verdict = paint(item.verdict.label)
    heading = f"{function.name}  {kind}: {name} [{function.id_text}]  ({group}, {driver})".replace(":  [", " [")
    return f"{printable(heading)}  {verdict}"


def _summary_lines(report: CheckReport, names: PciNames, paint: _Painter, width: int) -> list[str]:
    """The answer, last so that it is what a terminal shows: host blockers once, then one line
    per device that does not pass with its reason and next step."""
    summary = summarize(report, names)
    if not summary.answers and not summary.blockers:
        return []
    lines = ["Summary (devices that do not pass)\n"]
    for finding, devices in summary.blockers:
        shown = ", ".join(devices[:4]) + (f" and {len(devices) - 4} more" if len(devices) > 4 else "")
        lines.append(f"  {paint('fail', 'FAIL')}  host: {finding.message}  [{finding.code}]\n")
        lines.append(f"        blocks {len(devices)} device(s): {shown}\n")
        if finding.fix:
            lines += [line + "\n" for line in _wrap("        next: ", _first_sentence(finding.fix), width, " " * 14)]
    for answer in summary.answers:
        label = answer.verdict.label
        body = f"{answer.bdf} {answer.name}: {answer.reason}  [{answer.code}]"
        wrapped = _wrap(" " * 8, body, width, " " * 10)
        wrapped[0] = f"  {paint(label, f'{label.upper():<4}')}  " + wrapped[0][8:]
        lines += [line + "\n" for line in wrapped]
        if answer.next_step:
            lines += [line + "\n" for line in _wrap("        next: ", answer.next_step, width, " " * 14)]
    lines.append("\n")
    return lines


def write_human(
    report: CheckReport, out: TextIO, verbose: bool = False, colour: bool | None = None, title: str | None = None
) -> None:
    """``title`` names what was checked when the root is a temporary render (a scenario)."""
    paint = _Painter(use_colour(out) if colour is None else colour)
    text = _Blocks(out)
    width = 100
    view = report.view
    names = _names(report)
    cpu = view.cpu.model or "CPU unknown"
    kernel = f"kernel {view.kernel_release or 'unknown'}"
    if view.assumed_kernel is not None:
        kernel += f" (kernel quirks judged as under {view.assumed_kernel.describe()}, --assume-kernel)"
    text.append(f"vfiolab check of {title or view.root}: {kernel}, {cpu}\n\n")
    if report.host_findings:
        text.append("Host\n")
        for finding in report.host_findings:
            text.append("\n".join(_finding_lines(finding, paint, verbose, width)) + "\n")
        text.append("\n")
    for item in report.devices:
        text.append(_device_heading(item, names, paint) + "\n")
        if item.blocked_by:
            text.append(
                f"  {paint('fail', 'fail')}  blocked by the host finding(s) above: {', '.join(item.blocked_by)}\n"
            )
        for finding in sorted(item.findings, key=lambda finding: -finding.severity):
            text.append("\n".join(_finding_lines(finding, paint, verbose, width)) + "\n")
        text.append("\n")
    shared = [group for group in report.groups if len(group.checked) > 1 or len(group.devices) > 1]
    if shared:
        text.append("IOMMU groups with more than one device\n")
        for group in shared:
            members = " ".join(bdf.short for bdf in group.devices)
            text.append(f"  group {group.number}: {members}  {paint(group.verdict.label)}\n")
        text.append("\n")
    if view.unseen:
        text.append(f"Not readable ({len(view.unseen)} paths; run as root to see more):\n")
        for path, reason in view.unseen[:8]:
            text.append(f"  {path}: {reason}\n")
        if len(view.unseen) > 8:
            text.append(f"  ... and {len(view.unseen) - 8} more (--json lists them all)\n")
        text.append("\n")
    text += _summary_lines(report, names, paint, width)
    counts = {verdict: sum(1 for item in report.devices if item.verdict is verdict) for verdict in Verdict}
    summary = ", ".join(f"{counts[verdict]} {verdict.label}" for verdict in (Verdict.FAIL, Verdict.WARN, Verdict.PASS))
    text.append(f"{len(report.devices)} device(s) checked: {summary}; exit code {report.exit_code}\n")
    if not verbose:
        text.append("(information is shown as one line; --verbose shows why, evidence and fix for every finding)\n")
    text.flush()


class _Blocks:
    """Report text written as it is made, in blocks of about :data:`_BLOCK_CHARACTERS`: the
    whole report held until the end (as lines, then joined and encoded) was the largest part of
    the peak memory of a large host, and a write per line is a system call per line on a pipe."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._parts: list[str] = []
        self._size = 0

    def append(self, part: str) -> None:
        self._parts.append(part)
        self._size += len(part)
        if self._size >= _BLOCK_CHARACTERS:
            self.flush()

    def __iadd__(self, parts: Iterable[str]) -> _Blocks:
        for part in parts:
            self.append(part)
        return self

    def flush(self) -> None:
        if self._parts:
            self._out.write("".join(self._parts))
            self._parts.clear()
            self._size = 0


#: Characters of the human report joined per write.
_BLOCK_CHARACTERS = 128 * 1024
