"""What an imported ``lspci`` paste becomes: plain records a caller can inspect and serialise.

An :class:`ImportedPaste` holds one :class:`ImportedDevice` per PCI function found in the paste.
A device carries its address and IDs, a device description in the vocabulary of the device
library (the same keys and field names as ``fakesys/devices/*.yaml``, plain data), the bytes of a
hex dump when the paste had one, what the kernel showed about it outside config space (IRQ,
driver, IOMMU group, BAR sizes are in the description), every value the importer had to assume,
every disagreement between the decoded text and the hex, and the facts the text established
(each with the bits of config space it pins down, which is how text and hex are compared).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Reads the value a fact states from configuration-space bytes (the same quantity lspci printed).
Reader = Callable[[bytes], object]


@dataclass(frozen=True)
class Assumption:
    """A value the paste did not show and the importer chose; ``device`` is None for the paste."""

    device: str | None
    what: str
    value: str
    why: str
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.device}: " if self.device else ""
        return f"{where}{self.what} = {self.value} ({self.why})"


@dataclass(frozen=True)
class UnparsedLine:
    """A line the importer did not understand (prose, an unknown field, a broken line)."""

    line: int
    text: str
    reason: str
    device: str | None = None


@dataclass(frozen=True)
class Disagreement:
    """The decoded text and the hex dump of the same device say different things."""

    device: str
    field: str
    text_value: str
    hex_value: str
    line: int

    def __str__(self) -> str:
        return f"{self.device}: {self.field}: text says {self.text_value}, hex says {self.hex_value} (line {self.line})"


class Fact(NamedTuple):
    """One value the text established: where it lives in config space and how to read it back.

    ``bits`` lists (offset, width, mask) of the register bits the value occupies; ``reader``
    reads the same quantity from bytes, so that equivalent encodings (25 W as 25 x 1 W or
    250 x 0.1 W) compare equal. (A named tuple: a paste makes some ten thousand, and a frozen
    dataclass takes several times as long to make.)
    """

    path: str
    value: object
    line: int
    bits: tuple[tuple[int, int, int], ...]
    reader: Reader
    #: The value was assumed, not shown (a hex dump then corrects it; it is not a disagreement).
    assumed: bool = False


@dataclass
class HexDump:
    """Config-space bytes from ``lspci -x``/``-xxx``/``-xxxx`` lines; ``missing`` lists the
    16-byte rows the paste lost (a row cut by a mail client or an error message)."""

    data: bytearray = field(default_factory=bytearray)
    missing: set[int] = field(default_factory=set)
    line: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing and len(self.data) in (64, 256, 4096)

    def covers(self, offset: int, width: int) -> bool:
        if offset + width > len(self.data):
            return False
        return all(row not in self.missing for row in range(offset & ~0xF, offset + width, 16))


@dataclass
class ImportedDevice:
    """One PCI function of the paste."""

    bdf: str
    title: str
    line: int
    description: dict[str, Any]
    vendor_id: int | None = None
    device_id: int | None = None
    class_code: int | None = None
    revision: int | None = None
    subsystem: tuple[int, int] | None = None
    vendor_name: str | None = None
    device_name: str | None = None
    class_name: str | None = None
    subsystem_name: str | None = None
    #: Parent bridge from the ``-t`` tree or a ``-P``/``-PP`` path; None when not shown.
    parent: str | None = None
    hexdump: HexDump | None = None
    irq: int | None = None
    numa_node: int | None = None
    iommu_group: int | None = None
    driver: str | None = None
    modules: list[str] = field(default_factory=list)
    label: str | None = None
    physical_slot: str | None = None
    #: The paste shows ``Capabilities: <access denied>`` (lspci ran as a normal user): the
    #: capability lists are unknown, not empty.
    capabilities_unknown: bool = False
    #: "ok", or "dead" when lspci printed "!!! Unknown header type 7f" (config reads all-ones).
    condition: str = "ok"
    #: The decoded text was present (``-v`` or more), not only a title and hex.
    decoded: bool = False
    verbosity: int = 0
    facts: list[Fact] = field(default_factory=list)
    assumptions: list[Assumption] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def config(self) -> bytes | None:
        """The hex dump's bytes when the paste holds a whole one (64, 256 or 4096 bytes)."""
        if self.hexdump is None or not self.hexdump.complete:
            return None
        return bytes(self.hexdump.data)


@dataclass(frozen=True)
class TreeNode:
    """A function in an ``lspci -t`` tree: its address, parent bridge and the bus range a bridge
    forwards (``-[03]-`` or ``-[02-06]-``)."""

    bdf: str
    parent: str | None
    line: int
    secondary: int | None = None
    subordinate: int | None = None
    name: str = ""


@dataclass
class ImportedPaste:
    """Everything one paste yielded."""

    source: str
    devices: list[ImportedDevice] = field(default_factory=list)
    tree: list[TreeNode] = field(default_factory=list)
    commands: list[tuple[int, str]] = field(default_factory=list)
    unparsed: list[UnparsedLine] = field(default_factory=list)
    assumptions: list[Assumption] = field(default_factory=list)

    def device(self, bdf: str) -> ImportedDevice | None:
        for device in self.devices:
            if device.bdf == bdf:
                return device
        return None

    @property
    def all_assumptions(self) -> list[Assumption]:
        return [*self.assumptions, *(item for device in self.devices for item in device.assumptions)]

    @property
    def disagreements(self) -> list[Disagreement]:
        return [item for device in self.devices for item in device.disagreements]
