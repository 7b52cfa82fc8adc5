"""Scripted device behaviours: how a device misbehaves, at the register level.

A behaviour is attached to one device and reacts to hardware events: config reads and writes,
resets (FLR, PM D3hot->D0, secondary bus reset, power cycle), power-state changes and link
training. It knows nothing of sysfs or kernels, so the same objects can answer a real guest
kernel later. Hosts name behaviours with parameters::

    behaviours:
      - {name: link_dead_after_bus_reset}
      - {name: ready_after_reset, ms: 3000, after: [secondary_bus]}

A new failure mode is a data entry plus, at most, one small class registered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from fakesys.hw.device import Device, ResetKind


class BehaviourError(ValueError):
    """Bad parameters for a behaviour."""


class Behaviour:
    """Base class: a device that behaves as the specification says."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    parameters: ClassVar[dict[str, str]] = {}
    #: The behaviour changes what config reads return (it overrides on_config_read); devices
    #: without one serve sysfs ``config`` reads straight from their registers.
    alters_reads: ClassVar[bool] = False
    #: Its config read and write hooks run even while the function does not answer (reads are
    #: all-ones before the hook, writes reach nothing but the hook).
    answers_when_silent: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.alters_reads = cls.on_config_read is not Behaviour.on_config_read

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.parameters)
        if unknown:
            allowed = ", ".join(self.parameters) or "none"
            raise BehaviourError(
                f"behaviour {self.name}: unknown parameter {sorted(unknown)[0]!r}; parameters: {allowed}"
            )
        self.params = params
        self.device: Device | None = None

    def attach(self, device: Device) -> None:
        self.device = device

    def on_config_read(self, offset: int, width: int, value: int) -> int:
        return value

    def on_config_write(self, offset: int, width: int, value: int) -> int | None:
        """The value to write, or None to drop the write."""
        return value

    def on_reset(self, kind: ResetKind) -> float:
        """React to a reset; return how many ms the device stays unresponsive."""
        return 0.0

    def on_power_state(self, before: str, after: str) -> None:
        """The PMCSR power state changed."""

    def link_trains(self) -> bool:
        """Whether the device's link comes up when its port trains it."""
        return True

    def link_limit(self) -> tuple[int | None, int | None]:
        """(speed code, width) the link trains to at most, beyond what both ends advertise."""
        return None, None

    def link_status_follows(self) -> bool:
        """Whether this port's Link Status registers follow its link (training, SBR)."""
        return True

    def presence_detect_follows(self) -> bool:
        """Whether this port's Slot Status Presence Detect State follows what is plugged in."""
        return True

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}


def _kinds(value: object, name: str) -> set[ResetKind]:
    if value is None:
        return {ResetKind.SECONDARY_BUS}
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BehaviourError(f"behaviour {name}: after must be a list of reset kinds")
    try:
        return {ResetKind(item) for item in value}
    except ValueError:
        kinds = ", ".join(kind.value for kind in ResetKind)
        raise BehaviourError(f"behaviour {name}: unknown reset kind in {value}; kinds: {kinds}") from None


class LinkDeadAfterBusReset(Behaviour):
    """The link never retrains after a reset: every config read returns all-ones afterwards and
    the port shows DLActive- with Link Bandwidth Management Status set (the ASMedia ASM1062 of
    the reference case, the ASM1164 that got quirk_no_bus_reset, the LSI FW643 thread)."""

    name = "link_dead_after_bus_reset"
    description = "after a secondary bus reset the link never comes back; config reads all-ones"
    parameters: ClassVar[dict[str, str]] = {"after": "reset kinds that kill the link (default [secondary_bus])"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.kinds = _kinds(params.get("after"), self.name)
        self.dead = False

    def on_reset(self, kind: ResetKind) -> float:
        if kind in self.kinds:
            self.dead = True
            assert self.device is not None
            self.device.alive = False
        elif kind is ResetKind.POWER_CYCLE:
            self.dead = False
        return 0.0

    def link_trains(self) -> bool:
        return not self.dead


class AllOnesAfterReset(Behaviour):
    """The function stops answering after a reset although its link stays up: every config read
    completes with all-ones until a reset it does survive (by default only a power cycle). The
    MediaTek MT7922 after FLR is one (its config reads return ~0 until a secondary bus reset,
    per the commit message of "PCI: Avoid FLR for Mediatek MT7922 WiFi", linux-pci, 2025-02-12);
    devices that only a host power cycle brings back are another."""

    name = "all_ones_after_reset"
    description = "after the given resets config reads return all-ones (link up) until a reset it recovers from"
    parameters: ClassVar[dict[str, str]] = {
        "after": "reset kinds after which it stops answering (default [flr])",
        "recovered_by": "reset kinds that bring it back (a power cycle always does)",
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.kinds = _kinds(params.get("after", ["flr"]), self.name)
        self.recovered_by = _kinds(params.get("recovered_by", ["power_cycle"]), self.name)
        self.silent = False

    def on_config_read(self, offset: int, width: int, value: int) -> int:
        # The link is up and requests complete, with all-ones data (the device is not "dead" in
        # fakesys's sense: Device.alive would take the link down as well).
        return (1 << (8 * width)) - 1 if self.silent else value

    def on_config_write(self, offset: int, width: int, value: int) -> int | None:
        return None if self.silent else value

    def on_reset(self, kind: ResetKind) -> float:
        if kind in self.kinds:
            self.silent = True
        elif kind in self.recovered_by or kind is ResetKind.POWER_CYCLE:
            self.silent = False  # power removed and restored: a new boot of the function
        return 0.0


class ReadyAfterReset(Behaviour):
    """The device answers config requests only some time after a reset (slow firmware boot)."""

    name = "ready_after_reset"
    description = "config reads return all-ones for `ms` milliseconds after the given resets"
    parameters: ClassVar[dict[str, str]] = {
        "ms": "milliseconds until the device answers",
        "after": "reset kinds (default [secondary_bus])",
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        milliseconds = params.get("ms")
        if not isinstance(milliseconds, int | float) or isinstance(milliseconds, bool) or milliseconds < 0:
            raise BehaviourError(f"behaviour {self.name}: ms must be a number of milliseconds, got {milliseconds!r}")
        self.milliseconds = float(milliseconds)
        self.kinds = _kinds(params.get("after"), self.name)

    def on_reset(self, kind: ResetKind) -> float:
        return self.milliseconds if kind in self.kinds else 0.0


class PmResetIgnored(Behaviour):
    """The D3hot->D0 transition does not reset the function although it advertises
    No_Soft_Reset clear: registers keep their values (a PM reset that does nothing)."""

    name = "pm_reset_ignored"
    description = "D3hot->D0 leaves the function's state as it was (NoSoftRst- is a lie)"
    parameters: ClassVar[dict[str, str]] = {}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._saved: bytes | None = None

    def on_power_state(self, before: str, after: str) -> None:
        if before == "D3hot" and after == "D0" and self.device is not None:
            self._saved = bytes(self.device.registers)

    def on_reset(self, kind: ResetKind) -> float:
        if kind is ResetKind.PM and self._saved is not None and self.device is not None:
            self.device.registers[:] = self._saved
            self._saved = None
        return 0.0


class D3coldWakeFailure(Behaviour):
    """Once power is removed (D3cold), the device never answers again until the host is power
    cycled (kata-containers#11708 and similar reports)."""

    name = "d3cold_wake_failure"
    description = "after power removal (D3cold) the device stays unresponsive"
    parameters: ClassVar[dict[str, str]] = {}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.dead = False

    def on_reset(self, kind: ResetKind) -> float:
        if kind is ResetKind.POWER_CYCLE and self.device is not None:
            self.dead = True
            self.device.alive = False
        return 0.0

    def link_trains(self) -> bool:
        return not self.dead


class DmaAlias(Behaviour):
    """The device issues DMA with the requester ID of another function of its slot (Marvell
    88SE91xx/92xx phantom function 1). Visible to the kernel only through its quirk tables; the
    hardware fact is recorded here for checks and for the guest side."""

    name = "dma_alias"
    description = "DMA uses the requester ID of another function (phantom function)"
    parameters: ClassVar[dict[str, str]] = {"function": "the function number DMA appears to come from"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        function = params.get("function")
        if not isinstance(function, int) or isinstance(function, bool) or not 0 <= function <= 7:
            raise BehaviourError(f"behaviour {self.name}: function must be 0-7, got {function!r}")
        self.function = function


_SPEED_CODES = {"2.5GT/s": 1, "5GT/s": 2, "8GT/s": 3, "16GT/s": 4, "32GT/s": 5, "64GT/s": 6}


class DegradedLink(Behaviour):
    """The link trains narrower or slower than both ends support (a poor contact, a damaged
    lane, a marginal riser): LnkSta shows less than LnkCap on both sides."""

    name = "degraded_link"
    description = "the link trains at most at `width` lanes and `speed`"
    parameters: ClassVar[dict[str, str]] = {"width": "lanes (1-32)", "speed": "e.g. 2.5GT/s"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        width = params.get("width")
        if width is not None and (not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 32):
            raise BehaviourError(f"behaviour {self.name}: width must be 1-32 lanes, got {width!r}")
        speed = params.get("speed")
        if speed is not None and speed not in _SPEED_CODES:
            raise BehaviourError(
                f"behaviour {self.name}: speed must be one of {', '.join(_SPEED_CODES)}, got {speed!r}"
            )
        self.width: int | None = width
        self.speed: int | None = _SPEED_CODES[speed] if speed is not None else None

    def link_limit(self) -> tuple[int | None, int | None]:
        return self.speed, self.width


#: Bits of the header that the host kernel's vfio-pci answers from its own copy rather than from
#: the device (the ALL_VIRT fields and single virtualised bits of init_pci_cap_basic_perm,
#: drivers/vfio/pci/vfio_pci_config.c, Linux 6.1 and 6.12): vendor and device ID,
#: Command.INTx-disable, Status.CapList, the BARs, the ROM BAR, the capability pointer, the
#: interrupt line and pin.
VFIO_VIRTUALISED_BITS: dict[int, int] = {
    **dict.fromkeys(range(0x00, 0x04), 0xFF),
    0x05: 0x04,
    0x06: 0x10,
    **dict.fromkeys(range(0x10, 0x28), 0xFF),
    **dict.fromkeys(range(0x30, 0x35), 0xFF),
    0x3C: 0xFF,
    0x3D: 0xFF,
}


class VfioPresented(Behaviour):
    """The function as QEMU's vfio-pci presents a host device to its guest: the header fields
    the host kernel's vfio-pci virtualises come from the copy it took when the device was opened
    (healthy, at power-on here), and take writes there (BAR sizing works); everything else is
    the device's own answer. A dead device so reads as its vendor and device ID with all-ones
    around them (header type 7f, class ffffff), which is what the guest of the reference host
    enumerated after the failed bus reset."""

    name = "vfio_presented"
    description = "header fields vfio-pci virtualises answer from its copy, the rest from the device"
    parameters: ClassVar[dict[str, str]] = {}
    answers_when_silent = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.copy: Device | None = None

    def attach(self, device: Device) -> None:
        super().attach(device)
        self.copy = Device(device.model, device.clock)

    def _mask(self, offset: int, width: int) -> int:
        return sum(VFIO_VIRTUALISED_BITS.get(offset + index, 0) << (8 * index) for index in range(width))

    def on_config_read(self, offset: int, width: int, value: int) -> int:
        mask = self._mask(offset, width)
        if not mask or self.copy is None:
            return value
        return (value & ~mask) | (self.copy.read(offset, width) & mask)

    def on_config_write(self, offset: int, width: int, value: int) -> int | None:
        mask = self._mask(offset, width)
        if not mask or self.copy is None:
            return value
        self.copy.write(offset, width, value)
        return None if mask == (1 << (8 * width)) - 1 else value

    def on_reset(self, kind: ResetKind) -> float:
        # vfio-pci keeps its copy across the device's resets; a power cycle is a new boot.
        if kind is ResetKind.POWER_CYCLE and self.copy is not None:
            self.copy.power_cycle()
        return 0.0


class FixedLinkStatus(Behaviour):
    """A port whose Link Status never follows its link: the values it was created with stay,
    whatever the device below does. QEMU's emulated PCIe root and downstream ports are such
    ports: hw/pci/pcie.c fills LnkSta when the port is realized and QEMU has no link to train;
    with QEMU 7.2.22 a guest reads Data Link Layer Link Active clear on a pcie-root-port with a
    working device behind it, although LnkCap advertises Link Active reporting above 2.5 GT/s."""

    name = "fixed_link_status"
    description = "Link Status keeps its power-on values; the port never reports the link"
    parameters: ClassVar[dict[str, str]] = {}

    def link_status_follows(self) -> bool:
        return False


class NoPresenceDetect(Behaviour):
    """A downstream port with a slot whose Presence Detect State reads 0 whatever is plugged in.
    The ASMedia ASM1184e's downstream ports do so: in Sami Farin's `lspci -vvnnx` (amd-gfx,
    2023-03-12, "[amdgpu] [RX550] 6.1.15+ kernel system freeze when display turned off"), port
    06:05.0 shows SltSta PresDet- with DLActive+ and an Intel I211 working behind it."""

    name = "no_presence_detect"
    description = "Slot Status Presence Detect State stays 0 with a device plugged in"
    parameters: ClassVar[dict[str, str]] = {}

    def presence_detect_follows(self) -> bool:
        return False


REGISTRY: dict[str, Callable[..., Behaviour]] = {
    cls.name: cls
    for cls in (
        LinkDeadAfterBusReset,
        AllOnesAfterReset,
        ReadyAfterReset,
        PmResetIgnored,
        D3coldWakeFailure,
        DmaAlias,
        DegradedLink,
        FixedLinkStatus,
        NoPresenceDetect,
        VfioPresented,
    )
}


def make_behaviour(spec: Mapping[str, Any]) -> Behaviour:
    """A behaviour from its data entry ``{name: ..., param: value}``."""
    name = spec.get("name")
    if name not in REGISTRY:
        raise BehaviourError(f"unknown behaviour {name!r}; known: {', '.join(sorted(REGISTRY))}")
    params = {key: value for key, value in spec.items() if key != "name"}
    odd = [key for key in params if not isinstance(key, str)]
    if odd:
        raise BehaviourError(f"behaviour {name}: parameter names are words, got {odd[0]!r}")
    return REGISTRY[str(name)](**params)
