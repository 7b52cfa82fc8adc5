"""What an import produces before it is written: a host draft, device files, what was assumed.

A :class:`HostDraft` is the ``host:`` mapping of the scenario to be written (plain data in the
host description format, ``fakesys/host/host.schema.json``), the device descriptions it names
(:class:`DeviceFile`, one per distinct device), and every value the importer had to choose
(:class:`Assumption`) or could not carry over (:class:`Note`), each saying where it comes from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.pci.address import Bdf
from harness.scenario.importer.dmesg import LogEntry

if TYPE_CHECKING:
    from fakesys.hw.model import DeviceModel


def short_bdf(bdf: Bdf | str) -> str:
    """``03:00.0`` in domain 0, the full address elsewhere (as shipped scenarios write them)."""
    text = str(bdf)
    return text[5:] if text.startswith("0000:") else text


@dataclass(frozen=True)
class Assumption:
    """A value no source showed and the importer chose. ``subject`` is a device address or a
    part of the host (``kernel``, ``topology``); ``where`` the source and line it concerns."""

    subject: str
    what: str
    value: str
    why: str
    where: str = ""

    def __str__(self) -> str:
        place = f" [{self.where}]" if self.where else ""
        return f"{self.subject}: {self.what} = {self.value} ({self.why}){place}"


@dataclass(frozen=True)
class Note:
    """Something the import left out or found different, which is not an assumed value: a file
    not carried over, a disagreement between sources, what the simulated kernel does otherwise."""

    subject: str
    text: str
    where: str = ""

    def __str__(self) -> str:
        place = f" [{self.where}]" if self.where else ""
        return f"{self.subject}: {self.text}{place}"


@dataclass
class DeviceFile:
    """One device description to write as ``devices/NAME.yaml``.

    ``expected`` holds the bytes the description must encode to (a whole dump or the captured
    config space; for a 64-byte dump its 64 bytes), ``bar_sizes`` the BAR sizes by index that must
    come back; :func:`harness.scenario.importer.devices.verify` checks both on the written file.
    """

    name: str
    description: dict[str, Any]
    functions: list[str] = field(default_factory=list)
    expected: bytes | None = None
    bar_sizes: dict[int, int] = field(default_factory=dict)
    #: Where the description comes from (a file and line, a captured root's path).
    source: str = ""
    #: What decoded text showed, as (path, value, reader of config bytes): checked on the written
    #: file when there are no bytes to compare.
    facts: list[tuple[str, object, Callable[[bytes], object]]] = field(default_factory=list)
    #: The file's text once written (it does not change while the scenario is staged).
    text: str | None = None
    #: The description without provenance, as compared to find the same device again (made once
    #: it is added: only its provenance changes afterwards).
    identity: str | None = field(default=None, repr=False, compare=False)
    #: The description's encoding when it was added (name and sources are the file's at staging:
    #: :func:`harness.scenario.importer.devices.staged_model`).
    model: DeviceModel | None = field(default=None, repr=False, compare=False)


@dataclass
class ExpectedLine:
    """A kernel log line worth an expectation, with why it was picked."""

    text: str
    why: str
    where: str = ""


@dataclass
class HostDraft:
    """A host being imported: the ``host:`` data, its device files, and what had to be chosen."""

    host: dict[str, Any] = field(default_factory=dict)
    devices: list[DeviceFile] = field(default_factory=list)
    assumptions: list[Assumption] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    #: Where the host came from, one line per source (the scenario's comments cite them).
    sources: list[str] = field(default_factory=list)
    #: IOMMU groups the source showed: number -> member addresses (for the comparison).
    captured_groups: dict[int, list[str]] = field(default_factory=dict)
    #: Kernel log lines worth an expectation (written as comments).
    expected_lines: list[ExpectedLine] = field(default_factory=list)
    #: Checker verdicts on the source root itself: address -> (verdict, finding codes).
    checker: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: The kernel log lines the sources hold, with where each source's log is; the ones the
    #: simulated kernel writes itself are dropped when the host is booted (``stage``).
    log: list[tuple[str, LogEntry]] = field(default_factory=list)
    #: What a captured root shows of each function's state after boot (address -> value), for the
    #: comparison with the simulated kernel's boot.
    captured_config: dict[str, bytes] = field(default_factory=dict)
    captured_power: dict[str, str] = field(default_factory=dict)
    captured_irq: dict[str, int] = field(default_factory=dict)
    captured_reset: dict[str, list[str]] = field(default_factory=dict)
    #: How the simulated kernel's IOMMU groups compare with the captured ones, in words.
    group_summary: list[str] = field(default_factory=list)

    def assume(self, subject: str, what: str, value: str, why: str, where: str = "") -> None:
        self.assumptions.append(Assumption(subject, what, value, why, where))

    def note(self, subject: str, text: str, where: str = "") -> None:
        self.notes.append(Note(subject, text, where))
