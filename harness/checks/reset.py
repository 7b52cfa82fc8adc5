"""Reset analysis: which reset the device will get when vfio-pci opens and closes it and when QEMU
starts or reboots the VM, and whether that reset is known to break it.

Prediction is :mod:`harness.resets`; devices known to break on a reset come from
:mod:`harness.known_devices`, and whether the judged kernel (the running one, or the one
``--assume-kernel`` names) carries the quirks that change their reset methods from
:mod:`harness.reset_quirks` (the quirk tables' version knowledge). The rules:

* a device known to break on a bus reset that will get one: **fail**; when whether the kernel
  carries the quirk could not be judged, **warn** saying so (never pass);
* an unknown device with no FLR but a PM reset, where QEMU can bus-reset it first: **warn**
  naming QEMU's bus reset (the kernel's ``reset_method`` says ``pm`` and hides it);
* a device with FLR: **info**;
* no reset method at all: **info** on the root bus (QEMU says it cannot reset it; state may
  carry over between VM boots), **warn** elsewhere;
* a device that advertises FLR the kernel's ``quirk_no_flr`` says it does not survive: **fail**
  where the judged kernel lacks the quirk and FLR is its first method, **info** (with the reset
  that remains) where it has it, **warn** marked could-not-judge where that is unknown;
* a device that needs time after FLR (``delay_250ms_after_flr``): **fail** on a bare FLR where
  the judged kernel lacks the quirk, **info** where its device-specific FLR-and-wait comes first,
  **warn** marked could-not-judge where that is unknown.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from harness.checks.base import CheckContext, device_label, scsi_disk_options, vm_for_fix
from harness.findings import ALTERNATIVES, Evidence, Finding, Severity
from harness.kernellog import describe_group, group_similar
from harness.kernels import answer_sentence
from harness.known_devices import (
    FLR_BREAKS_DEVICE,
    LINK_DEAD_AFTER_BUS_RESET,
    NOT_READY_AFTER_FLR,
    KnownDevice,
    Problem,
    lookup,
)
from harness.reset_quirks import DELAY, DELAY_FUNCTIONS, REFUSED, KernelFix, kernel_fix, plan_under_kernel
from harness.resets import ResetPlan, analyse
from harness.sysfs import HostView, PciFunction, device_file, on_host

_QEMU_SOURCE = "QEMU hw/vfio/pci.c vfio_pci_reset (8.1-9.2, Proxmox VE 8)"
_RESET_LOG = re.compile(
    r"not ready \d+ms after|broken device, retraining|retraining failed|Unable to change power state"
    r"|config space inaccessible|Data Link Layer Link Active not set|secondary bus reset"
)

#: The finding for a device whose function reset is this method (the kernel's method names,
#: drivers/pci/pci.c pci_reset_fn_methods).
FUNCTION_RESET_CODES = {
    "device_specific": "reset.device-specific",
    "acpi": "reset.acpi",
    "flr": "reset.flr",
    "af_flr": "reset.af-flr",
    "pm": "reset.pm",
    "bus": "reset.bus",
    "cxl_bus": "reset.cxl-bus",
}


def check(ctx: CheckContext) -> Iterator[Finding]:
    version = ctx.view.kernel_version
    for function in ctx.selected():
        known = lookup(function.vendor, function.device)
        method_path = ctx.view.show(device_file(function.name, "reset_method"))
        problem = known.problem(LINK_DEAD_AFTER_BUS_RESET) if known else None
        fix = kernel_fix(ctx.view, function, problem, "bus") if problem is not None else None
        blocked = fix is not None and fix.answer.present
        plan = analyse(ctx.view, function, version, bus_reset_blocked=blocked)
        if fix is not None:
            plan = plan_under_kernel(plan, fix, "bus", method_path)
        flr_problem = known.problem(FLR_BREAKS_DEVICE) if known else None
        if flr_problem is not None and all(entry.function.condition for entry in flr_problem.quirks()):
            # The quirk acts only under a condition vfiolab does not evaluate (a revision, a DMI
            # match): the generic reset finding, from what the kernel offers, stands.
            flr_problem = None
        flr_fix = kernel_fix(ctx.view, function, flr_problem, "flr") if flr_problem is not None else None
        if flr_fix is not None:
            plan = plan_under_kernel(plan, flr_fix, "flr", method_path)
        delay_problem = known.problem(NOT_READY_AFTER_FLR) if known else None
        if delay_problem is not None and not any(
            entry.function.name in DELAY_FUNCTIONS for entry in delay_problem.quirks()
        ):
            delay_problem = None  # other post-FLR quirks (Immediate Readiness) leave the methods alone
        delay_fix = kernel_fix(ctx.view, function, delay_problem, DELAY) if delay_problem is not None else None
        if delay_fix is not None:
            plan = plan_under_kernel(plan, delay_fix, DELAY, method_path)
        if plan.facts.methods is None:
            yield _unknown(ctx, function, plan)
        elif known is not None and problem is not None:
            yield _known_bad(ctx, function, plan, known, problem, fix=fix)
        elif known is not None and flr_problem is not None and flr_fix is not None and plan.facts.has_flr:
            yield from _flr_breaks(ctx, function, plan, known, flr_problem, fix=flr_fix)
        elif known is not None and delay_problem is not None and delay_fix is not None and plan.facts.has_flr:
            yield from _flr_delay(ctx, function, plan, known, delay_problem, fix=delay_fix)
        else:
            yield _generic(ctx, function, plan)


def _evidence(ctx: CheckContext, function: PciFunction, plan: ResetPlan) -> list[Evidence]:
    evidence = list(plan.facts.evidence)
    if function.config_dead:
        evidence.append(
            ctx.device_evidence(
                function, "config", "reads all-ones (vendor ffff, header type 7f): the device no longer answers"
            )
        )
    return evidence


def _log_evidence(view: HostView, function: PciFunction) -> list[Evidence]:
    """Kernel log lines about resets of this device or of the port above it."""
    if not view.kernel_log or view.kernel_log_path is None:
        return []
    names = [function.name]
    if function.parent is not None:
        names.append(str(function.parent))
    found = [
        line for line in view.kernel_log if _RESET_LOG.search(line.text) and any(line.names(name) for name in names)
    ]
    return [Evidence(*describe_group(view.kernel_log_path, group)) for group in group_similar(found)]


def _unknown(ctx: CheckContext, function: PciFunction, plan: ResetPlan) -> Finding:
    return Finding(
        "reset.unknown",
        Severity.INFO,
        "could not tell which reset it gets: no reset_method file and config space not readable",
        "The kernel's reset methods come from reset_method (kernel 5.15 and later) or, on older kernels, from "
        "the FLR and PM bits in config space beyond the first 64 bytes, which only root can read.",
        "Rerun as root (sudo vfiolab check).",
        _evidence(ctx, function, plan),
        device=function.name,
    )


def _disk_fix(ctx: CheckContext, function: PciFunction) -> str:
    disks = ctx.view.whole_disks(function.bdf)
    if disks:
        vmid, note = vm_for_fix(ctx.view)
        options = scsi_disk_options(ctx.view, vmid, disks)
        return f"pass its disks instead of the controller{note}: `qm set {vmid} {options}`"
    if function.class_code is not None and function.class_code >> 16 == 0x01:
        return (
            "pass its disks instead of the controller (their /dev/disk/by-id names are not visible while "
            f"{function.driver or 'no driver'} holds it; bind the host driver and run ls -l /dev/disk/by-id)"
        )
    return "pass what it serves (disks, ports) to the VM another way"


def _other_controllers(ctx: CheckContext, function: PciFunction) -> tuple[str, ...]:
    """Controllers of the same kind, as candidates: the checker keeps those that pass."""
    if function.class_code is None:
        return ()
    return tuple(
        item.name
        for item in ctx.view.endpoints()
        if item.bdf != function.bdf and item.class_code is not None and item.class_code >> 8 == function.class_code >> 8
    )


def _known_bad(
    ctx: CheckContext,
    function: PciFunction,
    plan: ResetPlan,
    known: KnownDevice,
    problem: Problem,
    *,
    fix: KernelFix | None,
) -> Finding:
    facts = plan.facts
    evidence = _evidence(ctx, function, plan) + _log_evidence(ctx.view, function)
    sources = "; ".join(problem.sources)
    if fix is not None and fix.answer.present:
        return Finding(
            "reset.kernel-quirk-protects",
            Severity.INFO,
            f"known to lose its link after a bus reset, but {fix.kernel_text} carries {fix.quirk} for it",
            f"{known.name} [{known.id_text}]: {problem.detail}. The kernel's {fix.quirk} refuses every bus reset "
            f"of it ({fix.answer.reason}), so QEMU's hot reset is refused and it falls back to "
            f"{plan.function_reset or 'no reset'}. Sources: {sources}.",
            "",
            evidence,
            device=function.name,
        )
    if not plan.bus_reset_expected:
        return Finding(
            "reset.known-device-no-bus-reset",
            Severity.INFO,
            f"known to lose its link after a bus reset, but it will not get one here ({plan.describe()})",
            f"{known.name} [{known.id_text}]: {problem.detail}. Here "
            + ("it has FLR, which QEMU and the kernel use first." if facts.has_flr else "no bus reset is possible.")
            + f" Sources: {sources}.",
            "",
            evidence,
            device=function.name,
        )
    who = []
    if plan.qemu_bus_reset_first:
        who.append(
            "QEMU bus-resets it at VM start and at every guest reboot: it has no FLR"
            + (" but a PM reset (NoSoftRst-)" if facts.has_pm_reset else "")
            + f", so {_QEMU_SOURCE} tries VFIO_DEVICE_PCI_HOT_RESET before VFIO_DEVICE_RESET and ignores reset_method"
        )
    if plan.bus_reset_by_kernel:
        who.append("the kernel's own function reset is a bus reset (reset_method starts with bus)")
    place = f"alone on bus {function.bdf.bus:02x} behind {function.parent.short}" if function.parent else "on its bus"
    if facts.alone_on_bus and function.parent is not None:
        who.append(f"it is {place}, so the bus reset is possible")
    observed = fix is None or not fix.assumed
    bus_hidden = (
        observed and facts.methods_source == "file" and "bus" not in (facts.methods or []) and facts.bus_reset_topology
    )
    severity = Severity.FAIL
    could_not_judge = False
    hedge = ""
    if bus_hidden:
        hedge = (
            " reset_method does not list bus: either this kernel carries a no-bus-reset quirk for it (then QEMU's "
            "hot reset is refused too) or someone wrote reset_method, which QEMU's hot reset ignores."
        )
    if fix is None:
        kernel_text = f"No kernel has a no-bus-reset quirk for {known.id_text}."
    else:
        kernel_text = answer_sentence(fix.answer, fix.kernel_text, f"{fix.quirk} for {known.id_text}")
    if fix is not None and fix.answer.unknown:
        severity = Severity.WARN
        could_not_judge = True
    if fix is not None and fix.answer.unknown and bus_hidden:
        severity = Severity.WARN
    fix_parts = [_disk_fix(ctx, function) + ALTERNATIVES]
    if fix is not None:
        fix_parts.append(
            f"or boot a kernel that carries {fix.quirk} for {known.id_text} ({fix.quirks[0].carriers_text()})"
        )
    else:
        fix_parts.append(f"or a kernel with a no-bus-reset quirk for {known.id_text} (none exists upstream yet)")
    fix_text = "; ".join(fix_parts) + ". Once the link is dead only a host power cycle brings it back."
    message = f"will be bus-reset, and {known.id_text} does not bring its link back after a bus reset"
    if could_not_judge:
        message = (
            f"could not judge whether {fix.kernel_text if fix else 'this kernel'} refuses its bus reset; "
            f"without the quirk it is bus-reset and {known.id_text} does not bring its link back"
        )
    return Finding(
        "reset.bus-reset-breaks-device",
        severity,
        message,
        f"{'; '.join(who)}. {known.name}: {problem.detail}. {kernel_text}{hedge} Sources: {sources}.",
        fix_text[0].upper() + fix_text[1:],
        evidence,
        device=function.name,
        alternatives=_other_controllers(ctx, function),
        could_not_judge=could_not_judge,
    )


def _generic(ctx: CheckContext, function: PciFunction, plan: ResetPlan) -> Finding:
    facts = plan.facts
    evidence = _evidence(ctx, function, plan)
    label = device_label(function)
    if facts.has_flr and plan.function_reset in ("flr", "af_flr", "device_specific", "acpi"):
        return Finding(
            "reset.flr",
            Severity.INFO,
            f"resets with {plan.function_reset} ({plan.describe()})",
            "A function-level reset touches only this device; QEMU and the kernel both use it first.",
            "",
            evidence,
            device=function.name,
        )
    if plan.qemu_bus_reset_first:
        if facts.has_pm_reset:
            reason = (
                f"It has no FLR but a PM reset (NoSoftRst-), so {_QEMU_SOURCE} tries its own bus reset "
                "(VFIO_DEVICE_PCI_HOT_RESET) first and ignores reset_method."
            )
        else:
            peers = ", ".join(facts.bus_peers) or "nothing else"
            reason = (
                "The kernel has no reset method for it alone (no FLR, no PM reset, and it shares its bus with "
                f"{peers}), so {_QEMU_SOURCE} falls back to its own bus reset (VFIO_DEVICE_PCI_HOT_RESET) of the "
                "whole bus, which works when every function on the bus is given to the VM."
            )
        return Finding(
            "reset.qemu-bus-reset",
            Severity.WARN,
            "QEMU will bus-reset it at VM start although reset_method says "
            + (" ".join(facts.methods or []) or "nothing"),
            reason
            + " Many devices survive a secondary bus reset; some never bring their link back (the ASMedia ASM1062 "
            "case), which shows as 'not ready ... giving up' and an all-ones config space.",
            f"Try it once on a test VM and watch dmesg for {function.name}; if the link does not come back, pass "
            "what the device serves instead of the device, or use another slot or card. Tell vfiolab about it "
            "(harness/data/known-devices.yaml).",
            evidence,
            device=function.name,
        )
    if plan.function_reset is not None:
        how = {"bus": "a secondary bus reset of its port", "pm": "a PM reset (D3hot and back)"}.get(
            plan.function_reset, plan.function_reset
        )
        return Finding(
            FUNCTION_RESET_CODES.get(plan.function_reset, "reset.other-method"),
            Severity.INFO,
            f"resets with {how} ({plan.describe()})",
            ("FLR is not among the kernel's methods" if facts.has_flr else "No FLR")
            + "; the kernel's next method is used by vfio-pci and by QEMU's VFIO_DEVICE_RESET.",
            "",
            evidence,
            device=function.name,
        )
    qemu_message = f"vfio: Cannot reset device {function.name}, no available reset mechanism."
    if facts.on_root_bus:
        return Finding(
            "reset.none-integrated",
            Severity.INFO,
            f"no reset method: QEMU will print '{qemu_message}'",
            f"{label} is on the root bus (an integrated device): no FLR, no PM reset (NoSoftRst+) and no bridge to "
            "reset it through. Passthrough works, but the device's state may carry over between VM boots.",
            "Nothing to do unless the guest's driver needs a clean device; then shut the VM down fully rather than "
            "rebooting it.",
            evidence,
            device=function.name,
        )
    return Finding(
        "reset.none",
        Severity.WARN,
        f"no reset method: QEMU will print '{qemu_message}'",
        f"{label} has no FLR, no PM reset and cannot be bus-reset alone (it shares its bus with other "
        "devices outside its group), so it keeps its state between VM boots; drivers that expect a freshly "
        "reset device may fail on the second boot.",
        "Pass every device on the bus to the same VM (then the bus reset becomes possible), or use another slot.",
        evidence,
        device=function.name,
    )


def _flr_breaks(
    ctx: CheckContext, function: PciFunction, plan: ResetPlan, known: KnownDevice, problem: Problem, *, fix: KernelFix
) -> Iterator[Finding]:
    """A device that advertises FLR (DevCap FLReset+ or AF FLR) which it does not survive, named
    by the kernel's quirk_no_flr (drivers/pci/quirks.c). QEMU reads FLR from config space and so
    calls VFIO_DEVICE_RESET (hw/vfio/pci.c vfio_pci_reset), i.e. the kernel's first method: FLR
    unless the quirk's PCI_DEV_FLAGS_NO_FLR_RESET removed it (drivers/pci/pci.c pcie_reset_flr,
    pci_af_flr). What the kernel logs when the device does not come back is pci_dev_wait's
    "not ready %dms after FLR; giving up" (drivers/pci/pci.c, 6.12)."""
    evidence = _evidence(ctx, function, plan) + _log_evidence(ctx.view, function)
    sources = "; ".join(problem.sources)
    methods = plan.facts.methods or []
    uses_flr = plan.function_reset in REFUSED["flr"][0]
    label = f"{known.name} [{known.id_text}]"
    if not uses_flr and not fix.answer.unknown:
        if fix.answer.present:
            how = f"The {fix.kernel_text} carries {fix.quirk} for it ({fix.answer.reason}), so"
        else:
            how = f"FLR is not the kernel's first method here ({fix.answer.reason}), so"
        yield Finding(
            "reset.kernel-quirk-avoids-flr",
            Severity.INFO,
            f"advertises FLR, which it does not survive; the {fix.kernel_text} does not use it "
            f"(reset methods: {' '.join(methods) or 'none'})",
            f"{label}: {problem.detail}. {how} the kernel and QEMU's VFIO_DEVICE_RESET use "
            f"{plan.function_reset or 'no reset'} instead. Sources: {sources}.",
            "",
            evidence,
            device=function.name,
        )
        yield _generic(ctx, function, plan)
        return
    could_not_judge = fix.answer.unknown
    if could_not_judge:
        message = (
            f"could not judge whether the {fix.kernel_text} avoids its FLR; without {fix.quirk} it is reset with "
            f"FLR, which {known.id_text} does not survive"
        )
    else:
        message = f"will be reset with FLR at VM start and guest reboot, and {known.id_text} does not survive FLR"
    kernel_text = answer_sentence(fix.answer, fix.kernel_text, f"{fix.quirk} for {known.id_text}")
    remaining = [name for name in methods if name not in REFUSED["flr"][0]]
    fix_parts = [f"boot a kernel that carries {fix.quirk} for {known.id_text} ({fix.quirks[0].carriers_text()})"]
    if remaining and plan.facts.methods_source == "file" and not fix.assumed:
        path = on_host(device_file(function.name, "reset_method"))
        fix_parts.append(
            "or, until then, take FLR out of its reset methods before the VM starts (as root, until the next "
            f"boot): `echo {shlex.quote(' '.join(remaining))} > {shlex.quote(path)}`"
        )
    fix_text = "; ".join(fix_parts) + "."
    yield Finding(
        "reset.flr-breaks-device",
        Severity.WARN if could_not_judge else Severity.FAIL,
        message,
        f"{label}: {problem.detail}. It advertises FLR in config space, so QEMU ({_QEMU_SOURCE}) calls "
        f"VFIO_DEVICE_RESET, whose first kernel method {'is FLR' if uses_flr else 'may be FLR'}; a device that "
        "does not come back makes the kernel log 'not ready 65535ms after FLR; giving up' and leaves its config "
        f"space reading all-ones. {kernel_text} Sources: {sources}.",
        fix_text[0].upper() + fix_text[1:],
        evidence,
        device=function.name,
        could_not_judge=could_not_judge,
    )


def _flr_delay(
    ctx: CheckContext, function: PciFunction, plan: ResetPlan, known: KnownDevice, problem: Problem, *, fix: KernelFix
) -> Iterator[Finding]:
    """A device that needs time after FLR before its driver touches it, named by the kernel's
    delay_250ms_after_flr (drivers/pci/quirks.c pci_dev_reset_methods): with the quirk, the
    kernel's first method is device_specific (FLR, then 250 ms); without it, a bare FLR, after
    which the guest's NVMe driver can time out enabling the controller."""
    evidence = _evidence(ctx, function, plan) + _log_evidence(ctx.view, function)
    sources = "; ".join(problem.sources)
    label = f"{known.name} [{known.id_text}]"
    methods = " ".join(plan.facts.methods or []) or "none"
    if fix.answer.present and plan.function_reset == "device_specific":
        yield Finding(
            "reset.kernel-quirk-delays-flr",
            Severity.INFO,
            f"needs time after FLR; the {fix.kernel_text} waits 250 ms after it (reset methods: {methods})",
            f"{label}: {problem.detail}. The {fix.kernel_text} carries {fix.quirk} for it ({fix.answer.reason}): "
            "vfio-pci and QEMU's VFIO_DEVICE_RESET reset it with FLR and then wait. "
            f"Sources: {sources}.",
            "",
            evidence,
            device=function.name,
        )
        return
    if fix.answer.present or plan.function_reset not in ("flr", "af_flr", "device_specific"):
        yield _generic(ctx, function, plan)
        return
    could_not_judge = fix.answer.unknown
    if could_not_judge:
        message = (
            f"could not judge whether the {fix.kernel_text} waits after its FLR; without {fix.quirk} the guest's "
            "driver can time out after every VM start and reboot"
        )
    else:
        message = f"reset with a bare FLR, after which {known.id_text} needs time the kernel does not give it"
    kernel_text = answer_sentence(fix.answer, fix.kernel_text, f"{fix.quirk} for {known.id_text}")
    yield Finding(
        "reset.flr-without-delay",
        Severity.WARN if could_not_judge else Severity.FAIL,
        message,
        f"{label}: {problem.detail}. QEMU ({_QEMU_SOURCE}) calls VFIO_DEVICE_RESET at VM start and at every guest "
        "reboot; the kernel resets it with FLR and hands it back at once, and the guest's driver, enabling the "
        f"controller too soon, times out. {kernel_text} Sources: {sources}.",
        f"Boot a kernel that carries {fix.quirk} for {known.id_text} ({fix.quirks[0].carriers_text()}).",
        evidence,
        device=function.name,
        could_not_judge=could_not_judge,
    )
