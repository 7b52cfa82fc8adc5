"""The simulated counterpart of a live guest: the same topology and device models booted in
fakesys's kernel with the guest kernel's profile, and the guest's steps applied to it as the
guest's shell applies them.

The topology is the q35 machine as QEMU 7.2 builds it for vfiolab's guests (host bridge at
00:00.0, the ICH9 functions at 00:1f.0/2/3, the 9p export of the host's root at 00:1e.0 when a
step needs it) plus the scenario's devices, each one a model of the device library: QEMU's
``pcie-root-port`` as it emulates it (``qemu-pcie-root-port``, or ``qemu-pcie-root-port-5gt-x1``
for ``speed: "5", width: 1``; both with a Link Status that does not follow the device below,
fakesys.hw.behaviour.FixedLinkStatus) and every ``x-pci-proxy-dev`` as the proxy serves it to
the guest (:func:`harness.live.proxy.served.served_model`). Addresses and bus numbers follow
QEMU's and the firmware's rules: a device without ``addr`` takes the first free slot of its bus
(slot 0 behind a port, from slot 1 on pcie.0), secondary buses are numbered depth first in
slot order. A guest with other devices has no counterpart (:class:`NoCounterpart` says which).

Steps: the sysfs writes go to the kernel as the guest's ``printf ... > FILE`` makes them (a
refused write is exit status 1); ``bind`` is its driver_override, unbind and drivers_probe;
``vfio`` opens the device as QEMU's vfio-pci does (fakesys.userspace.qemu), resets it as asked,
and closes it; ``read`` reads the rendered tree. ``lspci`` and ``vfiolab`` steps run programs of
the host and have no counterpart here (they are recorded as not simulated).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fakesys.host.model import FunctionSpec, Host, IommuSpec, KernelSpec
from fakesys.hw.library import load_device
from fakesys.kernel import vfio
from fakesys.kernel.log import LogRecord
from fakesys.sysfs.tree import MemoryTree
from fakesys.userspace.log import UserspaceLog
from fakesys.userspace.machine import Machine, render_machine
from fakesys.userspace.qemu import QemuError, QemuProcess
from harness.live.errors import LiveError
from harness.live.proxy.served import load_served
from harness.live.qemu import HOST_ROOT_SLOT
from harness.live.spec import PROXY, Device, GuestSpec, Step
from harness.live.steps import PCI_DEVICES
from harness.pci.address import Bdf
from harness.sysfs import PCI_BUS, on_host

#: The q35 functions every guest has (QEMU 7.2 hw/i386/pc_q35.c, -nodefaults).
Q35_FUNCTIONS = (
    ("00:00.0", "qemu-q35-host-bridge", None),
    ("00:1f.0", "qemu-ich9-lpc", None),
    ("00:1f.2", "qemu-ich9-ahci", "ahci"),
    ("00:1f.3", "qemu-ich9-smbus", None),
)
#: Root port models by (x-speed, x-width).
ROOT_PORTS = {(None, None): "qemu-pcie-root-port", ("5", 1): "qemu-pcie-root-port-5gt-x1"}
#: Class codes whose driver the guest loads as a module (the scenario's ``modules:``).
CLASS_DRIVERS = {0x010601: "ahci"}
PROFILES = {"6.1": "6.1", "6.12": "6.12"}


class NoCounterpart(LiveError):
    """The guest has something the simulation does not model (the reason in one line)."""


@dataclass
class SimulatedStep:
    step: Step
    #: The exit status the guest's shell would give (None: not simulated).
    status: int | None
    output: str = ""


@dataclass
class SimulatedRun:
    """What the counterpart did: the kernel log of boot and of the steps, each step's status,
    the values read at the end."""

    spec: GuestSpec
    kernel: str
    addresses: dict[str, Bdf]
    machine: Machine
    boot: list[LogRecord] = field(default_factory=list)
    steps_log: list[LogRecord] = field(default_factory=list)
    steps: list[SimulatedStep] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)
    values_before: dict[str, str | None] = field(default_factory=dict)


def read_values(machine: Machine, paths: Sequence[str], binary: Sequence[str] = ()) -> dict[str, str | None]:
    """Values as the guest's ``GuestSession.read_values`` gives them: a file's text without its
    last newline (``binary`` ones as hex bytes), a symlink's target name, None when absent."""
    tree = MemoryTree()
    render_machine(machine, tree)
    values: dict[str, str | None] = {}
    for path in paths:
        relative = path.lstrip("/")
        if tree.link_at(relative) is not None:
            values[path] = tree.readlink_name(relative)
            continue
        content = tree.read(relative)
        if content is None:
            values[path] = None
        elif path in binary:
            values[path] = content.hex(" ")
        else:
            text = content.decode(errors="replace")
            values[path] = text[:-1] if text.endswith("\n") else text
    return values


def _slot(text: str) -> tuple[int, int]:
    slot, _, function = text.partition(".")
    return int(slot, 16), int(function or "0")


def guest_addresses(spec: GuestSpec) -> tuple[dict[str, Bdf], dict[str, int]]:
    """(device id: address, port or bridge id: its secondary bus) as the guest will see them."""
    unsupported = [device for device in spec.devices if device.type not in ("pcie-root-port", PROXY)]
    if unsupported:
        kinds = ", ".join(sorted({device.type for device in unsupported}))
        raise NoCounterpart(f"no simulated model of {kinds} (the counterpart models pcie-root-port and {PROXY})")
    taken: dict[str | None, set[tuple[int, int]]] = {None: {(0, 0), (0x1F, 0), (0x1F, 2), (0x1F, 3)}}
    if spec.needs_host_root:
        taken[None].add((HOST_ROOT_SLOT, 0))
    slots: dict[str, tuple[str | None, int, int]] = {}
    for device in spec.devices:
        bus = None if device.bus in (None, "pcie.0") else device.bus
        used = taken.setdefault(bus, set())
        if device.addr is not None:
            slot, function = _slot(device.addr)
        else:
            slot = next(number for number in range(1 if bus is None else 0, 32) if (number, 0) not in used)
            function = 0
        if (slot, function) in used:
            raise NoCounterpart(f"{device.id}: slot {slot:02x}.{function} of its bus is taken (QEMU refuses it too)")
        used.add((slot, function))
        slots[device.id] = (bus, slot, function)
    secondary: dict[str, int] = {}
    counter = iter(range(1, 256))

    def number(bus: str | None) -> None:
        on_bus = sorted((slot, function, name) for name, (parent, slot, function) in slots.items() if parent == bus)
        for _, _, name in on_bus:
            if name in {device.id for device in spec.devices if device.type == "pcie-root-port"}:
                secondary[name] = next(counter)
                number(name)

    number(None)
    addresses = {
        name: Bdf(0, secondary[parent] if parent is not None else 0, slot, function)
        for name, (parent, slot, function) in slots.items()
    }
    return addresses, secondary


def counterpart_host(spec: GuestSpec, kernel: str) -> tuple[Host, dict[str, Bdf]]:
    """The fakesys host of ``spec``'s guest on guest kernel ``kernel``, and each device's address."""
    if kernel not in PROFILES:
        raise NoCounterpart(f"no kernel profile for guest kernel {kernel}")
    addresses, secondary = guest_addresses(spec)
    modules = set(spec.modules)
    functions: list[FunctionSpec] = []
    for text, name, driver in Q35_FUNCTIONS:
        functions.append(_function(Bdf.parse(text), name, driver if driver in modules else None))
    if spec.needs_host_root:
        functions.append(_function(Bdf(0, 0, HOST_ROOT_SLOT, 0), "qemu-virtio-9p-pci", "virtio-pci"))
    for device in spec.devices:
        functions.append(_device_function(device, addresses, secondary, modules))
    iommu = IommuSpec(firmware_table=False, enabled=False, interrupt_remapping=False)
    if spec.iommu is not None:
        iommu = IommuSpec(interrupt_remapping=spec.iommu.intremap, default_domain="DMA")
    host = Host(
        source=f"<counterpart of a live guest, kernel {kernel}>",
        functions=sorted(functions, key=lambda item: (item.bdf.bus, item.bdf.devfn)),
        name="QEMU q35 guest (simulated counterpart)",
        kernel=KernelSpec(release=f"{kernel} (simulated)", profile=PROFILES[kernel]),
        iommu=iommu,
    )
    return host, addresses


def _function(bdf: Bdf, device_name: str, driver: str | None, **extra: Any) -> FunctionSpec:
    model = load_device(device_name)
    return FunctionSpec(bdf, device_name, model, driver=driver, behaviours=list(model.behaviours), **extra)


def _device_function(
    device: Device, addresses: Mapping[str, Bdf], secondary: Mapping[str, int], modules: set[str]
) -> FunctionSpec:
    bdf = addresses[device.id]
    if device.type == "pcie-root-port":
        name = ROOT_PORTS.get((device.speed, device.width))
        if name is None:
            raise NoCounterpart(
                f"{device.id}: no model of a pcie-root-port with x-speed={device.speed} x-width={device.width}"
            )
        bus = secondary[device.id]
        return _function(bdf, name, "pcieport", secondary_bus=bus, subordinate_bus=bus)
    assert device.proxy is not None
    served = load_served(device.proxy).model
    driver = CLASS_DRIVERS.get(served.class_code)
    return FunctionSpec(
        bdf,
        device.proxy.model,
        served,
        driver=driver if driver in modules else None,
        condition="absent" if device.proxy.condition == "dead" else "ok",
        behaviours=[*served.behaviours, *(dict(entry) for entry in device.proxy.behaviours)],
    )


def run_counterpart(
    spec: GuestSpec,
    kernel: str,
    read_paths: Sequence[str] = (),
    binary: Sequence[str] = (),
    read_before: Sequence[str] = (),
) -> SimulatedRun:
    """Boot the counterpart, load the setup's modules, read ``read_before``, apply the steps,
    read ``read_paths``."""
    host, addresses = counterpart_host(spec, kernel)
    machine = Machine(host)
    run = SimulatedRun(spec, kernel, addresses, machine)
    run.boot = list(machine.kernel.log.records)
    for module in (*spec.modules, *(module for step in spec.steps for module in _step_modules(step))):
        machine.kernel.load_module(module.replace("-", "_"))
    run.values_before = read_values(machine, read_before, binary)
    start = len(machine.kernel.log.records)
    machine.kernel.clock.track_window()
    for step in spec.steps:
        run.steps.append(_apply(machine, step))
    run.steps_log = machine.kernel.log.records[start:]
    run.values = read_values(machine, read_paths, binary)
    return run


def _step_modules(step: Step) -> Iterator[str]:
    if step.action == "vfio":
        yield from ("vfio-pci", "vfio_iommu_type1")


def _write(machine: Machine, path: str, value: str) -> int:
    """``printf '%s\\n' VALUE > PATH``: the shell's status."""
    return 0 if machine.kernel.write(path, value + "\n") >= 0 else 1


def _device_path(address: str, name: str) -> str:
    return f"{PCI_DEVICES}/{address}/{name}"


def _apply(machine: Machine, step: Step) -> SimulatedStep:
    action, value = step.action, step.value
    kernel = machine.kernel
    if action == "modprobe":
        kernel.load_module(str(value).replace("-", "_"))
        return SimulatedStep(step, 0)
    if action in ("reset", "remove"):
        return SimulatedStep(step, _write(machine, _device_path(value, action), "1"))
    if action == "rescan":
        return SimulatedStep(step, _write(machine, on_host(f"{PCI_BUS}/rescan"), "1"))
    if action == "reset_method":
        return SimulatedStep(step, _write(machine, _device_path(value["device"], "reset_method"), value["value"]))
    if action == "driver_override":
        return SimulatedStep(
            step, _write(machine, _device_path(value["device"], "driver_override"), value["driver"] or "")
        )
    if action == "unbind":
        return SimulatedStep(step, _write(machine, _device_path(value, "driver/unbind"), value))
    if action == "write":
        return SimulatedStep(step, _write(machine, value["path"], value["value"]))
    if action == "bind":
        return _bind(machine, step)
    if action == "vfio":
        return _vfio(machine, step)
    if action == "read":
        found = read_values(machine, [value["path"]])[value["path"]]
        return SimulatedStep(step, 0 if found is not None else 1, found or "")
    if action in ("sleep", "wait_for"):
        if action == "sleep":
            machine.wait(float(value))
        return SimulatedStep(step, 0)
    return SimulatedStep(step, None, f"{action}: not simulated (it runs a program of the host)")


def _bind(machine: Machine, step: Step) -> SimulatedStep:
    address, driver = step.value["device"], step.value["driver"]
    kernel = machine.kernel
    kernel.load_module(driver.replace("-", "_"))
    status = _write(machine, _device_path(address, "driver_override"), driver)
    dev = kernel.find(Bdf.parse(address))
    if status == 0 and dev is not None and dev.driver is not None:
        status = _write(machine, _device_path(address, "driver/unbind"), address)
    if status == 0:
        status = _write(machine, on_host(f"{PCI_BUS}/drivers_probe"), address)
    if status == 0 and (dev is None or dev.driver != driver):
        status = 1
    return SimulatedStep(step, status)


def _vfio(machine: Machine, step: Step) -> SimulatedStep:
    """The VFIO client's open, resets and close, as QEMU's vfio-pci makes them."""
    kernel = machine.kernel
    dev = kernel.find(Bdf.parse(step.value["device"]))
    if dev is None or dev.driver != "vfio-pci":
        return SimulatedStep(step, 1, "not bound to vfio-pci")
    qemu = QemuProcess(kernel, UserspaceLog(kernel.clock))
    try:
        assigned = qemu.realize(dev)
    except QemuError as error:
        return SimulatedStep(step, 1, str(error))
    status = 0
    if step.value.get("reset") and vfio.ioctl_reset(kernel, dev) != 0:
        status = 1
    if status == 0 and step.value.get("hot_reset"):
        targets = vfio.hot_reset_targets(kernel, dev)
        if isinstance(targets, int) or vfio.ioctl_hot_reset(kernel, dev) != 0:
            status = 1
    if status == 0 and step.value.get("qemu_reset") and not qemu.reset_device(assigned):
        status = 1
    qemu.exit()
    return SimulatedStep(step, status)
