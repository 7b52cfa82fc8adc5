"""A device in operation: the registers the simulated hardware answers with, and its events.

:class:`Device` holds the live configuration space of one function and applies config writes
the way hardware does: read-only fields keep their value, write-1-to-clear status bits clear, and
some writes are events (a PMCSR power-state change, Initiate Function Level Reset, a bridge's
Secondary Bus Reset bit, a port's Retrain Link bit). Resets return the registers to their
power-on values. Behaviours (:mod:`fakesys.hw.behaviour`) hook into reads and events to model
hardware that misbehaves.

A device whose link is gone, or that is still busy after a reset, answers every read with
all-ones and drops writes: that is what a root port returns for a function that does not answer
(an unsupported request or completion timeout ends as ~0).

Only register-level knowledge lives here; nothing about sysfs or the kernel.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from fakesys.clock import VirtualClock
from fakesys.hw.ahci import AhciHba
from fakesys.hw.model import BarKind, DeviceModel
from harness.pci import regs
from harness.pci.config import ConfigSpace

if TYPE_CHECKING:
    from fakesys.hw.behaviour import Behaviour


class ResetKind(StrEnum):
    """Why a function's registers return to their power-on values."""

    FLR = "flr"
    PM = "pm"  # D3hot -> D0 with No_Soft_Reset clear
    SECONDARY_BUS = "secondary_bus"
    POWER_CYCLE = "power_cycle"  # power removed (D3cold) and restored


PM_STATE_NAMES = {0: "D0", 1: "D1", 2: "D2", 3: "D3hot"}


class Device:
    """Configuration registers of one function, as the bus sees them."""

    def __init__(
        self,
        model: DeviceModel,
        clock: VirtualClock | None = None,
        behaviours: list[Behaviour] | None = None,
    ) -> None:
        self.model = model
        self.clock = clock or VirtualClock()
        self.registers = bytearray(model.config)
        self.alive = True
        self.not_ready_until_us = 0
        self.behaviours: list[Behaviour] = []
        # Physical wiring: a bridge's secondary bus, and the port above a device.
        self.downstream: list[Device] = []
        self.upstream: Device | None = None
        self.link_up = True
        space = model.space
        express = space.express()
        pm = space.power_management()
        self.express_offset = express.offset if express is not None else 0
        self.pm_offset = pm.offset if pm is not None else 0
        self._rw = bytearray(len(self.registers))
        self._w1c = bytearray(len(self.registers))
        self._build_write_masks(space)
        self._power_on_image = self._initial_image()
        #: Register files behind BARs (BAR index: registers), reset with the function.
        self.mmio: dict[int, AhciHba] = {model.ahci.bar: AhciHba(model.ahci)} if model.ahci is not None else {}
        for behaviour in behaviours or []:
            self.add_behaviour(behaviour)

    # --- Construction ------------------------------------------------------------------------

    def add_behaviour(self, behaviour: Behaviour) -> None:
        self.behaviours.append(behaviour)
        behaviour.attach(self)

    def _allow(self, offset: int, width: int, mask: int, w1c: int = 0) -> None:
        for index in range(width):
            if offset + index < len(self._rw):
                self._rw[offset + index] |= (mask >> (8 * index)) & 0xFF
                self._w1c[offset + index] |= (w1c >> (8 * index)) & 0xFF

    def _build_write_masks(self, space: ConfigSpace) -> None:
        """Which bits software may change (RW) or clear by writing 1 (RW1C)."""
        bridge = self.model.is_bridge
        self._allow(0x04, 2, 0x07FF)  # command
        self._allow(0x06, 2, 0, w1c=0xF900)  # status error bits
        self._allow(0x0C, 2, 0xFFFF)  # cache line size, latency timer
        self._allow(0x3C, 1, 0xFF)  # interrupt line
        for bar in self.model.bars:
            offsets = regs.BAR_OFFSETS_TYPE1 if bridge else regs.BAR_OFFSETS_TYPE0
            size = bar.effective_size
            if bar.kind is BarKind.IO:
                self._allow(offsets[bar.index], 4, ~(size - 1) & regs.BAR_IO_ADDRESS_MASK)
            else:
                self._allow(offsets[bar.index], 4, ~(size - 1) & regs.BAR_MEM_ADDRESS_MASK)
                if bar.bits == 64:
                    self._allow(offsets[bar.index + 1], 4, 0xFFFFFFFF)
        if self.model.rom is not None:
            rom_offset = regs.ROM_BAR_TYPE1 if bridge else regs.ROM_BAR_TYPE0
            self._allow(rom_offset, 4, (~(self.model.rom.size - 1) & regs.ROM_ADDRESS_MASK) | regs.ROM_ENABLE)
        if bridge:
            self._allow(0x18, 4, 0xFFFFFFFF)  # bus numbers, secondary latency
            self._allow(0x1C, 2, 0xF0F0)  # I/O base/limit
            self._allow(0x1E, 2, 0, w1c=0xF900)  # secondary status
            self._allow(0x20, 16, (1 << 128) - 1)  # memory and prefetchable windows
            self._allow(0x30, 4, 0xFFFFFFFF)  # I/O upper halves
            self._allow(0x3E, 2, 0x0FFF)  # bridge control
        for cap in space.capabilities():
            self._allow_capability(cap.cap_id, cap.offset)
        for cap in space.extended_capabilities():
            self._allow_extended(cap.cap_id, cap.offset)

    def _allow_capability(self, cap_id: int, base: int) -> None:
        if cap_id == regs.CAP_PM:
            self._allow(base + 4, 2, 0x1F03, w1c=0x8000)  # state, PME enable, data select; PME status
        elif cap_id == regs.CAP_MSI:
            control = regs.read_register(self.registers, base + 2, 2)
            self._allow(base + 2, 2, 0x0071)  # enable, multiple message enable
            length = (14 if control & 0x80 else 10) + (10 if control & 0x100 else 0)
            end = length - (4 if control & 0x100 else 0)  # pending bits are read-only
            self._allow(base + 4, end - 4, (1 << (8 * (end - 4))) - 1)
        elif cap_id == regs.CAP_MSIX:
            self._allow(base + 2, 2, 0xC000)
        elif cap_id == regs.CAP_EXPRESS:
            port = self._port_type() in (4, 6)
            self._allow(base + 0x08, 2, 0x7FFF if port or self.model.is_bridge else 0xFFFF)  # devctl (+FLR)
            self._allow(base + 0x0A, 2, 0, w1c=0x000F)  # devsta
            self._allow(base + 0x10, 2, 0x0FFF)  # lnkctl (retrain is an event)
            self._allow(base + 0x12, 2, 0, w1c=0xC000)  # lnksta: LBMS, LABS
            self._allow(base + 0x18, 2, 0x1FFF)  # sltctl
            self._allow(base + 0x1A, 2, 0, w1c=0x011F)  # sltsta
            self._allow(base + 0x1C, 2, 0x001F)  # rootctl
            self._allow(base + 0x20, 4, 0, w1c=0x00010000)  # rootsta PME status
            self._allow(base + 0x28, 2, 0xFFFF)  # devctl2
            self._allow(base + 0x30, 2, 0xFFFF)  # lnkctl2
            self._allow(base + 0x32, 2, 0, w1c=0x0020)  # lnksta2
        elif cap_id == regs.CAP_AF:
            self._allow(base + 4, 1, 0x01)
        elif cap_id not in (regs.CAP_SUBSYSTEM, regs.CAP_VENDOR):
            length = 4
            self._allow(base + 2, length - 2, (1 << (8 * (length - 2))) - 1)

    def _allow_extended(self, cap_id: int, base: int) -> None:
        if cap_id == regs.EXT_ACS:
            self._allow(base + regs.ACS_CTRL_OFFSET, 2, 0x007F)
        elif cap_id == regs.EXT_AER:
            self._allow(base + 0x04, 4, 0, w1c=0xFFFFFFFF)
            self._allow(base + 0x08, 8, (1 << 64) - 1)
            self._allow(base + 0x10, 4, 0, w1c=0xFFFFFFFF)
            self._allow(base + 0x14, 4, 0xFFFFFFFF)
            self._allow(base + 0x18, 4, 0x00000540)
            self._allow(base + 0x2C, 4, 0x7)
            self._allow(base + 0x30, 4, 0, w1c=0x7F)
        elif cap_id == regs.EXT_VC:
            self._allow(base + 0x0C, 2, 0xF)
            self._allow(base + 0x14, 4, 0x800F00FF)
        elif cap_id == regs.EXT_SRIOV:
            self._allow(base + 0x08, 2, 0x003F)
            self._allow(base + 0x10, 2, 0xFFFF)
            self._allow(base + 0x20, 4, 0xFFFFFFFF)

    @property
    def port_type(self) -> int | None:
        """The PCI Express device/port type (None: not PCI Express)."""
        return self._port_type()

    def _port_type(self) -> int | None:
        if not self.express_offset:
            return None
        return (regs.read_register(self.registers, self.express_offset + 2, 2) >> 4) & 0xF

    def _initial_image(self) -> bytes:
        """Registers right after a reset: firmware's assignments (BARs, bus numbers, command,
        interrupt line) are gone, power state is D0, MSI is off."""
        image = bytearray(self.model.config)
        bridge = self.model.is_bridge
        offsets = regs.BAR_OFFSETS_TYPE1 if bridge else regs.BAR_OFFSETS_TYPE0
        for offset in offsets:
            flags = regs.read_register(image, offset, 4)
            keep = regs.BAR_IO if flags & regs.BAR_IO else flags & 0xF
            regs.write_register(image, offset, 4, keep if flags else 0)
        for bar in self.model.bars:
            if bar.bits == 64:
                regs.write_register(image, offsets[bar.index + 1], 4, 0)
        rom = regs.ROM_BAR_TYPE1 if bridge else regs.ROM_BAR_TYPE0
        regs.write_register(image, rom, 4, 0)
        regs.write_register(image, 0x04, 2, 0)
        image[0x3C] = 0xFF
        if bridge:
            image[0x18:0x1B] = b"\x00\x00\x00"
        if self.pm_offset:
            pmcsr = regs.read_register(image, self.pm_offset + 4, 2)
            regs.write_register(image, self.pm_offset + 4, 2, pmcsr & ~0x0103)
        return bytes(image)

    # --- Config access -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.registers)

    @property
    def responding(self) -> bool:
        """The function answers config requests now (alive, link up, not still resetting)."""
        return self.alive and self.clock.now_us >= self.not_ready_until_us

    def read(self, offset: int, width: int) -> int:
        if not self.responding:
            value = (1 << (8 * width)) - 1
            for behaviour in self.behaviours:
                if behaviour.answers_when_silent:
                    value = behaviour.on_config_read(offset, width, value)
            return value
        value = regs.read_register(self.registers, offset, width)
        for behaviour in self.behaviours:
            value = behaviour.on_config_read(offset, width, value)
        return value

    def read_block(self, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes ``offset .. offset+length`` as a sysfs ``config`` read returns them."""
        end = self.size if length is None else min(self.size, offset + length)
        if not self.responding and not any(behaviour.answers_when_silent for behaviour in self.behaviours):
            return b"\xff" * max(0, end - offset)
        if self.responding and not any(behaviour.alters_reads for behaviour in self.behaviours):
            return bytes(self.registers[offset:end])
        return b"".join(self.read(position, 1).to_bytes(1, "little") for position in range(offset, end))

    def write(self, offset: int, width: int, value: int) -> None:
        """A config write, with hardware semantics and the events it triggers."""
        if not self.responding:
            for behaviour in self.behaviours:
                if behaviour.answers_when_silent:
                    behaviour.on_config_write(offset, width, value)
            return
        for behaviour in self.behaviours:
            replaced = behaviour.on_config_write(offset, width, value)
            if replaced is None:
                return
            value = replaced
        old = regs.read_register(self.registers, offset, width)
        rw = int.from_bytes(self._rw[offset : offset + width], "little")
        w1c = int.from_bytes(self._w1c[offset : offset + width], "little")
        new = ((old & ~rw) | (value & rw)) & ~(value & w1c)
        regs.write_register(self.registers, offset, width, new & ((1 << (8 * width)) - 1))
        self._after_write(offset, width, old, value)

    def set_registers(self, offset: int, width: int, value: int) -> None:
        """Firmware or hardware setting a register directly (no write semantics, no events)."""
        regs.write_register(self.registers, offset, width, value)

    def update_field(self, structure: regs.Structure, base: int, register: str, field: str, raw: int) -> None:
        """Hardware setting one named field of its own registers."""
        spec = structure.register(register)
        current = regs.read_register(self.registers, base + spec.offset, spec.width)
        self.set_registers(base + spec.offset, spec.width, spec.field(field).put(current, raw))

    def bar_read(self, index: int, offset: int, size: int) -> int:
        """A memory or I/O read of ``size`` bytes at ``offset`` into BAR ``index``: the register
        file there, 0 where the device has none, all-ones when the function does not answer."""
        if not self.responding:
            return (1 << (8 * size)) - 1
        registers = self.mmio.get(index)
        return registers.read(offset, size) if registers is not None else 0

    def bar_write(self, index: int, offset: int, size: int, value: int) -> None:
        if not self.responding:
            return
        registers = self.mmio.get(index)
        if registers is not None:
            registers.write(offset, size, value)

    def space(self) -> ConfigSpace:
        """The registers as a reader sees them now (all-ones when the device does not answer)."""
        return ConfigSpace(self.read_block())

    # --- Events --------------------------------------------------------------------------------

    def _touches(self, offset: int, width: int, register: int, register_width: int = 2) -> bool:
        return offset < register + register_width and register < offset + width

    def _after_write(self, offset: int, width: int, old: int, value: int) -> None:
        def byte(register: int, data: int) -> int:
            """Bits of ``data`` (written at ``offset``) that land in the 16-bit ``register``."""
            shift = 8 * (register - offset)
            return data >> shift if shift >= 0 else data << -shift

        if self.pm_offset and self._touches(offset, width, self.pm_offset + 4):
            before = byte(self.pm_offset + 4, old) & 0x3
            after = byte(self.pm_offset + 4, value) & 0x3
            if before != after:
                self._power_state_change(before, after)
        if self.express_offset:
            devctl = self.express_offset + 0x08
            if (
                self._touches(offset, width, devctl)
                and byte(devctl, value) & 0x8000
                and self._port_type() not in (4, 5, 6, 7, 8)
            ):
                self.reset(ResetKind.FLR)
            lnkctl = self.express_offset + 0x10
            if (
                self._touches(offset, width, lnkctl)
                and byte(lnkctl, value) & regs.EXPRESS_LNKCTL_RETRAIN
                and self._port_type() in (4, 6)
            ):
                from fakesys.hw.link import retrain

                retrain(self)
        if self.model.is_bridge and self._touches(offset, width, 0x3E):
            was = byte(0x3E, old) & 0x40
            now = byte(0x3E, value) & 0x40
            if now and not was:
                self._assert_secondary_reset()
            elif was and not now:
                self._release_secondary_reset()

    def _power_state_change(self, before: int, after: int) -> None:
        for behaviour in self.behaviours:
            behaviour.on_power_state(PM_STATE_NAMES[before], PM_STATE_NAMES[after])
        pmcsr = regs.read_register(self.registers, self.pm_offset + 4, 2)
        if before == 3 and after == 0 and not pmcsr & regs.PMCSR_NO_SOFT_RESET:
            self.reset(ResetKind.PM)

    def reset(self, kind: ResetKind) -> None:
        """The function returns to its power-on register values."""
        self.registers[:] = self._power_on_image
        for registers in self.mmio.values():
            registers.reset()
        ready_ms = 0.0
        for behaviour in self.behaviours:
            ready_ms = max(ready_ms, behaviour.on_reset(kind))
        self.not_ready_until_us = self.clock.now_us + round(ready_ms * 1000)

    def _assert_secondary_reset(self) -> None:
        """Secondary Bus Reset asserted: everything below is held in reset, the link drops."""
        from fakesys.hw.link import link_down

        for child in self.downstream:
            child.reset(ResetKind.SECONDARY_BUS)
        link_down(self)

    def _release_secondary_reset(self) -> None:
        """Secondary Bus Reset released: the link trains again, or does not."""
        from fakesys.hw.link import retrain

        retrain(self)

    def power_cycle(self) -> None:
        """Power removed and restored (D3cold exit, host reboot)."""
        self.alive = True
        self.reset(ResetKind.POWER_CYCLE)
