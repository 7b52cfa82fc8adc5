"""The register file behind an AHCI controller's ABAR (BAR5): generic host control and the port
registers, with no device attached to any port.

Register layout and semantics from the Serial ATA AHCI 1.3.1 specification (sections 3.1 and
3.3) as Linux uses them (drivers/ata/libahci.c ``ahci_save_initial_config``,
``ahci_reset_controller``, ``ahci_print_info``; drivers/ata/ahci.h ``HOST_*``/``PORT_*``):

- CAP, CAP2, PI and VS are fixed at power-on (HwInit); writes to them are ignored.
- GHC.HR (bit 0) resets the HBA: every register returns to its power-on value, and HR reads 0
  again at once. GHC.AE (bit 31) is writable unless CAP.SAM says AHCI-only.
- IS, PxIS, PxSERR and PxSNTF clear the bits written as 1.
- PxCMD.CR follows ST and PxCMD.FR follows FRE (the engines start and stop at once); CLO
  clears itself.
- Nothing is attached: PxSSTS reads 0 (no device, no PHY communication), PxTFD 0x7f,
  PxSIG all-ones, so ``ahci`` reports each port as ``SATA link down (SStatus 0 SControl 300)``.

A description gives the fixed registers (``ahci: {cap: ..., pi: ..., version: ...}``); the
register file is hardware state, reset with the function (:class:`fakesys.hw.device.Device`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GHC_HR = 1 << 0
GHC_IE = 1 << 1
GHC_AE = 1 << 31
CAP_SAM = 1 << 18
CAP_S64A = 1 << 31
CAP_NP_MASK = 0x1F
PORTS_OFFSET = 0x100
PORT_SIZE = 0x80
#: Generic host control registers (offset: name).
HOST_REGISTERS = {
    0x00: "cap",
    0x04: "ghc",
    0x08: "is",
    0x0C: "pi",
    0x10: "vs",
    0x14: "ccc_ctl",
    0x18: "ccc_ports",
    0x1C: "em_loc",
    0x20: "em_ctl",
    0x24: "cap2",
    0x28: "bohc",
}
#: Port registers (offset within the port: name).
PORT_REGISTERS = {
    0x00: "clb",
    0x04: "clbu",
    0x08: "fb",
    0x0C: "fbu",
    0x10: "is",
    0x14: "ie",
    0x18: "cmd",
    0x20: "tfd",
    0x24: "sig",
    0x28: "ssts",
    0x2C: "sctl",
    0x30: "serr",
    0x34: "sact",
    0x38: "ci",
    0x3C: "sntf",
    0x40: "fbs",
    0x44: "devslp",
}
PXCMD_ST = 1 << 0
PXCMD_CLO = 1 << 3
PXCMD_FRE = 1 << 4
PXCMD_FR = 1 << 14
PXCMD_CR = 1 << 15
#: PxCMD bits software may set (ST, SUD, POD, FRE, ICC and the enables); CR, FR, CCS, CPS and
#: the capability bits (HPCP, MPSP, CPD, ESP, FBSCP) are the HBA's.
PXCMD_WRITABLE = 0xF7800017 & ~PXCMD_CLO
#: Task file data with nothing attached: status 0x7f (ahci.c: no device answers).
NO_DEVICE_TFD = 0x7F
NO_DEVICE_SIG = 0xFFFFFFFF
FIXED = ("cap", "pi", "vs", "cap2")


class AhciError(ValueError):
    """Bad values in a description's ``ahci:`` part."""


@dataclass(frozen=True)
class AhciSpec:
    """The fixed registers of an HBA: what a description's ``ahci:`` says."""

    cap: int
    pi: int
    version: int
    cap2: int = 0
    #: The BAR holding the registers (AHCI 1.3.1 section 2.1.11: ABAR is BAR5).
    bar: int = 5

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> AhciSpec:
        unknown = sorted(set(data) - {"cap", "pi", "version", "cap2", "bar"})
        if unknown:
            raise AhciError(f"ahci: unknown key {unknown[0]!r}; allowed: bar, cap, cap2, pi, version")
        values: dict[str, int] = {}
        for key in ("cap", "pi", "version", "cap2", "bar"):
            value = data.get(key, 0 if key == "cap2" else 5 if key == "bar" else None)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
                raise AhciError(f"ahci.{key}: expected a 32-bit register value, got {value!r}")
            values[key] = value
        if values["bar"] > 5:
            raise AhciError(f"ahci.bar: expected a BAR index 0-5, got {values['bar']}")
        ports = (values["cap"] & CAP_NP_MASK) + 1
        if values["pi"] >> ports:
            raise AhciError(f"ahci.pi: {values['pi']:#x} names ports beyond the {ports} CAP.NP allows")
        return cls(values["cap"], values["pi"], values["version"], values["cap2"], values["bar"])

    def to_data(self) -> dict[str, int]:
        data = {"cap": self.cap, "pi": self.pi, "version": self.version}
        if self.cap2:
            data["cap2"] = self.cap2
        if self.bar != 5:
            data["bar"] = self.bar
        return data

    @property
    def ports(self) -> int:
        return (self.cap & CAP_NP_MASK) + 1

    @property
    def size(self) -> int:
        """Bytes the registers span: the host part and every port up to the last (a BAR holding
        them must be at least this large)."""
        return PORTS_OFFSET + PORT_SIZE * self.ports


class AhciHba:
    """The live register file of one HBA."""

    def __init__(self, spec: AhciSpec) -> None:
        self.spec = spec
        self.host: dict[str, int] = {}
        self.ports: list[dict[str, int]] = []
        self.reset()

    def reset(self) -> None:
        """Power-on values (also what GHC.HR restores)."""
        spec = self.spec
        self.host = {name: 0 for name in HOST_REGISTERS.values()}
        self.host.update(cap=spec.cap, pi=spec.pi, vs=spec.version, cap2=spec.cap2)
        if spec.cap & CAP_SAM:
            self.host["ghc"] = GHC_AE
        self.ports = [
            {**{name: 0 for name in PORT_REGISTERS.values()}, "tfd": NO_DEVICE_TFD, "sig": NO_DEVICE_SIG}
            for _ in range(spec.ports)
        ]

    def _register(self, offset: int) -> tuple[dict[str, int], str] | None:
        if offset < PORTS_OFFSET:
            name = HOST_REGISTERS.get(offset)
            return (self.host, name) if name is not None else None
        port, within = divmod(offset - PORTS_OFFSET, PORT_SIZE)
        if port >= len(self.ports) or not self.spec.pi >> port & 1:
            return None
        name = PORT_REGISTERS.get(within)
        return (self.ports[port], name) if name is not None else None

    def _chunks(self, offset: int, size: int) -> list[tuple[int, int, int]]:
        """(dword offset, byte shift in it, bytes) for each dword an access touches."""
        chunks = []
        position, end = offset, offset + size
        while position < end:
            dword = position & ~3
            width = min(end, dword + 4) - position
            chunks.append((dword, 8 * (position - dword), width))
            position += width
        return chunks

    def read(self, offset: int, size: int) -> int:
        """A read of ``size`` bytes (1, 2, 4 or 8) at ``offset``; reserved space reads 0."""
        value = 0
        done = 0
        for dword, shift, width in self._chunks(offset, size):
            found = self._register(dword)
            current = found[0][found[1]] if found is not None else 0
            value |= ((current >> shift) & ((1 << (8 * width)) - 1)) << (8 * done)
            done += width
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        """A write of ``size`` bytes; narrow writes merge into the dword they touch."""
        done = 0
        for dword, shift, width in self._chunks(offset, size):
            part = (value >> (8 * done)) & ((1 << (8 * width)) - 1)
            done += width
            found = self._register(dword)
            if found is None:
                continue
            registers, name = found
            mask = ((1 << (8 * width)) - 1) << shift
            written = part << shift
            self._store(registers, name, (registers[name] & ~mask) | written, written)

    def _store(self, registers: dict[str, int], name: str, merged: int, written: int) -> None:
        if registers is self.host:
            if name in FIXED:
                return
            if name == "ghc":
                if written & GHC_HR:
                    self.reset()
                    return
                keep_ae = GHC_AE if self.spec.cap & CAP_SAM else 0
                registers[name] = (merged & (GHC_AE | GHC_IE)) | keep_ae
            elif name == "is":
                registers[name] &= ~written
            else:
                registers[name] = merged
            return
        if name in ("is", "serr", "sntf"):
            registers[name] &= ~written
        elif name == "cmd":
            command = merged & PXCMD_WRITABLE
            command |= PXCMD_CR if command & PXCMD_ST else 0
            command |= PXCMD_FR if command & PXCMD_FRE else 0
            registers[name] = command
        elif name in ("tfd", "sig", "ssts") or (name in ("clbu", "fbu") and not self.spec.cap & CAP_S64A):
            return
        else:
            registers[name] = merged
