"""Decoding of a device's configuration space: header, capability lists, typed registers.

Works on any byte string a ``config`` file gives: 4096 bytes (PCIe, root), 256 (conventional),
64 (a non-root read) or all-ones (a device that stopped answering), and on anything a damaged
tree holds (0 bytes, random bytes). Reads past the end of a short buffer return all-ones, as a
failed config read does; callers ask :attr:`ConfigSpace.truncated` to tell "not visible" from
"not there", and :attr:`ConfigSpace.dead` is true only when the vendor ID was actually read as
ffff. The capability walks follow the kernel's rules and record every broken pointer as a
:class:`CapabilityProblem` (:meth:`ConfigSpace.capability_problems`); the typed accessors
(:meth:`~ConfigSpace.express`, :meth:`~ConfigSpace.acs` ...) never raise.
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
class CapabilityProblem:
    """Something wrong with a capability list, found where ``offset`` was read."""

    extended: bool
    offset: int
    message: str
    #: The walk stopped here (the rest of the list is unknown).
    ends_list: bool = False
    #: For a loop: the offset the list leads back to.
    loop_to: int | None = None

    def __str__(self) -> str:
        return self.message


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


#: Where a field of a structure's register lies, by (structure, register, field): a check of a
#: large host asks the same few dozen fields tens of thousands of times, and the structures find
#: names by a scan. The structure is kept in the value, so that its id() is never reused.
_FIELD_LAYOUT: dict[tuple[int, str, str], tuple[regs.Structure, int, int, int, int]] = {}


class ConfigSpace:
    """Read-only view of configuration-space bytes."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = bytes(data)
        self._capabilities: list[Capability] | None = None
        self._extended: list[Capability] | None = None
        self._problems: list[CapabilityProblem] = []

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
        chunk = self.data[offset : offset + width]
        if len(chunk) == width:
            return int.from_bytes(chunk, "little")
        return regs.read_register(self.data, offset, width)  # past the end: all-ones

    def field(self, structure: regs.Structure, base: int, register: str, name: str) -> int:
        """Raw value of one field of a register in ``structure`` located at ``base``."""
        key = (id(structure), register, name)
        found = _FIELD_LAYOUT.get(key)
        if found is None:
            spec = structure.register(register)
            bits = spec.field(name)
            found = _FIELD_LAYOUT[key] = (structure, spec.offset, spec.width, bits.mask, bits.shift)
        _, offset, width, mask, shift = found
        return (self.read(base + offset, width) & mask) >> shift

    @property
    def vendor_id(self) -> int:
        return self.read(0x00, 2)

    @property
    def device_id(self) -> int:
        return self.read(0x02, 2)

    @property
    def dead(self) -> bool:
        """The device answers all-ones, as after a failed reset or surprise removal (an empty or
        one-byte buffer is not "dead": there is nothing to tell)."""
        return self.size >= 2 and self.vendor_id == 0xFFFF

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
        """The conventional capability list, in chain order, as far as it can be followed.
        Raises :class:`CapabilityLoopError` when it loops (the device model refuses such a
        description); :meth:`capability_problems` names every problem without raising."""
        self._walk(extended=False)
        return self._raise_on_loop(self._capabilities, extended=False)

    def extended_capabilities(self) -> list[Capability]:
        """The extended capability list at 0x100, in chain order (empty below 4096 bytes).
        Raises :class:`CapabilityLoopError` when it loops, as :meth:`capabilities` does."""
        self._walk(extended=True)
        return self._raise_on_loop(self._extended, extended=True)

    def capability_problems(self, extended: bool | None = None) -> list[CapabilityProblem]:
        """What is wrong with the capability lists: pointers into the header, unaligned, looping
        or out of range, entries that read all-ones, structures that run past their space.
        ``extended``: only the conventional (False) or the extended (True) list."""
        self._walk(extended)
        return [problem for problem in self._problems if extended is None or problem.extended == extended]

    @property
    def header_complete(self) -> bool:
        """At least the 64-byte header was read (the kernel shows every reader that much)."""
        return self.size >= regs.UNPRIVILEGED_CONFIG_SIZE

    def _raise_on_loop(self, found: list[Capability] | None, extended: bool) -> list[Capability]:
        for problem in self._problems:
            if problem.loop_to is not None and problem.extended == extended:
                raise CapabilityLoopError(problem.loop_to, extended)
        return list(found or [])

    def _walk(self, extended: bool | None = None) -> None:
        """Walk the lists asked for (None: both), each once; the bytes are fixed."""
        if extended is not True and self._capabilities is None:
            self._capabilities = self._walk_conventional(self._problems)
        if extended is not False and self._extended is None:
            self._extended = self._walk_extended(self._problems)

    def _walk_conventional(self, problems: list[CapabilityProblem]) -> list[Capability]:
        """The kernel's walk (drivers/pci/pci.c ``__pci_find_next_cap_ttl``: a pointer below 0x40
        ends the list, the low two bits are masked off, an ID of 0xff ends it, at most 48
        entries), recording each departure from the PCI rules as a problem."""
        found: list[Capability] = []
        if self.dead or self.truncated or not self.status & regs.STATUS_CAPABILITIES:
            return found
        where = regs.CAPABILITIES_POINTER
        if self.header_layout == regs.HEADER_LAYOUT_CARDBUS:
            where = 0x14
        seen: set[int] = set()
        pointer = self.read(where, 1)
        while pointer:
            problem = self._conventional_pointer_problem(where, pointer, seen)
            if problem is not None:
                problems.append(problem)
                if problem.ends_list:
                    break
            offset = pointer & regs.CAPABILITY_POINTER_MASK
            seen.add(offset)
            cap_id = self.read(offset, 1)
            if cap_id == 0xFF:
                message = f"capability at {offset:#04x} reads ff: nothing there"
                problems.append(CapabilityProblem(False, offset, message, True))
                break
            capability = Capability(cap_id, offset, extended=False)
            overrun = self._overrun(capability)
            if overrun is not None:
                problems.append(overrun)
            found.append(capability)
            where = offset + 1
            pointer = self.read(where, 1)
        return found

    def _conventional_pointer_problem(self, where: int, pointer: int, seen: set[int]) -> CapabilityProblem | None:
        aligned = pointer & regs.CAPABILITY_POINTER_MASK
        if pointer == aligned >= regs.UNPRIVILEGED_CONFIG_SIZE and aligned not in seen and aligned + 2 <= self.size:
            return None  # the usual case, without building a message
        text = f"capability pointer at {where:#04x} is {pointer:#04x}"
        if pointer < regs.UNPRIVILEGED_CONFIG_SIZE:
            return CapabilityProblem(False, where, f"{text}, inside the 64-byte header", ends_list=True)
        if aligned in seen:
            return CapabilityProblem(False, where, f"{text}: the list loops", ends_list=True, loop_to=aligned)
        if aligned + 2 > self.size:
            return CapabilityProblem(False, where, f"{text}, past the {self.size} bytes read", ends_list=True)
        if pointer != aligned:
            return CapabilityProblem(False, where, f"{text}, not a multiple of 4 (read as {aligned:#04x})")
        return None

    def _overrun(self, capability: Capability) -> CapabilityProblem | None:
        """A structure the checker decodes that does not fit below 0x100."""
        length = {regs.CAP_PM: regs.PM_LENGTH, regs.CAP_AF: regs.AF_LENGTH}.get(capability.cap_id)
        if capability.cap_id == regs.CAP_EXPRESS:
            version = self.read(capability.offset + 2, 1) & 0x0F
            length = regs.EXPRESS_V2_LENGTH if version >= 2 else regs.EXPRESS_V1_LENGTH
        if length is None or capability.offset + length <= regs.CONVENTIONAL_CONFIG_SIZE:
            return None
        return CapabilityProblem(
            False,
            capability.offset,
            f"{capability.name} capability at {capability.offset:#04x} needs {length:#x} bytes and runs past 0xff",
        )

    def _walk_extended(self, problems: list[CapabilityProblem]) -> list[Capability]:
        """The kernel's walk (drivers/pci/pci.c ``pci_find_next_ext_capability``: a header of 0
        at 0x100 means no list, a next pointer below 0x100 ends it, at most (4096 - 256) / 8
        entries), recording each departure from the rules as a problem."""
        found: list[Capability] = []
        if self.dead or not self.has_extended_space:
            return found
        seen: set[int] = set()
        offset = regs.FIRST_EXTENDED_CAPABILITY
        while True:
            header = self.read(offset, 4)
            if header == 0:
                break
            if header == 0xFFFFFFFF:
                if offset != regs.FIRST_EXTENDED_CAPABILITY:
                    problems.append(
                        CapabilityProblem(True, offset, f"extended capability at {offset:#05x} reads ffffffff", True)
                    )
                break
            seen.add(offset)
            found.append(Capability(header & 0xFFFF, offset, extended=True, version=(header >> 16) & 0xF))
            raw = (header >> 20) & 0xFFF
            if not raw:
                break
            following = raw & 0xFFC
            problem = self._extended_pointer_problem(offset, raw, seen)
            if problem is not None:
                problems.append(problem)
                if problem.ends_list:
                    break
            offset = following
        return found

    def _extended_pointer_problem(self, where: int, raw: int, seen: set[int]) -> CapabilityProblem | None:
        following = raw & 0xFFC
        if following >= regs.FIRST_EXTENDED_CAPABILITY and following not in seen and following + 4 <= self.size:
            if raw == following:
                return None
            text = f"extended capability pointer at {where:#05x} is {raw:#05x}"
            return CapabilityProblem(True, where, f"{text}, not a multiple of 4 (read as {following:#05x})")
        text = f"extended capability pointer at {where:#05x} is {raw:#05x}"
        if following < regs.FIRST_EXTENDED_CAPABILITY:
            return CapabilityProblem(True, where, f"{text}, below 0x100", True)
        if following in seen:
            return CapabilityProblem(True, where, f"{text}: the list loops", True, following)
        return CapabilityProblem(True, where, f"{text}, past the {self.size} bytes read", True)

    def all_capabilities(self) -> Iterator[Capability]:
        yield from self.capabilities()
        yield from self.extended_capabilities()

    def find(self, cap_id: int, extended: bool = False) -> Capability | None:
        """The first capability ``cap_id`` the walk reaches (a looping list is followed up to
        the loop, as the kernel's walk would find it; never raises)."""
        self._walk(extended)
        for capability in (self._extended if extended else self._capabilities) or []:
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
