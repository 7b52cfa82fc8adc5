"""What a fakesys device model becomes when QEMU's ``x-pci-proxy-dev`` carries it to a guest, and
the device that answers the proxy's requests.

``x-pci-proxy-dev`` (QEMU 7.2 ``hw/remote/proxy.c``) is a conventional PCI device: QEMU forwards
config accesses below 256 bytes only (reads past them get all-ones from QEMU itself, so the
guest kernel sizes the space at 256 bytes), probes BARs at 0x10-0x28 with a write of all-ones
masked by ``0xFFFFFFF0`` and registers each as a 32-bit region, never probes the expansion ROM
BAR at 0x30, and has no MSI, MSI-X or extended capabilities of its own. :func:`served_model`
cuts a model to that, so the guest and the simulated kernel are served the same bytes:

- config space: the first 256 bytes; extended capabilities are not served;
- the capability list: a capability whose structure does not fit below 0x100 is unlinked (the
  previous pointer skips it; Status.CapList clears when nothing is left);
- the expansion ROM: not served (the ROM BAR reads 0 and ignores writes), since QEMU would map
  nothing behind it;
- BARs: 32-bit and power-of-two sized or refused (:class:`ServingError`), before QEMU sees them:
  a 64-bit BAR is probed as two bogus 32-bit ones, and a size that is not a power of two aborts
  QEMU (``pci_register_bar``'s assertion). I/O BARs below 16 bytes are served, but QEMU maps
  each as 16 bytes (the 0xFFFFFFF0 mask); the guest sees the true size.

:class:`ServedDevice` is the device behind the socket: a :class:`fakesys.hw.device.Device` (the
same class the simulated kernel drives) built from the served model and its behaviours, with
the proxy's events mapped onto it: a config read or write is a read or write of the device; a
BAR access is decoded with the BAR registers the guest programmed and goes to the device's
register file there (all-ones while it does not answer); ``DEVICE_RESET`` is a power-on the
first time (QEMU resets every device when it creates the machine) and a secondary bus reset
after that (the guest setting Secondary Bus Reset on the bridge above; QEMU sends it for guest
reboots too, which live runs never do).

A device presented as QEMU's vfio-pci presents a host device to its guest (the reference case's
dead controller, ``type 7f class 0xffffff`` in the guest) is the same device with the
``vfio_presented`` behaviour (fakesys.hw.behaviour.VfioPresented).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fakesys.clock import VirtualClock
from fakesys.errors import FakesysError
from fakesys.hw.behaviour import BehaviourError, make_behaviour
from fakesys.hw.describe import capability_length
from fakesys.hw.device import Device, ResetKind
from fakesys.hw.library import beside, load_device
from fakesys.hw.model import BarKind, DeviceModel
from harness import exitcodes
from harness.live.errors import LiveError
from harness.live.spec import PROXY_CONDITIONS, Proxy
from harness.pci import regs
from harness.pci.config import CapabilityLoopError, ConfigSpace

SERVED_CONFIG_SIZE = 256
#: QEMU's proxy probes the six BARs and CardBus CIS slot (0x28), masks with this and registers
#: ``~masked + 1`` bytes (hw/remote/proxy.c ``probe_pci_info``).
QEMU_BAR_PROBE_MASK = 0xFFFFFFF0
QEMU_BAR_MINIMUM = 16
MAX_IO_BAR = 256


class ServingError(LiveError):
    """A device model the proxy cannot carry to QEMU (the reason in one line)."""

    exit_code = exitcodes.DATA


@dataclass
class ServedModel:
    """A model cut to what the proxy carries, with one line per thing cut."""

    model: DeviceModel
    cuts: list[str] = field(default_factory=list)


def _structure(cap_id: int) -> regs.Structure | None:
    return next((item for item in regs.CAPABILITIES.values() if item.cap_id == cap_id), None)


def _unlink_capabilities(config: bytearray, cuts: list[str]) -> None:
    try:
        chain = ConfigSpace(config).capabilities()
    except CapabilityLoopError as error:
        raise ServingError(f"the model's capability list is broken: {error}") from None
    previous = regs.CAPABILITIES_POINTER
    kept = 0
    for cap in chain:
        structure = _structure(cap.cap_id)
        length = capability_length(structure, config, cap.offset) if structure is not None else 2
        if cap.offset + length > SERVED_CONFIG_SIZE:
            config[previous] = config[cap.offset + 1]
            cuts.append(
                f"capability {cap.name} at {cap.offset:#04x} ({length} bytes) runs past 0xff: unlinked from the list"
            )
            continue
        previous = cap.offset + 1
        kept += 1
    if not kept and chain:
        config[regs.CAPABILITIES_POINTER] = 0
        config[0x06] &= ~regs.STATUS_CAPABILITIES & 0xFF


def served_model(model: DeviceModel) -> ServedModel:
    """``model`` as ``x-pci-proxy-dev`` can carry it (see the module's description); refuses
    with :class:`ServingError` what would break QEMU or could not be served faithfully."""
    if model.is_bridge or model.config[0x0E] & 0x7F != regs.HEADER_LAYOUT_NORMAL:
        raise ServingError(f"{model.name}: only type 0 (endpoint) headers can be served; the proxy probes BARs there")
    cuts: list[str] = []
    for bar in model.bars:
        where = f"{model.name}: BAR {bar.index}"
        if bar.bits == 64:
            raise ServingError(f"{where} is 64-bit; QEMU's proxy would probe it as two 32-bit BARs")
        if bar.size is None:
            raise ServingError(f"{where} has no size in the description (sizes: are needed to serve it)")
        if bar.size & (bar.size - 1):
            raise ServingError(f"{where}: size {bar.size:#x} is not a power of two (QEMU would abort)")
        if bar.kind is BarKind.MEMORY and bar.size < QEMU_BAR_MINIMUM:
            raise ServingError(f"{where}: a memory BAR of {bar.size} bytes is below PCI's 16")
        if bar.kind is BarKind.IO and not 4 <= bar.size <= MAX_IO_BAR:
            raise ServingError(f"{where}: an I/O BAR of {bar.size} bytes (PCI allows 4 to 256)")
        if bar.kind is BarKind.IO and bar.size < QEMU_BAR_MINIMUM:
            cuts.append(f"BAR {bar.index}: I/O, {bar.size} bytes, mapped by QEMU as {QEMU_BAR_MINIMUM} bytes")
        if bar.prefetchable:
            cuts.append(f"BAR {bar.index}: prefetchable, registered by QEMU as non-prefetchable (guest sees it as is)")
    config = bytearray(model.config[:SERVED_CONFIG_SIZE])
    if len(model.config) > SERVED_CONFIG_SIZE:
        extended = [cap.name for cap in ConfigSpace(model.config).extended_capabilities()]
        if extended:
            cuts.append(f"extended capabilities not served: {', '.join(extended)}")
    _unlink_capabilities(config, cuts)
    if model.rom is not None:
        regs.write_register(config, regs.ROM_BAR_TYPE0, 4, 0)
        cuts.append(f"expansion ROM ({model.rom.size:#x} bytes) not served: QEMU's proxy never maps one")
    served = DeviceModel(
        model.name, config, list(model.bars), None, model.title, list(model.sources), list(model.behaviours), model.ahci
    )
    return ServedModel(served, cuts)


def load_served(spec: Proxy) -> ServedModel:
    """The library device ``spec.model`` (looked up beside its scenario first), served
    (:func:`served_model`)."""
    try:
        model = load_device(spec.model, beside_scenario=beside([spec.scenario_file] if spec.scenario_file else []))
    except FakesysError as error:
        raise ServingError(f"{spec.model}: {error}") from None
    return served_model(model)


class WallClock(VirtualClock):
    """Real time since the server started, for behaviours that take time (a device busy for N ms
    after a reset answers again N ms of the guest's time later)."""

    def __init__(self) -> None:
        self._origin = time.monotonic()
        self.window = None
        self.tracking = False

    @property
    def now_us(self) -> int:
        return int((time.monotonic() - self._origin) * 1_000_000)

    @now_us.setter
    def now_us(self, value: int) -> None:
        """Waits are the guest's; nothing here moves real time."""


def build_device(served: ServedModel, spec: Proxy, clock: VirtualClock) -> Device:
    """The fakesys device of ``spec``: the served model with its behaviours and condition."""
    try:
        behaviours = [make_behaviour(entry) for entry in (*served.model.behaviours, *spec.behaviours)]
    except BehaviourError as error:
        raise ServingError(f"{spec.model}: {error}") from None
    device = Device(served.model, clock, behaviours)
    if spec.condition == "dead":
        device.alive = False
    return device


class ServedDevice:
    """The device behind one proxy socket: answers config, BAR and reset requests.

    Args:
        spec: what to serve.
        clock: the device's time (default: real time).
    """

    def __init__(self, spec: Proxy, clock: VirtualClock | None = None) -> None:
        if spec.condition not in PROXY_CONDITIONS:
            raise ServingError(f"condition {spec.condition!r}: expected one of {', '.join(PROXY_CONDITIONS)}")
        self.spec = spec
        self.served = load_served(spec)
        self.clock = clock or WallClock()
        self.device = build_device(self.served, spec, self.clock)
        self.resets = 0

    @property
    def cuts(self) -> list[str]:
        return self.served.cuts

    # --- Config space ---------------------------------------------------------------------

    def config_read(self, offset: int, length: int) -> int:
        if offset + length > SERVED_CONFIG_SIZE:
            return (1 << (8 * length)) - 1
        return self.device.read(offset, length)

    def config_write(self, offset: int, length: int, value: int) -> None:
        if offset + length <= SERVED_CONFIG_SIZE:
            self.device.write(offset, length, value)

    # --- BARs -----------------------------------------------------------------------------

    def decode(self, address: int, memory: bool) -> tuple[int, int] | None:
        """(BAR index, offset) of a guest address, from the BAR registers the guest programmed
        (as the device answers them)."""
        for bar in self.served.model.bars:
            if (bar.kind is BarKind.MEMORY) != memory or bar.size is None:
                continue
            raw = self.device.read(regs.BAR_OFFSETS_TYPE0[bar.index], 4)
            if raw == 0xFFFFFFFF:
                continue
            base = raw & (regs.BAR_MEM_ADDRESS_MASK if memory else regs.BAR_IO_ADDRESS_MASK)
            if base and base <= address < base + bar.size:
                return bar.index, address - base
        return None

    def bar_read(self, address: int, size: int, memory: bool) -> int:
        where = self.decode(address, memory)
        if where is None:
            return (1 << (8 * size)) - 1
        return self.device.bar_read(where[0], where[1], size)

    def bar_write(self, address: int, size: int, value: int, memory: bool) -> None:
        where = self.decode(address, memory)
        if where is not None:
            self.device.bar_write(where[0], where[1], size, value)

    # --- Reset ----------------------------------------------------------------------------

    def reset(self) -> ResetKind:
        """QEMU's DEVICE_RESET: power-on the first time, a secondary bus reset after."""
        self.resets += 1
        if self.resets == 1:
            self.device.power_cycle()
            if self.spec.condition == "dead":
                self.device.alive = False
            return ResetKind.POWER_CYCLE
        self.device.reset(ResetKind.SECONDARY_BUS)
        return ResetKind.SECONDARY_BUS
