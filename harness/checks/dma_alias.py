"""DMA alias check: devices whose DMA carries the requester ID of another function of their slot
(phantom functions), and whether the judged kernel tells the IOMMU about it.

The kernel's ``quirk_dma_func0_alias`` and ``quirk_dma_func1_alias`` (drivers/pci/quirks.c, 6.12)
add function 0 or function 1 of the slot as a DMA alias of the device (``pci_add_dma_alias``);
the IOMMU drivers then map that requester ID in the device's domain and the IOMMU group code puts
whatever sits at the alias address in the device's group (drivers/iommu/iommu.c
``get_pci_alias_group``, drivers/pci/search.c ``pci_for_each_dma_alias``). Without the quirk the
IOMMU blocks the aliased DMA: Intel's remapping hardware reports a fault for the phantom
requester ("Request device [03:00.1] ... Present bit in context entry is clear"), and the
device's transfers fail, on the host and in a VM alike. The rules:

* the judged kernel carries the quirk: **info** (the alias and what it groups);
* it lacks it: **fail**;
* whether it carries it could not be judged: **warn**, marked could-not-judge (never pass).

Which kernels carry which entry is the quirk tables' version knowledge (:mod:`harness.quirks`);
the kernel's sysfs does not show DMA aliases, so the running kernel is judged by version too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from harness.checks.base import CheckContext
from harness.findings import Evidence, Finding, Severity
from harness.kernellog import describe_group, group_similar
from harness.known_devices import DMA_ALIAS, lookup
from harness.pci.address import Bdf
from harness.sysfs import PciFunction

if TYPE_CHECKING:
    from harness.quirks import QuirkEntry

#: The phantom-function quirks and the function each makes the alias.
ALIAS_FUNCTIONS = {"quirk_dma_func0_alias": 0, "quirk_dma_func1_alias": 1}


def check(ctx: CheckContext) -> Iterator[Finding]:
    if not ctx.view.iommu_active:
        return
    for function in ctx.selected():
        found = _alias_quirks(function)
        if found is None:
            continue
        label, sources, quirks, alias_function = found
        yield _finding(ctx, function, quirks, alias_function=alias_function, label=label, sources=sources)


def alias_of(function: PciFunction) -> Bdf | None:
    """The address whose requester ID the device's DMA also carries, by the kernel's DMA alias
    quirks (whether or not a given kernel carries them); None for a device without one."""
    found = _alias_quirks(function)
    return function.bdf._replace(function=found[3]) if found is not None else None


def _alias_quirks(function: PciFunction) -> tuple[str, tuple[str, ...], list[QuirkEntry], int] | None:
    """(label, sources, quirk entries, alias function) for a device the known-devices table gives
    a DMA alias; None otherwise."""
    known = lookup(function.vendor, function.device)
    problem = known.problem(DMA_ALIAS) if known is not None else None
    if known is None or problem is None:
        return None
    quirks = [entry for entry in problem.quirks() if entry.function.name in ALIAS_FUNCTIONS]
    alias_function = ALIAS_FUNCTIONS[quirks[0].function.name] if quirks else None
    if alias_function is None or alias_function == function.bdf.function:
        return None  # the quirk adds no alias to the function it names (PCI_FUNC check)
    return f"{known.name} [{known.id_text}]", problem.sources, quirks, alias_function


def _finding(
    ctx: CheckContext,
    function: PciFunction,
    quirks: list[QuirkEntry],
    *,
    alias_function: int,
    label: str,
    sources: tuple[str, ...],
) -> Finding:
    # Imported here: only a device the table names needs the quirk tables.
    from harness.kernels import answer_sentence
    from harness.quirks import judge

    view = ctx.view
    kernel = view.judged_kernel
    answer = judge(quirks, kernel)
    alias = function.bdf._replace(function=alias_function)
    quirk = quirks[0]
    whose = "assumed kernel" if view.assumed_kernel is not None else "kernel"
    kernel_text = f"{whose} {kernel.describe() if kernel is not None else 'unknown'}"
    at_alias = view.function(str(alias))
    evidence = [
        Evidence(view.show(function.path), f"function {function.bdf.function} of its slot; the alias is {alias.short}")
    ]
    evidence += _fault_lines(ctx, alias)
    occupant = (
        f"{alias.short} is a real function here ({at_alias.id_text}), which the alias puts in its IOMMU group"
        if at_alias is not None
        else f"nothing answers at {alias.short}: the alias is a phantom function"
    )
    cited = "; ".join(sources)
    if answer.present:
        return Finding(
            "isolation.dma-alias",
            Severity.INFO,
            f"issues DMA as {alias.short} too; the {kernel_text} carries {quirk.function.name} for it",
            f"{label}: its DMA carries the requester ID of function {alias_function} ({occupant}). The {kernel_text} "
            f"carries {quirk.function.name} ({answer.reason}), so the IOMMU maps that requester ID with the device. "
            f"Sources: {cited}.",
            "",
            evidence,
            device=function.name,
        )
    could_not_judge = answer.unknown
    if could_not_judge:
        message = (
            f"could not judge whether the {kernel_text} maps its DMA alias {alias.short}; without "
            f"{quirk.function.name} the IOMMU blocks that DMA"
        )
    else:
        message = f"issues DMA as {alias.short}, which the {kernel_text} does not map: its DMA is blocked"
    kernel_part = answer_sentence(answer, kernel_text, f"{quirk.function.name} for it")
    return Finding(
        "isolation.dma-alias-missing",
        Severity.WARN if could_not_judge else Severity.FAIL,
        message,
        f"{label}: its DMA carries the requester ID of function {alias_function} ({occupant}). {kernel_part} "
        f"Without the alias the IOMMU has no context entry for {alias.short}, reports a DMA fault for it ('Request "
        f"device [{alias.short}] ... Present bit in context entry is clear' on Intel) and the device's transfers "
        f"fail, on the host and in the VM. Sources: {cited}.",
        f"Boot a kernel that carries {quirk.function.name} for it ({quirk.carriers_text()}).",
        evidence,
        device=function.name,
        could_not_judge=could_not_judge,
    )


def _fault_lines(ctx: CheckContext, alias: Bdf) -> list[Evidence]:
    """IOMMU fault lines of the kernel log that name the alias address."""
    view = ctx.view
    if not view.kernel_log or view.kernel_log_path is None:
        return []
    found = [
        line
        for line in view.kernel_log
        if ("DMAR" in line.text or "IO_PAGE_FAULT" in line.text) and line.names(str(alias))
    ]
    return [Evidence(*describe_group(view.kernel_log_path, group)) for group in group_similar(found)]
