"""Checking a scenario's log and sysfs expectations against what happened, and the
:class:`Failure` every layer reports with (a diff-like report: file:line, the expectation, what
was expected, what was found, context). The checker and generator layers are in
:mod:`harness.scenario.expect_checker` and :mod:`harness.scenario.expect_generator`.

A log expectation matches lines by text (or by a regular expression over the whole line) in
order, as a tail of the log, or as the whole log; lines may also state the time since the
previous expected line (``gap_ms``). Timestamps are ignored otherwise. A sysfs expectation
compares a file's content (trailing newline ignored), or a symlink's target name, after the
steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakesys.clock import dmesg_stamp
from fakesys.sysfs.tree import MemoryTree

TimedLine = tuple[int, str]  # (timestamp in µs, text)


@dataclass
class Failure:
    """One expectation that did not hold."""

    layer: str
    expectation: str
    expected: str
    found: str
    context: list[str] = field(default_factory=list)
    line: int = 0

    def report(self, path: str = "") -> str:
        where = f"{path}:{self.line}: " if path and self.line else ""
        lines = [
            f"{where}{self.layer}: {self.expectation}",
            f"  expected: {self.expected}",
            f"  found:    {self.found}",
        ]
        if self.context:
            lines.append("  context:")
            lines.extend(f"    {item}" for item in self.context)
        return "\n".join(lines)


@dataclass(frozen=True)
class LinePattern:
    text: str
    regex: bool
    gap_ms: float | None = None
    tolerance_ms: float = 0.0

    @classmethod
    def parse(cls, item: Any) -> LinePattern:
        if isinstance(item, str):
            return cls(item, False)
        if "regex" in item:
            return cls(item["regex"], True, item.get("gap_ms"), float(item.get("tolerance_ms", 0)))
        return cls(item["line"], False, item.get("gap_ms"), float(item.get("tolerance_ms", 0)))

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.text, text) is not None if self.regex else text == self.text

    def describe(self) -> str:
        shown = f"/{self.text}/" if self.regex else repr(self.text)
        return shown + (f" {self.gap_ms} ms after the previous line" if self.gap_ms is not None else "")


def _format(lines: Sequence[TimedLine], index: int) -> str:
    stamp, text = lines[index]
    return f"{dmesg_stamp(stamp)} {text}"


def _context(lines: Sequence[TimedLine], around: int, radius: int = 3) -> list[str]:
    """The lines around ``around``, that one marked with ``>``."""
    start = max(0, around - radius)
    return [
        ("> " if index == around else "  ") + _format(lines, index)
        for index in range(start, min(len(lines), around + radius + 1))
    ]


def closest_line(texts: Sequence[str], pattern: LinePattern, start: int) -> int:
    """The line most like the pattern from ``start`` on (most words in common), to show where
    the output diverged from what was expected."""
    words = set(re.findall(r"\w+", pattern.text))
    best, best_score = start, -1
    for index in range(start, len(texts)):
        score = len(words & set(re.findall(r"\w+", texts[index])))
        if score > best_score:
            best, best_score = index, score
    return best


def _closest(lines: Sequence[TimedLine], pattern: LinePattern, start: int) -> int:
    return closest_line([text for _, text in lines], pattern, start)


def check_log(
    layer: str,
    lines: Sequence[TimedLine],
    spec: Mapping[str, Any],
    base_line: int = 0,
    line_of: Callable[..., int] | None = None,
) -> list[Failure]:
    """Every way ``lines`` differ from a log expectation; ``line_of(*path)`` gives the scenario
    file's line of an item of ``spec`` (``("lines", 3)``) so a failure points at it."""

    def at(*path: str | int) -> int:
        return line_of(*path) if line_of is not None else base_line

    failures: list[Failure] = []
    mode = spec.get("match", "ordered")
    patterns = [LinePattern.parse(item) for item in spec.get("lines", [])]
    if mode in ("tail", "exact"):
        if mode == "exact" and len(lines) != len(patterns):
            failures.append(
                Failure(
                    layer,
                    f"the log has exactly {len(patterns)} lines",
                    f"{len(patterns)} lines",
                    f"{len(lines)} lines",
                    [_format(lines, i) for i in range(len(lines))][-10:],
                    at(),
                )
            )
            return failures
        offset = len(lines) - len(patterns)
        if offset < 0:
            failures.append(
                Failure(
                    layer,
                    f"the log ends with {len(patterns)} lines",
                    f"{len(patterns)} lines",
                    f"only {len(lines)} lines",
                    [_format(lines, i) for i in range(len(lines))][-10:],
                    at(),
                )
            )
            return failures
        previous: int | None = None
        for number, pattern in enumerate(patterns):
            index = offset + number
            if not pattern.matches(lines[index][1]):
                failures.append(
                    Failure(
                        layer,
                        f"line {number + 1} of the expected {mode}",
                        pattern.describe(),
                        repr(lines[index][1]),
                        _context(lines, index),
                        at("lines", number),
                    )
                )
                return failures
            failures.extend(_check_gap(layer, lines, pattern, previous, index, base_line=at("lines", number)))
            previous = index
    else:
        position = 0
        previous = None
        for number, pattern in enumerate(patterns):
            found = next((index for index in range(position, len(lines)) if pattern.matches(lines[index][1])), None)
            if found is None:
                near = _closest(lines, pattern, position)
                failures.append(
                    Failure(
                        layer,
                        f"expected line {number + 1} of {len(patterns)} (in order)",
                        pattern.describe(),
                        "no such line after the previous match"
                        + (f"; nearest: {lines[near][1]!r}" if lines else "; the log is empty"),
                        _context(lines, near) if lines else [],
                        at("lines", number),
                    )
                )
                return failures
            failures.extend(_check_gap(layer, lines, pattern, previous, found, base_line=at("lines", number)))
            previous = found
            position = found + 1
    for number, item in enumerate(spec.get("absent", [])):
        pattern = LinePattern.parse(item)
        for index, (_, text) in enumerate(lines):
            if pattern.matches(text):
                failures.append(
                    Failure(
                        layer,
                        "a line that must not appear",
                        f"no line matching {pattern.describe()}",
                        repr(text),
                        _context(lines, index),
                        at("absent", number),
                    )
                )
                break
    return failures


def _check_gap(
    layer: str, lines: Sequence[TimedLine], pattern: LinePattern, previous: int | None, index: int, *, base_line: int
) -> list[Failure]:
    if pattern.gap_ms is None or previous is None:
        return []
    gap = (lines[index][0] - lines[previous][0]) / 1000
    if abs(gap - pattern.gap_ms) <= pattern.tolerance_ms:
        return []
    return [
        Failure(
            layer,
            f"time between {lines[previous][1]!r} and the next expected line",
            f"{pattern.gap_ms} ms (tolerance {pattern.tolerance_ms} ms)",
            f"{gap:.3f} ms",
            _context(lines, index),
            base_line,
        )
    ]


def check_sysfs(
    tree: MemoryTree, expected: Mapping[str, str | None], lines: Mapping[str, int] | None = None
) -> list[Failure]:
    found: dict[str, str | None] = {}
    for path in expected:
        relative = path.lstrip("/")
        if tree.link_at(relative) is not None:
            found[path] = tree.readlink_name(relative) or ""
        elif tree.exists(relative):
            content = (tree.read(relative) or b"").decode(errors="replace")
            found[path] = content[:-1] if content.endswith("\n") else content
        else:
            found[path] = None
    return check_values("sysfs", expected, found, lines, lambda path: _siblings(tree, path.lstrip("/")))


def check_values(
    layer: str,
    expected: Mapping[str, str | None],
    found: Mapping[str, str | None],
    lines: Mapping[str, int] | None = None,
    siblings: Callable[[str], list[str]] | None = None,
) -> list[Failure]:
    """Compare file values read somewhere (a rendered tree, a live guest): ``found`` holds each
    path's content without its trailing newline, a symlink's target name, or None when the path
    does not exist; an expected None means "must not exist". ``siblings(path)`` describes what
    is there instead of a missing file."""
    failures: list[Failure] = []
    for path, value in expected.items():
        line = (lines or {}).get(path, 0)
        actual = found.get(path)
        if value is None:
            if actual is not None:
                failures.append(Failure(layer, f"{path} does not exist", "no such file", "it exists", [], line))
            continue
        if actual is None:
            context = siblings(path) if siblings is not None else []
            failures.append(Failure(layer, f"{path}", repr(value), "no such file", context, line))
            continue
        if actual != value:
            failures.append(Failure(layer, f"{path}", repr(value), repr(actual), [], line))
    return failures


def _siblings(tree: MemoryTree, relative: str) -> list[str]:
    parent = relative.rsplit("/", 1)[0]
    names = sorted(
        {
            path[len(parent) + 1 :].split("/", 1)[0]
            for path in [*tree.files, *tree.links]
            if path.startswith(parent + "/")
        }
    )
    return [f"{parent}/ holds: {', '.join(names[:30])}"] if names else []
