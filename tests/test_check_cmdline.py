"""The kernel command line check (harness.checks.cmdline) and the parsing it relies on
(harness.bootconfig): argument tokenising, GRUB and /etc/kernel/cmdline, bootloader detection.

Roots are written by hand in tmp_path (only the files each check reads), plus the shipped
Terramaster scenario for the reference case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bootconfig import (
    detect_bootloader,
    merge_kernel_args,
    parse_grub_files,
    parse_kernel_cmdline_file,
    split_kernel_args,
)
from harness.checks import cmdline
from harness.checks.base import CheckContext, CheckOptions
from harness.findings import Finding, Severity
from harness.sysfs import read_host
from tests.conftest import RenderRoot

INTEL = "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i3-N305\nflags\t\t: fpu vmx\n"
AMD = "vendor_id\t: AuthenticAMD\nmodel name\t: AMD Ryzen 7 5700G\nflags\t\t: fpu svm\n"
GRUB_QUIET = 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n'


def make_root(
    root: Path,
    cmdline_text: str,
    *,
    cpu: str = INTEL,
    release: str = "6.1.0-26-amd64",
    iommu: bool = True,
    files: dict[str, str] | None = None,
) -> Path:
    """A root with what the cmdline check reads: /proc, IOMMU groups, firmware tables, files."""
    entries = {
        "proc/cmdline": cmdline_text + "\n",
        "proc/cpuinfo": cpu,
        "proc/sys/kernel/osrelease": release + "\n",
        "sys/firmware/acpi/tables/DMAR": "DMAR",
        **(files or {}),
    }
    for relative, text in entries.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "sys/kernel/iommu_groups").mkdir(parents=True, exist_ok=True)
    if iommu:
        (root / "sys/kernel/iommu_groups/0/devices").mkdir(parents=True)
    return root


def run(root: Path) -> list[Finding]:
    return list(cmdline.check(CheckContext(read_host(root), CheckOptions(devices=[]))))


def by_code(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.code: finding for finding in findings}


def problems(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings if finding.severity is not Severity.INFO]


# --- Parsing ----------------------------------------------------------------------------------


def test_kernel_args_follow_the_kernel_tokeniser() -> None:
    args = split_kernel_args(
        'BOOT_IMAGE=/vmlinuz quiet vfio-pci.ids=1b21:0612 "dyndbg=file x.c +p" iommu=pt, -- single'
    )
    assert [arg.key for arg in args] == ["BOOT_IMAGE", "quiet", "vfio-pci.ids", "dyndbg", "iommu"]
    assert args[1].value is None
    assert args[2].name == "vfio_pci.ids"
    assert args[3].value == "file x.c +p"
    assert args[4].values == ["pt"]


def test_merge_kernel_args_replaces_the_same_parameter() -> None:
    assert merge_kernel_args("quiet intel_iommu=off", ["intel_iommu=on"]) == "quiet intel_iommu=on"
    assert merge_kernel_args("quiet pcie_aspm=off", ["pcie_aspm.policy=performance"], ["pcie_aspm"]) == (
        "quiet pcie_aspm.policy=performance"
    )
    assert merge_kernel_args("", ["vfio-pci.ids=1b21:0612"], ["vfio_pci.ids"]) == "vfio-pci.ids=1b21:0612"


def test_grub_d_snippets_extend_earlier_values() -> None:
    config = parse_grub_files(
        {
            "/etc/default/grub": GRUB_QUIET + 'GRUB_CMDLINE_LINUX="intel_iommu=on" # VT-d\n',
            "/etc/default/grub.d/vfio.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="${GRUB_CMDLINE_LINUX_DEFAULT} iommu=pt"\n',
        }
    )
    assert config.cmdline == "intel_iommu=on quiet iommu=pt"
    assert config.sources["GRUB_CMDLINE_LINUX_DEFAULT"].path == "/etc/default/grub.d/vfio.cfg"


def test_kernel_cmdline_file_ignores_comments_and_joins_lines() -> None:
    assert (
        parse_kernel_cmdline_file("# managed\nroot=ZFS=rpool/ROOT/pve-1 boot=zfs\n\n")
        == "root=ZFS=rpool/ROOT/pve-1 boot=zfs"
    )


def test_bootloader_detection(tmp_path: Path) -> None:
    grub = make_root(tmp_path / "grub", "BOOT_IMAGE=/vmlinuz ro", files={"etc/default/grub": GRUB_QUIET})
    loader = detect_bootloader(read_host(grub))
    assert (loader.kind, loader.proxmox_boot_tool, loader.update_commands) == ("grub", False, ["update-grub"])

    pbt_files = {
        "etc/kernel/proxmox-boot-uuids": "1234-ABCD\n",
        "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
    }
    sdboot = make_root(
        tmp_path / "sd", "initrd=\\EFI\\proxmox\\initrd.img root=ZFS=rpool/ROOT/pve-1 boot=zfs", files=pbt_files
    )
    loader = detect_bootloader(read_host(sdboot))
    assert (loader.kind, loader.path, loader.update_commands) == (
        "systemd-boot",
        "/etc/kernel/cmdline",
        ["proxmox-boot-tool refresh"],
    )

    pbt_grub = make_root(
        tmp_path / "pbt-grub",
        "BOOT_IMAGE=/vmlinuz root=ZFS=rpool/ROOT/pve-1",
        files={"etc/kernel/proxmox-boot-uuids": "1234-ABCD\n", "etc/default/grub": GRUB_QUIET},
    )
    loader = detect_bootloader(read_host(pbt_grub))
    assert (loader.kind, loader.update_commands) == ("grub", ["update-grub", "proxmox-boot-tool refresh"])

    # /etc/kernel/cmdline created by hand on a GRUB host: /proc/cmdline has GRUB's BOOT_IMAGE.
    mistaken = make_root(
        tmp_path / "mistaken",
        "BOOT_IMAGE=/vmlinuz ro quiet",
        files={"etc/kernel/cmdline": "intel_iommu=on\n", "etc/default/grub": GRUB_QUIET},
    )
    assert detect_bootloader(read_host(mistaken)).kind == "grub"


# --- IOMMU arguments --------------------------------------------------------------------------


def test_intel_without_iommu_and_without_argument_fails_with_the_grub_fix(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet", iommu=False, files={"etc/default/grub": GRUB_QUIET})
    finding = by_code(run(root))["cmdline.intel-iommu-missing"]
    assert finding.severity is Severity.FAIL
    assert finding.blocks_all
    assert finding.device is None
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"' in finding.fix
    assert "/etc/default/grub" in finding.fix
    assert "update-grub" in finding.fix
    assert {item.path for item in finding.evidence} >= {
        "/proc/cmdline",
        "/sys/kernel/iommu_groups",
        "/etc/default/grub",
    }


def test_intel_iommu_fix_on_proxmox_systemd_boot_names_kernel_cmdline(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        "initrd=\\EFI\\proxmox\\initrd.img root=ZFS=rpool/ROOT/pve-1 boot=zfs",
        release="6.5.13-5-pve",
        iommu=False,
        files={
            "etc/kernel/proxmox-boot-uuids": "1234-ABCD\n",
            "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
        },
    )
    finding = by_code(run(root))["cmdline.intel-iommu-missing"]
    assert "/etc/kernel/cmdline" in finding.fix
    assert "root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on" in finding.fix
    assert "proxmox-boot-tool refresh" in finding.fix


def test_active_iommu_without_argument_is_at_most_info(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet", iommu=True)
    findings = run(root)
    assert problems(findings) == []
    assert by_code(findings)["cmdline.intel-iommu-default"].severity is Severity.INFO


def test_argument_present_means_no_iommu_finding_here(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet intel_iommu=on,igfx_off", iommu=False)
    assert "cmdline.intel-iommu-missing" not in by_code(run(root))


@pytest.mark.parametrize(
    ("release", "config", "missing"),
    [
        ("6.8.12-4-pve", None, False),  # Proxmox from 6.8: on by default (pve-docs)
        ("6.5.13-5-pve", None, True),
        ("6.1.0-26-amd64", None, True),
        ("6.1.0-26-amd64", "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n", False),
        ("6.8.12-4-pve", "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n", True),
    ],
)
def test_kernel_default_decides_whether_the_argument_is_needed(
    tmp_path: Path, release: str, config: str | None, missing: bool
) -> None:
    files = {f"boot/config-{release}": config} if config is not None else {}
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro", release=release, iommu=False, files=files)
    assert ("cmdline.intel-iommu-missing" in by_code(run(root))) is missing


def test_amd_host_needs_no_argument(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro", cpu=AMD, iommu=False)
    assert problems(run(root)) == []


def test_configured_but_not_booted_intel_iommu(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\n'
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet", iommu=False, files={"etc/default/grub": grub})
    findings = by_code(run(root))
    assert findings["cmdline.intel-iommu-missing"].message == (
        "intel_iommu=on is in /etc/default/grub but the running kernel booted without it"
    )
    assert findings["cmdline.intel-iommu-missing"].fix == "run `update-grub` and reboot"
    not_booted = findings["cmdline.not-booted"]
    assert not_booted.severity is Severity.WARN
    assert "intel_iommu=on" in not_booted.message
    assert "update-grub" in not_booted.fix and "reboot" in not_booted.fix


def test_configuration_equal_to_booted_is_not_flagged(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"\n'
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet intel_iommu=on iommu=pt", files={"etc/default/grub": grub})
    assert "cmdline.not-booted" not in by_code(run(root))


@pytest.mark.parametrize(
    ("argument", "cpu", "flagged"),
    [
        ("intel_iommu=off", INTEL, True),
        ("intel_iommu=on intel_iommu=off", INTEL, True),
        ("intel_iommu=off intel_iommu=on", INTEL, False),  # the last one wins
        ("amd_iommu=off", AMD, True),
        ("amd_iommu=off", INTEL, False),  # the AMD driver never runs on Intel
        ("iommu=off", AMD, True),
        ("iommu=pt", AMD, False),
    ],
)
def test_iommu_off_fails_and_blocks_everything(tmp_path: Path, argument: str, cpu: str, flagged: bool) -> None:
    root = make_root(tmp_path, f"BOOT_IMAGE=/vmlinuz ro {argument}", cpu=cpu)
    finding = by_code(run(root)).get("cmdline.iommu-disabled")
    assert (finding is not None) is flagged
    if finding is not None:
        assert finding.severity is Severity.FAIL
        assert finding.blocks_all


def test_iommu_off_only_configured_fails_without_blocking_this_boot(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=off"\n'
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet", files={"etc/default/grub": grub})
    finding = by_code(run(root))["cmdline.iommu-disabled"]
    assert finding.severity is Severity.FAIL
    assert not finding.blocks_all
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"' in finding.fix


def test_amd_iommu_on_is_invalid(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet amd_iommu=on iommu=pt"\n'
    root = make_root(
        tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet amd_iommu=on iommu=pt", cpu=AMD, files={"etc/default/grub": grub}
    )
    finding = by_code(run(root))["cmdline.amd-iommu-on"]
    assert finding.severity is Severity.WARN
    assert "Unknown option - 'on'" in finding.why
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet iommu=pt"' in finding.fix


def test_valid_amd_iommu_values_are_not_flagged(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro amd_iommu=fullflush", cpu=AMD)
    assert problems(run(root)) == []


# --- Other arguments --------------------------------------------------------------------------


def test_reference_grub_line_is_not_flagged(tmp_path: Path) -> None:
    """The write-up's last GRUB line: `iommu=pt,` is a harmless comma list; pcie_aspm=off is info."""
    line = "intel_iommu=on iommu=pt, pcie_aspm=off"
    root = make_root(
        tmp_path,
        f"BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet {line}",
        release="6.8.12-4-pve",
        files={"etc/default/grub": f'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="{line}"\n'},
    )
    findings = run(root)
    assert problems(findings) == []
    pt = by_code(findings)["cmdline.iommu-pt"]
    assert pt.message.startswith("iommu=pt,")
    assert "harmless" in pt.why
    assert by_code(findings)["cmdline.pcie-aspm-off"].severity is Severity.INFO


def test_iommu_pt_absent_gives_no_finding(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro intel_iommu=on")
    assert by_code(run(root)).keys().isdisjoint({"cmdline.iommu-pt", "cmdline.pcie-aspm-off"})


def test_pcie_aspm_off_points_to_the_policy(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet pcie_aspm=off"\n'
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro quiet pcie_aspm=off", files={"etc/default/grub": grub})
    finding = by_code(run(root))["cmdline.pcie-aspm-off"]
    assert "does not disable" in finding.message
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet pcie_aspm.policy=performance"' in finding.fix
    policy = make_root(tmp_path / "policy", "BOOT_IMAGE=/vmlinuz ro pcie_aspm.policy=performance")
    assert "cmdline.pcie-aspm-off" not in by_code(run(policy))


@pytest.mark.parametrize(
    ("release", "wording"), [("6.1.0-26-amd64", "does nothing"), ("6.8.12-4-pve", "fakes ACS isolation")]
)
def test_acs_override_warns_by_kernel(tmp_path: Path, release: str, wording: str) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro pcie_acs_override=downstream,multifunction", release=release)
    finding = by_code(run(root))["cmdline.acs-override"]
    assert finding.severity is Severity.WARN
    assert wording in finding.message


def test_no_acs_override_no_finding(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro intel_iommu=on", release="6.8.12-4-pve")
    assert "cmdline.acs-override" not in by_code(run(root))


@pytest.mark.parametrize("spelling", ["vfio-pci.ids", "vfio_pci.ids"])
def test_vfio_ids_on_the_cmdline_are_listed(tmp_path: Path, spelling: str) -> None:
    root = make_root(tmp_path, f"BOOT_IMAGE=/vmlinuz ro {spelling}=1b21:0612,10de:1c82:1043:8613")
    findings = run(root)
    finding = by_code(findings)["cmdline.vfio-ids"]
    assert finding.severity is Severity.INFO
    assert "1b21:0612" in finding.message and "10de:1c82:1043:8613" in finding.message
    assert problems(findings) == []


def test_malformed_vfio_id_warns(tmp_path: Path) -> None:
    root = make_root(tmp_path, "BOOT_IMAGE=/vmlinuz ro vfio-pci.ids=1b21:0612,asm1062")
    finding = by_code(run(root))["cmdline.vfio-ids-invalid"]
    assert finding.severity is Severity.WARN
    assert "asm1062" in finding.message


def test_arguments_in_grub_on_a_systemd_boot_host_are_unused(tmp_path: Path) -> None:
    root = make_root(
        tmp_path,
        "initrd=\\EFI\\proxmox\\initrd.img root=ZFS=rpool/ROOT/pve-1 boot=zfs",
        release="6.8.12-4-pve",
        files={
            "etc/kernel/proxmox-boot-uuids": "1234-ABCD\n",
            "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
            "etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"\n',
        },
    )
    finding = by_code(run(root))["cmdline.unused-file"]
    assert finding.severity is Severity.WARN
    assert "intel_iommu=on iommu=pt" in finding.message
    assert "/etc/kernel/cmdline" in finding.fix and "proxmox-boot-tool refresh" in finding.fix
    # Only passthrough arguments count: GRUB's leftover "quiet" alone is not worth a warning.
    quiet = make_root(
        tmp_path / "quiet",
        "initrd=\\EFI\\proxmox\\initrd.img root=ZFS=rpool/ROOT/pve-1 boot=zfs",
        release="6.8.12-4-pve",
        files={
            "etc/kernel/proxmox-boot-uuids": "1234-ABCD\n",
            "etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
            "etc/default/grub": GRUB_QUIET,
        },
    )
    assert "cmdline.unused-file" not in by_code(run(quiet))


def test_unreadable_proc_cmdline_is_reported(tmp_path: Path) -> None:
    root = make_root(tmp_path, "")
    (root / "proc/cmdline").unlink()
    assert by_code(run(root))["cmdline.unknown"].severity is Severity.INFO


# --- The reference host -----------------------------------------------------------------------


def test_terramaster_scenario_has_no_cmdline_problem(scenario_root: RenderRoot) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    findings = run(root)
    assert problems(findings) == []
    assert {finding.code for finding in findings} == {"cmdline.iommu-pt"}
    assert all(finding.device is None for finding in findings)
