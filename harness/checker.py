"""The passthrough checker: run every registered check over a root and turn findings into
verdicts per device and per IOMMU group.

A device's verdict is its worst finding. Host-level findings marked ``blocks_all`` (no IOMMU,
no interrupt remapping) make passthrough impossible and fail every device; other host-level
findings are reported without changing device verdicts. A finding marked ``could_not_judge`` (a
fact the verdict needs could not be read from the tree) is raised to at least warn here, so what
could not be read never passes. A group's verdict is the worst verdict
of its checked devices. Exit codes: 0 every device passes, 1 the worst is a warn, 2 some device
fails, 3 the checker could not run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.checks import CHECKS, CheckContext, CheckOptions
from harness.codes import CODES
from harness.errors import CheckerError, UsageError
from harness.findings import ALTERNATIVES, Evidence, Finding, Severity, Verdict
from harness.pci.address import Bdf
from harness.rootfs import NotADirectory, NotFound, RootError, open_root
from harness.sysfs import PCI_DEVICES, HostView, PciFunction, device_file, read_host

EXIT_PASS = 0
EXIT_WARN = 1
EXIT_FAIL = 2
EXIT_CANNOT_RUN = 3


@dataclass
class DeviceReport:
    function: PciFunction
    findings: list[Finding] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        if self.blocked_by:
            return Verdict.FAIL
        return Verdict.of([finding.severity for finding in self.findings])

    @property
    def could_not_judge(self) -> list[Finding]:
        """The findings that say a fact this verdict needs could not be read."""
        return [finding for finding in self.findings if finding.could_not_judge]


@dataclass
class GroupReport:
    number: int
    devices: list[Bdf]
    checked: list[DeviceReport]

    @property
    def verdict(self) -> Verdict:
        return max((report.verdict for report in self.checked), default=Verdict.PASS)


@dataclass
class CheckReport:
    view: HostView
    options: CheckOptions
    devices: list[DeviceReport]
    groups: list[GroupReport]
    host_findings: list[Finding]

    @property
    def exit_code(self) -> int:
        worst = max((report.verdict for report in self.devices), default=Verdict.PASS)
        if worst is Verdict.FAIL:
            return EXIT_FAIL
        if worst is Verdict.WARN:
            return EXIT_WARN
        return EXIT_PASS

    def device(self, address: str) -> DeviceReport | None:
        wanted = Bdf.parse(address)
        for report in self.devices:
            if report.function.bdf == wanted:
                return report
        return None


def _unprivileged_finding(view: HostView) -> Finding | None:
    # A config of a size the kernel never shows (0 bytes, 100 bytes) is a corrupt tree, reported
    # by the integrity check, not the 64 bytes a non-root reader gets.
    short = sorted(
        function.name
        for function in view.functions.values()
        if function.config_truncated and "config" not in function.problems
    )
    if not short:
        return None
    return Finding(
        "checker.config-unreadable",
        Severity.INFO,
        f"config space beyond 64 bytes was not readable for {len(short)} of {len(view.functions)} devices",
        "The kernel shows the full config space only to root; without it FLR, PM NoSoftRst, ACS and link "
        "registers are not visible, and the reset analysis falls back to reset_method.",
        "Rerun as root: sudo vfiolab check",
        [_config_evidence(view, name) for name in short[:3]],
    )


def _config_evidence(view: HostView, name: str) -> Evidence:
    function = view.functions[Bdf.parse(name)]
    size = function.config.size if function.config is not None else 0
    return Evidence(view.show(device_file(name, "config")), f"{size} bytes readable")


def run_checks(view: HostView, options: CheckOptions | None = None) -> CheckReport:
    """Run every registered check over an already-read host."""
    options = options or CheckOptions()
    context = CheckContext(view, options)
    selected = context.selected()
    reports = {function.bdf: DeviceReport(function) for function in selected}
    # Checks name devices as the kernel does (0000:03:00.0): found by that text without parsing
    # it again for each of the thousands of findings of a large host; any other spelling parsed.
    by_name = {report.function.name: report for report in reports.values()}
    host_findings: list[Finding] = []
    for name, check in CHECKS:
        for finding in check(context):
            if finding.code not in CODES:
                # A bug, not a user mistake: codes are an interface (harness/codes.py).
                raise RuntimeError(f"check {name} emitted {finding.code!r}, which harness/codes.py does not list")
            if finding.could_not_judge and finding.severity < Severity.WARN:
                # What could not be read is never a pass: "could not judge" is at least a warn.
                finding.severity = Severity.WARN
            target = None
            if finding.device:
                target = by_name.get(finding.device) or reports.get(Bdf.parse(finding.device))
            if target is not None:
                target.findings.append(finding)
            else:
                host_findings.append(finding)
    unprivileged = _unprivileged_finding(view)
    if unprivileged is not None:
        host_findings.append(unprivileged)
    blocking = [finding.code for finding in host_findings if finding.blocks_all]
    for report in reports.values():
        report.blocked_by = list(blocking)
    _settle_alternatives(view, reports)
    groups: dict[int, GroupReport] = {}
    for report in reports.values():
        number = report.function.iommu_group
        if number is None:
            continue
        if number not in groups:
            members = view.groups[number].devices if number in view.groups else [report.function.bdf]
            groups[number] = GroupReport(number, list(members), [])
        groups[number].checked.append(report)
    return CheckReport(
        view,
        options,
        [reports[function.bdf] for function in selected],
        [groups[number] for number in sorted(groups)],
        host_findings,
    )


def _settle_alternatives(view: HostView, reports: dict[Bdf, DeviceReport]) -> None:
    """Write into each fix the alternatives that hold up: a device offered instead must pass
    every check itself, sit in another IOMMU group, and not share the reset (the same bus behind
    the same port, which one secondary bus reset hits whole)."""
    for report in reports.values():
        function = report.function
        for finding in report.findings:
            if ALTERNATIVES not in finding.fix:
                continue
            kept = []
            for name in finding.alternatives:
                other = reports.get(Bdf.parse(name))
                if other is None or other.verdict is not Verdict.PASS:
                    continue
                candidate = other.function
                same_group = candidate.iommu_group is not None and candidate.iommu_group == function.iommu_group
                same_reset = candidate.parent is not None and candidate.parent == function.parent
                if not same_group and not same_reset:
                    kept.append(f"{candidate.bdf.short} [{candidate.id_text}], which passes every check")
            text = f"; or pass another controller ({'; '.join(kept)})" if kept else ""
            finding.fix = finding.fix.replace(ALTERNATIVES, text)


def check_root(root: str | Path = "/", options: CheckOptions | None = None) -> CheckReport:
    """Read ``root`` and check it. Raises :class:`CheckerError` when there is nothing to check."""
    path = Path(root)
    try:
        fs = open_root(path)
    except (NotFound, NotADirectory):
        raise CheckerError(
            f"{root}: no such directory (expected a root with sys/ and proc/ under it, or a capture bundle)"
        ) from None
    except RootError as error:
        raise CheckerError(f"{root}: not readable ({error.reason})") from None
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        fs.close()
        raise CheckerError(f"{root}: not readable")
    view = read_host(path, fs)
    if not view.functions:
        raise CheckerError(
            f"{root}: no PCI devices could be read under {view.show(PCI_DEVICES)} "
            "(is this a Linux root, and is /sys mounted?)"
        )
    options = options or CheckOptions()
    if options.devices:
        missing = [text for text in options.devices if view.function(text) is None]
        if missing:
            raise UsageError(f"no such PCI device under {root}: {', '.join(missing)}")
    if options.assume_kernel is not None:
        _assume_kernel(view, options.assume_kernel)
    return run_checks(view, options)


def _assume_kernel(view: HostView, name: str) -> None:
    """Judge kernel quirks under the kernel ``name``; a name vfiolab cannot read is a usage error."""
    # Imported here: only --assume-kernel needs the version model before a check asks for it.
    from harness.kernels import KernelNameError, assumed_kernel, parse_kernel

    try:
        named = parse_kernel(name)
    except KernelNameError as error:
        raise UsageError(f"--assume-kernel: {error}") from None
    view.assume_kernel(assumed_kernel(named, view.kernel))
