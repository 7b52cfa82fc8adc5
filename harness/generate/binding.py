"""Early binding to vfio-pci, shared by the modprobe, initramfs-tools, dracut, mkinitcpio and
cmdline targets: which ``ids=`` entries, which devices only an address can tell apart, and which
host drivers must load after vfio-pci.

The robust form is modprobe.d (modprobe.d(5); the Arch wiki's "PCI passthrough via OVMF"): ``options vfio-pci ids=``
plus ``softdep <host driver> pre: vfio-pci``, which makes modprobe load vfio-pci first whenever
the host driver loads, in the initramfs (mkinitramfs, dracut and mkinitcpio's modconf hook copy
modprobe.d into the image) as in the real root. An ``ids=`` entry is narrowed with subsystem IDs
when the plain vendor:device would also capture another device; when even that cannot tell two
devices apart, the device is bound by address with an ``install`` hook that writes its
``driver_override`` before the host driver loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.bootconfig import PciIdMatch, format_vfio_ids, options_line, override_install_line, softdep_line
from harness.generate.plan import Plan
from harness.sysfs import PciFunction

#: What the initramfs must contain for vfio-pci; vfio_virqfd was folded into vfio in 6.2.
VFIO_MODULES = ("vfio_pci", "vfio", "vfio_iommu_type1")
VFIO_MODULES_BEFORE_62 = ("vfio_virqfd",)


@dataclass
class EarlyBinding:
    ids: list[PciIdMatch] = field(default_factory=list)
    #: Host module -> addresses that only driver_override can give to vfio-pci.
    by_address: dict[str, list[str]] = field(default_factory=dict)
    #: Host modules that must load after vfio-pci (softdep), in first-seen order.
    softdeps: list[str] = field(default_factory=list)
    #: Addresses that need binding by address but whose host driver is unknown: driverctl only.
    driverctl_only: list[str] = field(default_factory=list)
    #: Why an entry was narrowed or a device bound by address (for comments and notes).
    explanations: list[str] = field(default_factory=list)

    @property
    def ids_value(self) -> str:
        return format_vfio_ids(self.ids)

    def modprobe_lines(self) -> list[str]:
        lines = []
        if self.ids:
            lines.append(options_line("vfio-pci", {"ids": self.ids_value}))
        for module in self.softdeps:
            if module not in self.by_address:
                lines.append(softdep_line(module, ["vfio-pci"]))
        for module, addresses in self.by_address.items():
            lines.append(override_install_line(module, addresses))
        return lines


def _captured(entry: PciIdMatch, target: PciFunction, plan: Plan) -> list[PciFunction]:
    return [item for item in plan.view.functions.values() if item.bdf != target.bdf and entry.matches_function(item)]


def early_binding(plan: Plan) -> EarlyBinding:
    binding = EarlyBinding()
    for item in plan.functions:
        function = item.function
        module = item.host_module
        if item.vfio_id is not None:
            if item.vfio_id not in binding.ids:
                binding.ids.append(item.vfio_id)
            if item.vfio_id.has_subsystem and function.vendor is not None and function.device is not None:
                others = _captured(PciIdMatch(function.vendor, function.device), function, plan)
                names = ", ".join(other.bdf.short for other in others)
                binding.explanations.append(
                    f"ids entry {item.vfio_id} carries the subsystem IDs: plain {function.id_text} would also "
                    f"capture {names}"
                )
        elif module is None:
            binding.driverctl_only.append(item.address)
            binding.explanations.append(
                f"{item.address} can only be bound by address (another device has the same IDs) and its host "
                f"driver is unknown, so no modprobe hook can be written: use driverctl set-override "
                f"{item.address} vfio-pci"
            )
        else:
            binding.by_address.setdefault(module, []).append(item.address)
            binding.explanations.append(
                f"{item.address} is bound by address: another device has the same vendor, device and subsystem "
                f"IDs, so any ids= entry would capture it too; the install hook sets driver_override before "
                f"{module} loads (alternatively: driverctl set-override {item.address} vfio-pci, which acts only "
                "after the initramfs)"
            )
        if module and module != "vfio_pci" and module not in binding.softdeps:
            binding.softdeps.append(module)
    return binding


def initramfs_modules(plan: Plan) -> list[str]:
    """Modules to put in the initramfs for vfio-pci on this kernel."""
    version = plan.view.kernel_version
    old = version is not None and version[:2] < (6, 2)
    return [*VFIO_MODULES, *(VFIO_MODULES_BEFORE_62 if old else ())]
