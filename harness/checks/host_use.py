"""Host-use check: does the device, or an endpoint that shares its IOMMU group, carry something
the host is using right now?

Passing a device through unbinds its host driver (Proxmox binds the whole group to vfio-pci), so
every disk behind a storage controller and every network interface of a NIC disappears from the
host. This check follows each disk through partitions, device-mapper and md holders to mounts
and swap, reads ZFS membership from the udev database, and reports network interfaces that are
up. It also lists the disks behind each storage controller by their ``/dev/disk/by-id`` names.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.checks.base import CheckContext, scsi_disk_options, vm_for_fix
from harness.findings import Evidence, Finding, Severity
from harness.storage import DiskUse, disk_uses
from harness.sysfs import HostView, PciFunction

_STORAGE_CLASS = 0x01


def check(ctx: CheckContext) -> Iterator[Finding]:
    for function in ctx.selected():
        units = [function, *ctx.view.group_peers(function)]
        for unit in units:
            yield from _storage(ctx, function, unit)
            yield from _network(ctx, function, unit)


def _unique(evidence: list[Evidence]) -> list[Evidence]:
    return list(dict.fromkeys(evidence))


def _who(function: PciFunction, unit: PciFunction) -> str:
    return "it" if unit is function else f"its group peer {unit.bdf.short}"


def _storage(ctx: CheckContext, function: PciFunction, unit: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    disks = view.whole_disks(unit.bdf)
    is_storage = unit.class_code is not None and unit.class_code >> 16 == _STORAGE_CLASS
    if not disks:
        if is_storage and unit is function and unit.driver in (None, "vfio-pci"):
            yield Finding(
                "host-use.disks-unseen",
                Severity.INFO,
                f"disks behind it are not visible: it is bound to {unit.driver or 'no driver'}",
                "Disks appear in /sys/class/block only while a host storage driver owns the controller.",
                "To see them, bind the host driver once (or read the disks' labels on the guest).",
                [ctx.device_evidence(unit, "driver", unit.driver or "none")],
                device=function.name,
            )
        return
    uses = [disk_uses(view, disk) for disk in disks]
    listing = "; ".join(item.disk.text for item in uses)
    evidence = [
        Evidence(view.show(f"dev/disk/by-id/{item.disk.preferred_id}"), f"-> ../../{item.disk.name}")
        for item in uses
        if item.disk.preferred_id
    ]
    evidence += [
        Evidence(view.show(f"sys/class/block/{item.disk.name}"), f"-> {view.show(item.disk.path)}") for item in uses
    ]
    failing = [
        (item, kind, severity, text) for item in uses for kind, severity, text in item.uses if severity is Severity.FAIL
    ]
    warning = [
        (item, kind, severity, text) for item in uses for kind, severity, text in item.uses if severity is Severity.WARN
    ]
    notes = [
        (item, kind, severity, text) for item in uses for kind, severity, text in item.uses if severity is Severity.INFO
    ]
    who = _who(function, unit)
    if failing:
        first_kind = failing[0][1]
        details = "; ".join(f"{item.disk.name} holds {text}" for item, _, _, text in failing)
        code = {"root": "host-use.root-disk", "boot": "host-use.boot-disk"}.get(first_kind, "host-use.disk-in-use")
        yield Finding(
            code,
            Severity.FAIL,
            f"{who} carries disks the host is using: {details}",
            "Passing the controller through unbinds its host driver, so these disks vanish from the host while "
            "mounted: the host loses its filesystems (and with the root or boot disk, itself).",
            _in_use_fix(view, uses),
            _unique(evidence + [line for item, _, _, _ in failing for line in item.evidence]),
            device=function.name,
        )
    elif warning:
        details = "; ".join(f"{item.disk.name} holds {text}" for item, _, _, text in warning)
        yield Finding(
            "host-use.volumes-active",
            Severity.WARN,
            f"{who} carries disks with active volumes: {details}",
            "The volumes are not mounted, but the host has assembled them; they disappear when the controller "
            "is passed through.",
            "Deactivate them first (vgchange -an <vg> / dmsetup remove), or pass individual disks instead.",
            _unique(evidence + [line for item, _, _, _ in warning for line in item.evidence]),
            device=function.name,
        )
    yield Finding(
        "host-use.disks",
        Severity.INFO,
        f"disks behind {who if unit is not function else 'it'}: {listing}",
        "These disks go to the VM with the controller"
        + ("; " + "; ".join(f"{item.disk.name} is {text}" for item, _, _, text in notes) if notes else "")
        + ".",
        "",
        _unique(evidence + [line for item, _, _, _ in notes for line in item.evidence]),
        device=function.name,
    )


def _in_use_fix(view: HostView, uses: list[DiskUse]) -> str:
    """Do not pass the controller; pass its data disks (the ones the host does not use), by id,
    if it has any: a controller that holds only the host's own disks has nothing to offer."""
    data = [item.disk for item in uses if not item.uses]
    if not data:
        return (
            "Do not pass this controller: every disk behind it is in use by the host. To give a VM storage, "
            "pass another controller or a disk behind one, or move the host's disks off this controller first."
        )
    vmid, note = vm_for_fix(view)
    options = scsi_disk_options(view, vmid, data)
    names = ", ".join(disk.name for disk in data)
    return (
        f"Do not pass this controller. Pass its data disks ({names}) to the VM instead{note}: "
        f"`qm set {vmid} {options}`; or move the host's disks to another controller first."
    )


def _network(ctx: CheckContext, function: PciFunction, unit: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    who = _who(function, unit)
    for interface in sorted(view.net.values(), key=lambda item: item.name):
        if interface.device != unit.bdf:
            continue
        path = f"sys/class/net/{interface.name}/operstate"
        evidence = [ctx.evidence(path, interface.operstate or "unknown")]
        if interface.master:
            evidence.append(ctx.evidence(f"sys/class/net/{interface.name}/master", interface.master))
        if interface.operstate == "up":
            bridge = f", a port of {interface.master}" if interface.master else ""
            yield Finding(
                "host-use.network-up",
                Severity.FAIL,
                f"{who} carries the network interface {interface.name}, which is up{bridge}",
                "Passing the NIC through removes the interface from the host; if it carries the host's "
                "management address or a bridge the VMs use, the host or those VMs go offline.",
                (
                    f"Move the host's traffic to another interface first (edit /etc/network/interfaces so "
                    f"{interface.master} uses another port, then ifreload -a), or pass another NIC."
                    if interface.master
                    else f"Move the host's address from {interface.name} to another interface first, or pass "
                    "another NIC."
                ),
                evidence,
                device=function.name,
            )
        else:
            yield Finding(
                "host-use.network-idle",
                Severity.INFO,
                f"{who} carries the network interface {interface.name} ({interface.operstate or 'state unknown'})",
                "The interface is not up; the host loses it when the NIC is passed through.",
                "",
                evidence,
                device=function.name,
            )
