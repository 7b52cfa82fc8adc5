"""ACS quirks under another kernel (``--assume-kernel``): whether the root ports above a device
still count as isolating, and which devices would share its IOMMU group if they do not.

The running kernel's groups are read from sysfs and the isolation check explains them; this
check predicts them for a kernel the host does not run yet. The kernel asks a port's quirk
before its ACS capability (drivers/pci/pci.c ``pci_acs_enabled`` calls
``pci_dev_specific_acs_enabled`` first, drivers/pci/quirks.c ``pci_dev_acs_enabled[]``, 6.12),
and stops the walk up from a device at the first port that provides SV|RR|CR|UF
(drivers/iommu/iommu.c ``pci_device_group``, ``REQ_ACS_FLAGS``); below a port that does not,
the device joins the port's group, which holds every function of the port's slot that does not
isolate itself (``get_pci_function_alias_group``) and what sits below them.

Only quirks that count a port as providing all four flags by its ID alone are judged here
(Loongson, NXP, Qualcomm, X-Gene, Annapurna Labs, Broadcom iProc and Zhaoxin ports). Intel's PCH
root ports are left out: their quirk counts only after a boot-time enable quirk has run, and the
tables do not know the first release of either. The rules, for the assumed kernel:

* the quirk is carried: **info**;
* it is not, and other endpoints would join the device's group: **warn** (a group is the unit
  of passthrough), **info** when nothing else would;
* whether it is carried could not be judged and others would join: **warn**, marked
  could-not-judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.checks.base import CheckContext, device_label
from harness.findings import Evidence, Finding, Severity
from harness.pci import regs
from harness.pci.address import Bdf
from harness.sysfs import PciFunction, device_file

if TYPE_CHECKING:
    from harness.kernels import Answer
    from harness.quirks import QuirkEntry

#: drivers/iommu/iommu.c REQ_ACS_FLAGS.
REQUIRED_ACS = regs.ACS_SV | regs.ACS_RR | regs.ACS_CR | regs.ACS_UF
#: Quirks that count a port as providing REQ_ACS_FLAGS by its ID (harness/data/quirks/acs.yaml).
PORT_ACS_FUNCTIONS = frozenset(
    {
        "pci_quirk_al_acs",
        "pci_quirk_brcm_acs",
        "pci_quirk_loongson_acs",
        "pci_quirk_nxp_rp_acs",
        "pci_quirk_qcom_rp_acs",
        "pci_quirk_xgene_acs",
        "pci_quirk_zhaoxin_pcie_ports_acs",
    }
)
_ROOT_PORTS_ONLY = "root ports only"


def check(ctx: CheckContext) -> Iterator[Finding]:
    view = ctx.view
    # Imported here: the rest of the checker never needs the kernel model for this check.
    from harness.kernels import same_build

    if not view.iommu_active or view.assumed_kernel is None or same_build(view.assumed_kernel, view.kernel):
        return
    for function in ctx.selected():
        port, quirks = _first_quirked_port(ctx, function)
        if port is not None:
            yield _finding(ctx, function, port, quirks)


def _port_quirks(port: PciFunction) -> list[QuirkEntry]:
    """The quirks that count ``port`` as providing ACS by its ID (none when its own ACS
    capability already provides every flag: then no kernel's answer changes its isolation)."""
    config = port.config
    if config is None or config.truncated or config.dead or not config.has_extended_space:
        return []
    express = config.express()
    if express is None or express.port_type not in (regs.EXPRESS_TYPE_ROOT_PORT, regs.EXPRESS_TYPE_DOWNSTREAM):
        return []
    acs = config.acs()
    if acs is not None and acs.control & REQUIRED_ACS == REQUIRED_ACS:
        return []
    from harness.quirks import for_device

    root_port = express.port_type == regs.EXPRESS_TYPE_ROOT_PORT
    return [
        entry
        for entry in for_device(port.vendor, port.device, port.class_code, kinds=("acs",))
        if entry.function.name in PORT_ACS_FUNCTIONS and (root_port or entry.function.condition != _ROOT_PORTS_ONLY)
    ]


def _first_quirked_port(ctx: CheckContext, function: PciFunction) -> tuple[PciFunction | None, list[QuirkEntry]]:
    parent = function.parent
    while parent is not None:
        port = ctx.view.function(parent)
        if port is None:
            break
        quirks = _port_quirks(port)
        if quirks:
            return port, quirks
        parent = port.parent
    return None, []


def _isolates(port: PciFunction, answer: Answer | None) -> bool:
    config = port.config
    acs = config.acs() if config is not None and not config.truncated and not config.dead else None
    if acs is not None and acs.control & REQUIRED_ACS == REQUIRED_ACS:
        return True
    return answer is not None and answer.present


def _below(ctx: CheckContext) -> dict[Bdf, list[PciFunction]]:
    """For every bridge, the endpoints whose path up passes through it (one walk per endpoint,
    kept for the run: a large host asks for many ports)."""
    view = ctx.view
    known = view.derived.get("endpoints_below")
    if isinstance(known, dict):
        return known
    below: dict[Bdf, list[PciFunction]] = {}
    for endpoint in view.endpoints():
        parent = endpoint.parent
        while parent is not None:
            below.setdefault(parent, []).append(endpoint)
            above = view.function(parent)
            parent = above.parent if above is not None else None
    view.derived["endpoints_below"] = below
    return below


def _finding(ctx: CheckContext, function: PciFunction, port: PciFunction, quirks: list[QuirkEntry]) -> Finding:
    from harness.kernels import answer_sentence
    from harness.quirks import judge

    view = ctx.view
    kernel = view.judged_kernel
    kernel_text = f"assumed kernel {kernel.describe() if kernel is not None else 'unknown'}"
    answer = judge(quirks, kernel)
    quirk = quirks[0].function.name
    port_label = f"{port.bdf.short} [{port.id_text}]"
    evidence = [Evidence(view.show(device_file(port.name, "config")), _acs_text(port))]
    if answer.present:
        return Finding(
            "isolation.acs-quirk",
            Severity.INFO,
            f"under the {kernel_text}, port {port_label} counts as isolating through {quirk}",
            f"{answer_sentence(answer, kernel_text, f'{quirk} for {port.id_text}')} The kernel stops the group "
            f"walk at that port, so what is below it keeps groups of its own. Sources: "
            f"{'; '.join(entry.cite() for entry in quirks)}.",
            "",
            evidence,
            device=function.name,
        )
    # Without the quirk the device joins the port's group: the port's slot functions that do
    # not isolate themselves, and everything below them.
    joined = [port]
    for sibling in view.functions.values():
        if sibling.bdf.slot == port.bdf.slot and sibling.bdf != port.bdf:
            sibling_answer = judge(_port_quirks(sibling), kernel) if _port_quirks(sibling) else None
            if not _isolates(sibling, sibling_answer):
                joined.append(sibling)
    below = _below(ctx)
    others = sorted(
        {endpoint.bdf: endpoint for item in joined for endpoint in below.get(item.bdf, [])}.values(),
        key=lambda item: item.bdf,
    )
    others = [item for item in others if item.bdf != function.bdf]
    names = ", ".join(device_label(item).replace(item.name, item.bdf.short) for item in others)
    sharing = f"it would share one IOMMU group with {names}" if others else "nothing else would join its group"
    sentence = answer_sentence(answer, kernel_text, f"{quirk} for {port.id_text}")
    why = (
        f"Port {port_label} has no ACS capability providing SV|RR|CR|UF, so only {quirk} makes the kernel stop "
        f"the group walk there. {sentence} Without it the device joins the port's group, with the functions of "
        f"slot {port.bdf.short[:-2]} that do not isolate themselves and what is below them: {sharing}. "
        f"Sources: {'; '.join(entry.cite() for entry in quirks)}."
    )
    could_not_judge = answer.unknown and bool(others)
    if answer.unknown:
        message = (
            f"could not judge whether the {kernel_text} counts port {port.bdf.short} as isolating; if not, {sharing}"
        )
    else:
        message = f"under the {kernel_text}, port {port.bdf.short} would not isolate it: {sharing}"
    return Finding(
        "isolation.acs-quirk-absent",
        Severity.WARN if others else Severity.INFO,
        message,
        why,
        f"Stay on a kernel that carries {quirk} for {port.id_text} ({quirks[0].carriers_text()}), or pass every "
        "device of that group to the same VM."
        if others
        else "",
        evidence,
        device=function.name,
        could_not_judge=could_not_judge,
    )


def _acs_text(port: PciFunction) -> str:
    config = port.config
    acs = config.acs() if config is not None and not config.truncated and not config.dead else None
    kind = "root port" if port.parent is None else "port"
    if acs is None:
        return f"{kind}, no ACS capability"
    return f"{kind}, ACSCtl={acs.control:#06x}"
