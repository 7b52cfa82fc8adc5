"""The reset check's kernel-quirk rules by kernel version, on small fakesys hosts: a device whose
advertised FLR the kernel's quirk_no_flr avoids (pass with the reset that remains where the
kernel carries the quirk, fail where it lacks it, warn where that could not be judged), the
no-bus-reset quirk under --assume-kernel, and the option itself on the command line.

The device under test is the Terramaster's slot 03:00.0 given the IDs of a MediaTek MT7922
(14c3:0616), whose quirk_no_flr reached mainline in 6.14 and the 6.12 stable branch in 6.12.16;
the fakesys 6.12 profile carries it, the 6.8 profile (Proxmox VE 8) does not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.checker import DeviceReport, check_root
from harness.checks import CheckOptions
from harness.cli import main
from harness.errors import UsageError
from harness.findings import Finding, Severity, Verdict
from harness.report import load_schema
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import DEBIAN_612, asm1164_host, terramaster, write_scenario

SLOT = "0000:03:00.0"
MT7922 = {"header": {"vendor": 0x14C3, "device": 0x0616}}
DEBIAN_510 = {
    "release": "5.10.0-30-amd64",
    "version": "Linux version 5.10.0-30-amd64 (debian-kernel@lists.debian.org) (gcc-10 (Debian 10.2.1-6) 10.2.1) "
    "#1 SMP Debian 5.10.218-1 (2024-06-01)",
    "cmdline": "BOOT_IMAGE=/boot/vmlinuz-5.10.0-30-amd64 root=/dev/mapper/pve-root ro quiet intel_iommu=on",
}


def flr_host(kernel: dict[str, Any] | None, override: dict[str, Any] | None = MT7922) -> dict[str, Any]:
    slot: dict[str, Any] = {"bdf": "03:00.0", "device": "samsung-980", "behaviours": []}
    if override is not None:
        slot["override"] = override
    host = terramaster(pci=[slot])
    if kernel is not None:
        host["kernel"] = kernel
    return host


def checked(tmp_path: Path, host: dict[str, Any], assume: str | None = None) -> DeviceReport:
    root = tmp_path / "root"
    if not root.exists():
        render_final_root(load_scenario(str(write_scenario(tmp_path, "variant", host))), root)
    report = check_root(root, CheckOptions(devices=[SLOT], assume_kernel=assume))
    return next(item for item in report.devices if item.function.name == SLOT)


def findings_with(device: DeviceReport, prefix: str) -> dict[str, Finding]:
    return {item.code: item for item in device.findings if item.code.startswith(prefix)}


def reset_findings(device: DeviceReport) -> dict[str, Finding]:
    return findings_with(device, "reset.")


def evidence(finding: Finding) -> str:
    return "\n".join(f"{item.path}: {item.value}" for item in finding.evidence)


def test_flr_the_kernel_does_not_avoid_fails(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(None))
    failing = reset_findings(device)["reset.flr-breaks-device"]
    assert failing.severity is Severity.FAIL and not failing.could_not_judge
    assert "does not survive FLR" in failing.message
    assert "not ready 65535ms after FLR; giving up" in failing.why
    assert "reset_method lists flr" in failing.why
    assert "reset_method: flr bus" in evidence(failing)
    assert "mainline 6.14 and later; stable 6.12.16+" in failing.fix
    assert "`echo bus > /sys/bus/pci/devices/0000:03:00.0/reset_method`" in failing.fix


def test_flr_avoided_by_the_running_kernels_quirk_passes_with_the_reset_that_remains(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(DEBIAN_612))
    findings = reset_findings(device)
    avoided = findings["reset.kernel-quirk-avoids-flr"]
    assert avoided.severity is Severity.INFO
    assert "reset methods: bus" in avoided.message
    assert findings["reset.bus"].severity is Severity.INFO
    assert "reset.flr-breaks-device" not in findings
    assert all(item.severity is Severity.INFO for item in findings.values())


def test_an_flr_device_no_quirk_names_is_not_judged_by_the_rule(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(None, override=None))
    findings = reset_findings(device)
    assert set(findings) == {"reset.flr"}


@pytest.mark.parametrize(
    ("assume", "code", "severity", "said"),
    [
        ("6.12.117-1~deb12u1", "reset.kernel-quirk-avoids-flr", Severity.INFO, "6.12 stable branch since 6.12.16"),
        ("6.14.1", "reset.kernel-quirk-avoids-flr", Severity.INFO, "in mainline since 6.14"),
        ("6.12.10", "reset.flr-breaks-device", Severity.FAIL, "reached the 6.12 stable branch only in 6.12.16"),
        ("6.13.2", "reset.flr-breaks-device", Severity.WARN, "could not be judged (no 6.13 tree was read"),
        ("6.8.12-9-pve", "reset.flr-breaks-device", Severity.WARN, "Proxmox VE kernels (Ubuntu-based) were not read"),
        ("6.8.12-9-pve@2024-12-01", "reset.flr-breaks-device", Severity.FAIL, "before the change was first posted"),
    ],
)
def test_flr_under_an_assumed_kernel(tmp_path: Path, assume: str, code: str, severity: Severity, said: str) -> None:
    device = checked(tmp_path, flr_host(None), assume)
    finding = reset_findings(device)[code]
    assert finding.severity is severity
    assert said in finding.why
    assert finding.could_not_judge is (severity is Severity.WARN)
    if severity is Severity.WARN:
        assert device.verdict is not Verdict.PASS
        assert finding.message.startswith("could not judge")


def test_an_assumed_kernel_with_the_quirk_changes_the_methods_it_reports(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(None), "6.12.117-1~deb12u1")
    avoided = reset_findings(device)["reset.kernel-quirk-avoids-flr"]
    assert "under the assumed kernel Debian 6.12.117-1~deb12u1: bus" in evidence(avoided)


def test_an_assumed_kernel_without_the_quirk_puts_flr_back_first(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(DEBIAN_612), "6.12.10")
    failing = reset_findings(device)["reset.flr-breaks-device"]
    assert "under the assumed kernel upstream 6.12.10: flr bus" in evidence(failing)
    assert "echo" not in failing.fix, "no reset_method command for a kernel that does not run here"


def test_a_kernel_before_reset_method_is_judged_from_version_knowledge(tmp_path: Path) -> None:
    """Debian 5.10.218-1 was read: no quirk_no_flr for 14c3:0616 there."""
    device = checked(tmp_path, flr_host(DEBIAN_510))
    failing = reset_findings(device)["reset.flr-breaks-device"]
    assert failing.severity is Severity.FAIL
    assert "not in Debian linux-source-5.10 5.10.218-1 (read)" in failing.why
    assert "derived from config space: flr" in evidence(failing)


@pytest.mark.parametrize(
    ("assume", "code", "severity"),
    [
        (None, "reset.bus-reset-breaks-device", Severity.FAIL),
        ("6.12.117-1~deb12u1", "reset.kernel-quirk-protects", Severity.INFO),
        ("6.12.50", "reset.bus-reset-breaks-device", Severity.FAIL),
        ("6.19.3", "reset.bus-reset-breaks-device", Severity.WARN),
    ],
)
def test_asm1164_bus_reset_under_an_assumed_kernel(
    tmp_path: Path, assume: str | None, code: str, severity: Severity
) -> None:
    device = checked(tmp_path, asm1164_host(None), assume)
    finding = reset_findings(device)[code]
    assert finding.severity is severity
    assert finding.could_not_judge is (severity is Severity.WARN)


def test_assume_kernel_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    render_final_root(load_scenario(str(write_scenario(tmp_path, "variant", flr_host(None)))), root)
    args = ["check", "--root", str(root), "--device", "03:00.0"]
    assert main([*args, "--assume-kernel", "6.12.117-1~deb12u1"]) == 0
    out = capsys.readouterr().out
    assert "kernel quirks judged as under Debian 6.12.117-1~deb12u1, --assume-kernel" in out
    assert main([*args, "--assume-kernel", "6.13.2", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, load_schema())
    assert document["host"]["assumed_kernel"] == "upstream 6.13.2"
    [flr] = [item for item in document["devices"][0]["findings"] if item["code"] == "reset.flr-breaks-device"]
    assert flr["severity"] == "warn" and flr["could_not_judge"] is True
    assert main(args) == 2
    capsys.readouterr()
    assert main([*args, "--assume-kernel", "6.1.0-26-amd64"]) == 64
    assert "--assume-kernel: 6.1.0-26-amd64 is Debian's ABI name" in capsys.readouterr().err


def test_an_unreadable_kernel_name_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    render_final_root(load_scenario(str(write_scenario(tmp_path, "variant", flr_host(None)))), root)
    with pytest.raises(UsageError, match="not a kernel name vfiolab knows"):
        check_root(root, CheckOptions(assume_kernel="linux-next"))


#: A Solidigm P44 Pro (025e:f1ac): delay_250ms_after_flr reached mainline in 6.5 and the 6.1
#: stable branch in 6.1.88; every fakesys profile lists its device-specific reset.
P44_PRO = {"header": {"vendor": 0x025E, "device": 0xF1AC}}


def test_flr_delay_the_running_kernel_gives_passes(tmp_path: Path) -> None:
    device = checked(tmp_path, flr_host(None, override=P44_PRO))
    findings = reset_findings(device)
    delayed = findings["reset.kernel-quirk-delays-flr"]
    assert delayed.severity is Severity.INFO
    assert "reset_method lists device_specific" in delayed.why
    assert set(findings) == {"reset.kernel-quirk-delays-flr"}


@pytest.mark.parametrize(
    ("assume", "code", "severity", "methods"),
    [
        ("6.1.88", "reset.kernel-quirk-delays-flr", Severity.INFO, None),
        ("6.5.1", "reset.kernel-quirk-delays-flr", Severity.INFO, None),
        ("6.1.80", "reset.flr-without-delay", Severity.FAIL, "under the assumed kernel upstream 6.1.80: flr bus"),
        ("6.4.3", "reset.flr-without-delay", Severity.WARN, None),
    ],
)
def test_flr_delay_under_an_assumed_kernel(
    tmp_path: Path, assume: str, code: str, severity: Severity, methods: str | None
) -> None:
    device = checked(tmp_path, flr_host(None, override=P44_PRO), assume)
    finding = reset_findings(device)[code]
    assert finding.severity is severity
    assert finding.could_not_judge is (severity is Severity.WARN)
    if methods is not None:
        assert methods in evidence(finding)
    if severity is Severity.FAIL:
        assert "mainline 6.5 and later; stable 6.1.88+" in finding.fix


def test_flr_delay_on_a_kernel_before_reset_method(tmp_path: Path) -> None:
    """Debian 5.10.218-1 was read without the Solidigm entry: a bare FLR."""
    device = checked(tmp_path, flr_host(DEBIAN_510, override=P44_PRO))
    failing = reset_findings(device)["reset.flr-without-delay"]
    assert failing.severity is Severity.FAIL
    assert "not in Debian linux-source-5.10 5.10.218-1 (read)" in failing.why
