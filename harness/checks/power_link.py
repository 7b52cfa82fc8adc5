"""Power and link check: is the device answering, is its link up and trained as far as it can go,
and is its power state one to worry about.

``power_state`` reading ``unknown`` on a device without a driver is normal (pci_device_remove
leaves a D0 device as PCI_UNKNOWN on kernels up to 6.8; never-bound devices read it on every
kernel, drivers/pci/probe.c pci_setup_device) and is not reported.

D3cold wake failures (family 4): the kernel logs
``Unable to change power state from D3cold to D0, device inaccessible`` when a device it powers
up reads all-ones (drivers/pci/pci.c ``pci_power_up``, Linux 6.1 and 6.12), and
``not ready %dms after resume; giving up`` when a bridge's secondary bus does not come back after
resume (``pci_dev_wait`` called through ``pci_bridge_wait_for_secondary_bus(dev, "resume")``,
drivers/pci/pci-driver.c ``pci_pm_bridge_power_up_actions``). A device is lost when either is
logged for it or for any bridge above it: a switch port that stays in D3cold takes everything
below it along. vfio-pci runtime-suspends devices it holds and nobody uses unless
``disable_idle_d3`` is set (:mod:`harness.idle_d3`), which is the fix when it is not.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from harness.checks.base import CheckContext, log_matches
from harness.findings import Evidence, Finding, Severity
from harness.idle_d3 import COST, KERNEL_ARG, MODPROBE_LINE, IdleD3, idle_d3
from harness.kernellog import describe_group, group_similar
from harness.known_devices import D3COLD_WAKE_FAILURE, lookup
from harness.sysfs import PciFunction, device_file, on_host

_SPEED_ORDER = ("2.5 GT/s", "5.0 GT/s", "8.0 GT/s", "16.0 GT/s", "32.0 GT/s", "64.0 GT/s")


def check(ctx: CheckContext) -> Iterator[Finding]:
    for function in ctx.selected():
        yield from _answering(ctx, function)
        yield from _link(ctx, function)
        yield from _d3cold(ctx, function)
        yield from _d3cold_wake_failed(ctx, function)


def _answering(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    if not function.config_dead:
        return
    yield Finding(
        "power-link.not-answering",
        Severity.FAIL,
        "config space reads all-ones: the device is not answering",
        "Every config read returns 0xffffffff, as after a failed reset or a link that did not come back; "
        "lspci prints '!!! Unknown header type 7f' and a guest prints 'unknown header type 7f'. The sysfs "
        "vendor/device files still show the IDs the kernel cached at boot.",
        "Power-cycle the host (a reboot may not be enough when the link is dead); then find the cause in the "
        "reset analysis before starting the VM again.",
        [ctx.device_evidence(function, "config", "ffffffff ffffffff ... (all-ones)")],
        device=function.name,
    )


def _speed_rank(text: str | None) -> int | None:
    if text is None:
        return None
    for index, speed in enumerate(_SPEED_ORDER):
        if text.startswith(speed):
            return index
    return None


def _width(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _link(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    port = view.function(function.parent) if function.parent is not None else None
    if port is not None and port.config is not None and not port.config.truncated and not port.config.dead:
        express = port.config.express()
        if express is not None and express.has_link and express.dll_active_reporting and not express.dll_active:
            status = f"LnkSta={express.raw('lnksta'):#06x}: DLActive-"
            if express.bandwidth_management_status:
                status += " BWMgmt+"
            yield Finding(
                "power-link.link-down",
                Severity.FAIL,
                f"the link from port {port.bdf.short} to it is down (DLActive-)",
                "The port reports that the data link layer is not active: nothing reaches the device. "
                + (
                    "Link bandwidth management status is set: the port tried to retrain and failed. "
                    if express.bandwidth_management_status
                    else ""
                )
                + "This is what a device that does not retrain after a bus reset leaves behind.",
                "Power-cycle the host; do not give the device a bus reset again (see the reset analysis).",
                [ctx.device_evidence(port, "config", status)],
                device=function.name,
            )
            return
    if function.config_dead:
        return
    speed, top_speed = function.current_link_speed, function.max_link_speed
    width, top_width = _width(function.current_link_width), _width(function.max_link_width)
    if port is not None:
        port_speed_rank = _speed_rank(port.max_link_speed)
        if port_speed_rank is not None and (_speed_rank(top_speed) or 0) > port_speed_rank:
            top_speed = port.max_link_speed
        port_width = _width(port.max_link_width)
        if port_width is not None and top_width is not None and port_width < top_width:
            top_width = port_width
    speed_rank, top_rank = _speed_rank(speed), _speed_rank(top_speed)
    if width is not None and top_width is not None and 0 < width < top_width:
        yield Finding(
            "power-link.narrow-link",
            Severity.WARN,
            f"link trained at x{width}, below the x{top_width} both ends support",
            "A link narrower than both ends allow usually means a slot wired narrower than it looks, a riser, "
            "or a poor contact; the device works with less bandwidth.",
            "Reseat the card or check the board manual for the slot's electrical width.",
            [
                ctx.device_evidence(function, "current_link_width", width),
                ctx.device_evidence(function, "max_link_width", function.max_link_width),
            ],
            device=function.name,
        )
    elif speed_rank is not None and top_rank is not None and speed_rank < top_rank:
        yield Finding(
            "power-link.slow-link",
            Severity.INFO,
            f"link runs at {speed}, below the {top_speed} both ends support",
            "Devices lower their link speed when idle (GPUs do); a permanently slow link means less bandwidth "
            "but does not affect passthrough.",
            "",
            [
                ctx.device_evidence(function, "current_link_speed", speed),
                ctx.device_evidence(function, "max_link_speed", function.max_link_speed),
            ],
            device=function.name,
        )


def _d3cold(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    known = lookup(function.vendor, function.device)
    problem = known.problem(D3COLD_WAKE_FAILURE) if known else None
    if problem is None:
        return
    allowed = ctx.view.read_text(device_file(function.name, "d3cold_allowed"))
    if allowed is not None and allowed.strip() == "0":
        return
    if function.driver == "vfio-pci" and _idle_d3(ctx).in_effect:
        return  # vfio-pci keeps it in D0 while it is unused
    yield Finding(
        "power-link.d3cold-wake",
        Severity.WARN,
        "known not to wake from D3cold, and D3cold is allowed",
        f"{problem.detail}. Sources: {'; '.join(problem.sources)}.",
        f"echo 0 > {ctx.view.show(device_file(function.name, 'd3cold_allowed'))} (e.g. from a udev rule), "
        "or keep vfio-pci "
        "from suspending it: options vfio-pci disable_idle_d3=1",
        [ctx.device_evidence(function, "d3cold_allowed", (allowed or "unknown").strip())],
        device=function.name,
    )


_D3COLD_WAKE = re.compile(
    r"Unable to change power state from D3cold to D0, device inaccessible|not ready \d+ms after resume"
)


def _idle_d3(ctx: CheckContext) -> IdleD3:
    cached = ctx.view.derived.get("idle-d3")
    if not isinstance(cached, IdleD3):
        cached = idle_d3(ctx.view)
        ctx.view.derived["idle-d3"] = cached
    return cached


def _path_up(ctx: CheckContext, function: PciFunction) -> list[PciFunction]:
    """The function and every bridge above it, nearest first (bounded by the view: a corrupt root
    cannot make a loop last)."""
    chain = [function]
    seen = {function.name}
    while chain[-1].parent is not None:
        above = ctx.view.function(chain[-1].parent)
        if above is None or above.name in seen:
            break
        seen.add(above.name)
        chain.append(above)
    return chain


def _d3cold_wake_failed(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    if not view.kernel_log or view.kernel_log_path is None:
        return
    candidates = [line for _, line in log_matches(ctx, _D3COLD_WAKE)]
    if not candidates:
        return
    chain = _path_up(ctx, function)
    hit = [line for line in candidates if any(line.names(item.name) for item in chain)]
    if not hit:
        return
    lost = [item.bdf.short for item in chain if any(line.names(item.name) for line in hit)]
    ports = [name for name in lost if name != function.bdf.short]
    if not ports:
        where = "it"
    else:
        where = ("it and " if function.bdf.short in lost else "") + "the port(s) above it (" + ", ".join(ports) + ")"
    setting = _idle_d3(ctx)
    silent = [item.bdf.short for item in chain if item.config_dead]
    recover = "Power-cycle the host to get the device back. " if silent else ""
    evidence = [Evidence(*describe_group(view.kernel_log_path, group)) for group in group_similar(hit)]
    evidence += list(setting.evidence)
    allowed = [on_host(device_file(item.name, "d3cold_allowed")) for item in chain if item.bdf.short in lost]
    allowed_fix = " and ".join(f"echo 0 > {shlex.quote(path)}" for path in allowed)
    if setting.in_effect:
        how = (
            "vfio-pci already keeps its idle devices in D0 (disable_idle_d3 is set), so something else powered "
            "them down: system suspend (s2idle, S3), or the host driver before vfio-pci took the device"
        )
        fix = (
            f"{recover}Keep the kernel from cutting its power: "
            f"{allowed_fix} (each boot, e.g. from a udev rule), and do not suspend the host while it is passed "
            "through."
        )
    else:
        how = (
            "vfio-pci lets a device it holds and no VM uses runtime-suspend (drivers/vfio/pci/vfio_pci_core.c "
            "vfio_pci_core_register_device; disable_idle_d3 is not set here), and once everything below a bridge is "
            "suspended the bridge may go to D3cold too"
        )
        fix = (
            f"{recover}Keep vfio-pci from idling it: put "
            f"`{MODPROBE_LINE}` in /etc/modprobe.d/vfio.conf and rebuild the initramfs (when vfio-pci is built "
            f"into the kernel: `{KERNEL_ARG}` on the kernel command line); {COST}. Narrower: {allowed_fix} (each "
            "boot, e.g. from a udev rule) keeps D3hot and forbids only D3cold."
        )
    if silent:
        state = f"; {', '.join(silent)} still read{'s' if len(silent) == 1 else ''} all-ones"
    else:
        state = "; it answers now (it came back later, or was reset), and the next idle period can repeat it"
    yield Finding(
        "power-link.d3cold-wake-failed",
        Severity.FAIL if silent else Severity.WARN,
        f"the kernel could not wake {where} from D3cold{state}",
        f"The kernel log shows {len(hit)} D3cold wake failure line(s) for {where}: powering up read all-ones "
        "(drivers/pci/pci.c pci_power_up: 'Unable to change power state from D3cold to D0, device "
        "inaccessible'; a secondary bus that did not come back after resume: 'not ready ...ms after resume; "
        f"giving up'). Everything below a port that stays in D3cold is lost with it (config space reads "
        f"all-ones, 'Unknown header type 7f') until the host is power-cycled. {how}.",
        fix,
        evidence,
        device=function.name,
    )
