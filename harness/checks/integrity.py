"""Tree integrity (codes ``tree.*``): what a corrupt or incomplete root gets wrong, reported
instead of misread.

A real kernel never shows an empty ``class``, a 0-byte ``config``, a capability pointer into the
header or a ``driver`` link to itself; a captured root, a pasted report or a hand-made tree can.
:mod:`harness.sysfs` records such facts in :attr:`~harness.sysfs.PciFunction.problems` rather
than guessing, :class:`~harness.pci.config.ConfigSpace` names each broken capability pointer,
and this check turns them into findings that say what is corrupt and which judgement it
prevents. Every device finding is ``could_not_judge`` (the checker makes it at least a warn), so
a device whose facts could not be read never passes.

Codes: ``tree.device-unreadable``, ``tree.config-unreadable``, ``tree.config-size``,
``tree.capability-list``, ``tree.identity``, ``tree.driver-link``, ``tree.iommu-group-link``,
``tree.iommu-group-unlisted``, ``tree.port-config``, ``tree.topology`` (device level) and
``tree.iommu-groups-missing`` (host level).
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.checks.base import CheckContext, device_label
from harness.findings import Evidence, Finding, Severity
from harness.pci.config import CapabilityProblem
from harness.sysfs import CONFIG_SIZES, IDENTITY_ATTRIBUTES, IOMMU_GROUPS, PciFunction, device_file

_RECAPTURE = (
    "Compare with the host itself (`lspci -vvv -s {name}` and `ls -l {path}` as root); if the host shows the "
    "same, the device or its firmware is at fault, otherwise capture the root again as root."
)
_CAPABILITY_SOURCE = (
    "The capability lists are chains of pointers that the kernel follows with the same rules "
    "(drivers/pci/pci.c __pci_find_next_cap_ttl: a pointer below 0x40 ends the list, its low two bits are "
    "ignored; pci_find_next_ext_capability: a next pointer below 0x100 ends the extended list); lspci prints "
    "'<chain broken>' or '<chain looped>' for the same bytes (pciutils ls-caps.c)."
)


def check(ctx: CheckContext) -> Iterator[Finding]:
    for function in ctx.selected():
        yield from _device(ctx, function)
    yield from _groups_directory(ctx)


def _device(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    problems = function.problems
    if "directory" in problems:
        yield _finding(
            ctx,
            function,
            "tree.device-unreadable",
            f"could not judge {function.name}: its device directory could not be read ({problems['directory']})",
            why="sys/bus/pci/devices/<address> is a symlink to the device's directory under sys/devices; without it "
            "none of the device's attributes, its config space, driver or IOMMU group can be read.",
            evidence=[ctx.evidence(device_file(function.name), problems["directory"])],
        )
        return
    yield from _config(ctx, function)
    yield from _identity(ctx, function)
    yield from _links(ctx, function)
    yield from _group_listed(ctx, function)
    yield from _ports(ctx, function)


def _finding(
    ctx: CheckContext, function: PciFunction, code: str, message: str, *, why: str, evidence: list[Evidence]
) -> Finding:
    return Finding(
        code,
        Severity.WARN,
        message,
        why,
        _RECAPTURE.format(name=function.name, path=ctx.view.show(device_file(function.name))),
        evidence,
        device=function.name,
        could_not_judge=True,
    )


def _config(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    problem = function.problems.get("config")
    config = function.config
    if problem is not None and config is None:
        yield _finding(
            ctx,
            function,
            "tree.config-unreadable",
            f"could not judge resets, ACS or the link: config could not be read ({problem})",
            why="Every PCI device has a config file (drivers/pci/pci-sysfs.c); FLR, PM NoSoftRst, ACS and the link "
            "registers that the reset and isolation analysis need are in it.",
            evidence=[ctx.device_evidence(function, "config", problem)],
        )
        return
    if problem is not None:
        sizes = ", ".join(str(size) for size in CONFIG_SIZES)
        yield _finding(
            ctx,
            function,
            "tree.config-size",
            f"could not judge resets, ACS or the link: config is {problem}",
            why=f"The kernel shows a config file of {sizes} bytes (64 or 128 to a reader without CAP_SYS_ADMIN, "
            "drivers/pci/pci-sysfs.c pci_read_config); any other size is a damaged tree, and bytes that were not "
            "there are not read as all-ones.",
            evidence=[ctx.device_evidence(function, "config", problem)],
        )
    if config is None:
        return
    found = config.capability_problems()
    if found:
        yield _finding(
            ctx,
            function,
            "tree.capability-list",
            f"could not judge {_judgements(found)}: the capability list is corrupt ({_summary(found)})",
            why=f"{_CAPABILITY_SOURCE} Whatever lies behind the break (PCI Express: FLR and the link; Power "
            "Management: NoSoftRst; ACS) is invisible to the kernel, QEMU and this checker alike, so the reset "
            "and isolation verdicts cannot be trusted.",
            evidence=[ctx.device_evidence(function, "config", str(item)) for item in found],
        )


def _judgements(found: list[CapabilityProblem]) -> str:
    parts = []
    if any(not item.extended for item in found):
        parts.append("resets (FLR, PM) or the link")
    if any(item.extended for item in found):
        parts.append("ACS")
    return " or ".join(parts)


def _summary(found: list[CapabilityProblem]) -> str:
    return str(found[0]) + (f"; {len(found) - 1} more" if len(found) > 1 else "")


def _identity(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    broken = [(name, function.problems[name]) for name, *_ in IDENTITY_ATTRIBUTES if name in function.problems]
    if not broken:
        return
    names = ", ".join(name for name, _ in broken)
    yield _finding(
        ctx,
        function,
        "tree.identity",
        f"could not judge {device_label(function)} as a known device: {names} "
        + ("is" if len(broken) == 1 else "are")
        + f" unreadable ({broken[0][1]})",
        why="The kernel writes vendor, device, class, revision and subsystem IDs as 0x%04x-style hexadecimal "
        "(drivers/pci/pci-sysfs.c) from what it read at enumeration; a file that is missing, empty or not a "
        "number is a damaged tree. Known-device rules (buses that do not come back after a reset, D3cold wake "
        "failures) and vfio-pci ids= matching depend on these IDs; where config space was readable its value was "
        "used instead, as the evidence says.",
        evidence=[ctx.device_evidence(function, name, reason) for name, reason in broken],
    )


def _links(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    nesting = function.problems.get("parent")
    if nesting is not None:
        yield _finding(
            ctx,
            function,
            "tree.topology",
            f"could not judge bus resets or ACS above it: {nesting}",
            why="A device's directory sits under the directory of the bridge above it (sys/devices/pci0000:00/...); "
            "directories nested in a loop are no real topology, so the ports above the device are unknown.",
            evidence=[ctx.evidence(function.path, nesting)],
        )
    driver = function.problems.get("driver")
    if driver is not None:
        yield _finding(
            ctx,
            function,
            "tree.driver-link",
            f"could not judge which driver holds it: the driver link is corrupt ({driver})",
            why="The kernel's driver link points to ../bus/pci/drivers/<name> (drivers/base/bus.c); without it vfiolab "
            "cannot tell a host driver from vfio-pci or no driver, and so cannot judge what passing it through "
            "takes from the host.",
            evidence=[ctx.device_evidence(function, "driver", driver)],
        )
    group = function.problems.get("iommu_group")
    if group is not None:
        yield _finding(
            ctx,
            function,
            "tree.iommu-group-link",
            f"could not judge isolation: the iommu_group link is corrupt ({group})",
            why="The kernel's iommu_group link points to ../kernel/iommu_groups/<number> (drivers/iommu/iommu.c); "
            "without it the group, and so what must leave the host with the device, is unknown.",
            evidence=[ctx.device_evidence(function, "iommu_group", group)],
        )


def _group_listed(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    number = function.iommu_group
    group = ctx.view.groups.get(number) if number is not None else None
    if group is None or (group.listed and function.bdf not in group.unlisted):
        return
    members = " ".join(item.short for item in group.devices)
    where = f"{IOMMU_GROUPS}/{number}"
    if not group.listed:
        state = "could not be read" if ctx.view.exists(where) else "does not exist"
        message = f"could not judge reserved regions (RMRR) of IOMMU group {number}: {ctx.view.show(where)} {state}"
    else:
        message = f"IOMMU group {number}'s directory does not list {function.name}, though its link names the group"
    yield _finding(
        ctx,
        function,
        "tree.iommu-group-unlisted",
        message,
        why="Every device with an iommu_group link is listed under /sys/kernel/iommu_groups/<number>/devices, next to "
        "the group's reserved_regions (drivers/iommu/iommu.c). vfiolab rebuilt the group's members from the "
        f"devices' links ({members}); an RMRR ('direct' region) that would keep the device from a VM cannot be "
        "seen.",
        evidence=[ctx.device_evidence(function, "iommu_group", str(number)), ctx.evidence(where, "not listed")],
    )


def _ports(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    """The bridges above the device: their config decides ACS on the path, the link state and
    hotplug (bus reset) for it."""
    view = ctx.view
    parent = function.parent
    seen = {function.bdf}
    while parent is not None and parent not in seen:
        seen.add(parent)
        port = view.function(parent)
        if port is None:
            break
        reason = port.problems.get("config")
        if reason is None and port.config is not None:
            found = port.config.capability_problems()
            reason = f"capability list: {_summary(found)}" if found else None
        if reason is not None:
            yield _finding(
                ctx,
                function,
                "tree.port-config",
                f"could not judge ACS, the link or bus resets above it: config of port {port.bdf.short} is corrupt "
                f"({reason})",
                why="ACS on every switch port above a device, the port's link state and its hotplug capability (which "
                "decides whether the kernel can bus-reset the device) are read from the ports' config space.",
                evidence=[ctx.device_evidence(port, "config", reason)],
            )
        parent = port.parent


def _groups_directory(ctx: CheckContext) -> Iterator[Finding]:
    view = ctx.view
    rebuilt = sorted(number for number, group in view.groups.items() if not group.listed)
    if not rebuilt or view.is_dir(IOMMU_GROUPS):
        return
    linked = sum(1 for function in view.functions.values() if function.iommu_group is not None)
    yield Finding(
        "tree.iommu-groups-missing",
        Severity.WARN,
        f"{view.show(IOMMU_GROUPS)} is missing although {linked} devices link to IOMMU groups",
        "With an IOMMU the kernel lists every group under /sys/kernel/iommu_groups (drivers/iommu/iommu.c); a "
        "tree without it is incomplete. Groups were rebuilt from the devices' iommu_group links, so shared groups "
        "are still reported; their reserved regions and types are unknown.",
        "Capture the root again including sys/kernel/iommu_groups.",
        [
            ctx.evidence(IOMMU_GROUPS, "does not exist"),
            ctx.evidence("sys/bus/pci/devices/*/iommu_group", f"{linked} links"),
        ],
        could_not_judge=True,
    )
