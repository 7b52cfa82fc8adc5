"""A scenario's ``guest:`` part as typed records: the kernels to run on, QEMU's devices, the
modules, the steps, and what each step must give.

The JSON Schema (``harness/live/guest.schema.json``, referenced from the scenario schema) has
already checked types and forms when the scenario loaded; here go the rules a schema cannot say:
one action per step, a device's ``bus`` names an earlier port or bridge, ids are unique, disks
only on controllers. Each problem is one :class:`~harness.live.errors.GuestSpecError` naming
the scenario file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.live.errors import GuestSpecError
from harness.pci.address import Bdf

if TYPE_CHECKING:
    from harness.scenario.loader import Scenario

DEFAULT_KERNELS = ("6.1",)
DEFAULT_MEMORY_MIB = 512
DEFAULT_DISK_MIB = 16
#: Devices that provide a bus, and what may sit on it: ``slot`` (one PCIe device at 0.0),
#: ``switch`` (downstream ports only), ``conventional`` (PCI devices at any slot).
BUS_KINDS = {
    "pcie-root-port": "slot",
    "xio3130-downstream": "slot",
    "x3130-upstream": "switch",
    "pci-bridge": "conventional",
    "pcie-pci-bridge": "conventional",
}
#: Devices with a hotplug slot number (``chassis``/``slot``), or a bridge's ``chassis_nr``.
PORTS = ("pcie-root-port", "xio3130-downstream")
BRIDGES = ("pci-bridge",)
DISK_CONTROLLERS = ("ich9-ahci", "nvme")
#: Step actions and the ones that need the host's root (the host's lspci, Python and vfiolab).
ACTIONS = (
    "modprobe",
    "bind",
    "unbind",
    "driver_override",
    "reset_method",
    "reset",
    "remove",
    "rescan",
    "write",
    "read",
    "wait_for",
    "sleep",
    "lspci",
    "vfiolab",
    "vfio",
)
HOST_ROOT_ACTIONS = ("lspci", "vfiolab", "vfio")
DEFAULT_STEP_TIMEOUT = 30.0
#: A device served from outside QEMU by vfiolab's proxy server (harness.live.proxy).
PROXY = "x-pci-proxy-dev"
PROXY_CONDITIONS = ("ok", "dead")
#: pcie-root-port and xio3130-downstream link properties (QEMU's x-speed and x-width).
LINK_SPEEDS = ("2_5", "5", "8", "16")


@dataclass(frozen=True)
class Disk:
    size_mib: int = DEFAULT_DISK_MIB
    marker: str = ""


@dataclass(frozen=True)
class Proxy:
    """What the proxy server serves for an ``x-pci-proxy-dev``: a fakesys library device with
    its behaviours (fakesys.hw.behaviour) and its condition (``dead``: answers nothing from
    power-on). ``scenario_file``: the scenario that names it, whose ``devices/`` directory is
    searched first (an imported report's own device descriptions), as for its host."""

    model: str
    behaviours: tuple[Mapping[str, Any], ...] = ()
    condition: str = "ok"
    scenario_file: Path | None = None

    def describe(self) -> str:
        parts = [self.model]
        if self.condition != "ok":
            parts.append(f"condition {self.condition}")
        parts += [str(entry.get("name", "?")) for entry in self.behaviours]
        return ", ".join(parts)


@dataclass(frozen=True)
class Device:
    """One ``-device`` of QEMU's command line."""

    id: str
    type: str
    bus: str | None = None
    addr: str | None = None
    multifunction: bool | None = None
    chassis: int | None = None
    slot: int | None = None
    disk: Disk | None = None
    #: Root and downstream ports: QEMU's x-speed and x-width (None: QEMU's defaults, 16 and 32).
    speed: str | None = None
    width: int | None = None
    proxy: Proxy | None = None


@dataclass(frozen=True)
class Iommu:
    intremap: bool = True
    caching_mode: bool = False


@dataclass(frozen=True)
class Step:
    """One step run in the guest's shell, with what it must give."""

    index: int
    action: str
    value: Any
    status: int = 0
    output: Mapping[str, Any] | None = None
    timeout: float = DEFAULT_STEP_TIMEOUT
    #: The scenario file's line of the step (0 when built in code).
    line: int = 0

    def describe(self) -> str:
        """``steps[2] reset 0000:01:00.0``: how reports name the step."""
        value = self.value
        if self.action in ("bind", "driver_override", "reset_method", "vfio"):
            value = " ".join(f"{key}={item}" for key, item in value.items())
        elif isinstance(value, list):
            value = " ".join(value)
        elif isinstance(value, dict):
            value = " ".join(str(item) for item in value.values())
        return f"steps[{self.index}] {self.action} {value}".rstrip()


@dataclass(frozen=True)
class GuestSpec:
    """What a live run boots and does."""

    kernels: tuple[str, ...] = DEFAULT_KERNELS
    memory_mib: int = DEFAULT_MEMORY_MIB
    iommu: Iommu | None = None
    devices: tuple[Device, ...] = ()
    modules: tuple[str, ...] = ()
    #: Parameters added to the guest kernel's command line.
    kernel_args: tuple[str, ...] = ()
    host_root: bool = False
    steps: tuple[Step, ...] = field(default_factory=tuple)

    @property
    def proxies(self) -> tuple[Device, ...]:
        """The devices the proxy server serves."""
        return tuple(device for device in self.devices if device.proxy is not None)

    @property
    def needs_host_root(self) -> bool:
        return self.host_root or any(step.action in HOST_ROOT_ACTIONS for step in self.steps)

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        source: str = "<guest>",
        line_of: Callable[..., int] | None = None,
        scenario_file: Path | None = None,
    ) -> GuestSpec:
        """Build from the ``guest:`` mapping (already schema-checked); ``line_of(*path)`` gives
        the file's line of an item under ``guest:`` for error messages; ``scenario_file`` is
        the scenario's file (its proxied devices' models are looked up beside it first)."""

        def fail(message: str, *at: str | int) -> GuestSpecError:
            line = line_of(*at) if line_of is not None else 0
            return GuestSpecError(f"{source}:{line}: {message}" if line else f"{source}: {message}")

        devices = tuple(_device(item, index, fail, scenario_file) for index, item in enumerate(data.get("devices", [])))
        _check_topology(devices, fail)
        steps = tuple(_step(item, index, fail, line_of) for index, item in enumerate(data.get("steps", [])))
        iommu_data = data.get("iommu")
        iommu = None
        if iommu_data is not None:
            iommu = Iommu(bool(iommu_data.get("intremap", True)), bool(iommu_data.get("caching_mode", False)))
        return cls(
            kernels=tuple(data.get("kernels", DEFAULT_KERNELS)),
            memory_mib=int(data.get("memory_mib", DEFAULT_MEMORY_MIB)),
            iommu=iommu,
            devices=devices,
            modules=tuple(data.get("modules", ())),
            kernel_args=tuple(data.get("kernel_args", ())),
            host_root=bool(data.get("host_root", False)),
            steps=steps,
        )

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> GuestSpec:
        """The guest of a loaded scenario; a scenario with guest expectations but no ``guest:``
        part gets the default guest (no devices, no steps)."""

        def line_of(*at: str | int) -> int:
            return scenario.line("guest", *at)

        return cls.from_data(scenario.guest or {}, str(scenario.path), line_of, scenario.path)


def _device(
    item: Mapping[str, Any], index: int, fail: Callable[..., GuestSpecError], scenario_file: Path | None = None
) -> Device:
    kind = item["type"]
    if "disk" in item and kind not in DISK_CONTROLLERS:
        raise fail(
            f"guest.devices[{index}].disk: only {' and '.join(DISK_CONTROLLERS)} take a disk", "devices", index, "disk"
        )
    if ("chassis" in item or "slot" in item) and kind not in (*PORTS, *BRIDGES):
        raise fail(
            f"guest.devices[{index}]: chassis and slot apply to {', '.join((*PORTS, *BRIDGES))}, not {kind}",
            "devices",
            index,
        )
    if ("speed" in item or "width" in item) and kind not in PORTS:
        raise fail(f"guest.devices[{index}]: speed and width apply to {', '.join(PORTS)}, not {kind}", "devices", index)
    proxy = None
    if kind == PROXY:
        if "model" not in item:
            raise fail(f"guest.devices[{index}]: an {PROXY} needs model: (a device of the library)", "devices", index)
        proxy = Proxy(
            model=item["model"],
            behaviours=tuple(dict(entry) for entry in item.get("behaviours", ())),
            condition=item.get("condition", "ok"),
            scenario_file=scenario_file,
        )
    elif any(key in item for key in ("model", "behaviours", "condition")):
        raise fail(
            f"guest.devices[{index}]: model, behaviours and condition apply to {PROXY}, not {kind}",
            "devices",
            index,
        )
    disk_data = item.get("disk")
    disk = None
    if disk_data is not None or kind == "nvme":
        disk_data = disk_data or {}
        disk = Disk(int(disk_data.get("size_mib", DEFAULT_DISK_MIB)), str(disk_data.get("marker", "")))
        if len(disk.marker) > disk.size_mib << 20:
            raise fail(f"guest.devices[{index}].disk.marker does not fit the disk", "devices", index, "disk")
    return Device(
        id=item["id"],
        type=kind,
        bus=item.get("bus"),
        addr=item.get("addr"),
        multifunction=item.get("multifunction"),
        chassis=item.get("chassis"),
        slot=item.get("slot"),
        disk=disk,
        speed=item.get("speed"),
        width=item.get("width"),
        proxy=proxy,
    )


def _check_topology(devices: Sequence[Device], fail: Callable[..., GuestSpecError]) -> None:
    known: dict[str, Device] = {}
    for index, device in enumerate(devices):
        if device.id in known or device.id in ("pcie.0", "hostroot"):
            raise fail(f"guest.devices[{index}].id: {device.id!r} is used twice", "devices", index, "id")
        parent = known.get(device.bus) if device.bus not in (None, "pcie.0") else None
        if device.bus not in (None, "pcie.0"):
            if parent is None:
                ports = [item.id for item in known.values() if item.type in BUS_KINDS]
                raise fail(
                    f"guest.devices[{index}].bus: no earlier port or bridge {device.bus!r}"
                    + (f" (earlier ones: {', '.join(ports)})" if ports else ""),
                    "devices",
                    index,
                    "bus",
                )
            kind = BUS_KINDS.get(parent.type)
            if kind is None:
                raise fail(
                    f"guest.devices[{index}].bus: {parent.id} ({parent.type}) provides no bus", "devices", index, "bus"
                )
            if kind == "switch" and device.type != "xio3130-downstream":
                raise fail(
                    f"guest.devices[{index}].bus: only xio3130-downstream ports go on the switch's upstream port "
                    f"{parent.id}",
                    "devices",
                    index,
                    "bus",
                )
        if device.type == "xio3130-downstream" and (parent is None or parent.type != "x3130-upstream"):
            raise fail(
                f"guest.devices[{index}].bus: a downstream port goes on an x3130-upstream port", "devices", index
            )
        if device.type == "x3130-upstream" and (parent is None or BUS_KINDS.get(parent.type) != "slot"):
            raise fail(f"guest.devices[{index}].bus: a switch's upstream port goes in a root port", "devices", index)
        if device.bus in (None, "pcie.0") and device.addr is not None and int(device.addr.split(".")[0], 16) == 0x1E:
            # harness.live.qemu.HOST_ROOT_SLOT: the host root's 9p device.
            raise fail(
                f"guest.devices[{index}].addr: slot 1e of pcie.0 is reserved for the host root's 9p device",
                "devices",
                index,
                "addr",
            )
        known[device.id] = device


def _step(
    item: Mapping[str, Any],
    index: int,
    fail: Callable[..., GuestSpecError],
    line_of: Callable[..., int] | None,
) -> Step:
    actions = [key for key in item if key in ACTIONS]
    if len(actions) != 1:
        found = ", ".join(actions) or "none"
        raise fail(
            f"guest.steps[{index}]: expected exactly one action ({', '.join(ACTIONS)}), found {found}", "steps", index
        )
    action = actions[0]
    value = item[action]
    if action in ("unbind", "reset", "remove"):
        value = str(Bdf.parse(value))
    elif action in ("bind", "driver_override", "reset_method", "vfio"):
        value = {**value, "device": str(Bdf.parse(value["device"]))}
    return Step(
        index=index,
        action=action,
        value=value,
        status=int(item.get("status", 0)),
        output=item.get("output"),
        timeout=float(item.get("timeout", DEFAULT_STEP_TIMEOUT)),
        line=line_of("steps", index) if line_of is not None else 0,
    )
