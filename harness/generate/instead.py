"""What to do instead of passing a device the checker fails, by what it fails for.

A refused device (:class:`~harness.generate.plan.GenerateRefused`) is not a dead end: each
failure family has its own way round, and the refusal names it. The offers, by the codes of the
device's failing findings:

* **RMRR** (``isolation.rmrr``): the device cannot be given to a VM at all. The kernel refuses
  to attach a device with a firmware-required direct mapping to a VFIO domain (6.12
  drivers/iommu/iommu.c ``iommu_attach_group``/"Firmware has requested this device have a 1:1
  IOMMU mapping"; drivers/iommu/intel/iommu.c in older kernels, "Device is ineligible for IOMMU
  domain attach due to platform RMRR requirement"), and no upstream switch relaxes it. What it
  serves goes to the VM another way: a storage controller's disks (by ``/dev/disk/by-id``), a
  network port through a host bridge and a virtio NIC, anything else through another slot or
  card that the firmware reserves nothing for.
* **DMA alias** (``isolation.dma-alias-missing``): the kernel does not map the requester ID the
  device's DMA carries. Where a real function answers at the alias address, the plan passes it
  along (:func:`taken_along`): with the whole slot in the same VM the alias is in the VM's IOMMU
  domain too (drivers/vfio/vfio_iommu_type1.c attaches every group of a container to its
  domains), which resolves the failure (:func:`resolved_by_plan`). A phantom alias has no
  function to pass, and only a kernel with the quirk helps. Passing the disks does not: the
  host's own driver hits the same blocked DMA.
* **reset** failures and anything else on a **storage controller**: its disks instead of the
  controller. When the root shows them, the refusal already carries the ``qm set`` commands
  (:mod:`harness.generate.proxmox_disks`); otherwise the offer says how to get them.
* **D3cold** (``power-link.d3cold-wake-failed``) on any device the VM would get: keep vfio-pci
  from suspending idle devices (``disable_idle_d3``), with what it costs
  (:func:`harness.generate.idle_d3_fix.refused_fix`).

Each offer is one line of text; commands in it are quoted for pasting (``shlex.quote``).
"""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from harness.findings import Severity
from harness.pci.address import Bdf

if TYPE_CHECKING:
    from harness.checker import DeviceReport
    from harness.sysfs import HostView, PciFunction

_STORAGE_CLASS = 0x01
_NETWORK_CLASS = 0x02
_RMRR = "isolation.rmrr"
_DMA_ALIAS = "isolation.dma-alias-missing"


def offers(
    view: HostView,
    reports: Mapping[Bdf, DeviceReport],
    refused: Sequence[Bdf],
    passed: Sequence[Bdf],
    vmid: int,
    *,
    disks_offered: bool,
) -> list[str]:
    """One line per way round, for the refused devices asked for (``refused``) in order, then
    one for a device among all those the VM would get (``passed``) that did not wake from
    D3cold; ``disks_offered``: the refusal already carries the disk commands."""
    # Imported here: only a refusal needs the idle-D3 set-up.
    from harness.generate.idle_d3_fix import refused_fix

    lines: list[str] = []
    for bdf in refused:
        report = reports.get(bdf)
        if report is None:
            continue
        codes = {finding.code for finding in report.findings if finding.severity is Severity.FAIL}
        function = report.function
        if _RMRR in codes:
            lines += _rmrr(view, function, vmid, disks_offered=disks_offered)
        elif _DMA_ALIAS in codes:
            lines += _dma_alias(view, function, vmid)
        elif codes and _is_class(function, _STORAGE_CLASS):
            lines += _disks(view, function, vmid, disks_offered=disks_offered)
    idle_d3 = refused_fix(view, [reports[bdf] for bdf in passed if bdf in reports])
    if idle_d3:
        lines.append(idle_d3.rstrip("\n"))
    return lines


def taken_along(view: HostView, function: PciFunction) -> list[PciFunction]:
    """Functions that must go to the VM with ``function`` although the IOMMU groups do not say
    so: a real function at its DMA alias address (the whole slot then goes together)."""
    # Imported here: only planning needs the quirk tables.
    from harness.checks.dma_alias import alias_of

    alias = alias_of(function)
    at_alias = view.function(alias) if alias is not None else None
    return [at_alias] if at_alias is not None and not at_alias.is_bridge else []


def resolved_by_plan(view: HostView, report: DeviceReport, chosen: Collection[Bdf]) -> set[str]:
    """Failure codes of ``report`` that the plan's choice of functions (``chosen``) resolves: a
    missing DMA alias whose function goes to the same VM (vfio_iommu_type1 attaches every group
    of the VM's container to its IOMMU domains, so the alias's requester ID is mapped too)."""
    along = taken_along(view, report.function)
    if along and all(item.bdf in chosen for item in along):
        return {_DMA_ALIAS}
    return set()


def _is_class(function: PciFunction, base: int) -> bool:
    return function.class_code is not None and function.class_code >> 16 == base


def _disks(view: HostView, function: PciFunction, vmid: int, *, disks_offered: bool) -> list[str]:
    if disks_offered and view.whole_disks(function.bdf):
        return []  # the refusal carries the qm set commands already
    # Imported here: only a refused storage controller needs the host driver tables.
    from harness.bootconfig import host_driver_module

    command = shlex.join(["vfiolab", "generate", "proxmox-disks", "--device", function.name, "--vmid", str(vmid)])
    if function.driver in (None, "vfio-pci"):
        driver = host_driver_module(view, function) or "its host driver"
        when = f"their /dev/disk/by-id names show once {driver} holds it again"
    else:
        when = "this root shows none of them (a report or capture without the host's disks); on the host"
    return [
        f"{function.name}: pass its disks instead of the controller: {when}, `{command}` prints a qm set "
        "command for each."
    ]


def _rmrr(view: HostView, function: PciFunction, vmid: int, *, disks_offered: bool) -> list[str]:
    lines = [
        f"{function.name} cannot be assigned to a VM: its firmware keeps a direct (RMRR) mapping for it, and the "
        "kernel refuses to attach such a device to a VFIO domain (no upstream kernel option changes that)."
    ]
    if _is_class(function, _STORAGE_CLASS):
        lines += _disks(view, function, vmid, disks_offered=disks_offered)
    elif _is_class(function, _NETWORK_CLASS):
        lines.append(
            f"{function.name}: give the VM this network port through the host instead: a Linux bridge over the "
            "port (vmbrN, made in /etc/network/interfaces) and a virtio NIC on it: "
            f"`qm set {vmid} -net0 virtio,bridge=vmbrN`."
        )
    lines.append(
        f"{function.name}: or move the card to another slot, or switch off the firmware feature that uses it "
        "(on HPE ProLiant: the shared-memory / NIC sideband options), then check again: the RMRR must be gone."
    )
    return lines


def _dma_alias(view: HostView, function: PciFunction, vmid: int) -> list[str]:
    # Imported here: only a device with a DMA alias needs the quirk tables.
    from harness.checks.dma_alias import alias_of

    alias = alias_of(function)
    if alias is None or view.function(alias) is not None:
        return []  # a real function there goes to the VM with it (taken_along); nothing is refused for it
    return [
        f"{function.name}: its DMA alias {alias.short} is a phantom function: there is no function to pass "
        "along, and its disks would meet the same blocked DMA on the host; only a kernel that carries the "
        "DMA alias quirk for it helps."
    ]
