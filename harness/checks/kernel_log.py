"""Kernel-log check: known lines in the checked root's kernel log, attached as evidence to the
device they name (or, for a port's link messages, to the devices behind that port).

Message texts are the kernel's: drivers/pci/pci.c (``pci_dev_wait``: "not ready %dms after %s;
giving up"; ``pci_set_low_power_state``/``pci_power_up``: "Unable to change power state from %s
to %s, device inaccessible"), drivers/pci/quirks.c (``pcie_failed_link_retrain``: "broken device,
retraining non-functional downstream link at 2.5GT/s", "retraining failed"), drivers/pci/probe.c
("ignoring class %#08x (doesn't match header type %02x)" and lspci/guest "unknown header type"),
drivers/iommu/intel/dmar.c (DMAR fault reports, "[DMA Read ...] Request device [%02x:%02x.%d]
fault addr"), drivers/vfio/vfio_iommu_type1.c ("No interrupt remapping support"). ACPI errors
from firmware bugs are reported once, as information.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from harness.checks.base import CheckContext
from harness.findings import Evidence, Finding, Severity
from harness.kernellog import LogLine, describe_group, group_similar


@dataclass(frozen=True)
class Pattern:
    code: str
    severity: Severity
    regex: re.Pattern[str]
    meaning: str
    #: The line is printed by the port above the device (pcieport 0000:00:1c.6: ...).
    from_port: bool = False


DEVICE_PATTERNS = (
    Pattern(
        "kernel-log.not-ready",
        Severity.FAIL,
        re.compile(r"not ready \d+ms after [\w ]+; giving up"),
        "the kernel waited a minute for the device to answer after a reset and gave up",
    ),
    Pattern(
        "kernel-log.not-ready",
        Severity.WARN,
        re.compile(r"not ready \d+ms after [\w ]+; waiting"),
        "the device was slow to answer after a reset",
    ),
    Pattern(
        "kernel-log.link-retrain-failed",
        Severity.FAIL,
        re.compile(r"broken device, retraining non-functional downstream link|retraining failed"),
        "the port above the device could not bring the link back",
        from_port=True,
    ),
    Pattern(
        "kernel-log.link-inactive",
        Severity.FAIL,
        re.compile(r"Data Link Layer Link Active not set in \d+ msec"),
        "the port above the device saw the link stay down after a reset",
        from_port=True,
    ),
    Pattern(
        "kernel-log.inaccessible",
        Severity.FAIL,
        re.compile(r"Unable to change power state from \w+ to \w+, device inaccessible|config space inaccessible"),
        "config space reads all-ones: the device stopped answering",
    ),
    Pattern(
        "kernel-log.unknown-header",
        Severity.FAIL,
        re.compile(r"[Uu]nknown header type|doesn't match header type"),
        "the device's header type read as garbage (all-ones reads 7f)",
    ),
    Pattern(
        "kernel-log.dmar-fault",
        Severity.WARN,
        re.compile(r"DMAR: \[DMA (?:Read|Write)|DMAR: DRHD: handling fault|AMD-Vi: Event logged \[IO_PAGE_FAULT"),
        "the IOMMU blocked a DMA from the device (a driver or firmware using addresses it was not given)",
    ),
)
_ACPI_ERROR = re.compile(r"^ACPI (?:BIOS )?Error")
_NO_REMAPPING = re.compile(r"No interrupt remapping support")


_ADDRESS = re.compile(r"\b(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])\b")


def _addresses(line: LogLine) -> set[str]:
    """The PCI functions a line names (``0000:03:00.0``, or ``[03:00.0]`` in DMAR fault lines)."""
    return {f"{match[1] or '0000'}:{match[2]}:{match[3]}.{match[4]}" for match in _ADDRESS.finditer(line.text)}


def _index(lines: list[LogLine]) -> dict[str, list[tuple[Pattern, LogLine]]]:
    """Known lines by the address they name, scanned once (a host's log has thousands of lines)."""
    found: dict[str, list[tuple[Pattern, LogLine]]] = {}
    for line in lines:
        pattern = next((item for item in DEVICE_PATTERNS if item.regex.search(line.text)), None)
        if pattern is None:
            continue
        for address in _addresses(line):
            found.setdefault(address, []).append((pattern, line))
    return found


def check(ctx: CheckContext) -> Iterator[Finding]:
    view = ctx.view
    lines = view.kernel_log
    if not lines or view.kernel_log_path is None:
        return
    path = view.kernel_log_path
    index = _index(lines)
    for function in ctx.selected():
        matched = list(index.get(function.name, []))
        if function.parent is not None:
            matched += [(pattern, line) for pattern, line in index.get(str(function.parent), []) if pattern.from_port]
        if not matched:
            continue
        matched.sort(key=lambda item: item[1].number)
        worst = max((pattern for pattern, _ in matched), key=lambda pattern: pattern.severity)
        meanings = list(dict.fromkeys(pattern.meaning for pattern, _ in matched))
        yield Finding(
            worst.code,
            worst.severity,
            f"the kernel log has {len(matched)} line(s) about it: {worst.meaning}",
            "; ".join(meanings).capitalize() + ".",
            "See the reset analysis for what caused it; a device that stopped answering needs a host power cycle.",
            [Evidence(*describe_group(path, group)) for group in group_similar([line for _, line in matched])],
            device=function.name,
        )
    acpi = [line for line in lines if _ACPI_ERROR.search(line.text)]
    if acpi:
        yield Finding(
            "kernel-log.acpi-errors",
            Severity.INFO,
            f"{len(acpi)} ACPI error line(s) from the firmware's tables",
            "ACPI 'Could not resolve symbol' errors come from firmware tables that name devices the board does "
            "not have; they are common on small boards and do not affect passthrough.",
            "",
            [Evidence(f"{path}:{line.number}", line.text) for line in acpi[:4]],
        )
    remapping = [line for line in lines if _NO_REMAPPING.search(line.text)]
    if remapping:
        yield Finding(
            "kernel-log.no-interrupt-remapping",
            Severity.WARN,
            "vfio refused a device because the platform has no interrupt remapping",
            "vfio_iommu_type1 logged that it cannot attach a group without interrupt remapping.",
            "See the platform check's interrupt-remapping finding for the fix.",
            [Evidence(f"{path}:{line.number}", line.text) for line in remapping[:2]],
        )
