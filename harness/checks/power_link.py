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

The D3cold prediction (before anything failed), for every selected device, which the plan gives
to vfio-pci:

* ``disable_idle_d3`` in effect (running module, modprobe.d, command line), or a kernel whose
  vfio-pci idles devices only to D3hot (before 5.19, :data:`harness.idle_d3.RUNTIME_PM`), or a
  root showing that nothing can cut the device's power (:mod:`harness.d3cold`: no ACPI power
  resources on its path, ``d3cold_allowed`` 0, a port that stays in D0): **pass** (no finding);
* the device or a port above it is in the kernel's D3 quirk tables (``quirk_plx_pex_no_d3``,
  ``pci_fixup_d3cold_delay_1sec``, ...) and the judged kernel lacks the quirk, or known-devices
  records it as not waking from D3cold, and the power can be cut: **fail**
  (``power-link.d3cold-wake``); the same with something not judged: **warn**, could-not-judge;
* the power can be cut and nothing is known against the devices: **warn**
  (``power-link.d3cold-idle``);
* the root does not show whether the power can be cut (no ``firmware_node``), or the kernel's
  vfio-pci could not be judged, and nothing is known against the devices: skipped, with the
  reason as an **info** note (``power-link.d3cold-not-judged``; not could-not-judge, which the
  checker raises to warn: a root that does not show ACPI would warn for every device).

The fix is ``disable_idle_d3`` (:mod:`harness.generate.idle_d3_fix`) and what it costs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.checks.base import CheckContext, log_matches
from harness.d3cold import reach
from harness.findings import Evidence, Finding, Severity
from harness.idle_d3 import (
    COST,
    KERNEL_ARG,
    MODPROBE_LINE,
    RUNTIME_PM_TITLE,
    IdleD3,
    idle_d3,
    idles_through_runtime_pm,
)
from harness.kernellog import describe_group, group_similar
from harness.known_devices import D3COLD_WAKE_FAILURE, lookup
from harness.sysfs import HostView, PciFunction, device_file, on_host

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


#: Kernel quirk functions of kind d3cold that keep a device out of D3 (PCI_DEV_FLAGS_NO_D3) or
#: D3cold (pci_d3cold_disable): where the judged kernel carries one, that device never loses power.
_KEEPS_OUT_OF_D3 = ("quirk_no_ata_d3", "quirk_plx_pex_no_d3", "asus_disable_nvme_d3cold", "quirk_tuxeo_rp_d3")
#: Kernel quirk functions that make D3cold work for a device that needs them (a longer delay).
_MAKES_D3COLD_WORK = ("pci_fixup_d3cold_delay_1sec",)


@dataclass
class _Known:
    """What the kernel's tables and known-devices say of the devices on a path and D3cold."""

    #: Names of functions the judged kernel keeps out of D3 (its quirk is carried).
    no_d3: set[str] = field(default_factory=set)
    #: (function, sentence): recorded as failing to wake, and the judged kernel does not help.
    failing: list[tuple[PciFunction, str]] = field(default_factory=list)
    #: (function, sentence): recorded as failing, and whether the kernel helps could not be judged.
    unknown: list[tuple[PciFunction, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _kernel_text(view: HostView) -> str:
    """``kernel Debian 6.12.117-1`` or ``assumed kernel ...``, as the findings name it."""
    kernel = view.judged_kernel
    whose = "assumed kernel" if view.assumed_kernel is not None else "kernel"
    return f"{whose} {kernel.describe() if kernel is not None else 'unknown'}"


def _known_failures(ctx: CheckContext, chain: list[PciFunction]) -> _Known:
    from harness.kernels import answer_sentence
    from harness.quirks import for_device, judge

    view = ctx.view
    kernel = view.judged_kernel
    kernel_text = _kernel_text(view)
    known = _Known()
    for item in chain:
        label = f"{item.bdf.short} [{item.id_text}]"
        quirks = [
            entry
            for entry in for_device(item.vendor, item.device, item.class_code, kinds=("d3cold",))
            if entry.function.name in _KEEPS_OUT_OF_D3 + _MAKES_D3COLD_WORK
        ]
        if quirks:
            answer = judge(quirks, kernel)
            quirk = quirks[0]
            sentence = (
                f"{label} is in the kernel's D3 quirk table ({quirk.cite()}: {quirk.function.effect}) "
                f"{answer_sentence(answer, kernel_text, quirk.function.name + ' for it')}"
            )
            known.sources.append(quirk.cite())
            holds = _condition_holds(item, quirk.function.name)
            if holds is False:
                continue
            if holds is None:
                condition = f" It acts only where vfiolab cannot check: {quirk.function.condition}."
                known.unknown.append((item, sentence + condition))
            elif answer.present:
                if quirk.function.name in _KEEPS_OUT_OF_D3:
                    known.no_d3.add(item.name)
            elif answer.absent:
                known.failing.append((item, sentence))
            else:
                known.unknown.append((item, sentence))
            continue
        entry = lookup(item.vendor, item.device)
        problem = entry.problem(D3COLD_WAKE_FAILURE) if entry is not None else None
        if problem is not None:
            known.failing.append((item, f"{label}: {problem.detail}"))
            known.sources.extend(problem.sources)
    return known


def _condition_holds(item: PciFunction, quirk_function: str) -> bool | None:
    """Whether the quirk's extra condition holds for the device: True, False, or None when it
    cannot be checked here (a DMI match of a board and BIOS)."""
    if quirk_function == "quirk_plx_pex_no_d3":
        # drivers/pci/quirks.c: only PCI_EXP_TYPE_DOWNSTREAM ports get PCI_DEV_FLAGS_NO_D3.
        config = item.config
        express = config.express() if config is not None and not config.truncated and not config.dead else None
        return None if express is None else express.port_type_name == "downstream_port"
    if quirk_function in ("quirk_no_ata_d3", "pci_fixup_d3cold_delay_1sec"):
        return True
    return None


def _d3cold(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    """The prediction: will the judged kernel's vfio-pci let this idle device (or a port above it)
    lose its power, and is any of them known not to come back (module docstring)."""
    view = ctx.view
    setting = _idle_d3(ctx)
    if setting.in_effect:
        return  # vfio-pci keeps the devices it holds in D0 while they are unused
    chain = _path_up(ctx, function)
    known = _known_failures(ctx, chain)
    kernel = view.judged_kernel
    kernel_text = _kernel_text(view)
    runtime_pm = idles_through_runtime_pm(kernel)
    if runtime_pm.absent:
        return  # before 5.19 vfio-pci's idle state is D3hot, set directly; nothing cuts power
    found = reach(view, chain, known.no_d3)
    if found.impossible is not None:
        return
    evidence = list(found.evidence) + list(setting.evidence)
    fix = (
        f"Keep vfio-pci from idling it: put `{MODPROBE_LINE}` in /etc/modprobe.d/vfio.conf and rebuild the "
        f"initramfs (when vfio-pci is built into the kernel: `{KERNEL_ARG}` on the kernel command line); {COST}. "
        f"Narrower: echo 0 > {shlex.quote(on_host(device_file(function.name, 'd3cold_allowed')))} (each boot, e.g. "
        "from a udev rule) keeps D3hot and forbids only D3cold, for it and the ports above it."
    )
    version_part = (
        f"The {kernel_text}'s vfio-pci runtime-suspends the devices it holds while no VM uses them "
        f"({RUNTIME_PM_TITLE}, {runtime_pm.reason}; drivers/vfio/pci/vfio_pci_core.c "
        "vfio_pci_core_register_device), and disable_idle_d3 is not set."
        if runtime_pm.present
        else f"Whether the {kernel_text}'s vfio-pci runtime-suspends idle devices ({RUNTIME_PM_TITLE}, 5.19) could "
        f"not be judged ({runtime_pm.reason}); before it, vfio-pci's idle state was D3hot."
    )
    if found.possible:
        assert found.cut_at is not None
        where = "its own" if found.cut_at is function else f"the port {found.cut_at.bdf.short} above it"
        reach_part = (
            f"The firmware lists power resources for D0 and D3hot (ACPI _PR0/_PR3) at {where}: the kernel can cut "
            "that power once everything below it is idle (drivers/pci/pci.c pci_target_state, "
            "pci_bridge_d3_possible; drivers/acpi/scan.c)."
        )
        if found.unknown:
            reach_part += f" Not visible: {'; '.join(found.unknown)}."
    else:
        reach_part = f"Whether the platform can cut its power could not be judged: {'; '.join(found.unknown)}."
    wake = (
        "A device or port that does not come back from D3cold reads all-ones afterwards ('Unable to change power state "
        "from D3cold to D0, device inaccessible', 'not ready ...ms after resume; giving up'; lspci: 'Unknown header "
        "type 7f') until the host is power-cycled."
    )
    sources = f" Sources: {'; '.join(dict.fromkeys(known.sources))}." if known.sources else ""
    if known.failing or known.unknown:
        named = known.failing or known.unknown
        sure = bool(known.failing) and found.possible and runtime_pm.present
        who = ", ".join(item.bdf.short for item, _ in named)
        yield Finding(
            "power-link.d3cold-wake",
            Severity.FAIL if sure else Severity.WARN,
            (
                f"vfio-pci will let it idle into D3cold, and {who} is known not to come back from it"
                if sure
                else f"{who} is known not to come back from D3cold, and vfio-pci may idle it there"
            ),
            f"{version_part} {reach_part} {' '.join(sentence for _, sentence in named)} {wake}{sources}",
            fix,
            evidence,
            device=function.name,
            could_not_judge=not sure,
        )
        return
    if found.possible and runtime_pm.present:
        yield Finding(
            "power-link.d3cold-idle",
            Severity.WARN,
            f"vfio-pci will let it idle into D3cold (power cut at {found.cut_at.bdf.short if found.cut_at else '?'})",
            f"{version_part} {reach_part} Nothing vfiolab knows says these devices fail to come back, but "
            f"if one does: {wake}",
            fix,
            evidence,
            device=function.name,
        )
        return
    yield Finding(
        "power-link.d3cold-not-judged",
        Severity.INFO,
        "D3cold prediction skipped: could not judge whether vfio-pci will let it idle into D3cold",
        f"{version_part} {reach_part} Nothing is known against the devices on its path, so this is a note, not a "
        "warning; the kernel log check still reports a D3cold wake failure once one happened.",
        "",
        evidence,
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
