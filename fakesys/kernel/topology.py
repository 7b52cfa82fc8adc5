"""Enumeration: arranging a host's functions into the PCI hierarchy the kernel would find.

Parents come from bridge bus ranges (and are checked against ``behind:`` when the host names
one); functions of a slot are found only when function 0 exists, as ``pci_scan_slot`` requires;
devices are added in the kernel's scan order (``pci_scan_child_bus_extend``: every slot of a bus
first, then each bridge's secondary bus, depth first), which is the order IOMMU groups are
numbered in. Identity, capability offsets and quirk flags are cached as ``pci_setup_device``
and the header fixups do.
"""

from __future__ import annotations

from collections import Counter

from fakesys.clock import VirtualClock
from fakesys.errors import TopologyError
from fakesys.host.model import FunctionSpec, Host
from fakesys.hw import link
from fakesys.hw.behaviour import make_behaviour
from fakesys.hw.device import Device
from fakesys.kernel import quirks
from fakesys.kernel.pcidev import PCIE_TO_PCI_BRIDGE, PciDev
from harness.pci import regs
from harness.pci.address import Bdf
from harness.pci.release import Release, running_release


def _where(spec: FunctionSpec, source: str) -> str:
    """``file:line`` of a function's entry (its own file: it may come from a base host)."""
    path = spec.source or source
    return f"{path}:{spec.line}" if spec.line else path


def _bus_range(spec: FunctionSpec) -> tuple[int, int] | None:
    if spec.secondary_bus is None:
        return None
    return spec.secondary_bus, spec.subordinate_bus or spec.secondary_bus


def _cache_identity(dev: PciDev, profile: str, release: Release | None) -> None:
    """What pci_setup_device, set_pcie_port_type and the header quirks record."""
    # Read the registers as firmware left them (bus numbers, multifunction bit).
    model = dev.device.model.copy()
    model.config[:] = dev.device.registers
    space = model.space
    dev.vendor = model.vendor_id
    dev.device_id = model.device_id
    dev.class_code = model.class_code
    dev.revision = model.revision
    dev.subsystem_vendor, dev.subsystem_device = model.subsystem
    dev.header_layout = model.config[0x0E] & 0x7F
    dev.config_size = len(model.config)
    express = space.express()
    if express is not None:
        dev.pcie_cap = express.offset
        dev.pcie_type = express.port_type
        dev.pcie_flags_slot = express.slot_implemented
        dev.devcap = express.raw("devcap")
        dev.link_active_reporting = express.dll_active_reporting
    dev.imm_ready = bool(model.config[0x06] & 0x01)
    pm = space.power_management()
    if pm is not None and pm.version <= 3:
        dev.pm_cap = pm.offset
    acs = space.acs()
    if acs is not None:
        dev.acs_cap = acs.offset
    ids = (dev.vendor, dev.device_id, dev.class_code, profile)
    dev.no_bus_reset = quirks.matches(quirks.NO_BUS_RESET, *ids, release=release)
    dev.no_pm_reset = quirks.matches(quirks.NO_PM_RESET, *ids, release=release) and dev.parent is not None
    dev.no_flr_reset = quirks.matches(quirks.NO_FLR, *ids, release=release)
    dev.acs_enabled_by_quirk = quirks.acs_enable_quirk_runs(bool(dev.acs_cap), release)
    slot = dev.bdf.device
    if quirks.matches(quirks.DMA_ALIAS_FUNCTION0, *ids, release=release) and dev.bdf.function != 0:
        dev.dma_alias_devfns.add(slot << 3)
    if quirks.matches(quirks.DMA_ALIAS_FUNCTION1, *ids, release=release) and dev.bdf.function != 1:
        dev.dma_alias_devfns.add(slot << 3 | 1)
    if (
        quirks.matches(quirks.PCIE_BRIDGE_ALIAS, *ids, release=release)
        and dev.parent is not None
        and dev.is_bridge
        and not dev.is_pcie
        and dev.parent.is_pcie
        and dev.parent.pcie_type != PCIE_TO_PCI_BRIDGE
    ):
        dev.pcie_bridge_alias = True


def build_topology(host: Host, profile: str, clock: VirtualClock | None = None) -> list[PciDev]:
    """Every function as a :class:`PciDev`, linked to its parent bridge, in scan order; the
    devices' hardware is wired to its ports and its links trained."""
    clock = clock or VirtualClock()
    devices = {
        spec.bdf: PciDev(
            spec.bdf, Device(spec.model, clock, [make_behaviour(entry) for entry in spec.behaviours]), spec
        )
        for spec in host.functions
    }
    bridges = [dev for dev in devices.values() if dev.spec.model.is_bridge]
    for bridge in bridges:
        bridge.secondary_bus = bridge.spec.secondary_bus
        bridge.subordinate_bus = bridge.spec.subordinate_bus
    _check_bridge_ranges(host, bridges)
    secondary_owners: dict[tuple[int, int], list[PciDev]] = {}
    for bridge in bridges:
        if bridge.secondary_bus is not None:
            secondary_owners.setdefault((bridge.bdf.domain, bridge.secondary_bus), []).append(bridge)
    root_buses: set[tuple[int, int]] = set()
    for dev in devices.values():
        dev.parent = _find_parent(host, dev, devices, bridges, secondary_owners)
        if dev.parent is None:
            root_buses.add((dev.bdf.domain, dev.bdf.bus))
        else:
            dev.parent.children.append(dev)
    _check_slots(host, devices)
    slot_sizes = Counter(dev.bdf.slot for dev in devices.values())
    for dev in devices.values():
        _set_header(dev, slot_sizes[dev.bdf.slot])
    for bridge in bridges:
        for child in sorted(bridge.children, key=lambda d: d.devfn):
            bridge.device.downstream.append(child.device)
            child.device.upstream = bridge.device
        link.detect_presence(bridge.device)
        # A switch's upstream port faces the switch's internal bus, which has no link to train.
        if bridge.device.port_type != regs.EXPRESS_TYPE_UPSTREAM:
            link.train(bridge.device)
    ordered: list[PciDev] = []
    on_root = sorted(
        (d for d in devices.values() if d.parent is None), key=lambda d: (d.bdf.domain, d.bdf.bus, d.devfn)
    )
    for domain, bus in sorted(root_buses):
        _scan_bus([d for d in on_root if (d.bdf.domain, d.bdf.bus) == (domain, bus)], ordered)
    release = running_release(host.kernel.release, host.kernel.version)
    for dev in ordered:
        _cache_identity(dev, profile, release)
    return ordered


def _scan_bus(on_bus: list[PciDev], ordered: list[PciDev]) -> None:
    ordered.extend(on_bus)
    for dev in on_bus:
        if dev.is_bridge or dev.spec.model.is_bridge:
            _scan_bus(sorted(dev.children, key=lambda d: d.devfn), ordered)


def _check_bridge_ranges(host: Host, bridges: list[PciDev]) -> None:
    ranged = [b for b in bridges if _bus_range(b.spec) is not None]
    for index, first in enumerate(ranged):
        first_range = _bus_range(first.spec)
        assert first_range is not None
        for second in ranged[index + 1 :]:
            second_range = _bus_range(second.spec)
            assert second_range is not None
            if first.bdf.domain != second.bdf.domain:
                continue
            low = max(first_range[0], second_range[0])
            high = min(first_range[1], second_range[1])
            if low > high:
                continue
            inner, outer = (first, second) if first_range[0] > second_range[0] else (second, first)
            inner_range = _bus_range(inner.spec)
            outer_range = _bus_range(outer.spec)
            assert inner_range is not None and outer_range is not None
            nested = (
                outer_range[0] <= inner.bdf.bus <= outer_range[1]
                and outer_range[0] <= inner_range[0]
                and inner_range[1] <= outer_range[1]
            )
            if not nested or inner_range[0] == outer_range[0]:
                raise TopologyError(
                    f"{_where(second.spec, host.source)}: bus range {second_range[0]:02x}-{second_range[1]:02x} "
                    f"of {second.bdf} overlaps {first_range[0]:02x}-{first_range[1]:02x} of {first.bdf} "
                    "without nesting inside it"
                )


def _find_parent(
    host: Host,
    dev: PciDev,
    devices: dict[Bdf, PciDev],
    bridges: list[PciDev],
    secondary_owners: dict[tuple[int, int], list[PciDev]],
) -> PciDev | None:
    bus = dev.bdf.bus
    if dev.spec.behind is not None:
        parent = devices.get(dev.spec.behind)
        if parent is None:
            raise TopologyError(
                f"{_where(dev.spec, host.source)}: {dev.bdf} is behind {dev.spec.behind}, which is not in pci:"
            )
        if not parent.spec.model.is_bridge:
            raise TopologyError(
                f"{_where(dev.spec, host.source)}: {dev.bdf} is behind {parent.bdf} ({parent.spec.device_name}), "
                "which is not a bridge"
            )
        bus_range = _bus_range(parent.spec)
        if bus_range is None:
            raise TopologyError(
                f"{_where(parent.spec, host.source)}: bridge {parent.bdf} has devices behind it but no bus: range"
            )
        if bus != bus_range[0]:
            where = "outside" if not bus_range[0] <= bus <= bus_range[1] else "below (not on)"
            raise TopologyError(
                f"{_where(dev.spec, host.source)}: {dev.bdf} is on bus {bus:02x}, {where} the secondary bus "
                f"{bus_range[0]:02x} of {parent.bdf} (range {bus_range[0]:02x}-{bus_range[1]:02x})"
            )
        return parent
    owners = secondary_owners.get((dev.bdf.domain, bus), [])
    if len(owners) > 1:
        raise TopologyError(
            f"{_where(dev.spec, host.source)}: bus {bus:02x} is the secondary bus of both "
            f"{owners[0].bdf} and {owners[1].bdf}"
        )
    if owners:
        return owners[0]
    for bridge in bridges:
        bus_range = _bus_range(bridge.spec)
        if bridge.bdf.domain == dev.bdf.domain and bus_range is not None and bus_range[0] <= bus <= bus_range[1]:
            raise TopologyError(
                f"{_where(dev.spec, host.source)}: {dev.bdf} is on bus {bus:02x} inside the range of {bridge.bdf}, "
                "but no bridge has it as secondary bus"
            )
    if bus != 0:
        raise TopologyError(
            f"{_where(dev.spec, host.source)}: no bridge has bus {bus:02x} in its range; give the port above "
            f"{dev.bdf} a bus: {{secondary: {bus}}} or name it with behind:"
        )
    return None


def _check_slots(host: Host, devices: dict[Bdf, PciDev]) -> None:
    for dev in devices.values():
        if dev.bdf.function == 0:
            continue
        first = dev.bdf._replace(function=0)
        if first not in devices:
            raise TopologyError(
                f"{_where(dev.spec, host.source)}: {dev.bdf} has no function 0 in its slot ({first}); "
                "the kernel scans functions 1-7 only behind function 0 (pci_scan_slot)"
            )


def _set_header(dev: PciDev, functions_in_slot: int) -> None:
    """Registers firmware set: bus numbers of bridges, the multifunction bit of a slot."""
    config = dev.device.registers
    if functions_in_slot > 1:
        config[0x0E] |= 0x80
    dev.multifunction = bool(config[0x0E] & 0x80)
    if dev.spec.model.is_bridge and dev.spec.secondary_bus is not None:
        config[0x18] = dev.bdf.bus
        config[0x19] = dev.spec.secondary_bus
        config[0x1A] = dev.spec.subordinate_bus or dev.spec.secondary_bus
