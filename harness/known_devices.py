"""The project-owned table of devices known to break on a reset or power transition.

The data lives in ``harness/data/known-devices.yaml`` (each entry cites its sources); this module
loads it once, checks its shape, and answers "is this vendor:device known to lose its link after a
bus reset, and does this kernel carry the fix?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

import yaml

LINK_DEAD_AFTER_BUS_RESET = "link_dead_after_bus_reset"
D3COLD_WAKE_FAILURE = "d3cold_wake_failure"
PROBLEM_KINDS = (LINK_DEAD_AFTER_BUS_RESET, D3COLD_WAKE_FAILURE)


class FixStatus(Enum):
    PRESENT = "present"
    ABSENT = "absent"  # no kernel has a fix, or this kernel's series is older than every fix
    UNKNOWN = "unknown"  # the kernel version could not be read, or falls between what was read


@dataclass(frozen=True)
class Problem:
    kind: str
    detail: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class KernelFix:
    quirk: str
    versions: tuple[tuple[int, int, int], ...]

    def status(self, kernel: tuple[int, ...] | None) -> FixStatus:
        """Whether a kernel of this version carries the fix.

        A listed version counts for its own stable series from that patch level on, and for
        every later series (a fix that reached mainline stays there)."""
        if kernel is None:
            return FixStatus.UNKNOWN
        major, minor, patch = (tuple(kernel) + (0, 0, 0))[:3]
        for fixed_major, fixed_minor, fixed_patch in self.versions:
            if (major, minor) == (fixed_major, fixed_minor):
                return FixStatus.PRESENT if patch >= fixed_patch else FixStatus.UNKNOWN
        newest = max(self.versions)
        if (major, minor) > newest[:2]:
            return FixStatus.PRESENT
        return FixStatus.ABSENT

    @property
    def versions_text(self) -> str:
        return ", ".join(".".join(str(part) for part in version) for version in self.versions)


@dataclass(frozen=True)
class KnownDevice:
    vendor: int
    device: int
    name: str
    problems: tuple[Problem, ...]
    kernel_fix: KernelFix | None

    @property
    def id_text(self) -> str:
        return f"{self.vendor:04x}:{self.device:04x}"

    def problem(self, kind: str) -> Problem | None:
        for problem in self.problems:
            if problem.kind == kind:
                return problem
        return None


class KnownDevicesError(ValueError):
    """The shipped table is malformed (a packaging or editing mistake, not a user error)."""


_ID = re.compile(r"^([0-9a-f]{4}):([0-9a-f]{4})$")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


def _parse_entry(index: int, entry: Any) -> KnownDevice:
    where = f"known-devices.yaml entry {index + 1}"
    if not isinstance(entry, dict):
        raise KnownDevicesError(f"{where}: expected a mapping")
    match = _ID.match(str(entry.get("id", "")))
    if match is None:
        raise KnownDevicesError(f"{where}: id must be 'vvvv:dddd' in lowercase hex")
    problems = []
    for item in entry.get("problems") or []:
        kind = item.get("kind")
        if kind not in PROBLEM_KINDS:
            raise KnownDevicesError(f"{where}: problem kind {kind!r} is not one of {', '.join(PROBLEM_KINDS)}")
        sources = tuple(str(source) for source in item.get("sources") or [])
        if not sources:
            raise KnownDevicesError(f"{where}: every problem needs at least one source")
        problems.append(Problem(kind, " ".join(str(item.get("detail", "")).split()), sources))
    fix = None
    raw_fix = entry.get("kernel_fix")
    if raw_fix:
        versions = []
        for text in raw_fix.get("versions") or []:
            version = _VERSION.match(str(text))
            if version is None:
                raise KnownDevicesError(f"{where}: kernel version {text!r} is not like 6.12.117")
            versions.append((int(version[1]), int(version[2]), int(version[3] or 0)))
        if not versions:
            raise KnownDevicesError(f"{where}: kernel_fix needs versions")
        fix = KernelFix(str(raw_fix.get("quirk", "")), tuple(versions))
    return KnownDevice(int(match[1], 16), int(match[2], 16), str(entry.get("name", "")), tuple(problems), fix)


@cache
def known_devices() -> dict[tuple[int, int], KnownDevice]:
    text = resources.files("harness").joinpath("data/known-devices.yaml").read_text(encoding="utf-8")
    entries = yaml.safe_load(text) or []
    if not isinstance(entries, list):
        raise KnownDevicesError("known-devices.yaml: expected a list of entries")
    table = {}
    for index, entry in enumerate(entries):
        device = _parse_entry(index, entry)
        table[(device.vendor, device.device)] = device
    return table


def lookup(vendor: int | None, device: int | None) -> KnownDevice | None:
    if vendor is None or device is None:
        return None
    return known_devices().get((vendor, device))
