"""The passthrough checker end to end: the Terramaster acceptance cases, the variants the
reset analysis must tell apart, and each check's pass/warn/fail boundary on small hosts.

Hosts are scenario files (most extend the shipped Terramaster host and change one thing), run
through their steps and final_root to a directory, which the checker then reads like any root.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.checker import CheckReport, DeviceReport, check_root
from harness.checks import CheckOptions
from harness.findings import Finding, Severity, Verdict
from harness.report import load_schema, to_json
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root

REPO = Path(__file__).resolve().parent.parent
ASM = "0000:03:00.0"
INTEL_SATA = "0000:00:17.0"
DEBIAN_612 = {
    "release": "6.12.117+deb12-amd64",
    "version": "Linux version 6.12.117+deb12-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-12 "
    "(Debian 12.2.0-14+deb12u1) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2026-09-20)",
    "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.12.117+deb12-amd64 root=/dev/mapper/pve-root ro quiet intel_iommu=on",
}

CheckHost = Callable[..., CheckReport]


def write_scenario(directory: Path, name: str, host: dict[str, Any], steps: list[Any] | None = None) -> Path:
    document: dict[str, Any] = {"name": name, "host": host}
    if steps:
        document["steps"] = steps
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def check_host(tmp_path: Path) -> CheckHost:
    """Write a scenario (usually ``extends: terramaster-f4-424-pro`` plus one change), render it
    after its steps and check it."""

    def run(host: dict[str, Any], steps: list[Any] | None = None, devices: list[str] | None = None) -> CheckReport:
        path = write_scenario(tmp_path, "variant", host, steps)
        root = tmp_path / "root"
        render_final_root(load_scenario(str(path)), root)
        return check_root(root, CheckOptions(devices=devices))

    return run


def device(report: CheckReport, address: str) -> DeviceReport:
    found = report.device(address)
    assert found is not None, f"{address} was not checked"
    return found


def codes(report: DeviceReport, minimum: Severity = Severity.INFO) -> set[str]:
    return {finding.code for finding in report.findings if finding.severity >= minimum}


def finding(report: DeviceReport, code: str) -> Finding:
    matches = [item for item in report.findings if item.code == code]
    assert matches, f"no {code} among {sorted(codes(report))}"
    return matches[0]


def evidence_text(item: Finding) -> str:
    return "\n".join(f"{entry.path}: {entry.value}" for entry in item.evidence)


def terramaster(**changes: Any) -> dict[str, Any]:
    return {"extends": "terramaster-f4-424-pro", **changes}


# --- The acceptance cases on the shipped scenarios ------------------------------------------------


def test_default_scenario_intel_sata_passes_and_asm1062_fails_the_reset_analysis(
    final_root: Callable[[str], Path],
) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    sata = device(report, INTEL_SATA)
    assert sata.verdict is Verdict.PASS
    assert sata.findings and all(item.severity is Severity.INFO for item in sata.findings)
    assert "reset.none-integrated" in codes(sata)

    asm = device(report, ASM)
    assert asm.verdict is Verdict.FAIL
    assert codes(asm, Severity.WARN) == {"reset.bus-reset-breaks-device"}
    reset = finding(asm, "reset.bus-reset-breaks-device")
    text = evidence_text(reset)
    assert "/sys/bus/pci/devices/0000:03:00.0/config: " in text
    assert "FLReset-" in text and "NoSoftRst-" in text
    assert "/sys/bus/pci/devices/0000:03:00.0/reset_method: pm bus" in text
    assert "alone on bus 03 behind 00:1c.6" in text
    assert "VFIO_DEVICE_PCI_HOT_RESET" in reset.why
    assert "/dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680" in reset.fix
    assert "/dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681" in reset.fix
    assert "00:17.0" in reset.fix  # another controller
    assert report.exit_code == 2


def test_after_the_failed_vm_start_the_log_lines_and_all_ones_config_are_evidence(
    final_root: Callable[[str], Path],
) -> None:
    report = check_root(final_root("terramaster-asm1062-vm-start"), CheckOptions(devices=[ASM]))
    asm = device(report, ASM)
    assert asm.verdict is Verdict.FAIL
    reset = finding(asm, "reset.bus-reset-breaks-device")
    text = evidence_text(reset)
    assert "config: reads all-ones" in text
    assert "broken device, retraining non-functional downstream link at 2.5GT/s" in text
    assert "not ready 65535ms after bus reset; giving up" in text
    assert "Unable to change power state from D0 to D3hot, device inaccessible" in text
    assert {"power-link.not-answering", "power-link.link-down", "kernel-log.link-retrain-failed"} <= codes(asm)
    link = finding(asm, "power-link.link-down")
    assert "DLActive- BWMgmt+" in evidence_text(link)


#: The D3cold prediction's note where the root shows no ACPI companion (info; the rendered
#: Terramaster hosts declare none): not a finding about the device's power or link.
D3COLD_NOTE = "power-link.d3cold-not-judged"


def test_unknown_power_state_of_an_unbound_device_raises_nothing_above_info(
    final_root: Callable[[str], Path],
) -> None:
    root = final_root("terramaster-asm1062-unbound")
    assert (root / "sys/bus/pci/devices/0000:03:00.0/power_state").read_text().strip() == "unknown"
    asm = device(check_root(root), ASM)
    for item in asm.findings:
        if item.severity > Severity.INFO:
            assert item.code.startswith("reset."), item.code
            assert "power_state" not in evidence_text(item)
    assert not [item for item in asm.findings if item.code.startswith("power-link.") and item.code != D3COLD_NOTE]


# --- Reset-analysis variants ---------------------------------------------------------------------


def test_asm1062_with_flr_gets_no_reset_fail(check_host: CheckHost) -> None:
    host = terramaster(
        pci=[{"bdf": "03:00.0", "override": {"capabilities": [{"id": "express", "devcap": {"flr": True}}]}}]
    )
    asm = device(check_host(host, devices=[ASM]), ASM)
    assert not [item for item in asm.findings if item.code.startswith("reset.") and item.severity > Severity.INFO]
    assert "reset.known-device-no-bus-reset" in codes(asm)
    assert "QEMU at VM start: VFIO_DEVICE_RESET (flr)" in finding(asm, "reset.known-device-no-bus-reset").message


def test_unknown_endpoint_without_flr_but_with_pm_reset_alone_behind_a_port_warns_of_qemus_bus_reset(
    check_host: CheckHost,
) -> None:
    host = terramaster(
        pci=[
            {
                "bdf": "03:00.0",
                "behaviours": [],
                "override": {"header": {"vendor": 0x1D6A, "device": 0x07B1}},
            }
        ]
    )
    asm = device(check_host(host, devices=[ASM]), ASM)
    assert asm.verdict is Verdict.WARN
    warn = finding(asm, "reset.qemu-bus-reset")
    assert warn.severity is Severity.WARN
    assert "bus-reset" in warn.message and "pm bus" in warn.message
    assert "VFIO_DEVICE_PCI_HOT_RESET" in warn.why


def asm1164_host(kernel: dict[str, Any] | None) -> dict[str, Any]:
    host = terramaster(pci=[{"bdf": "03:00.0", "device": "asmedia-asm1164", "behaviours": []}])
    if kernel is not None:
        host["kernel"] = kernel
    return host


def test_asm1164_passes_the_reset_check_on_612(check_host: CheckHost) -> None:
    asm = device(check_host(asm1164_host(DEBIAN_612), devices=[ASM]), ASM)
    protects = finding(asm, "reset.kernel-quirk-protects")
    assert protects.severity is Severity.INFO
    assert "6.12.117" in protects.message
    assert "/sys/bus/pci/devices/0000:03:00.0/reset_method: pm" in evidence_text(protects)
    assert not [item for item in asm.findings if item.code.startswith("reset.") and item.severity > Severity.INFO]


def test_asm1164_fails_the_reset_check_on_68(check_host: CheckHost) -> None:
    asm = device(check_host(asm1164_host(None), devices=[ASM]), ASM)
    failing = finding(asm, "reset.bus-reset-breaks-device")
    assert failing.severity is Severity.FAIL
    assert "Proxmox VE 6.8.12-4-pve (built 2024-11-06) does not carry quirk_no_bus_reset" in failing.why
    assert "reset_method: pm bus" in evidence_text(failing)


def test_device_with_flr_gets_only_information(final_root: Callable[[str], Path]) -> None:
    nvme = device(check_root(final_root("terramaster-f4-424-pro")), "0000:04:00.0")
    reset = finding(nvme, "reset.flr")
    assert reset.severity is Severity.INFO


def test_bus_only_device_is_information(final_root: Callable[[str], Path]) -> None:
    nic = device(check_root(final_root("terramaster-f4-424-pro")), "0000:02:00.0")
    assert finding(nic, "reset.bus").severity is Severity.INFO


def test_device_with_no_reset_method_off_the_root_bus_warns(check_host: CheckHost) -> None:
    """Two functions of one NIC with ACS between them: separate groups, so neither can be
    bus-reset alone, and neither has FLR or a PM reset."""
    acs = {
        "id": "acs",
        "at": 0x240,
        "version": 1,
        "cap": {
            "source_validation": True,
            "request_redirect": True,
            "completion_redirect": True,
            "upstream_forwarding": True,
        },
    }
    override = {"extended_capabilities": [acs]}
    host = terramaster(
        pci=[
            {"bdf": "02:00.0", "override": override},
            {"bdf": "02:00.1", "device": "realtek-rtl8125", "driver": "r8169", "override": override},
        ]
    )
    report = check_host(host, devices=["0000:02:00.0"])
    nic = device(report, "0000:02:00.0")
    assert report.view.functions[nic.function.bdf].iommu_group != report.view.function("02:00.1").iommu_group  # type: ignore[union-attr]
    none = finding(nic, "reset.none")
    assert none.severity is Severity.WARN
    assert "no available reset mechanism" in none.message


# --- Isolation ----------------------------------------------------------------------------------


def test_switch_without_acs_fails_isolation_for_its_endpoints(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("n100-asm1184e-switch"))
    for address in ("0000:03:00.0", "0000:04:00.0", "0000:05:00.0", "0000:06:00.0"):
        nic = device(report, address)
        failing = finding(nic, "isolation.switch-without-acs")
        assert failing.severity is Severity.FAIL
        assert "no ACS capability" in failing.message
    assert "isolation.switch-without-acs" not in codes(device(report, "0000:00:17.0"))


def test_switch_behind_a_root_port_without_acs_shares_one_group(check_host: CheckHost) -> None:
    host = {
        "extends": "n100-asm1184e-switch",
        "pci": [{"bdf": "00:1c.0", "override": {"extended_capabilities": [{"id": "acs", "remove": True}]}}],
    }
    report = check_host(host)
    nic = device(report, "0000:03:00.0")
    shared = finding(nic, "isolation.shared-group")
    assert shared.severity is Severity.WARN
    assert "04:00.0" in shared.message and "06:00.0" in shared.message


def test_own_group_passes_and_busy_siblings_warn(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    assert finding(device(report, ASM), "isolation.own-group").severity is Severity.INFO
    audio = device(report, "0000:00:1f.3")
    busy = finding(audio, "isolation.busy-siblings")
    assert busy.severity is Severity.WARN
    assert "i801_smbus" in busy.message
    # The xHCI's only group peer is the unbound shared SRAM: information.
    assert finding(device(report, "0000:00:14.0"), "isolation.siblings").severity is Severity.INFO


@pytest.mark.parametrize(("region", "expected"), [("direct", Severity.FAIL), ("direct-relaxable", None)])
def test_rmrr_direct_regions_fail_and_relaxable_ones_do_not(
    check_host: CheckHost, region: str, expected: Severity | None
) -> None:
    host = terramaster(iommu={"reserved_regions": {"03:00.0": [f"0x000000007c000000 0x000000007c7fffff {region}"]}})
    asm = device(check_host(host, devices=[ASM]), ASM)
    found = [item for item in asm.findings if item.code == "isolation.rmrr"]
    assert [item.severity for item in found] == ([expected] if expected else [])


# --- Host use -------------------------------------------------------------------------------------


def test_root_filesystem_behind_the_controller_fails_host_use(check_host: CheckHost) -> None:
    host = terramaster(
        disks=[
            {
                "name": "sdc",
                "controller": "03:00.0",
                "port": 0,
                "model": "WDC WD40EFPX-68C6CN0",
                "serial": "WD-WX12D34A5680",
                "partitions": [1],
            }
        ],
        mounts=[{"source": "/dev/sdc1", "target": "/", "fstype": "ext4"}],
    )
    asm = device(check_host(host, devices=[ASM]), ASM)
    root = finding(asm, "host-use.root-disk")
    assert root.severity is Severity.FAIL
    assert "sdc holds the host's root filesystem (/dev/sdc1 on /)" in root.message
    assert "/proc/mounts: /dev/sdc1 / ext4" in evidence_text(root)


def test_mounted_swap_and_dm_uses(check_host: CheckHost) -> None:
    host = terramaster(
        disks=[
            {"name": "sdc", "controller": "03:00.0", "port": 0, "model": "M", "serial": "S1", "partitions": [1]},
            {"name": "sdd", "controller": "03:00.0", "port": 1, "model": "M", "serial": "S2", "partitions": [1]},
        ],
        mounts=[{"source": "/dev/sdc1", "target": "/srv/data", "fstype": "xfs"}],
        swaps=[{"source": "/dev/sdd1", "size_kib": 1024}],
    )
    asm = device(check_host(host, devices=[ASM]), ASM)
    used = finding(asm, "host-use.disk-in-use")
    assert used.severity is Severity.FAIL
    assert "/srv/data" in used.message and "active swap (/dev/sdd1)" in used.message


def test_unmounted_volume_group_warns(check_host: CheckHost) -> None:
    host = terramaster(device_mapper=[{"name": "tank-data", "slaves": ["sdc"]}])
    asm = device(check_host(host, devices=[ASM]), ASM)
    assert finding(asm, "host-use.volumes-active").severity is Severity.WARN


@pytest.mark.parametrize(("imported", "expected"), [(False, Severity.INFO), (True, Severity.FAIL)])
def test_zfs_members_fail_only_when_the_host_imported_the_pool(
    check_host: CheckHost, imported: bool, expected: Severity
) -> None:
    files = {"/run/udev/data/b8:32": "E:ID_FS_TYPE=zfs_member\nE:ID_FS_LABEL=tank\n"}
    if imported:
        files["/proc/spl/kstat/zfs/tank/state"] = "ONLINE\n"
    asm = device(check_host(terramaster(files=files), devices=[ASM]), ASM)
    severities = [item.severity for item in asm.findings if item.code.startswith("host-use.")]
    assert max(severities) is expected
    assert any("ZFS pool 'tank'" in item.message or "ZFS pool 'tank'" in item.why for item in asm.findings)


def test_network_interface_up_fails_and_down_is_information(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    up = finding(device(report, "0000:01:00.0"), "host-use.network-up")
    assert up.severity is Severity.FAIL and "vmbr0" in up.message
    assert finding(device(report, "0000:02:00.0"), "host-use.network-idle").severity is Severity.INFO


def test_disks_are_listed_with_their_by_id_names(final_root: Callable[[str], Path]) -> None:
    sata = device(check_root(final_root("terramaster-f4-424-pro")), INTEL_SATA)
    listing = finding(sata, "host-use.disks")
    assert "sda (ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5678)" in listing.message
    assert "sdb (ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5679)" in listing.message


# --- Platform -------------------------------------------------------------------------------------


def test_platform_passes_on_the_terramaster(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    host_codes = {item.code: item.severity for item in report.host_findings}
    assert host_codes["platform.iommu-active"] is Severity.INFO
    assert host_codes["platform.interrupt-remapping"] is Severity.INFO
    assert not [item for item in report.host_findings if item.blocks_all]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"cpu": {"virtualization": False}}, "platform.cpu-virtualisation-off"),
        ({"iommu": {"firmware_table": False, "enabled": False}}, "platform.iommu-firmware-off"),
        ({"iommu": {"enabled": False}}, "platform.iommu-off"),
        ({"iommu": {"interrupt_remapping": False}}, "platform.no-interrupt-remapping"),
    ],
)
def test_platform_failures_fail_every_device(check_host: CheckHost, change: dict[str, Any], code: str) -> None:
    report = check_host(terramaster(**change))
    blocking = [item for item in report.host_findings if item.code == code]
    assert blocking and blocking[0].severity is Severity.FAIL and blocking[0].blocks_all
    assert all(item.verdict is Verdict.FAIL and code in item.blocked_by for item in report.devices)
    assert report.exit_code == 2


def test_unsafe_interrupts_warn_without_failing_devices(check_host: CheckHost) -> None:
    host = terramaster(
        iommu={"interrupt_remapping": False},
        modules={"vfio_iommu_type1": {"allow_unsafe_interrupts": True}},
    )
    report = check_host(host, devices=[INTEL_SATA])
    unsafe = [item for item in report.host_findings if item.code == "platform.unsafe-interrupts"]
    assert unsafe and unsafe[0].severity is Severity.WARN and not unsafe[0].blocks_all
    assert device(report, INTEL_SATA).verdict is Verdict.PASS


# --- Power and link, kernel log -------------------------------------------------------------------


def test_narrow_link_warns_and_slow_link_is_information(check_host: CheckHost) -> None:
    two_lanes = {"capabilities": [{"id": "express", "lnkcap": {"max_width": 2}}]}
    host = terramaster(
        pci=[
            {"bdf": "00:1c.6", "override": two_lanes},
            {"bdf": "03:00.0", "override": two_lanes, "behaviours": [{"name": "degraded_link", "width": 1}]},
            {"bdf": "02:00.0", "behaviours": [{"name": "degraded_link", "speed": "2.5GT/s"}]},
        ]
    )
    report = check_host(host, devices=[ASM, "0000:02:00.0", INTEL_SATA])
    narrow = finding(device(report, ASM), "power-link.narrow-link")
    assert narrow.severity is Severity.WARN and "x1, below the x2" in narrow.message
    slow = finding(device(report, "0000:02:00.0"), "power-link.slow-link")
    assert slow.severity is Severity.INFO and "2.5 GT/s" in slow.message
    assert not [
        item
        for item in device(report, INTEL_SATA).findings
        if item.code.startswith("power-link.") and item.code != D3COLD_NOTE
    ]


def test_a_slot_wired_narrower_than_the_card_is_not_a_fault(check_host: CheckHost) -> None:
    host = terramaster(
        pci=[{"bdf": "03:00.0", "override": {"capabilities": [{"id": "express", "lnkcap": {"max_width": 4}}]}}]
    )
    asm = device(check_host(host, devices=[ASM]), ASM)
    assert asm.function.max_link_width == "4" and asm.function.current_link_width == "1"
    assert not [item for item in asm.findings if item.code.startswith("power-link.") and item.code != D3COLD_NOTE]


def test_kernel_log_lines_attach_to_the_device_they_name(check_host: CheckHost) -> None:
    log = [
        "[    5.100000] DMAR: [DMA Read NO_PASID] Request device [02:00.0] fault addr 0xfffe0000 "
        "[fault reason 0x06] PTE Read access is not set",
        "[    6.000000] ahci 0000:00:17.0: not ready 1023ms after resume; waiting",
        "[    7.000000] ahci 0000:00:17.0: not ready 65535ms after resume; giving up",
    ]
    report = check_host(terramaster(kernel={"log": log}))
    nic = finding(device(report, "0000:02:00.0"), "kernel-log.dmar-fault")
    assert nic.severity is Severity.WARN
    sata = finding(device(report, INTEL_SATA), "kernel-log.not-ready")
    assert sata.severity is Severity.FAIL
    assert "giving up" in evidence_text(sata)
    assert "kernel-log.dmar-fault" not in codes(device(report, ASM))
    acpi = [item for item in report.host_findings if item.code == "kernel-log.acpi-errors"]
    assert not acpi  # this host's log has no ACPI errors: it replaced the Terramaster's


# --- Report formats ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["terramaster-f4-424-pro", "terramaster-asm1062-vm-start", "terramaster-asm1062-unbound", "n100-asm1184e-switch"],
)
def test_json_report_validates_against_the_shipped_schema(final_root: Callable[[str], Path], name: str) -> None:
    document = to_json(check_root(final_root(name)))
    jsonschema.validate(document, load_schema())
    assert json.loads(json.dumps(document)) == document
    assert document["exit_code"] == 2


def test_verdicts_per_group_are_the_worst_of_their_devices(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    groups = {group.number: group for group in report.groups}
    assert groups[12].verdict is Verdict.FAIL
    assert groups[4].verdict is Verdict.PASS
    assert groups[9].verdict is Verdict.WARN


def test_a_kernel_log_finding_reads_as_its_worst_line(check_host: CheckHost) -> None:
    log = [
        "[    6.000000] ahci 0000:00:17.0: not ready 1023ms after resume; waiting",
        "[    7.000000] ahci 0000:00:17.0: not ready 65535ms after resume; giving up",
    ]
    sata = device(check_host(terramaster(kernel={"log": log}), devices=[INTEL_SATA]), INTEL_SATA)
    found = finding(sata, "kernel-log.not-ready")
    assert found.severity is Severity.FAIL
    assert "gave up" in found.message


def test_isa_bridges_in_a_group_are_not_peers(final_root: Callable[[str], Path]) -> None:
    """00:1f.0 (eSPI, class 0601) shares group 9 with the audio function; it is a bridge to
    the host's legacy devices, not something passed through, so it is not listed as a peer."""
    audio = device(check_root(final_root("terramaster-f4-424-pro")), "0000:00:1f.3")
    assert "00:1f.0" not in finding(audio, "isolation.busy-siblings").message


# --- The summary: the answer a user acts on ---------------------------------------------------------


def test_summary_names_every_device_that_does_not_pass_with_its_next_step(
    final_root: Callable[[str], Path],
) -> None:
    import io

    from harness.report import summarize, write_human

    report = check_root(final_root("terramaster-f4-424-pro"))
    summary = summarize(report)
    not_passing = {item.function.name for item in report.devices if item.verdict is not Verdict.PASS}
    assert {answer.bdf for answer in summary.answers} == not_passing
    asm = next(answer for answer in summary.answers if answer.bdf == ASM)
    assert asm.verdict is Verdict.FAIL and asm.code == "reset.bus-reset-breaks-device"
    assert "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680" in asm.next_step
    assert [answer.verdict for answer in summary.answers] == sorted(
        (answer.verdict for answer in summary.answers), reverse=True
    )
    out = io.StringIO()
    write_human(report, out, colour=False)
    tail = out.getvalue()[out.getvalue().index("Summary (devices that do not pass)") :]
    for bdf in not_passing:
        assert bdf in tail
    document = to_json(report)
    jsonschema.validate(document, load_schema())
    assert {item["bdf"] for item in document["summary"]["not_passing"]} == not_passing


def test_a_host_blocker_is_summarised_once_with_the_devices_it_blocks(check_host: CheckHost) -> None:
    import io

    from harness.report import summarize, write_human

    report = check_host(terramaster(iommu={"enabled": False}))
    summary = summarize(report)
    [(blocker, devices)] = summary.blockers
    assert blocker.code == "platform.iommu-off"
    assert set(devices) == {item.function.name for item in report.devices}
    out = io.StringIO()
    write_human(report, out, colour=False)
    text = out.getvalue()
    assert text.count("passthrough is impossible") == 0
    summary_text = text[text.index("Summary (devices that do not pass)") :]
    assert summary_text.count("platform.iommu-off") == 1


# --- A host that is itself a virtual machine ------------------------------------------------------

QEMU_DMI = {"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)", "bios_vendor": "EDK II"}


def test_a_guest_without_nested_virtualisation_or_viommu_is_told_what_the_vm_needs(check_host: CheckHost) -> None:
    import io

    from harness.report import summarize, write_human

    report = check_host(
        terramaster(
            hypervisor="KVM",
            dmi_id=QEMU_DMI,
            cpu={"virtualization": False},
            iommu={"firmware_table": False, "enabled": False},
        )
    )
    host = {item.code: item for item in report.host_findings}
    assert "platform.cpu-virtualisation-off" not in host and "platform.iommu-firmware-off" not in host
    guest = host["platform.guest"]
    assert guest.severity is Severity.INFO and "virtual machine (KVM)" in guest.message
    assert any("Hypervisor detected: KVM" in item.value for item in guest.evidence)
    assert any(item.path.endswith("dmi/id/sys_vendor") and item.value == "QEMU" for item in guest.evidence)
    nested = host["platform.guest-no-nested-virtualisation"]
    assert nested.blocks_all and "cpu: host" in nested.fix and "firmware" not in nested.fix.lower()
    viommu = host["platform.guest-no-viommu"]
    assert viommu.blocks_all and "intel-iommu,intremap=on" in viommu.fix and "viommu=intel" in viommu.fix
    assert all(item.verdict is Verdict.FAIL for item in report.devices)
    out = io.StringIO()
    write_human(report, out, colour=False)
    summary = out.getvalue()[out.getvalue().index("Summary (devices that do not pass)") :]
    assert summary.count("platform.guest-no-viommu") == 1
    assert {code for finding, _ in summarize(report).blockers for code in [finding.code]} == {
        "platform.guest-no-nested-virtualisation",
        "platform.guest-no-viommu",
    }


def test_a_guest_with_a_virtual_iommu_is_judged_like_a_host(check_host: CheckHost) -> None:
    report = check_host(terramaster(hypervisor="KVM", dmi_id=QEMU_DMI))
    host = {item.code: item for item in report.host_findings}
    assert "judged like a physical host" in host["platform.guest"].message
    assert not [item for item in report.host_findings if item.blocks_all]
    assert device(report, INTEL_SATA).verdict is Verdict.PASS


def test_a_physical_host_is_not_called_a_guest(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    assert not [item for item in report.host_findings if item.code.startswith("platform.guest")]


# --- Fix texts fit the host -------------------------------------------------------------------------


def _asm_fix(report: CheckReport) -> str:
    return finding(device(report, ASM), "reset.bus-reset-breaks-device").fix


def test_fix_names_the_only_vm_and_a_free_scsi_index(final_root: Callable[[str], Path]) -> None:
    fix = _asm_fix(check_root(final_root("terramaster-f4-424-pro")))
    # VM 100 is the only VM and already uses scsi0 for its system disk.
    assert "(VM 100, the only VM configured here): `qm set 100 -scsi1 /dev/disk/by-id/ata-WDC" in fix
    assert "<vmid>" not in fix


def test_fix_keeps_the_placeholder_when_several_vms_exist(check_host: CheckHost) -> None:
    report = check_host(terramaster(files={"/etc/pve/qemu-server/101.conf": "memory: 2048\n"}))
    assert "`qm set <vmid> -scsi0 " in _asm_fix(report)


def test_another_controller_is_offered_when_it_passes(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    assert device(report, INTEL_SATA).verdict is Verdict.PASS
    assert "or pass another controller (00:17.0 [8086:54d3], which passes every check)" in _asm_fix(report)


def test_a_controller_that_fails_is_no_alternative(check_host: CheckHost) -> None:
    # The Intel controller carrying a mounted filesystem fails host-use.
    report = check_host(
        terramaster(mounts=[{"source": "/dev/sda", "target": "/srv", "fstype": "ext4", "options": "rw"}])
    )
    assert device(report, INTEL_SATA).verdict is Verdict.FAIL
    assert "another controller" not in _asm_fix(report)


def test_an_alternative_in_the_same_group_or_reset_is_never_offered(final_root: Callable[[str], Path]) -> None:
    from harness.checker import run_checks
    from harness.sysfs import read_host

    view = read_host(final_root("terramaster-f4-424-pro"))
    asm = view.function(ASM)
    sata = view.function(INTEL_SATA)
    assert asm is not None and sata is not None
    sata.iommu_group = asm.iommu_group  # as on a chipset without ACS between the two
    report = run_checks(view)
    assert "another controller" not in _asm_fix(report)


def test_a_controller_holding_only_host_disks_gets_no_disk_advice(final_root: Callable[[str], Path]) -> None:
    report = check_root(final_root("terramaster-f4-424-pro"))
    nvme = finding(device(report, "0000:04:00.0"), "host-use.root-disk")
    assert "every disk behind it is in use by the host" in nvme.fix
    assert "qm set" not in nvme.fix and "data disks" not in nvme.fix
