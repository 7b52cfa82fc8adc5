"""A device as the hardware presents it: configuration space bytes, BARs and option ROM.

:class:`DeviceModel` is the static identity of one PCI function. What changes at run time (a
reset that kills the link, a power transition) is the business of ``fakesys.hw.behaviour``;
what the kernel caches about the device is the business of ``fakesys.kernel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fakesys.hw.ahci import AhciSpec
from harness.pci import regs
from harness.pci.config import ConfigSpace


class BarKind(StrEnum):
    IO = "io"
    MEMORY = "memory"


@dataclass(frozen=True)
class Bar:
    """One Base Address Register as assigned by firmware; ``size`` is None when not known
    (a hex dump carries no sizes: sizing needs writes)."""

    index: int
    kind: BarKind
    address: int
    size: int | None
    bits: int = 32
    prefetchable: bool = False
    #: The kernel holds the resource but the register reads zero (lspci prints [virtual]): the
    #: platform assigned it without programming the BAR (Intel LPSS functions, SR-IOV VFs).
    virtual: bool = False

    @property
    def flags(self) -> int:
        if self.kind is BarKind.IO:
            return regs.BAR_IO
        flags = regs.BAR_MEM_TYPE_64 if self.bits == 64 else 0
        return flags | (regs.BAR_MEM_PREFETCH if self.prefetchable else 0)

    @property
    def effective_size(self) -> int:
        """The size used where one must be shown: the known one, else the largest size the
        address alignment allows (at most 1 MiB), which is what a dump can tell."""
        if self.size is not None:
            return self.size
        if self.address == 0:
            return 16 if self.kind is BarKind.MEMORY else 4
        return min(self.address & -self.address, 1 << 20)


@dataclass(frozen=True)
class Rom:
    """The expansion ROM BAR and, when known, the image it exposes."""

    address: int
    size: int
    enabled: bool = False
    image: bytes = b""
    #: The kernel shows a ROM (a shadow copy at 0xc0000) the ROM BAR does not hold.
    virtual: bool = False


@dataclass
class DeviceModel:
    """Configuration space plus what is not in it (BAR sizes, ROM contents, provenance)."""

    name: str
    config: bytearray
    bars: list[Bar] = field(default_factory=list)
    rom: Rom | None = None
    title: str = ""
    sources: list[str] = field(default_factory=list)
    #: Behaviour entries ({name: ..., params}) the device always has (fakesys.hw.behaviour).
    behaviours: list[dict[str, Any]] = field(default_factory=list)
    #: The AHCI register file behind a BAR (an AHCI controller's ABAR), when the description
    #: gives one (fakesys.hw.ahci).
    ahci: AhciSpec | None = None

    @property
    def space(self) -> ConfigSpace:
        return ConfigSpace(self.config)

    @property
    def vendor_id(self) -> int:
        return regs.read_register(self.config, 0x00, 2)

    @property
    def device_id(self) -> int:
        return regs.read_register(self.config, 0x02, 2)

    @property
    def class_code(self) -> int:
        return regs.read_register(self.config, 0x09, 3)

    @property
    def revision(self) -> int:
        return regs.read_register(self.config, 0x08, 1)

    @property
    def is_bridge(self) -> bool:
        return self.config[0x0E] & 0x7F == regs.HEADER_LAYOUT_BRIDGE

    @property
    def subsystem(self) -> tuple[int, int]:
        """Subsystem IDs: header 0x2c for endpoints, the SSID capability for bridges."""
        if not self.is_bridge:
            return regs.read_register(self.config, 0x2C, 2), regs.read_register(self.config, 0x2E, 2)
        cap = self.space.find(regs.CAP_SUBSYSTEM)
        if cap is None:
            return 0, 0
        return (
            regs.read_register(self.config, cap.offset + 4, 2),
            regs.read_register(self.config, cap.offset + 6, 2),
        )

    def bar(self, index: int) -> Bar | None:
        for bar in self.bars:
            if bar.index == index:
                return bar
        return None

    def copy(self) -> DeviceModel:
        return DeviceModel(
            self.name,
            bytearray(self.config),
            list(self.bars),
            self.rom,
            self.title,
            list(self.sources),
            [dict(entry) for entry in self.behaviours],
            self.ahci,
        )
