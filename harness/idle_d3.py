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
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.bootconfig import BootConfig, find_args, options_line, read_boot_config
from harness.findings import Evidence
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
