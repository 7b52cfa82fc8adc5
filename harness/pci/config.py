"""Decoding of a device's configuration space: header, capability lists, typed registers.

Works on any byte string a ``config`` file gives: 4096 bytes (PCIe, root), 256 (conventional),
64 (a non-root read) or all-ones (a device that stopped answering). Reads past the end of a short
buffer return all-ones, as a failed config read does; callers ask :attr:`ConfigSpace.truncated`
to tell "not visible" from "not there".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from harness.pci import regs


class CapabilityLoopError(ValueError):
    """The capability list points back into itself."""

    def __init__(self, offset: int, extended: bool) -> None:
        kind = "extended capability" if extended else "capability"
        super().__init__(f"{kind} list loops back to offset {offset:#x}")
        self.offset = offset
        self.extended = extended


@dataclass(frozen=True)
class Capability:
    """One entry of a capability list."""

    cap_id: int
    offset: int
    extended: bool
    version: int = 0

    @property
    def name(self) -> str:
        names = regs.EXTENDED_CAPABILITY_NAMES if self.extended else regs.CAPABILITY_NAMES
        return names.get(self.cap_id, f"{self.cap_id:#06x}" if self.extended else f"{self.cap_id:#04x}")


def decode_registers(
    structure: regs.Structure, config: bytes | bytearray, base: int, length: int | None = None
) -> dict[str, object]:
    """Every register of ``structure`` at ``base`` as ``{register: value or {field: value}}``."""
    decoded: dict[str, object] = {}
    for register in structure.registers:
        if length is not None and register.offset + register.width > length:
            continue
        raw = regs.read_register(config, base + register.offset, register.width)
        if register.whole:
            decoded[register.name] = raw
        else:
            decoded[register.name] = {item.name: item.value_codec.decode(item.get(raw)) for item in register.fields}
    return decoded


class ConfigSpace:
    """Read-only view of configuration-space bytes."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = bytes(data)
        self._capabilities: list[Capability] | None = None
        self._extended: list[Capability] | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def truncated(self) -> bool:
        """Fewer than 256 bytes: an unprivileged read hides the capability lists."""
        return self.size < regs.CONVENTIONAL_CONFIG_SIZE

    @property
    def has_extended_space(self) -> bool:
        return self.size >= regs.EXTENDED_CONFIG_SIZE

    def read(self, offset: int, width: int) -> int:
        return regs.read_register(self.data, offset, width)

    def field(self, structure: regs.Structure, base: int, register: str, name: str) -> int:
        """Raw value of one field of a register in ``structure`` located at ``base``."""
        spec = structure.register(register)
        return spec.field(name).get(self.read(base + spec.offset, spec.width))

    @property
    def vendor_id(self) -> int:
        return self.read(0x00, 2)

    @property
    def device_id(self) -> int:
        return self.read(0x02, 2)

    @property
    def dead(self) -> bool:
        """The device answers all-ones, as after a failed reset or surprise removal."""
        return self.vendor_id == 0xFFFF

    @property
    def header_layout(self) -> int:
        return self.read(0x0E, 1) & 0x7F

    @property
    def multifunction(self) -> bool:
        return bool(self.read(0x0E, 1) & 0x80)

    @property
    def class_code(self) -> int:
        return self.read(0x09, 3)

    @property
    def status(self) -> int:
        return self.read(0x06, 2)

    def capabilities(self) -> list[Capability]:
        """The conventional capability list, in chain order (walked once; the bytes are fixed)."""
        if self._capabilities is None:
            self._capabilities = self._walk_capabilities()
        return self._capabilities

    def _walk_capabilities(self) -> list[Capability]:
        found: list[Capability] = []
        if self.dead or self.truncated or not self.status & regs.STATUS_CAPABILITIES:
            return found
        pointer_offset = regs.CAPABILITIES_POINTER
        if self.header_layout == regs.HEADER_LAYOUT_CARDBUS:
            pointer_offset = 0x14
        seen: set[int] = set()
        offset = self.read(pointer_offset, 1) & regs.CAPABILITY_POINTER_MASK
        while offset:
            if offset < 0x40:
                break
            if offset in seen:
                raise CapabilityLoopError(offset, extended=False)
            seen.add(offset)
            cap_id = self.read(offset, 1)
            if cap_id == 0xFF:
                break
            found.append(Capability(cap_id, offset, extended=False))
            offset = self.read(offset + 1, 1) & regs.CAPABILITY_POINTER_MASK
        return found

    def extended_capabilities(self) -> list[Capability]:
        """The extended capability list at 0x100, in chain order (empty below 4096 bytes)."""
        if self._extended is None:
            self._extended = self._walk_extended()
        return self._extended

    def _walk_extended(self) -> list[Capability]:
        found: list[Capability] = []
        if self.dead or not self.has_extended_space:
            return found
        seen: set[int] = set()
        offset = regs.FIRST_EXTENDED_CAPABILITY
        while offset:
            if offset in seen:
                raise CapabilityLoopError(offset, extended=True)
            seen.add(offset)
            header = self.read(offset, 4)
            if header in (0, 0xFFFFFFFF):
                break
            found.append(Capability(header & 0xFFFF, offset, extended=True, version=(header >> 16) & 0xF))
            offset = (header >> 20) & 0xFFC
            if offset and offset < regs.FIRST_EXTENDED_CAPABILITY:
                break
        return found

    def all_capabilities(self) -> Iterator[Capability]:
        yield from self.capabilities()
        yield from self.extended_capabilities()

    def find(self, cap_id: int, extended: bool = False) -> Capability | None:
        for capability in self.extended_capabilities() if extended else self.capabilities():
            if capability.cap_id == cap_id:
                return capability
        return None

    # --- Typed questions the kernel model and the checker both ask --------------------------

    def express(self) -> ExpressInfo | None:
        cap = self.find(regs.CAP_EXPRESS)
        if cap is None:
            return None
        return ExpressInfo(self, cap.offset)

    def power_management(self) -> PowerManagementInfo | None:
        cap = self.find(regs.CAP_PM)
        if cap is None:
            return None
        return PowerManagementInfo(self, cap.offset)

    def acs(self) -> AcsInfo | None:
        cap = self.find(regs.EXT_ACS, extended=True)
        if cap is None:
            return None
        return AcsInfo(self, cap.offset)

    def af_flr(self) -> bool:
        """Advanced Features FLR, which the kernel accepts only with both TP and FLR bits."""
        cap = self.find(regs.CAP_AF)
        if cap is None:
            return False
        value = self.read(cap.offset + 3, 1)
        return value & 0x03 == 0x03


class _CapabilityView:
    structure: regs.Structure

    def __init__(self, config: ConfigSpace, offset: int) -> None:
        self.config = config
        self.offset = offset

    def get(self, register: str, name: str) -> int:
        return self.config.field(self.structure, self.offset, register, name)

    def raw(self, register: str) -> int:
        spec = self.structure.register(register)
        return self.config.read(self.offset + spec.offset, spec.width)


class ExpressInfo(_CapabilityView):
    """The PCI Express capability."""

    structure = regs.EXPRESS

    @property
    def version(self) -> int:
        return self.get("flags", "version")

    @property
    def port_type(self) -> int:
        return self.get("flags", "type")

    @property
    def port_type_name(self) -> str:
        return str(regs.EXPRESS_PORT_TYPES.decode(self.port_type))

    @property
    def slot_implemented(self) -> bool:
        return bool(self.get("flags", "slot"))

    @property
    def flr(self) -> bool:
        return bool(self.get("devcap", "flr"))

    @property
    def has_link(self) -> bool:
        """Root complex integrated endpoints and event collectors have no link registers."""
        return self.port_type not in (9, 10)

    @property
    def max_link_speed(self) -> int:
        """LnkCap2's supported-speeds vector when present (kernel ``pcie_get_speed_cap``)."""
        if self.version >= 2:
            vector = self.get("lnkcap2", "supported_speeds")
            if vector:
                return vector.bit_length()
        return self.get("lnkcap", "max_speed")

    @property
    def max_link_width(self) -> int:
        return self.get("lnkcap", "max_width")

    @property
    def link_speed(self) -> int:
        return self.get("lnksta", "speed")

    @property
    def link_width(self) -> int:
        return self.get("lnksta", "width")

    @property
    def dll_active_reporting(self) -> bool:
        return bool(self.get("lnkcap", "dll_active_reporting"))

    @property
    def dll_active(self) -> bool:
        return bool(self.get("lnksta", "dll_active"))

    @property
    def bandwidth_management_status(self) -> bool:
        return bool(self.get("lnksta", "bandwidth_management"))

    @property
    def hotplug_capable(self) -> bool:
        return self.slot_implemented and bool(self.get("sltcap", "hotplug_capable"))


class PowerManagementInfo(_CapabilityView):
    """The Power Management capability."""

    structure = regs.PM

    @property
    def version(self) -> int:
        return self.get("pmc", "version")

    @property
    def no_soft_reset(self) -> bool:
        return bool(self.get("pmcsr", "no_soft_reset"))

    @property
    def power_state(self) -> int:
        return self.get("pmcsr", "power_state")

    @property
    def pmcsr(self) -> int:
        return self.raw("pmcsr")


class AcsInfo(_CapabilityView):
    """The Access Control Services extended capability."""

    structure = regs.ACS

    @property
    def capabilities(self) -> int:
        return self.config.read(self.offset + regs.ACS_CAP_OFFSET, 2)

    @property
    def control(self) -> int:
        return self.config.read(self.offset + regs.ACS_CTRL_OFFSET, 2)

    def flags_enabled(self, required: int) -> bool:
        """Kernel ``pci_acs_flags_enabled``: a missing capability bit counts as hard-wired on,
        except egress control (drivers/pci/pci.c)."""
        required &= self.capabilities | regs.ACS_EC
        return self.control & required == required
