"""Which reset methods a kernel offers a device, given the kernel quirks that change them, judged
for the running kernel or for the one ``--assume-kernel`` names.

:mod:`harness.resets` predicts resets from what the running kernel wrote (``reset_method``) or,
before 5.15, from config space and topology. Three quirk kinds change those methods
(drivers/pci/quirks.c, drivers/pci/pci.c, 6.12): ``quirk_no_bus_reset`` removes ``bus``,
``quirk_no_flr`` removes ``flr`` and ``af_flr``, ``delay_250ms_after_flr`` adds a
``device_specific`` FLR-and-wait first. :func:`kernel_fix` says whether the judged kernel carries
a problem's quirks (what the running kernel's ``reset_method`` shows outranks version knowledge);
:func:`plan_under_kernel` rebuilds the plan for a kernel whose methods were not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.findings import Evidence
from harness.known_devices import Problem
from harness.resets import ResetPlan
from harness.resets import plan as replan
from harness.sysfs import HostView, PciFunction

if TYPE_CHECKING:
    from harness.kernels import Answer, Kernel
    from harness.quirks import QuirkEntry

#: The reset methods a quirk kind takes away (drivers/pci/pci.c, 6.12: pci_parent_bus_reset and
#: pci_reset_hotplug_slot refuse PCI_DEV_FLAGS_NO_BUS_RESET; pcie_reset_flr and pci_af_flr refuse
#: PCI_DEV_FLAGS_NO_FLR_RESET), and the flag the quirk sets.
REFUSED = {"bus": (("bus",), "PCI_DEV_FLAGS_NO_BUS_RESET"), "flr": (("flr", "af_flr"), "PCI_DEV_FLAGS_NO_FLR_RESET")}
#: The post-FLR delay quirk: a device-specific reset that waits after FLR (drivers/pci/quirks.c
#: delay_250ms_after_flr, 6.12: "Intel DC P3700 NVMe controller will timeout waiting for ready
#: status to change after NVMe enable if the driver starts interacting with the device too soon
#: after FLR").
DELAY = "flr_delay"
DELAY_FUNCTIONS = ("delay_250ms_after_flr",)
#: The kernel's order of reset methods (drivers/pci/pci.c pci_reset_fn_methods, 6.12).
METHOD_ORDER = ("device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus")


@dataclass(frozen=True)
class KernelFix:
    """Whether the judged kernel carries the quirks that refuse a known device's bus reset or FLR."""

    quirks: list[QuirkEntry]
    kernel: Kernel | None
    answer: Answer
    #: The kernel is assumed (``--assume-kernel``), not the one whose sysfs files were read.
    assumed: bool

    @property
    def quirk(self) -> str:
        return self.quirks[0].function.name

    @property
    def kernel_text(self) -> str:
        described = self.kernel.describe() if self.kernel is not None else "unknown"
        return f"assumed kernel {described}" if self.assumed else f"kernel {described}"


def kernel_fix(view: HostView, function: PciFunction, problem: Problem, method: str) -> KernelFix | None:
    """The judged kernel's answer for the problem's quirks, which refuse ``method`` (``bus`` or
    ``flr``; None: no kernel has such a quirk). Of several entries, one present is enough; none
    present and one not judged leaves it not judged. The running kernel's own reset_method
    outranks version knowledge: listing the method shows the quirk's flag is not set."""
    quirks = problem.quirks()
    if not quirks:
        return None
    from harness.kernels import Answer, Presence, same_build
    from harness.quirks import judge

    kernel = view.judged_kernel
    assumed = view.assumed_kernel is not None and not same_build(view.assumed_kernel, view.kernel)
    if method == DELAY:
        observed_delay = None if assumed else _observed_delay(function.reset_method, quirks[0])
        if observed_delay is not None:
            return KernelFix(quirks, kernel, observed_delay, assumed)
        return KernelFix(quirks, kernel, judge(quirks, kernel), assumed)
    refused, flag = REFUSED[method]
    listed = [name for name in function.reset_method or [] if name in refused]
    if not assumed and listed:
        observed = Answer(
            Presence.ABSENT,
            f"the running kernel's reset_method lists {listed[0]}, which {quirks[0].function.name}'s {flag} "
            "would remove",
        )
        return KernelFix(quirks, kernel, observed, assumed)
    if not assumed and method == "flr" and function.reset_method is not None:
        # Only reached for a device that advertises FLR (the caller's condition): the kernel
        # probed it and left it out, which is the quirk's flag or a written reset_method.
        observed = Answer(
            Presence.PRESENT,
            f"the running kernel's reset_method does not list flr although the device advertises it: {flag} "
            "is set, or reset_method was written",
        )
        return KernelFix(quirks, kernel, observed, assumed)
    return KernelFix(quirks, kernel, judge(quirks, kernel), assumed)


def _observed_delay(methods: list[str] | None, quirk: QuirkEntry) -> Answer | None:
    """The running kernel's reset_method shows the post-FLR delay quirk: it is a device-specific
    method (drivers/pci/quirks.c pci_dev_reset_methods), listed first when the kernel has it."""
    from harness.kernels import Answer, Presence

    if methods is None:
        return None
    if "device_specific" in methods:
        return Answer(
            Presence.PRESENT,
            f"the running kernel's reset_method lists device_specific, {quirk.function.name}'s FLR and wait",
        )
    if "flr" in methods:
        return Answer(
            Presence.ABSENT,
            f"the running kernel's reset_method lists flr and no device_specific method ({quirk.function.name})",
        )
    return None


def plan_under_kernel(plan: ResetPlan, fix: KernelFix, method: str, method_path: str) -> ResetPlan:
    """The methods the judged kernel offers when they were not read from it: reset_method written
    by another (running) kernel, or rebuilt from config space on a kernel before 5.15. The kernel
    offers ``method`` exactly when it lacks the quirk and the device and topology allow it."""
    facts = plan.facts
    read_from_it = facts.methods_source == "file" and not fix.assumed
    if read_from_it or facts.methods_source == "absent" or facts.methods is None or fix.answer.unknown:
        return plan
    if method == DELAY:
        # The device-specific method is the FLR with its wait; it probes FLR (pcie_reset_flr).
        methods = [name for name in facts.methods if name != "device_specific"]
        if fix.answer.present and facts.has_flr:
            methods.insert(0, "device_specific")
    else:
        refused, _ = REFUSED[method]
        methods = [name for name in facts.methods if name not in refused]
        possible = facts.bus_reset_topology if method == "bus" else bool(facts.has_flr)
        if fix.answer.absent and possible and method not in methods:
            methods.append(method)
    methods.sort(key=lambda name: METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER))
    if methods == facts.methods:
        return plan
    whose = "written by the running kernel" if facts.methods_source == "file" else "derived from config space"
    facts.evidence.append(
        Evidence(method_path, f"{whose}; under the {fix.kernel_text}: {' '.join(methods) or '(none)'}")
    )
    facts.methods = methods
    return replan(facts, bus_reset_blocked=method == "bus" and fix.answer.present)
