"""Resets this host has already seen fail (family 3): the kernel log says a reset of the device
never finished, so the next VM start repeats it.

The kernel waits for a device after a reset in ``pci_dev_wait`` (drivers/pci/pci.c, Linux 6.1 and
6.12) and gives up with ``not ready %dms after %s; giving up`` (``FLR``, ``AF_FLR``,
``PM D3hot->D0``, ``bus reset``); the wait then returns -ENOTTY and ``__pci_reset_function_locked``
tries the next method in the device's ``reset_method`` order. What that means for a VM:

- after FLR: QEMU resets a device that advertises FLR with ``VFIO_DEVICE_RESET`` (QEMU
  hw/vfio/pci.c ``vfio_pci_reset``), which is the kernel's ``reset_method`` order, so every VM
  start and guest reboot waits a minute on the dead FLR first (and on 6.12 and later, whose wait
  reads the Vendor ID under Configuration RRS, an all-ones device may be taken as ready and left
  dead). Taking ``flr`` out of ``reset_method`` avoids it;
- after a bus reset: QEMU's own hot reset (``VFIO_DEVICE_PCI_HOT_RESET``) ignores
  ``reset_method``, so nothing in sysfs avoids it; the device (or the slot) must not be given to
  a VM that resets it.

Devices the known-devices table already names for the same failure are left to the reset check.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from harness.checks.base import CheckContext, log_matches
from harness.findings import Evidence, Finding, Severity
from harness.kernellog import LogLine, describe_group, group_similar
from harness.known_devices import FLR_BREAKS_DEVICE, LINK_DEAD_AFTER_BUS_RESET, lookup
from harness.sysfs import PciFunction, device_file, on_host

_GAVE_UP = re.compile(r"not ready \d+ms after (FLR|AF_FLR|bus reset); giving up")
_FLR_METHODS = ("flr", "af_flr")


def check(ctx: CheckContext) -> Iterator[Finding]:
    view = ctx.view
    if not view.kernel_log or view.kernel_log_path is None:
        return
    found = [(match[1], line) for match, line in log_matches(ctx, _GAVE_UP)]
    if not found:
        return
    for function in ctx.selected():
        mine = [(kind, line) for kind, line in found if line.names(function.name)]
        if not mine:
            continue
        known = lookup(function.vendor, function.device)
        flr = [line for kind, line in mine if kind in ("FLR", "AF_FLR")]
        bus = [line for kind, line in mine if kind == "bus reset"]
        if flr and not (known and known.problem(FLR_BREAKS_DEVICE)):
            yield _flr_failed(ctx, function, flr)
        if bus and not (known and known.problem(LINK_DEAD_AFTER_BUS_RESET)):
            yield _bus_failed(ctx, function, bus)


def _log_evidence(ctx: CheckContext, lines: list[LogLine]) -> list[Evidence]:
    path = ctx.view.kernel_log_path or ""
    return [Evidence(*describe_group(path, group)) for group in group_similar(lines)]


def _methods(ctx: CheckContext, function: PciFunction) -> list[str] | None:
    text = ctx.view.read_text(device_file(function.name, "reset_method"))
    return text.split() if text is not None else None


def _flr_failed(ctx: CheckContext, function: PciFunction, lines: list[LogLine]) -> Finding:
    methods = _methods(ctx, function)
    evidence = _log_evidence(ctx, lines)
    if methods is not None:
        evidence.append(ctx.device_evidence(function, "reset_method", " ".join(methods) or "(empty)"))
    if methods is not None and not any(name in _FLR_METHODS for name in methods):
        return Finding(
            "reset.flr-failed-here",
            Severity.INFO,
            f"FLR did not finish on this host earlier; reset_method no longer uses it ({' '.join(methods) or 'none'})",
            "The kernel log shows the kernel giving up on the device after FLR (drivers/pci/pci.c pci_dev_wait). "
            "Its reset_method no longer lists flr, so vfio-pci and QEMU's VFIO_DEVICE_RESET use the next method.",
            "",
            evidence,
            device=function.name,
        )
    remaining = [name for name in methods or [] if name not in _FLR_METHODS]
    path = on_host(device_file(function.name, "reset_method"))
    if remaining:
        fix = (
            f"Before the VM starts, take FLR out of its reset methods (as root, until the next boot): "
            f"`echo {shlex.quote(' '.join(remaining))} > {shlex.quote(path)}`; to keep it, a udev rule: "
            f'`ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{function.name}", ATTR{{reset_method}}="'
            f'{" ".join(remaining)}"`.'
        )
    else:
        fix = (
            "It has no reset method besides FLR: without FLR it keeps its state between VM boots. If it reads "
            "all-ones now, only a host power cycle brings it back."
        )
    return Finding(
        "reset.flr-failed-here",
        Severity.FAIL,
        "FLR did not finish on this host: the kernel gave up waiting for the device after it",
        "The kernel log shows 'not ready ...ms after FLR; giving up' for this device (drivers/pci/pci.c "
        "pci_dev_wait). Its reset_method still starts with FLR, and QEMU resets a device that advertises FLR "
        "with VFIO_DEVICE_RESET (hw/vfio/pci.c vfio_pci_reset), the kernel's order: every VM start and guest "
        "reboot waits on the FLR again, and a device that answers all-ones after it can be taken for ready "
        "on kernels that wait under Configuration RRS (6.12 and later) and left unusable.",
        fix,
        evidence,
        device=function.name,
    )


def _bus_failed(ctx: CheckContext, function: PciFunction, lines: list[LogLine]) -> Finding:
    port = function.parent.short if function.parent is not None else "its port"
    return Finding(
        "reset.bus-reset-failed-here",
        Severity.FAIL,
        f"a secondary bus reset through {port} did not bring it back on this host",
        "The kernel log shows 'not ready ...ms after bus reset; giving up' for this device (drivers/pci/pci.c "
        "pci_dev_wait): after the reset its link or the device did not come back. QEMU resets a device without "
        "FLR with its own hot reset (VFIO_DEVICE_PCI_HOT_RESET, hw/vfio/pci.c vfio_pci_reset), which ignores "
        "reset_method, so every VM start repeats it. Whether a device survives a bus reset can depend on the "
        "port it sits behind as much as on the device.",
        "Do not give it to a VM in this slot: pass what it serves another way (its disks, its network), or try "
        "another slot or host. Once its config space reads all-ones only a host power cycle brings it back.",
        _log_evidence(ctx, lines),
        device=function.name,
    )
