"""The Linux kernel's PCI quirk tables that matter for passthrough, as data, and what a given
kernel carries of them.

The tables are kept in ``harness/data/quirks/*.yaml`` (one file per kind, plus the trees read,
the quirk functions and the upstream changes; every entry cites the kernel file and line in
each tree read, and its change the commit, first release and backports with their evidence).
:mod:`harness.datatables` compiles them into ``harness/data/quirks.json``, which this module
loads on first use (JSON parses in milliseconds; the YAML would take the checker's whole
start-up budget) and indexes by vendor:device, with the few ID ranges and class matches kept
apart. Whether a kernel carries an entry is :func:`harness.kernels.carries`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from typing import Any

from harness.kernels import Answer, BranchEvent, Flavour, History, Kernel, TreeRead, carries
from harness.packaged import packaged_text

#: Quirk kinds, one data file each (harness/data/quirks/<kind>.yaml).
KINDS = (
    "no_flr",
    "flr_delay",
    "device_specific_reset",
    "no_bus_reset",
    "no_pm_reset",
    "d3cold",
    "d3hot_delay",
    "dma_alias",
    "acs",
    "other",
)
DATA_FILE = "data/quirks.json"
ANY_DEVICE = -1


def _series(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    major, minor = text.split(".")
    return int(major), int(minor)


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = text.split(".")
    return int(major), int(minor), int(patch)


@dataclass(frozen=True)
class Function:
    """A quirk function of drivers/pci/quirks.c and what it does to a device."""

    name: str
    kind: str
    #: What it does to the device, in passthrough terms.
    effect: str
    #: What else must hold for it to act (a DMI match, a subsystem, a port type), if anything.
    condition: str | None


@dataclass(frozen=True)
class Change:
    """The upstream change (one commit) that added quirk entries."""

    name: str
    commit_id: str | None
    subject: str | None
    first_release: tuple[int, int] | None
    never_released: bool
    backports: Mapping[tuple[int, int], tuple[BranchEvent, ...]]
    not_before: date | None
    evidence: tuple[str, ...]
    notes: str | None

    def describe(self) -> str:
        """``commit beb2f81792a8 "PCI: Mark ASM1164 SATA controller to avoid bus reset"``."""
        parts = []
        if self.commit_id:
            parts.append(f"commit {self.commit_id[:12]}")
        if self.subject:
            parts.append(f'"{self.subject}"')
        if self.first_release:
            parts.append(f"(mainline {self.first_release[0]}.{self.first_release[1]})")
        return " ".join(parts) or f"change {self.name} (commit not found)"


@dataclass(frozen=True)
class QuirkEntry:
    """One (quirk function, device) entry of the kernel's tables."""

    id: str
    vendor: int
    #: The device ID, or :data:`ANY_DEVICE` (PCI_ANY_ID); None for a range.
    device: int | None
    device_range: tuple[int, int] | None
    #: (value, shift): the entry matches only where ``class_code >> shift == value``.
    class_match: tuple[int, int] | None
    #: (mask, value): a PCI_ANY_ID narrowed inside the function to ``device & mask == value``.
    device_mask: tuple[int, int] | None
    #: A PCI_ANY_ID dispatch line that acts only on the devices listed as entries of this table;
    #: it matches no device by itself.
    match_via: str | None
    function: Function
    table: str | None
    detail: str | None
    #: Tree label -> ``file:line`` in that tree, for every tree read that carries it.
    lines: Mapping[str, str]
    change: Change
    trees: tuple[TreeRead, ...]

    @property
    def kind(self) -> str:
        return self.function.kind

    @property
    def device_text(self) -> str:
        """``1164``, ``any`` or ``a000-a7ff``, as in the entry's id."""
        return self.id.split(":")[2]

    def matches(self, vendor: int, device: int, class_code: int | None = None) -> bool:
        if vendor != self.vendor or self.match_via is not None:
            return False
        if self.device_mask is not None and device & self.device_mask[0] != self.device_mask[1]:
            return False
        if self.device_range is not None:
            low, high = self.device_range
            if not low <= device <= high:
                return False
        elif self.device not in (device, ANY_DEVICE):
            return False
        if self.class_match is None:
            return True
        value, shift = self.class_match
        return class_code is not None and class_code >> shift == value

    @cached_property
    def history(self) -> History:
        by_label = {tree.label: tree for tree in self.trees}
        return History(
            present_in={by_label[label]: where for label, where in self.lines.items()},
            absent_in=tuple(tree for tree in self.trees if tree.label not in self.lines),
            first_release=self.change.first_release,
            commit=self.change.commit_id,
            never_released=self.change.never_released,
            backports=self.change.backports,
            not_before=self.change.not_before,
        )

    def carried_by(self, kernel: Kernel | None) -> Answer:
        """PRESENT, ABSENT or COULD_NOT_JUDGE for this entry in ``kernel``, with the reason."""
        return carries(self.history, kernel)

    @property
    def source(self) -> str:
        """Where it was read: ``drivers/pci/quirks.c:3826 in Debian linux-source-6.12 6.12.118-1``
        (the newest tree that carries it), else its change."""
        for tree in reversed(self.trees):
            where = self.lines.get(tree.label)
            if where is not None:
                return f"{where} in {tree.describe()}"
        return self.change.describe()

    def carriers_text(self) -> str:
        """The kernels known to carry it: ``mainline 5.8 and later; stable 6.1.165+, 6.12.75+;
        read in Debian 6.12.118-1, 7.2.13-1``."""
        parts = []
        if self.change.first_release is not None:
            parts.append("mainline {}.{} and later".format(*self.change.first_release))
        added = [
            ".".join(str(part) for part in events[0].version) + "+"
            for _, events in sorted(self.change.backports.items())
            if events and events[0].added and events[-1].added
        ]
        if added:
            parts.append(f"stable {', '.join(added)}")
        read = [tree.package for tree in self.trees if tree.label in self.lines]
        if read:
            parts.append(f"read in Debian {', '.join(read)}")
        return "; ".join(parts) or "no kernel read carries it"

    def cite(self) -> str:
        """The entry, where it was read, and its change, for a finding's why."""
        return (
            f"{self.function.name} for {self.vendor:04x}:{self.device_text} ({self.source}; {self.change.describe()})"
        )


class QuirkTables:
    """Every entry, indexed for lookup by device. Entries are built from the document when
    first asked for: a check looks up a handful of devices, not all 573 entries."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.trees = tuple(_tree(item) for item in document["trees"])
        self._functions: Mapping[str, Any] = document["functions"]
        self._changes: Mapping[str, Any] = document["changes"]
        self._raw: dict[str, Mapping[str, Any]] = {}
        self._by_device: dict[tuple[int, int], list[str]] = {}
        self._by_vendor: dict[int, list[str]] = {}
        self._built: dict[str, QuirkEntry] = {}
        for item in document["entries"]:
            self._raw[item["id"]] = item
            vendor = int(item["vendor"], 16)
            device = item.get("device")
            if device is not None and device != "any":
                self._by_device.setdefault((vendor, int(device, 16)), []).append(item["id"])
            else:
                # Ranges and PCI_ANY_ID matches: a few dozen, looked through per vendor.
                self._by_vendor.setdefault(vendor, []).append(item["id"])

    @cached_property
    def functions(self) -> dict[str, Function]:
        return {
            name: Function(name, item["kind"], item["effect"], item.get("condition"))
            for name, item in self._functions.items()
        }

    @cached_property
    def changes(self) -> dict[str, Change]:
        return {name: _change(name, item) for name, item in self._changes.items()}

    def get(self, entry_id: str) -> QuirkEntry | None:
        entry = self._built.get(entry_id)
        if entry is None:
            item = self._raw.get(entry_id)
            if item is None:
                return None
            entry = self._built[entry_id] = self._entry(item)
        return entry

    @property
    def ids(self) -> list[str]:
        return list(self._raw)

    @cached_property
    def entries(self) -> list[QuirkEntry]:
        """Every entry, in file order (builds them all)."""
        return [entry for entry in map(self.get, self._raw) if entry is not None]

    @cached_property
    def by_id(self) -> dict[str, QuirkEntry]:
        return {entry.id: entry for entry in self.entries}

    def _entry(self, item: Mapping[str, Any]) -> QuirkEntry:
        device_text = item.get("device")
        device = None
        if device_text == "any":
            device = ANY_DEVICE
        elif device_text is not None:
            device = int(device_text, 16)
        low_high = item.get("device_range")
        device_range = (int(low_high[0], 16), int(low_high[1], 16)) if low_high else None
        class_item = item.get("class")
        class_match = (int(class_item["value"], 16), int(class_item["shift"])) if class_item else None
        mask = item.get("device_mask")
        return QuirkEntry(
            id=item["id"],
            vendor=int(item["vendor"], 16),
            device=device,
            device_range=device_range,
            class_match=class_match,
            device_mask=(int(mask[0], 16), int(mask[1], 16)) if mask else None,
            match_via=item.get("match_via"),
            function=self.functions[item["function"]],
            table=item["table"],
            detail=item.get("detail"),
            lines=item["lines"],
            change=self.changes[item["change"]],
            trees=self.trees,
        )

    def for_device(
        self, vendor: int | None, device: int | None, class_code: int | None = None, kinds: Iterable[str] = KINDS
    ) -> list[QuirkEntry]:
        """The entries that name this device (by ID, ID range, or vendor and class)."""
        if vendor is None or device is None:
            return []
        wanted = set(kinds)
        candidates = [*self._by_device.get((vendor, device), ()), *self._by_vendor.get(vendor, ())]
        found = []
        for entry_id in candidates:
            entry = self.get(entry_id)
            if entry is not None and entry.kind in wanted and entry.matches(vendor, device, class_code):
                found.append(entry)
        return found

    def of_kind(self, kind: str) -> list[QuirkEntry]:
        return [entry for entry in self.entries if entry.kind == kind]


def _tree(item: Mapping[str, Any]) -> TreeRead:
    return TreeRead(
        label=item["label"],
        flavour=Flavour(item["distribution"]),
        package=item["version"],
        version=_version(item["upstream"]),
        source_package=item["package"],
    )


def _change(name: str, item: Mapping[str, Any]) -> Change:
    backports = {}
    for branch, events in item["backports"].items():
        ordered = sorted(events, key=lambda event: (_version(event["version"]), event["change"] == "reverted"))
        backports[_series(branch) or (0, 0)] = tuple(
            BranchEvent(_version(event["version"]), event["change"] == "added", event["evidence"]) for event in ordered
        )
    not_before = item["not_before"]
    commit = item["commit"]
    return Change(
        name=name,
        commit_id=commit["id"],
        subject=commit["subject"],
        first_release=_series(item["first_release"]),
        never_released=item["never_released"],
        backports=backports,
        not_before=date.fromisoformat(not_before["date"]) if not_before else None,
        evidence=tuple(item["evidence"]),
        notes=item["notes"],
    )


def judge(entries: Iterable[QuirkEntry], kernel: Kernel | None) -> Answer:
    """Whether ``kernel`` carries the fix that several entries make together (one device named by
    more than one quirk line): one present is enough; else one not judged leaves it not judged;
    else the first entry's absence."""
    answers = [entry.carried_by(kernel) for entry in entries]
    present = next((item for item in answers if item.present), None)
    return present or next((item for item in answers if item.unknown), answers[0])


def load_document() -> dict[str, Any]:
    """The compiled tables as shipped (``harness/data/quirks.json``)."""
    text = packaged_text("harness", DATA_FILE)
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def tables() -> QuirkTables:
    """The shipped tables, loaded on first use."""
    return QuirkTables(load_document())


def for_device(
    vendor: int | None, device: int | None, class_code: int | None = None, kinds: Iterable[str] = KINDS
) -> list[QuirkEntry]:
    return tables().for_device(vendor, device, class_code, kinds)
