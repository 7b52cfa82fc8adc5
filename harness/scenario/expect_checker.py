"""Checking a scenario's ``expect: checker:`` against the checker's report on the root after the
steps: verdicts and finding codes per device, verdicts and members per IOMMU group, host-level
finding codes.

A failure's context is the finding list of the device (or group, or host) it is about, so the
report shows what the checker did say next to what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.checker import CheckReport, DeviceReport
from harness.findings import Finding
from harness.pci.address import Bdf
from harness.scenario.expect import Failure

LAYER = "checker"
LineOf = Callable[..., int]


def finding_line(finding: Finding) -> str:
    return f"{finding.code} ({finding.severity.label}): {finding.message}"


def _device_context(report: DeviceReport) -> list[str]:
    lines = [f"findings of {report.function.name} (verdict {report.verdict.label}):"]
    lines += [f"  {finding_line(finding)}" for finding in report.findings] or ["  (none)"]
    if report.blocked_by:
        lines.append(f"  blocked by host findings: {', '.join(report.blocked_by)}")
    return lines


def check_checker(report: CheckReport, spec: Mapping[str, Any], line_of: LineOf) -> list[Failure]:
    """Every way the report differs from ``spec`` (the ``expect.checker`` mapping)."""
    failures: list[Failure] = []
    for address, wanted in spec.get("devices", {}).items():
        failures += _check_device(report, address, wanted, line_of)
    for number, wanted in spec.get("groups", {}).items():
        failures += _check_group(report, int(number), number, wanted, line_of)
    host = spec.get("host", {})
    if host:
        context = ["host findings:"] + ([f"  {finding_line(f)}" for f in report.host_findings] or ["  (none)"])
        failures += _check_codes(
            "host",
            [finding.code for finding in report.host_findings],
            host,
            context=context,
            at=("host",),
            line_of=line_of,
        )
    return failures


def _check_device(report: CheckReport, address: str, wanted: Mapping[str, Any], line_of: LineOf) -> list[Failure]:
    name = str(Bdf.parse(address))
    at = ("devices", address)
    device = report.device(name)
    if device is None:
        checked = ", ".join(item.function.name for item in report.devices)
        return [
            Failure(
                LAYER,
                f"{name} is checked",
                "a verdict for it",
                "the checker did not report it (it reports endpoints, not bridges or ports)",
                [f"checked devices: {checked}"],
                line_of(*at),
            )
        ]
    failures: list[Failure] = []
    context = _device_context(device)
    verdict = wanted.get("verdict")
    if verdict is not None and device.verdict.label != verdict:
        failures.append(
            Failure(LAYER, f"verdict of {name}", verdict, device.verdict.label, context, line_of(*at, "verdict"))
        )
    failures += _check_codes(
        name, [finding.code for finding in device.findings], wanted, context=context, at=at, line_of=line_of
    )
    return failures


def _check_codes(
    subject: str,
    codes: Sequence[str],
    wanted: Mapping[str, Any],
    *,
    context: list[str],
    at: tuple[str | int, ...],
    line_of: LineOf,
) -> list[Failure]:
    failures: list[Failure] = []
    found = ", ".join(codes) or "no findings"
    for index, code in enumerate(wanted.get("findings", [])):
        if code not in codes:
            failures.append(
                Failure(
                    LAYER,
                    f"finding {code} on {subject}",
                    f"{code} among the findings",
                    f"not there; found {found}",
                    context,
                    line_of(*at, "findings", index),
                )
            )
    for index, code in enumerate(wanted.get("absent", [])):
        if code in codes:
            failures.append(
                Failure(
                    LAYER,
                    f"no finding {code} on {subject}",
                    f"no {code}",
                    f"{code} is among the findings",
                    context,
                    line_of(*at, "absent", index),
                )
            )
    return failures


def _check_group(
    report: CheckReport, number: int, key: str | int, wanted: Mapping[str, Any], line_of: LineOf
) -> list[Failure]:
    at = ("groups", key)
    group = next((item for item in report.groups if item.number == number), None)
    if group is None:
        numbers = ", ".join(str(item.number) for item in report.groups) or "none"
        return [
            Failure(
                LAYER,
                f"IOMMU group {number}",
                "a group with a checked device",
                f"no such group among the checked ones (groups: {numbers})",
                [],
                line_of(*at),
            )
        ]
    failures: list[Failure] = []
    context = [f"group {number}: {', '.join(str(bdf) for bdf in group.devices)}"]
    for device in group.checked:
        context += _device_context(device)
    verdict = wanted.get("verdict")
    if verdict is not None and group.verdict.label != verdict:
        failures.append(
            Failure(
                LAYER,
                f"verdict of IOMMU group {number}",
                verdict,
                group.verdict.label,
                context,
                line_of(*at, "verdict"),
            )
        )
    members = wanted.get("devices")
    if members is not None:
        expected = sorted(str(Bdf.parse(text)) for text in members)
        found = sorted(str(bdf) for bdf in group.devices)
        if expected != found:
            failures.append(
                Failure(
                    LAYER,
                    f"members of IOMMU group {number}",
                    ", ".join(expected),
                    ", ".join(found),
                    context,
                    line_of(*at, "devices"),
                )
            )
    return failures
