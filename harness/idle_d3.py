"""vfio-pci's ``disable_idle_d3``: whether a root runs with it, or is configured to, and the
lines that set it. The power check reads it; the generator writes it.

Kernel facts (drivers/vfio/pci/vfio_pci.c and vfio_pci_core.c, Linux 6.1 and 6.12):

- ``module_param(disable_idle_d3, bool, S_IRUGO | S_IWUSR)``, "Disable using the PCI D3 low power
  state for idle, unused devices": readable as ``/sys/module/vfio_pci/parameters/disable_idle_d3``
  (``Y``/``N``). ``vfio_pci_init`` hands it to vfio_pci_core once (``vfio_pci_core_set_params``),
  so the value the module was loaded with is the one in effect.
- Without it, ``vfio_pci_core_register_device`` allows runtime PM for every device vfio-pci
  binds, and an unused device runtime-suspends (D3hot, or D3cold where the platform can cut its
  power; a bridge follows into D3cold once everything below it is suspended,
  drivers/pci/pci.c ``pci_bridge_d3_possible``). With it, vfio-pci keeps the device in D0.
- Module parameters take ``vfio_pci.`` or ``vfio-pci.`` on the kernel command line
  (kernel/params.c treats ``-`` and ``_`` alike); the command line is what a built-in vfio-pci
  reads.

When it changed (:data:`RUNTIME_PM`): from commit 6eb7018705de "vfio-pci: Move idle devices to
D3hot power state" (2015) vfio-pci put an idle device in D3hot with ``pci_set_power_state`` and
never in D3cold ("It's tempting to try to use D3cold, but ..."), and the ports above stayed up.
Commit 7ab5e10eda02 "vfio/pci: Move the unused device into low power state with runtime PM"
(Abhishek Sahu, first posted 2021-11-15, merged for 5.19) replaced that with runtime PM: the
PCI core's ``pci_pm_runtime_suspend`` then picks the target state with ``pci_target_state``,
which is D3cold wherever the platform can cut the device's power (drivers/pci/pci-acpi.c
``acpi_pci_choose_state``), and an idle bridge above may follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from harness.bootconfig import BootConfig, find_args, options_line, read_boot_config
from harness.findings import Evidence
from harness.kernels import Answer, History, Kernel, carries
from harness.sysfs import HostView

MODULE = "vfio_pci"
PARAM = "disable_idle_d3"
#: The modprobe.d line and the kernel argument that set it.
MODPROBE_LINE = options_line("vfio-pci", {PARAM: "1"})
KERNEL_ARG = f"{MODULE}.{PARAM}=1"
#: What keeping the device out of D3 costs, in the words every output uses.
COST = (
    "the cost: vfio-pci then keeps every device it holds, and the ports above them, in D0 while no VM "
    "uses them, so they draw their full idle power (a GPU keeps its fans and memory powered; on a "
    "laptop the battery pays)"
)
_TRUE = ("y", "1", "on", "yes", "true")
#: The change that lets vfio-pci's idle devices (and the ports above them) reach D3cold.
RUNTIME_PM = History(
    first_release=(5, 19),
    commit="7ab5e10eda02da1d9562ffde562c51055d368e9c",
    # v1 of the series: https://lore.kernel.org/lkml/20211115133640.2231-1-abhsahu@nvidia.com/
    not_before=date(2021, 11, 15),
)
RUNTIME_PM_TITLE = 'commit 7ab5e10eda02 "vfio/pci: Move the unused device into low power state with runtime PM"'


def idles_through_runtime_pm(kernel: Kernel | None) -> Answer:
    """Whether ``kernel``'s vfio-pci runtime-suspends idle devices (so D3cold is possible), or
    only puts them in D3hot (before 5.19), or that this could not be judged."""
    return carries(RUNTIME_PM, kernel)


@dataclass(frozen=True)
class IdleD3:
    """Whether vfio-pci keeps idle devices out of D3 on this root."""

    #: The running vfio-pci has it set (None: vfio-pci is not loaded, or the file is missing).
    running: bool | None
    #: Where it is configured for the next load or boot (modprobe.d lines, kernel arguments).
    configured: tuple[Evidence, ...]
    evidence: tuple[Evidence, ...]

    @property
    def in_effect(self) -> bool:
        """vfio-pci keeps idle devices in D0 now (or will, the next time it loads or boots)."""
        if self.running is not None:
            return self.running
        return bool(self.configured)


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def idle_d3(view: HostView, boot: BootConfig | None = None) -> IdleD3:
    """The root's ``disable_idle_d3``, from the running module and the boot configuration."""
    boot = boot or read_boot_config(view)
    relative = f"sys/module/{MODULE}/parameters/{PARAM}"
    value = view.module_params.get(MODULE, {}).get(PARAM)
    evidence: list[Evidence] = []
    running = None
    if value is not None:
        running = _is_true(value)
        evidence.append(Evidence(view.show(relative), value))
    configured: list[Evidence] = []
    for setting, directive in boot.modprobe.option(MODULE, PARAM):
        if _is_true(setting):
            configured.append(Evidence(f"{directive.source.path}:{directive.source.line}", directive.source.shown))
    for arg in find_args(boot.booted or [], f"{MODULE}.{PARAM}"):
        if _is_true(arg.value):
            configured.append(Evidence(view.show("proc/cmdline"), arg.raw))
    return IdleD3(running, tuple(configured), tuple(evidence + configured))
