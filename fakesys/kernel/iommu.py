"""IOMMU groups, computed as Linux's ``pci_device_group`` computes them.

Follows drivers/iommu/iommu.c (``pci_device_group``, ``get_pci_alias_group``,
``get_pci_function_alias_group``), drivers/pci/search.c (``pci_for_each_dma_alias``) and
drivers/pci/pci.c (``pci_acs_enabled``, ``pci_acs_path_enabled``, ``pci_acs_flags_enabled``),
identical in 6.1.192 and 6.12.117 for the paths modelled here. Devices are grouped in the order
the kernel adds them and each new group takes the lowest free number (``ida_alloc``).

With the IOMMU enabled the kernel also turns on ACS Source Validation, Request and Completion
Redirect and Upstream Forwarding wherever the capability offers them (``pci_std_enable_acs``),
so :func:`enable_acs` writes those control bits before grouping.
"""

from __future__ import annotations

from fakesys.errors import TopologyError
from fakesys.kernel import quirks
from fakesys.kernel.pcidev import (
    PCI_TO_PCIE_BRIDGE,
    PCIE_DOWNSTREAM,
    PCIE_ENDPOINT,
    PCIE_LEGACY_ENDPOINT,
    PCIE_RC_ENDPOINT,
    PCIE_RC_EVENT_COLLECTOR,
    PCIE_ROOT_PORT,
    PCIE_TO_PCI_BRIDGE,
    PCIE_UPSTREAM,
    PciDev,
)
from harness.pci import regs

#: REQ_ACS_FLAGS in drivers/iommu/iommu.c.
REQUIRED_ACS = regs.ACS_SV | regs.ACS_RR | regs.ACS_CR | regs.ACS_UF


def enable_acs(dev: PciDev) -> None:
    """pci_std_enable_acs: enable SV/RR/CR/UF where the ACS capability offers them."""
    if not dev.acs_cap:
        return
    cap = dev.device.read(dev.acs_cap + regs.ACS_CAP_OFFSET, 2)
    ctrl = dev.device.read(dev.acs_cap + regs.ACS_CTRL_OFFSET, 2)
    ctrl |= cap & REQUIRED_ACS
    dev.device.write(dev.acs_cap + regs.ACS_CTRL_OFFSET, 2, ctrl)


def acs_flags_enabled(dev: PciDev, required: int) -> bool:
    """pci_acs_flags_enabled: a missing capability bit counts as hard-wired on, except EC."""
    if not dev.acs_cap:
        return False
    cap = dev.device.read(dev.acs_cap + regs.ACS_CAP_OFFSET, 2)
    ctrl = dev.device.read(dev.acs_cap + regs.ACS_CTRL_OFFSET, 2)
    required &= cap | regs.ACS_EC
    return ctrl & required == required


def acs_enabled(dev: PciDev, required: int = REQUIRED_ACS) -> bool:
    """pci_acs_enabled (drivers/pci/pci.c)."""
    quirk = quirks.acs_quirk(
        dev.vendor, dev.device_id, dev.pcie_type, dev.multifunction, enabled_by_quirk=dev.acs_enabled_by_quirk
    )
    if quirk is not None:
        return quirk
    if not dev.is_pcie:
        return False
    port_type = dev.pcie_type
    if port_type in (PCI_TO_PCIE_BRIDGE, PCIE_TO_PCI_BRIDGE, PCIE_RC_EVENT_COLLECTOR):
        return False
    if port_type in (PCIE_DOWNSTREAM, PCIE_ROOT_PORT):
        return acs_flags_enabled(dev, required)
    if port_type in (PCIE_ENDPOINT, PCIE_UPSTREAM, PCIE_LEGACY_ENDPOINT, PCIE_RC_ENDPOINT) and dev.multifunction:
        return acs_flags_enabled(dev, required)
    return True


def acs_path_enabled(start: PciDev, required: int = REQUIRED_ACS) -> bool:
    """pci_acs_path_enabled(start, NULL, flags): every device from ``start`` to the root bus."""
    node: PciDev | None = start
    while node is not None:
        if not acs_enabled(node, required):
            return False
        node = node.parent
    return True


def _dma_alias_chain(dev: PciDev) -> list[PciDev]:
    """The devices pci_for_each_dma_alias hands to its callback, in order (search.c)."""
    chain = [dev]
    node = dev.parent
    while node is not None:
        if node.is_pcie:
            if node.pcie_type in (PCIE_ROOT_PORT, PCIE_UPSTREAM, PCIE_DOWNSTREAM):
                node = node.parent
                continue
            if node.pcie_type in (PCIE_TO_PCI_BRIDGE, PCI_TO_PCIE_BRIDGE):
                chain.append(node)
        else:
            chain.append(node)
        node = node.parent
    return chain


def _are_dma_aliases(first: PciDev, second: PciDev) -> bool:
    """pci_devs_are_dma_aliases: either one's alias mask holds the other's devfn."""
    return second.devfn in first.dma_alias_devfns or first.devfn in second.dma_alias_devfns


class _Grouper:
    def __init__(self, devices: list[PciDev]) -> None:
        self.devices = devices
        self.groups: dict[PciDev, int] = {}
        self.next_id = 0
        self.by_bus: dict[tuple[int, int, int], list[PciDev]] = {}
        for dev in devices:
            self.by_bus.setdefault(self.bus_key(dev), []).append(dev)

    @staticmethod
    def bus_key(dev: PciDev) -> tuple[int, int, int]:
        return (id(dev.parent), dev.bdf.domain, dev.bdf.bus)

    def alias_group(self, dev: PciDev, seen: set[int]) -> int | None:
        """get_pci_alias_group."""
        if dev.devfn in seen:
            return None
        seen.add(dev.devfn)
        if dev in self.groups:
            return self.groups[dev]
        for other in self.by_bus[self.bus_key(dev)]:
            if other is dev:
                continue
            if _are_dma_aliases(dev, other):
                group = self.alias_group(other, seen)
                if group is not None:
                    return group
                group = self.function_alias_group(other, seen)
                if group is not None:
                    return group
        return None

    def function_alias_group(self, dev: PciDev, seen: set[int]) -> int | None:
        """get_pci_function_alias_group: non-isolated functions of the same slot."""
        if not dev.multifunction or acs_enabled(dev):
            return None
        for other in self.by_bus[self.bus_key(dev)]:
            if other is dev or other.bdf.device != dev.bdf.device or acs_enabled(other):
                continue
            group = self.alias_group(other, seen)
            if group is not None:
                return group
        return None

    def group_for(self, dev: PciDev) -> int:
        """pci_device_group."""
        base = dev
        for alias in _dma_alias_chain(dev):
            base = alias
            if alias in self.groups:
                return self.groups[alias]
        node = base
        while node.parent is not None:
            bridge = node.parent
            if acs_path_enabled(bridge):
                break
            node = bridge
            if node in self.groups:
                return self.groups[node]
        seen: set[int] = set()
        group = self.alias_group(node, seen)
        if group is None:
            group = self.function_alias_group(node, seen)
        if group is None:
            # iommu_group_alloc takes the lowest free ida; nothing is freed during boot.
            group = self.next_id
            self.next_id += 1
        return group

    def assign(self, probe_order: list[PciDev]) -> dict[PciDev, int]:
        for dev in probe_order:
            self.groups[dev] = self.group_for(dev)
        return self.groups


def assign_groups(devices: list[PciDev], probe_order: list[PciDev] | None = None, source: str = "<host>") -> None:
    """Set ``iommu_group`` on every device the IOMMU translates, probing in ``probe_order``
    (default: scan order; devices left out of it get no group); pins from the host renumber
    whole groups."""
    order = devices if probe_order is None else probe_order
    computed = _Grouper(devices).assign(order)
    members: dict[int, list[PciDev]] = {}
    for dev in order:
        members.setdefault(computed[dev], []).append(dev)
    pinned: dict[int, int] = {}
    for group, group_devices in members.items():
        pins = {dev.spec.iommu_group for dev in group_devices if dev.spec.iommu_group is not None}
        if len(pins) > 1:
            names = ", ".join(str(dev.bdf) for dev in group_devices)
            raise TopologyError(f"{source}: {names} share one IOMMU group but pin different numbers {sorted(pins)}")
        if pins:
            pinned[group] = pins.pop()
    if len(set(pinned.values())) != len(pinned):
        raise TopologyError(f"{source}: two IOMMU groups pin the same number")
    numbering: dict[int, int] = dict(pinned)
    next_free = 0
    position = {dev: index for index, dev in enumerate(order)}
    for group in sorted(members, key=lambda g: min(position[d] for d in members[g])):
        if group in numbering:
            continue
        while next_free in pinned.values() or next_free in numbering.values():
            next_free += 1
        numbering[group] = next_free
        next_free += 1
    for dev in order:
        dev.iommu_group = numbering[computed[dev]]
