"""A device in operation: the registers the simulated hardware answers with.

:class:`Device` holds the live copy of a model's configuration space and answers config reads
and writes the way the hardware would. A device whose link is gone (``alive`` false) answers
every read with all-ones and drops writes, which is what a root port returns for a
non-responding device (a completion timeout or unsupported request ends as ~0).

Only register-level knowledge lives here; what the kernel caches or decides belongs to
``fakesys.kernel``.
"""

from __future__ import annotations

from fakesys.hw.model import DeviceModel
from harness.pci import regs
from harness.pci.config import ConfigSpace


class Device:
    """Configuration registers of one function, as the bus sees them."""

    def __init__(self, model: DeviceModel) -> None:
        self.model = model
        self.registers = bytearray(model.config)
        self.alive = True

    @property
    def size(self) -> int:
        return len(self.registers)

    def read(self, offset: int, width: int) -> int:
        if not self.alive:
            return (1 << (8 * width)) - 1
        return regs.read_register(self.registers, offset, width)

    def read_block(self, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes ``offset .. offset+length`` as a sysfs ``config`` read returns them."""
        end = self.size if length is None else min(self.size, offset + length)
        if not self.alive:
            return b"\xff" * max(0, end - offset)
        return bytes(self.registers[offset:end])

    def write(self, offset: int, width: int, value: int) -> None:
        if not self.alive:
            return
        regs.write_register(self.registers, offset, width, value)

    def update_field(self, structure: regs.Structure, base: int, register: str, field: str, raw: int) -> None:
        """Set one named field (the kernel model's way of writing control bits)."""
        spec = structure.register(register)
        current = self.read(base + spec.offset, spec.width)
        self.write(base + spec.offset, spec.width, spec.field(field).put(current, raw))

    def space(self) -> ConfigSpace:
        """The registers as a reader sees them now (all-ones when the link is gone)."""
        return ConfigSpace(self.read_block())
