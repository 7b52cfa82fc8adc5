"""Predicting the resets a passed-through device will get, before the VM starts.

Three actors reset a device during passthrough, each by its own rules:

* the kernel's function reset (``pci_reset_function``), used by vfio-pci when it opens and closes
  the device and by Proxmox's write to ``reset``: the first method of ``reset_method`` that works
  (drivers/pci/pci.c ``__pci_reset_function_locked``; order device_specific, acpi, flr, af_flr,
  pm, bus, cxl_bus);
* QEMU's vfio-pci at machine reset (VM start and every guest reboot), which reads FLR and PM-reset
  support from config space and ignores ``reset_method`` (QEMU hw/vfio/pci.c ``vfio_pci_reset``,
  unchanged from 8.1 to 9.2 as shipped in Proxmox VE 8)::

      if reset_works and (has_flr or not has_pm_reset): VFIO_DEVICE_RESET  (the kernel's order)
      else try VFIO_DEVICE_PCI_HOT_RESET                                   (a bus reset)
      then, if that failed and has_pm_reset: VFIO_DEVICE_RESET            (pm)
      nothing worked: "vfio: Cannot reset device %s, no available reset mechanism."

* the kernel's bus reset itself, offered only for a device alone on a non-root bus behind a
  bridge, or in a hotplug slot, and refused for devices flagged ``PCI_DEV_FLAGS_NO_BUS_RESET``
  (drivers/pci/pci.c ``pci_parent_bus_reset``, ``pci_reset_hotplug_slot``,
  ``pci_bus_resettable``).

This module only predicts; :mod:`harness.checks.reset` judges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.findings import Evidence
from harness.sysfs import HostView, PciFunction, device_file

#: ``reset_method`` appeared in 5.15 (pci-sysfs.c, "PCI: Add reset_method").
RESET_METHOD_SINCE = (5, 15)


@dataclass
class ResetFacts:
    """What the reset rules depend on, each with where it was read."""

    #: The kernel's reset methods, in order (empty: none). None: not known.
    methods: list[str] | None = None
    #: "file" (read from reset_method), "derived" (old kernel: from config space and topology)
    #: or "absent" (no reset_method and no reset file: the kernel found no method).
    methods_source: str = "file"
    #: QEMU's view from config space: FLR (PCIe DevCap or Advanced Features) and PM reset
    #: (PM capability with NoSoftRst clear). None: config space could not be read.
    has_flr: bool | None = None
    has_pm_reset: bool | None = None
    on_root_bus: bool = False
    parent: str | None = None
    #: Other functions on the same bus, and those of them outside the device's IOMMU group.
    bus_peers: list[str] = field(default_factory=list)
    foreign_bus_peers: list[str] = field(default_factory=list)
    hotplug_slot: bool = False
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def alone_on_bus(self) -> bool:
        return not self.bus_peers

    @property
    def bus_reset_topology(self) -> bool:
        """The kernel's ``bus`` method is possible here (ignoring quirks)."""
        return not self.on_root_bus and self.parent is not None and (self.alone_on_bus or self.hotplug_slot)

    @property
    def qemu_hot_reset_topology(self) -> bool:
        """QEMU's single-device hot reset can work: everything the bus reset touches is in the
        device's own group, which QEMU owns (hw/vfio/pci.c ``vfio_pci_hot_reset``: "depends on
        group %d which is not owned" otherwise)."""
        return not self.on_root_bus and self.parent is not None and not self.foreign_bus_peers


@dataclass
class ResetPlan:
    facts: ResetFacts
    #: The method the kernel's function reset uses (vfio-pci open/close, Proxmox's ``reset``).
    function_reset: str | None
    #: What QEMU does at VM start and at every guest reboot, in order, until one works.
    qemu_sequence: list[str]
    #: QEMU tries its own bus reset before anything else.
    qemu_bus_reset_first: bool

    @property
    def bus_reset_by_kernel(self) -> bool:
        return self.function_reset == "bus"

    @property
    def qemu_cannot_reset(self) -> bool:
        """QEMU has nothing it can use."""
        return not self.qemu_sequence

    @property
    def bus_reset_expected(self) -> bool:
        return self.qemu_bus_reset_first or self.bus_reset_by_kernel

    def describe(self) -> str:
        kernel = self.function_reset or "none"
        qemu = " then ".join(self.qemu_sequence) if self.qemu_sequence else "nothing"
        return f"kernel function reset: {kernel}; QEMU at VM start: {qemu}"


def _read_config_facts(view: HostView, function: PciFunction, facts: ResetFacts) -> None:
    config = function.config
    config_path = view.show(device_file(function.name, "config"))
    if config is None or config.truncated or config.dead:
        return
    corrupt = config.capability_problems(extended=False)
    if corrupt:
        # FLR and PM reset stay unknown (None): "no capability found" would be a misread.
        facts.evidence.append(Evidence(config_path, f"capability list is corrupt: {corrupt[0]}"))
        return
    express = config.express()
    power = config.power_management()
    af_flr = config.af_flr()
    devcap_flr = express is not None and express.flr
    facts.has_flr = devcap_flr or af_flr
    facts.has_pm_reset = power is not None and not power.no_soft_reset
    parts = []
    if express is not None:
        flr_mark = "+" if devcap_flr else "-"
        parts.append(f"Express cap at {express.offset:#04x}: DevCap={express.raw('devcap'):#010x} FLReset{flr_mark}")
    else:
        parts.append("no PCI Express capability (FLReset-)")
    if af_flr:
        parts.append("AF cap: TP+ FLR+")
    if power is not None:
        parts.append(
            f"PM cap at {power.offset:#04x}: PMCSR={power.pmcsr:#06x} NoSoftRst{'+' if power.no_soft_reset else '-'}"
            f" (D{power.power_state})"
        )
    else:
        parts.append("no Power Management capability")
    if express is not None and express.hotplug_capable:
        facts.hotplug_slot = True
        parts.append("slot: HotPlug+")
    facts.evidence.append(Evidence(config_path, "; ".join(parts)))


def _topology_facts(view: HostView, function: PciFunction, facts: ResetFacts) -> None:
    facts.on_root_bus = function.parent is None
    if function.parent is not None:
        facts.parent = str(function.parent)
        parent = view.function(function.parent)
        if (
            parent is not None
            and parent.config is not None
            and not parent.config.truncated
            and not parent.config.capability_problems(extended=False)
        ):
            express = parent.config.express()
            if express is not None and express.hotplug_capable:
                facts.hotplug_slot = True
    peers = [item for item in view.on_same_bus(function) if item.bdf != function.bdf]
    facts.bus_peers = [item.name for item in peers]
    facts.foreign_bus_peers = [
        item.name for item in peers if item.iommu_group is None or item.iommu_group != function.iommu_group
    ]
    place = f"bus {function.bdf.bus:02x}"
    if facts.on_root_bus:
        where = f"on the root bus {place}: no bridge above it, so no bus reset is possible"
    elif facts.alone_on_bus:
        where = f"alone on {place} behind {function.parent.short if function.parent else '?'}"
    else:
        where = f"shares {place} with {', '.join(item.bdf.short for item in peers)}"
    facts.evidence.append(Evidence(view.show(function.path), where))


def _derive_methods(facts: ResetFacts, bus_reset_blocked: bool) -> list[str] | None:
    """The kernel's probe results rebuilt from config space and topology (kernels before 5.15
    have no ``reset_method``). Device-specific and ACPI ``_RST`` methods cannot be seen."""
    if facts.has_flr is None:
        return None
    methods = []
    if facts.has_flr:
        methods.append("flr")
    if facts.has_pm_reset:
        methods.append("pm")
    if facts.bus_reset_topology and not bus_reset_blocked:
        methods.append("bus")
    return methods


def analyse(
    view: HostView,
    function: PciFunction,
    kernel_version: tuple[int, ...] | None,
    bus_reset_blocked: bool = False,
) -> ResetPlan:
    """Predict the resets of ``function``. ``bus_reset_blocked``: the kernel is known to carry a
    ``quirk_no_bus_reset`` for this device, which refuses the kernel's bus method and QEMU's hot
    reset alike."""
    facts = ResetFacts()
    _read_config_facts(view, function, facts)
    _topology_facts(view, function, facts)
    method_path = view.show(device_file(function.name, "reset_method"))
    if function.reset_method is not None:
        facts.methods = [name for name in function.reset_method if name]
        facts.methods_source = "file"
        facts.evidence.append(Evidence(method_path, " ".join(facts.methods) or "(empty)"))
    elif not function.has_reset_file and (kernel_version is None or kernel_version[:2] >= RESET_METHOD_SINCE):
        # pci-sysfs.c shows reset_method and reset only when some method exists.
        facts.methods = []
        facts.methods_source = "absent"
        facts.evidence.append(Evidence(method_path, "absent (and no reset file): the kernel found no reset method"))
    else:
        facts.methods = _derive_methods(facts, bus_reset_blocked)
        facts.methods_source = "derived"
        shown = "unknown" if facts.methods is None else " ".join(facts.methods) or "none"
        facts.evidence.append(Evidence(method_path, f"absent (kernel before 5.15); derived from config space: {shown}"))
    if facts.has_flr is None and facts.methods is not None:
        facts.has_flr = "flr" in facts.methods or "af_flr" in facts.methods
        facts.has_pm_reset = "pm" in facts.methods
    return plan(facts, bus_reset_blocked)


def plan(facts: ResetFacts, bus_reset_blocked: bool = False) -> ResetPlan:
    methods = facts.methods or []
    function_reset = methods[0] if methods else None
    reset_works = bool(methods)
    has_flr = bool(facts.has_flr)
    has_pm = bool(facts.has_pm_reset)
    sequence: list[str] = []
    bus_first = False
    if reset_works and (has_flr or not has_pm):
        sequence.append(f"VFIO_DEVICE_RESET ({function_reset})")
    else:
        # vfio_pci_ioctl_get_pci_hot_reset_info fails with -ENODEV when pci_probe_reset_bus
        # refuses (drivers/vfio/pci/vfio_pci_core.c), so a quirked device gets QEMU's fallback.
        if facts.qemu_hot_reset_topology and not bus_reset_blocked:
            sequence.append("VFIO_DEVICE_PCI_HOT_RESET (bus reset)")
            bus_first = True
        if reset_works and has_pm:
            sequence.append(f"VFIO_DEVICE_RESET ({function_reset})")
    return ResetPlan(facts, function_reset, sequence, bus_first)
