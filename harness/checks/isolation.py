"""Isolation check: the device's IOMMU group and who else is in it, ACS on the path up to the
root, multifunction siblings, and RMRR ``direct`` reserved regions.

The kernel's groups (``/sys/kernel/iommu_groups``) are the authority on what must move together;
this check explains them and adds libvirt's stricter rule that a device behind a switch
downstream port without ACS is not assignable (libvirt src/util/virpci.c
``virPCIDeviceIsBehindSwitchLackingACS``), because such a port can route peer-to-peer DMA
between its neighbours without the IOMMU seeing it.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.checks.base import CheckContext, device_label
from harness.findings import Evidence, Finding, Severity
from harness.pci import regs
from harness.pci.address import Bdf
from harness.sysfs import PciFunction, device_file

#: libvirt's ACS test: any of SV, RR, CR, UF enabled counts (virpci.c, "PCI_EXT_ACS_CTRL &
#: (SV|RR|CR|UF)"); the kernel wants all four (drivers/iommu/iommu.c REQ_ACS_FLAGS).
ACS_ISOLATION_FLAGS = regs.ACS_SV | regs.ACS_RR | regs.ACS_CR | regs.ACS_UF
_HOST_DRIVER_FREE = (None, "vfio-pci")


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.view.iommu_active:
        return
    for function in ctx.selected():
        yield from _group(ctx, function)
        yield from _acs_path(ctx, function)


def _group(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    link = device_file(function.name, "iommu_group")
    if function.iommu_group is None and function.unreadable("iommu_group"):
        return  # the integrity check says the link is corrupt; "no group" would be a misread
    if function.iommu_group is None:
        yield Finding(
            "isolation.no-group",
            Severity.FAIL,
            "the device has no IOMMU group",
            "vfio-pci binds only devices in an IOMMU group; the IOMMU is active but did not take this device "
            "(it may sit behind a bridge the IOMMU does not cover).",
            "Check the kernel log for 'Adding to iommu group' lines and DMAR/IVRS errors about this device.",
            [ctx.evidence(link, "does not exist")],
            device=function.name,
        )
        return
    group = view.groups.get(function.iommu_group)
    members = group.devices if group else [function.bdf]
    members_path = f"sys/kernel/iommu_groups/{function.iommu_group}/devices"
    evidence = [
        ctx.evidence(link, str(function.iommu_group)),
        ctx.evidence(members_path, " ".join(item.short for item in members)),
    ]
    endpoints = view.group_peers(function)
    siblings = [peer for peer in endpoints if peer.bdf.slot == function.bdf.slot]
    strangers = [peer for peer in endpoints if peer.bdf.slot != function.bdf.slot]
    if strangers:
        names = ", ".join(_peer_text(peer) for peer in strangers)
        # A shared group is not a failure by itself: the group goes to one VM whole. What would
        # hurt is a peer the host uses, which the host-use check reports as a failure.
        yield Finding(
            "isolation.shared-group",
            Severity.WARN,
            f"IOMMU group {function.iommu_group} also holds {names}",
            "A group is the unit of passthrough: Proxmox binds every endpoint of the group to vfio-pci "
            "(PVE::SysFSTools pci_dev_group_bind_to_vfio) and libvirt refuses unless all of them are "
            "detached, so these devices leave the host together with this one.",
            "Pass all of them to the same VM (vfiolab generate lists them), or move the card to a slot whose "
            "root port has ACS (each such slot gets its own group); pcie_acs_override only exists in patched "
            "kernels.",
            evidence,
            device=function.name,
            group=function.iommu_group,
        )
    busy_siblings = [peer for peer in siblings if peer.driver not in _HOST_DRIVER_FREE]
    if busy_siblings:
        names = ", ".join(_peer_text(peer) for peer in busy_siblings)
        yield Finding(
            "isolation.busy-siblings",
            Severity.WARN,
            f"other functions of the same device share its group and are in host use: {names}",
            "The functions of one slot share a group when the device has no ACS between them; they are "
            "bound to vfio-pci together, so their host drivers lose them.",
            "Pass the whole slot (Proxmox 'All Functions', host="
            + function.bdf.short.rsplit(".", 1)[0]
            + ") if the host can spare them; otherwise this device cannot be passed through alone.",
            evidence,
            device=function.name,
            group=function.iommu_group,
        )
    elif siblings:
        yield Finding(
            "isolation.siblings",
            Severity.INFO,
            f"shares group {function.iommu_group} with its own functions "
            + ", ".join(_peer_text(peer) for peer in siblings),
            "Functions of one slot go to the VM together; none of them is used by a host driver.",
            "",
            evidence,
            device=function.name,
            group=function.iommu_group,
        )
    elif not strangers:
        yield Finding(
            "isolation.own-group",
            Severity.INFO,
            f"alone in IOMMU group {function.iommu_group}" + (" (with its bridges)" if len(members) > 1 else ""),
            "Nothing else moves to the VM with it.",
            "",
            evidence,
            device=function.name,
            group=function.iommu_group,
        )
    if group is not None:
        yield from _reserved_regions(ctx, function, group.reserved_regions)


def _reserved_regions(ctx: CheckContext, function: PciFunction, regions: list[str]) -> Iterator[Finding]:
    direct = [line for line in regions if line.split()[-1:] == ["direct"]]
    if not direct:
        return
    path = f"sys/kernel/iommu_groups/{function.iommu_group}/reserved_regions"
    yield Finding(
        "isolation.rmrr",
        Severity.FAIL,
        "the firmware reserves memory for this device (RMRR, 'direct' region)",
        "An RMRR means the firmware keeps doing DMA to fixed addresses; intel-iommu refuses to attach such "
        "a device to a VM domain ('Device is ineligible for IOMMU domain attach due to platform RMRR "
        "requirement', drivers/iommu/intel/iommu.c).",
        "Look for a firmware option that stops the device's firmware use (for NICs: disable "
        "IPMI/shared-LOM sideband), try another slot, or a kernel with an RMRR relaxation patch "
        "(Proxmox ships relax_rmrr); there is no upstream switch.",
        [ctx.evidence(path, "; ".join(direct))],
        device=function.name,
        group=function.iommu_group,
    )


def _acs_path(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    """Walk the bridges above the device; every switch downstream port needs ACS."""
    view = ctx.view
    lacking: list[tuple[PciFunction, str]] = []
    unseen: list[str] = []
    evidence: list[Evidence] = []
    parent: Bdf | None = function.parent
    while parent is not None:
        bridge = view.function(parent)
        if bridge is None:
            break
        config = bridge.config
        config_path = device_file(bridge.name, "config")
        if "config" in bridge.problems or (config is not None and config.capability_problems()):
            pass  # corrupt, not hidden: the integrity check reports it (tree.port-config)
        elif config is None or config.truncated:
            unseen.append(bridge.name)
        elif config.has_extended_space and not config.dead:
            express = config.express()
            if express is not None and express.port_type == regs.EXPRESS_TYPE_DOWNSTREAM:
                acs = config.acs()
                if acs is None:
                    lacking.append((bridge, "no ACS capability"))
                    evidence.append(ctx.evidence(config_path, "downstream port, no ACS capability"))
                elif not acs.control & ACS_ISOLATION_FLAGS:
                    lacking.append((bridge, f"ACSCtl {acs.control:#06x}: SV- RR- CR- UF-"))
                    evidence.append(ctx.evidence(config_path, f"downstream port, ACSCtl={acs.control:#06x}"))
                else:
                    evidence.append(ctx.evidence(config_path, f"downstream port, ACSCtl={acs.control:#06x}"))
        parent = bridge.parent
    if lacking:
        ports = ", ".join(f"{bridge.bdf.short} [{bridge.id_text}] ({reason})" for bridge, reason in lacking)
        yield Finding(
            "isolation.switch-without-acs",
            Severity.FAIL,
            f"behind a PCIe switch port without ACS: {ports}",
            "Without ACS a switch routes DMA between its downstream devices directly, past the IOMMU, so the "
            "guest's device can read and write its neighbours' memory windows. libvirt refuses such a device "
            "('behind a switch lacking ACS', src/util/virpci.c) unless relaxed_acs_check is set.",
            "Put the card in a slot wired to a root port (not behind the switch), or pass every device behind "
            "the switch to the same VM.",
            evidence,
            device=function.name,
            group=function.iommu_group,
        )
    elif unseen and function.parent is not None:
        yield Finding(
            "isolation.acs-unseen",
            Severity.INFO,
            f"could not read ACS of the bridges above it ({', '.join(unseen)}): config space beyond 256 bytes "
            "needs root",
            "ACS lives in extended config space, which the kernel shows only to root.",
            "Rerun as root (sudo vfiolab check) to see ACS on the path.",
            [ctx.evidence(device_file(name, "config"), "only the first 64 bytes are readable") for name in unseen],
            device=function.name,
        )


def _peer_text(peer: PciFunction) -> str:
    driver = f" ({peer.driver})" if peer.driver else " (no driver)"
    return device_label(peer).replace(peer.name, peer.bdf.short) + driver
