"""Checking a scenario's ``expect: generator:`` entries: run the config generator on the root
after the steps, per target and devices, and compare its output (lines that must appear in
order, lines that must not) and whether it refused.

When the generator refuses (a device fails the checker and ``force`` is off), ``lines`` and
``absent`` apply to what it offers instead (the ways round each refused device's failure family,
then the raw-disk fallback), and ``reasons`` to the reasons it gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.checker import CheckReport
from harness.errors import VfiolabError
from harness.pci.address import Bdf
from harness.scenario.expect import Failure, LinePattern, closest_line

LAYER = "generator"
LineOf = Callable[..., int]
#: Proxmox's first ordinary VM ID, the generator's default too.
DEFAULT_VMID = 100


def _numbered(lines: Sequence[str], around: int | None = None, radius: int = 3) -> list[str]:
    """Output lines with their numbers, all of them or those around one line."""
    if around is None:
        start, stop = 0, min(len(lines), 12)
    else:
        start, stop = max(0, around - radius), min(len(lines), around + radius + 1)
    shown = [
        ("> " if number == around else "  ") + f"{number + 1:4d} | {lines[number]}" for number in range(start, stop)
    ]
    if around is None and len(lines) > stop:
        shown.append(f"     ({len(lines) - stop} more lines)")
    return shown


def check_generator(
    root: Path, entries: Sequence[Mapping[str, Any]], line_of: LineOf, report: CheckReport | None = None
) -> list[Failure]:
    """Every way the generator's output on ``root`` differs from the ``expect.generator`` list;
    ``report`` is the checker's report of the same root, when there is one."""
    try:
        # Imported here: scenarios without generator expectations must not need the generator.
        from harness.generate import GenerateOptions, GenerateRefused, generate
    except ImportError as error:
        return [
            Failure(LAYER, "the generator can be imported", "harness.generate", f"ImportError: {error}", [], line_of())
        ]
    failures: list[Failure] = []
    for index, entry in enumerate(entries):
        devices = [str(Bdf.parse(text)) for text in entry["devices"]]
        label = f"{entry['target']} for {', '.join(devices)}"
        options = GenerateOptions(vmid=entry.get("vmid", DEFAULT_VMID), force=entry.get("force", False))
        reasons: list[str] | None = None
        try:
            text = _text_of(generate(entry["target"], root, devices, options, report))
        except GenerateRefused as refusal:
            reasons = list(refusal.reasons)
            text = _text_of(refusal.alternative)
            if refusal.offers:
                text = "\n".join([*refusal.offers, text or ""])
        except VfiolabError as error:
            failures.append(Failure(LAYER, label, "generated output", f"error: {error}", [], line_of(index)))
            continue
        lines = text.splitlines() if text is not None else None
        failures += _check_entry(label, entry, reasons, lines, lambda *at, i=index: line_of(i, *at))
    return failures


def _text_of(output: object) -> str | None:
    """The text of generated output, or of the alternative a refusal offers (text or output)."""
    if output is None or isinstance(output, str):
        return output
    render = getattr(output, "text", None)
    return str(render()) if callable(render) else str(output)


def _check_entry(
    label: str, entry: Mapping[str, Any], reasons: list[str] | None, lines: list[str] | None, line_of: LineOf
) -> list[Failure]:
    wanted_refusal = bool(entry.get("refused", False))
    if wanted_refusal and reasons is None:
        return [
            Failure(
                LAYER,
                f"{label} is refused",
                "a refusal (the checker fails a device)",
                "it generated output",
                _numbered(lines or []),
                line_of("refused"),
            )
        ]
    if not wanted_refusal and reasons is not None:
        return [
            Failure(
                LAYER,
                f"{label} generates output",
                "output",
                "refused",
                ["reasons:", *(f"  {reason}" for reason in reasons)],
                line_of(),
            )
        ]
    failures: list[Failure] = []
    for number, item in enumerate(entry.get("reasons", [])):
        pattern = LinePattern.parse(item)
        if not any(pattern.matches(reason) for reason in reasons or []):
            failures.append(
                Failure(
                    LAYER,
                    f"a reason {label} is refused",
                    pattern.describe(),
                    "no such reason",
                    ["reasons:", *(f"  {reason}" for reason in reasons or [])],
                    line_of("reasons", number),
                )
            )
    wants_text = bool(entry.get("lines") or entry.get("absent"))
    if lines is None:
        if wants_text:
            failures.append(
                Failure(LAYER, f"output of {label}", "an alternative to check lines in", "none offered", [], line_of())
            )
        return failures
    position = 0
    for number, item in enumerate(entry.get("lines", [])):
        pattern = LinePattern.parse(item)
        found = next((index for index in range(position, len(lines)) if pattern.matches(lines[index])), None)
        if found is None:
            near = closest_line(lines, pattern, position)
            failures.append(
                Failure(
                    LAYER,
                    f"line {number + 1} of the expected output of {label} (in order)",
                    pattern.describe(),
                    "no such line after the previous match"
                    + (f"; nearest: {lines[near]!r}" if lines else "; the output is empty"),
                    _numbered(lines, near) if lines else [],
                    line_of("lines", number),
                )
            )
            break
        position = found + 1
    for number, item in enumerate(entry.get("absent", [])):
        pattern = LinePattern.parse(item)
        hit = next((index for index, text in enumerate(lines) if pattern.matches(text)), None)
        if hit is not None:
            failures.append(
                Failure(
                    LAYER,
                    f"a line that must not appear in the output of {label}",
                    f"no line matching {pattern.describe()}",
                    repr(lines[hit]),
                    _numbered(lines, hit),
                    line_of("absent", number),
                )
            )
    return failures
