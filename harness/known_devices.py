"""The project-owned table of devices known to break on a reset, a power transition, or in
their DMA and isolation behaviour, and the kernel quirks that address each problem.

The source is ``harness/data/known-devices.yaml`` (each problem cites its public sources or the
kernel quirk entries, :mod:`harness.quirks`, that name the device);
:mod:`harness.datatables` compiles it into ``harness/data/known-devices.json``, which this module
loads on first use. Whether a kernel carries the fix for a problem is a question for the quirk
entries the problem names (:meth:`Problem.quirks`, :meth:`harness.quirks.QuirkEntry.carried_by`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from harness.packaged import packaged_text

if TYPE_CHECKING:
    from harness.quirks import QuirkEntry

LINK_DEAD_AFTER_BUS_RESET = "link_dead_after_bus_reset"
D3COLD_WAKE_FAILURE = "d3cold_wake_failure"
FLR_BREAKS_DEVICE = "flr_breaks_device"
NOT_READY_AFTER_FLR = "not_ready_after_flr"
DMA_ALIAS = "dma_alias"
#: Problem kinds, each with the kinds of kernel quirk that address it (harness/quirks.py KINDS).
PROBLEM_KINDS: dict[str, tuple[str, ...]] = {
    # after a secondary bus reset the link does not come back (config space reads all-ones)
    LINK_DEAD_AFTER_BUS_RESET: ("no_bus_reset",),
    # the device does not come back from D3cold (the power check reports it)
    D3COLD_WAKE_FAILURE: ("d3cold",),
    # FLR hangs or kills the device although it advertises it
    FLR_BREAKS_DEVICE: ("no_flr",),
    # the device needs time after FLR before it answers
    NOT_READY_AFTER_FLR: ("flr_delay",),
    # only a device-specific reset works
    "needs_device_specific_reset": ("device_specific_reset",),
    # the PM reset (D3hot and back) does not reset it
    "pm_reset_ineffective": ("no_pm_reset",),
    # D3 (or D3cold, or a short D3cold delay) breaks it or the devices below it
    "d3_breaks_device": ("d3cold",),
    # its DMA carries another requester ID (phantom functions, bridges, NTB), which the IOMMU
    # must be told about and which joins IOMMU groups
    DMA_ALIAS: ("dma_alias",),
    # no usable ACS capability: the kernel counts it as isolating only through a quirk, so IOMMU
    # groups below it depend on the kernel version
    "acs_by_quirk": ("acs",),
}
PROBLEM_KIND_NAMES = tuple(PROBLEM_KINDS)
DATA_FILE = "data/known-devices.json"


@dataclass(frozen=True)
class Problem:
    """One way a known device breaks, and the kernel quirks that address it."""

    kind: str
    detail: str
    sources: tuple[str, ...]
    #: Ids of the kernel quirk entries that address it (harness/data/quirks).
    quirk_ids: tuple[str, ...] = ()

    def quirks(self) -> list[QuirkEntry]:
        """The kernel quirk entries that address this problem."""
        if not self.quirk_ids:
            return []
        from harness.quirks import tables

        found = [tables().get(name) for name in self.quirk_ids]
        return [entry for entry in found if entry is not None]


@dataclass(frozen=True)
class KnownDevice:
    """A device the table knows, with its problems."""

    vendor: int
    device: int
    name: str
    problems: tuple[Problem, ...]

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


def _device(entry: dict[str, Any]) -> KnownDevice:
    vendor, device = entry["id"].split(":")
    problems = tuple(
        Problem(item["kind"], item["detail"], tuple(item["sources"]), tuple(item.get("quirks", ())))
        for item in entry["problems"]
    )
    return KnownDevice(int(vendor, 16), int(device, 16), entry["name"], problems)


#: How each device line of the shipped JSON starts (harness.datatables.render writes one entry of
#: ``devices`` per line): ``{"id":"1b21:0612",``.
_LINE_START = '{"id":"'
_ID_END = len(_LINE_START) + len("vvvv:dddd")


@cache
def _raw_table() -> dict[tuple[int, int], str]:
    """Each shipped entry's JSON text by (vendor, device). A check looks up every device of the
    host and finds few: only the entries found are parsed, not the whole table."""
    text = packaged_text("harness", DATA_FILE)
    lines: dict[tuple[int, int], str] = {}
    try:
        for line in text.splitlines():
            if line.startswith(_LINE_START) and line[_ID_END : _ID_END + 2] == '",':
                lines[int(line[7:11], 16), int(line[12:16], 16)] = line.rstrip(",")
    except ValueError as error:
        raise KnownDevicesError(f"{DATA_FILE}: malformed ({error}); rebuild it: python -m harness.datatables") from None
    if not lines:
        raise KnownDevicesError(f"{DATA_FILE}: no device lines; rebuild it: python -m harness.datatables")
    return lines


@cache
def _built(key: tuple[int, int]) -> KnownDevice | None:
    line = _raw_table().get(key)
    if line is None:
        return None
    try:
        return _device(json.loads(line))
    except (KeyError, TypeError, ValueError) as error:
        raise KnownDevicesError(f"{DATA_FILE}: {line[:40]}: malformed ({error})") from None


def known_devices() -> dict[tuple[int, int], KnownDevice]:
    """The whole shipped table, by (vendor, device)."""
    return {key: device for key in _raw_table() if (device := _built(key)) is not None}


def lookup(vendor: int | None, device: int | None) -> KnownDevice | None:
    if vendor is None or device is None:
        return None
    return _built((vendor, device))
