"""The generator's consequence of a D3cold wake failure (family 4): vfio-pci's ``disable_idle_d3``.

A device the checker reports as not waking from D3cold (``power-link.d3cold-wake-failed`` from the
kernel log, ``power-link.d3cold-wake`` from the kernel's D3 quirk tables and known-devices, before
anything failed) gets, where vfio-pci does not
already keep idle devices in D0 (:mod:`harness.idle_d3`):

- in the modprobe target (and the initramfs targets that install its file):
  ``options vfio-pci disable_idle_d3=1``, under a comment that names the device and the cost;
- in the cmdline target: ``vfio_pci.disable_idle_d3=1`` when vfio-pci is built into the kernel
  (modprobe.d never reaches a built-in module; kernel/params.c takes ``vfio_pci.`` parameters from
  the command line instead);
- when the generator refuses the device: the same fix as text, with the power cycle a device that
  reads all-ones needs first.

``power-link.d3cold-idle`` (the platform can cut the idle device's power, and nothing known says
it will not come back) does not make the generator write it: most devices come back, and the
setting costs idle power on every such host; the finding's own fix names it and its cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness import paste
from harness.bootconfig import VFIO_CONF, builtin_modules
from harness.checker import DeviceReport
from harness.idle_d3 import COST, KERNEL_ARG, MODPROBE_LINE, idle_d3
from harness.sysfs import HostView

if TYPE_CHECKING:
    from harness.generate.plan import Plan

#: The checker's findings this fix answers.
D3COLD_CODES = ("power-link.d3cold-wake-failed", "power-link.d3cold-wake")


def _needing(reports: Iterable[DeviceReport]) -> list[DeviceReport]:
    return [report for report in reports if any(item.code in D3COLD_CODES for item in report.findings)]


def _builtin(view: HostView) -> bool:
    builtin = builtin_modules(view)
    return builtin is not None and "vfio_pci" in builtin


def _needed(view: HostView, reports: Iterable[DeviceReport]) -> list[DeviceReport]:
    """The devices that need the fix, when the root does not have it already."""
    needing = _needing(reports)
    if not needing or idle_d3(view).in_effect:
        return []
    return needing


def _why(needing: list[DeviceReport]) -> str:
    names = ", ".join(f"{item.function.name} [{item.function.id_text}]" for item in needing)
    codes = sorted({finding.code for item in needing for finding in item.findings if finding.code in D3COLD_CODES})
    if "power-link.d3cold-wake-failed" in codes:
        happened = "did not come back from D3cold"
    else:  # the prediction only: nothing failed yet
        happened = "would not come back from D3cold (known), and vfio-pci would idle it there"
    return f"{names} {happened} (vfiolab check: {', '.join(codes)})"


def modprobe_lines(plan: Plan) -> list[str]:
    """The vfio.conf lines: a comment with the reason and the cost, then the options line."""
    needing = _needed(plan.view, [item.report for item in plan.functions])
    if not needing:
        return []
    return [
        paste.comment(f"{_why(needing)}: keep vfio-pci from suspending idle devices; {COST}"),
        MODPROBE_LINE,
    ]


def cmdline_arguments(plan: Plan) -> tuple[list[str], list[str]]:
    """(arguments to add, explanations) for the kernel command line."""
    needing = _needed(plan.view, [item.report for item in plan.functions])
    if not needing:
        return [], []
    if _builtin(plan.view):
        return [KERNEL_ARG], [f"{_why(needing)}; vfio-pci is built into this kernel: {KERNEL_ARG}; {COST}"]
    return [], [f"{_why(needing)}: the modprobe target writes {MODPROBE_LINE} ({VFIO_CONF}); {COST}"]


def refused_fix(view: HostView, reports: Iterable[DeviceReport]) -> str | None:
    """For a refusal: what to do about a device that did not wake from D3cold, or None."""
    needing = _needing(reports)
    if not needing:
        return None
    first = "power-cycle the host (a device that reads all-ones comes back only then), then "
    if not any(item.function.config_dead for item in needing):
        first = ""
    if idle_d3(view).in_effect:
        return (
            f"{_why(needing)}. vfio-pci already keeps idle devices in D0 here (disable_idle_d3): {first}keep the "
            "kernel from cutting their power (echo 0 > .../d3cold_allowed) and do not suspend the host while "
            "they are passed through.\n"
        )
    where = f"the kernel command line: {KERNEL_ARG}" if _builtin(view) else f"{VFIO_CONF}: {MODPROBE_LINE}"
    return (
        f"{_why(needing)}. Fix: {first}keep vfio-pci from suspending idle devices, in {where} (vfiolab generate "
        f"modprobe / cmdline --force writes it); {COST}.\n"
    )
