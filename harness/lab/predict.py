"""What the checker predicts for a planned device, and whether the lab may touch it at all.

Both come from one :func:`harness.checker.check_root` of the host: the prediction from the reset
analysis (:func:`harness.resets.analyse`, the kernel's function reset and QEMU's sequence at VM
start) and the reset check's verdict (a device known not to survive the bus reset it will get);
the refusal from the host-use check (mounted or swapped-on disks, the root or boot disk, a
network interface that is up, for the device and every endpoint in its IOMMU group). Nothing
here decides again what those checks decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.checker import CheckReport
from harness.findings import Severity
from harness.resets import analyse

#: The reset check's findings that say the device will not survive a VM start.
DIES_AT_VM_START = ("reset.bus-reset-breaks-device",)
#: The reset check's finding that says this kernel's quirk keeps the bus reset away.
QUIRK_PROTECTS = "reset.kernel-quirk-protects"


@dataclass
class Prediction:
    """The checker's prediction for one device."""

    #: The kernel's function reset method (vfio-pci open/close, sysfs ``reset``), or None.
    function_reset: str | None
    #: QEMU's resets at VM start, in order.
    qemu_sequence: list[str]
    #: Survives a VM start (QEMU's resets, vfio-pci's open and release).
    survives_vm_start: bool
    #: Survives the kernel's function reset through sysfs.
    survives_function_reset: bool
    #: The reset findings (code: message) the prediction rests on.
    evidence: list[str] = field(default_factory=list)
    #: The plan replaced the checker's survival prediction (test-only plans).
    overridden: bool = False

    def survives(self, step: str) -> bool:
        return self.survives_vm_start if step == "vm-start" else self.survives_function_reset

    def describe(self, step: str) -> str:
        if step == "vm-start":
            qemu = " then ".join(self.qemu_sequence) or "no reset (QEMU has none it can use)"
            text = f"VM start: {qemu}"
        else:
            text = f"function reset: {self.function_reset or 'none (no reset file)'}"
        text += "; survives" if self.survives(step) else "; does not survive (needs a power cycle)"
        return text + (" [prediction set by the plan]" if self.overridden else "")


def refusal(report: CheckReport, address: str) -> str | None:
    """Why the lab must not touch ``address`` (the host uses it or a group peer), or None."""
    device = report.device(address)
    if device is None:
        return None
    reasons = [
        f"{finding.message} [{finding.code}]"
        for finding in device.findings
        if finding.code.startswith("host-use.") and finding.severity is Severity.FAIL
    ]
    return "; ".join(reasons) or None


def predict(report: CheckReport, address: str, survives_override: bool | None = None) -> Prediction:
    device = report.device(address)
    assert device is not None, f"{address} was checked"
    codes = {finding.code for finding in device.findings}
    plan = analyse(report.view, device.function, report.view.kernel_version, bus_reset_blocked=QUIRK_PROTECTS in codes)
    dies = any(code in codes for code in DIES_AT_VM_START)
    # The bus reset is what kills such a device; the sysfs reset uses it only when it is the
    # kernel's first method.
    dies_on_function_reset = dies and plan.function_reset == "bus"
    evidence = [
        f"{finding.code}: {finding.message}" for finding in device.findings if finding.code.startswith("reset.")
    ]
    prediction = Prediction(
        plan.function_reset, list(plan.qemu_sequence), not dies, not dies_on_function_reset, evidence
    )
    if survives_override is not None:
        prediction.survives_vm_start = prediction.survives_function_reset = survives_override
        prediction.overridden = True
    return prediction
