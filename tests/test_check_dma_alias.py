"""The DMA alias check by kernel version, on small fakesys hosts: a Marvell 88SE9235 (1b4b:9235)
in the Terramaster's slot 03:00.0, whose quirk_dma_func1_alias reached mainline in 6.5 and the
stable branches in 5.10.188 and 6.1.40: info where the judged kernel carries it, fail where it
lacks it, warn (could not judge) where nothing is known of that kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checker import DeviceReport
from harness.findings import Finding, Severity, Verdict
from tests.test_check_reset_quirks import checked as check_slot
from tests.test_check_reset_quirks import findings_with
from tests.test_checker import terramaster

SLOT = "0000:03:00.0"
MARVELL_9235 = {"header": {"vendor": 0x1B4B, "device": 0x9235}}
PROXMOX_68 = {
    "release": "6.8.12-4-pve",
    "version": "Linux version 6.8.12-4-pve (build@proxmox) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)",
    "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on",
    "log": [
        "[   12.000000] DMAR: DRHD: handling fault status reg 3",
        "[   12.000001] DMAR: [DMA Write NO_PASID] Request device [03:00.1] fault addr 0xfffd0000 "
        "[fault reason 0x02] Present bit in context entry is clear",
    ],
}


def checked(tmp_path: Path, override: dict[str, Any] | None = MARVELL_9235, assume: str | None = None) -> DeviceReport:
    slot: dict[str, Any] = {"bdf": "03:00.0", "device": "asmedia-asm1062", "behaviours": []}
    if override is not None:
        slot["override"] = override
    return check_slot(tmp_path, terramaster(pci=[slot], kernel=PROXMOX_68), assume)


def alias_findings(device: DeviceReport) -> dict[str, Finding]:
    return findings_with(device, "isolation.dma-alias")


def test_the_running_kernel_has_the_alias_quirk(tmp_path: Path) -> None:
    """Proxmox VE 6.8: the series is built on mainline 6.8, which carries the 6.5 quirk."""
    findings = alias_findings(checked(tmp_path))
    info = findings["isolation.dma-alias"]
    assert info.severity is Severity.INFO
    assert "issues DMA as 03:00.1 too" in info.message
    assert "in mainline since 6.5" in info.why
    assert "the alias is a phantom function" in info.why
    assert set(findings) == {"isolation.dma-alias"}


@pytest.mark.parametrize(
    ("assume", "severity", "said"),
    [
        ("6.1.40", Severity.INFO, "6.1 stable branch since 6.1.40"),
        ("6.1.30", Severity.FAIL, "reached the 6.1 stable branch only in 6.1.40"),
        ("5.10.218-1", Severity.INFO, "read in Debian linux-source-5.10 5.10.218-1"),
        ("6.2.1", Severity.WARN, "could not be judged (no 6.2 tree was read"),
    ],
)
def test_the_alias_under_an_assumed_kernel(tmp_path: Path, assume: str, severity: Severity, said: str) -> None:
    device = checked(tmp_path, assume=assume)
    findings = alias_findings(device)
    finding = findings["isolation.dma-alias" if severity is Severity.INFO else "isolation.dma-alias-missing"]
    assert finding.severity is severity
    assert said in finding.why
    assert finding.could_not_judge is (severity is Severity.WARN)
    if severity is Severity.FAIL:
        assert device.verdict is Verdict.FAIL
        assert "Present bit in context entry is clear" in finding.why
        assert "mainline 6.5 and later; stable 5.10.188+, 6.1.40+" in finding.fix
        logged = [item for item in finding.evidence if item.path.startswith("/var/log/dmesg:")]
        assert len(logged) == 1 and "Request device [03:00.1]" in logged[0].value
    if severity is Severity.WARN:
        assert device.verdict is not Verdict.PASS


def test_a_device_no_alias_quirk_names_gets_no_alias_finding(tmp_path: Path) -> None:
    assert alias_findings(checked(tmp_path, override=None)) == {}
