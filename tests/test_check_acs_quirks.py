"""The ACS quirk check under --assume-kernel, on the Terramaster with the PCH root ports of slot
00:1c given a Loongson root port's ID (0014:7a39) and no ACS capability: pci_quirk_loongson_acs
reached mainline in 6.16 and the 6.12 stable branch in 6.12.35. Under a kernel that carries it
each port isolates what is below it (info); under one that lacks it, 03:00.0 would share a group
with the NICs below 00:1c.0 and 00:1c.3 (warn); where nothing is known, the same warn is marked
could-not-judge; a port whose siblings isolate themselves leaves nothing to join (info)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.checker import DeviceReport
from harness.findings import Finding, Severity
from tests.test_check_reset_quirks import checked, findings_with
from tests.test_checker import REPO, terramaster

SLOT = "0000:03:00.0"


def loongson_ports(*addresses: str) -> dict[str, Any]:
    base = yaml.safe_load((REPO / "scenarios/terramaster-f4-424-pro.yaml").read_text(encoding="utf-8"))
    ports = []
    for item in base["host"]["pci"]:
        if item["bdf"] in addresses:
            header = {**item["override"]["header"], "vendor": 0x0014, "device": 0x7A39}
            ports.append(
                {**item, "override": {"header": header, "extended_capabilities": [{"id": "acs", "remove": True}]}}
            )
    return terramaster(pci=ports)


def acs_findings(device: DeviceReport) -> dict[str, Finding]:
    return findings_with(device, "isolation.acs-quirk")


def test_the_running_kernels_groups_are_read_not_predicted(tmp_path: Path) -> None:
    device = checked(tmp_path, loongson_ports("00:1c.0", "00:1c.3", "00:1c.6"))
    assert acs_findings(device) == {}
    assert "isolation.shared-group" in {item.code for item in device.findings}


@pytest.mark.parametrize(
    ("assume", "code", "severity", "said"),
    [
        ("6.12.35", "isolation.acs-quirk", Severity.INFO, "6.12 stable branch since 6.12.35"),
        ("6.16.1", "isolation.acs-quirk", Severity.INFO, "in mainline since 6.16"),
        ("6.12.20", "isolation.acs-quirk-absent", Severity.WARN, "reached the 6.12 stable branch only in 6.12.35"),
        ("6.14.1", "isolation.acs-quirk-absent", Severity.WARN, "could not be judged (no 6.14 tree was read"),
    ],
)
def test_groups_under_an_assumed_kernel(tmp_path: Path, assume: str, code: str, severity: Severity, said: str) -> None:
    device = checked(tmp_path, loongson_ports("00:1c.0", "00:1c.3", "00:1c.6"), assume)
    findings = acs_findings(device)
    assert set(findings) == {code}
    finding = findings[code]
    assert finding.severity is severity
    assert said in finding.why
    assert "root port, no ACS capability" in finding.evidence[0].value
    assert finding.could_not_judge is ("could not be judged" in said)
    if severity is Severity.WARN:
        assert "share one IOMMU group with 01:00.0 [10ec:8125], 02:00.0 [10ec:8125]" in finding.message
        assert "04:00.0" not in finding.message


def test_a_port_whose_slot_siblings_isolate_leaves_nothing_to_join(tmp_path: Path) -> None:
    device = checked(tmp_path, loongson_ports("00:1c.6"), "6.12.20")
    finding = acs_findings(device)["isolation.acs-quirk-absent"]
    assert finding.severity is Severity.INFO
    assert "nothing else would join its group" in finding.message


def test_a_device_below_ports_no_acs_quirk_names_gets_no_prediction(tmp_path: Path) -> None:
    assert acs_findings(checked(tmp_path, terramaster(), "6.12.20")) == {}
