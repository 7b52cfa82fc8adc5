"""The driver binding check (harness.checks.binding) and the boot-configuration parsing it uses
(harness.bootconfig: modprobe.d, initramfs-tools, dracut, mkinitcpio, driverctl, vfio-pci ids).

Hosts are the shipped Terramaster scenarios rendered into tmp_path and then edited the way an
administrator would, plus a small host with two identical ASMedia controllers written here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness.bootconfig import (
    PciIdMatch,
    logical_lines,
    parse_dracut_files,
    parse_mkinitcpio_files,
    parse_modprobe_conf,
    parse_vfio_ids,
)
from harness.checks import binding
from harness.checks.base import CheckContext, CheckOptions
from harness.findings import Finding, Severity
from harness.scenario import load_scenario
from harness.sysfs import read_host

REPO = Path(__file__).resolve().parent.parent
ASM = "0000:03:00.0"
UDEV_SHIPPED = '#!/bin/sh -e\n\nPREREQS=""\n\nprereqs() { echo "$PREREQS"; }\n'


def render_scenario(source: str | Path, root: Path) -> Path:
    path = source if isinstance(source, Path) else REPO / "scenarios" / f"{source}.yaml"
    render(FakeKernel(load_scenario(str(path)).host), str(root))
    return root


def edit(root: Path, files: dict[str, str | None]) -> Path:
    """Write (or with None, delete) files of a rendered root, as an administrator would."""
    for relative, text in files.items():
        path = root / relative
        if text is None:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(root: Path, *devices: str) -> list[Finding]:
    return list(binding.check(CheckContext(read_host(root), CheckOptions(devices=list(devices or [ASM])))))


def by_code(findings: list[Finding]) -> dict[str, Finding]:
    return {finding.code: finding for finding in findings}


def problems(findings: list[Finding]) -> list[str]:
    return sorted(finding.code for finding in findings if finding.severity is not Severity.INFO)


@pytest.fixture
def terramaster(tmp_path: Path) -> Path:
    return render_scenario("terramaster-f4-424-pro", tmp_path / "root")


@pytest.fixture
def vfio_early(tmp_path: Path) -> Path:
    return render_scenario("terramaster-f4-424-pro-vfio-early", tmp_path / "root")


def modules_with(root: Path, line: str) -> str:
    return (root / "etc/initramfs-tools/modules").read_text() + line + "\n"


# --- Parsing ----------------------------------------------------------------------------------


def test_vfio_ids_entries_match_like_the_pci_core() -> None:
    entries, bad = parse_vfio_ids("1b21:0612,1b21:0612:1b21:1060,,8086:54d3:ffffffff:ffffffff:010601:ffffff,zz")
    assert [str(entry) for entry in entries] == [
        "1b21:0612",
        "1b21:0612:1b21:1060",
        "8086:54d3:ffffffff:ffffffff:010601:ffffff",
    ]
    assert bad == ["zz"]
    plain, narrow, by_class = entries
    assert plain.matches(0x1B21, 0x0612, 0x1B21, 0x1061, 0x010601)
    assert narrow.matches(0x1B21, 0x0612, 0x1B21, 0x1060, 0x010601)
    assert not narrow.matches(0x1B21, 0x0612, 0x1B21, 0x1061, 0x010601)
    assert by_class.matches(0x8086, 0x54D3, 0x8086, 0x7270, 0x010601)
    assert not by_class.matches(0x8086, 0x54D3, 0x8086, 0x7270, 0x010400)
    assert PciIdMatch.parse("1b21") is None


def test_modprobe_conf_syntax() -> None:
    text = (
        "# comment\n"
        "options vfio-pci \\\n"
        "    ids=1b21:0612 disable_idle_d3=1\n"
        "softdep ahci pre: vfio-pci post: foo\n"
        "blacklist nouveau\n"
        "install ahci /sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install ahci\n"
        "bogus line here\n"
    )
    directives = parse_modprobe_conf(text, "/etc/modprobe.d/vfio.conf")
    assert [(item.command, item.module) for item in directives] == [
        ("options", "vfio_pci"),
        ("softdep", "ahci"),
        ("blacklist", "nouveau"),
        ("install", "ahci"),
    ]
    options, softdep = directives[0], directives[1]
    assert options.params == {"ids": "1b21:0612", "disable_idle_d3": "1"}
    assert options.source.line == 2
    assert softdep.softdep_pre == ["vfio_pci"] and softdep.softdep_post == ["foo"]
    assert list(logical_lines("a \\\nb\nc")) == [(1, "a  b"), (3, "c")]


def test_dracut_and_mkinitcpio_syntax() -> None:
    dracut = parse_dracut_files(
        {
            "/etc/dracut.conf.d/10-vfio.conf": 'force_drivers+=" vfio_pci vfio vfio_iommu_type1 "\n',
            "/etc/dracut.conf.d/20-more.conf": 'add_drivers+=" nvme "\nforce_drivers+=" vfio-pci "\n',
        }
    )
    assert dracut.values["force_drivers"] == ["vfio_pci", "vfio", "vfio_iommu_type1", "vfio_pci"]
    assert dracut.has("add_drivers", "nvme")
    mkinitcpio = parse_mkinitcpio_files(
        {
            "/etc/mkinitcpio.conf": (
                "# MODULES=(nothing)\nMODULES=(vfio_pci vfio\n  vfio_iommu_type1)\nHOOKS=(base udev modconf)\n"
            )
        }
    )
    assert mkinitcpio.modules == ["vfio_pci", "vfio", "vfio_iommu_type1"]
    assert mkinitcpio.hooks == ["base", "udev", "modconf"]
    assert mkinitcpio.sources["MODULES"].line == 2


# --- Current driver and nothing configured ----------------------------------------------------


def test_default_host_reports_the_driver_and_no_early_binding(terramaster: Path) -> None:
    findings = run(terramaster)
    codes = by_code(findings)
    assert problems(findings) == []
    assert codes["binding.driver"].message == f"{ASM} [1b21:0612] is bound to the host driver ahci"
    assert codes["binding.none"].device == ASM
    assert "softdep ahci pre: vfio-pci" in codes["binding.none"].fix
    assert codes["binding.driver"].evidence[0].path == f"/sys/bus/pci/devices/{ASM}/driver"


# --- The reference's early binding ------------------------------------------------------------


def test_reference_early_binding_warns_about_the_package_scripts(vfio_early: Path) -> None:
    findings = run(vfio_early)
    codes = by_code(findings)
    assert problems(findings) == ["binding.package-script"]
    assert codes["binding.driver"].message == f"{ASM} [1b21:0612] is bound to vfio-pci"
    configured = codes["binding.configured"]
    assert "ids=1b21:0612 in /usr/share/initramfs-tools/scripts/init-top/load_vfio-pci" in configured.message
    edits = codes["binding.package-script"]
    assert edits.device == ASM
    assert "init-top/load_vfio-pci (added)" in edits.message and "init-top/udev (edited)" in edits.message
    assert "delete /usr/share/initramfs-tools/scripts/init-top/load_vfio-pci" in edits.fix
    assert "apt install --reinstall udev" in edits.fix
    assert "tsort" in edits.why
    assert "`options vfio-pci ids=1b21:0612` and `softdep ahci pre: vfio-pci`" in edits.fix
    assert "update-initramfs -u -k all" in edits.fix
    assert {item.path for item in edits.evidence} == {
        "/usr/share/initramfs-tools/scripts/init-top/load_vfio-pci",
        "/usr/share/initramfs-tools/scripts/init-top/udev",
    }


def test_package_script_edit_is_host_level_when_no_selected_device_is_covered(vfio_early: Path) -> None:
    findings = run(vfio_early, "00:17.0")
    edits = by_code(findings)["binding.package-script"]
    assert edits.device is None
    assert "binding.none" in by_code(findings)


def test_local_init_top_script_is_not_ordered_before_udev(vfio_early: Path) -> None:
    """Moved to /etc with udev's script restored: nothing orders it before coldplug any more."""
    edit(
        vfio_early,
        {
            "usr/share/initramfs-tools/scripts/init-top/load_vfio-pci": None,
            "usr/share/initramfs-tools/scripts/init-top/udev": UDEV_SHIPPED,
            "etc/initramfs-tools/scripts/init-top/load_vfio-pci": "#!/bin/sh\nmodprobe vfio-pci ids=1b21:0612\n",
        },
    )
    findings = run(vfio_early)
    assert problems(findings) == ["binding.script-unordered"]
    unordered = by_code(findings)["binding.script-unordered"]
    assert "softdep ahci pre: vfio-pci" in unordered.fix
    assert "tsort" in unordered.why
    # The softdep makes the order irrelevant.
    edit(vfio_early, {"etc/modprobe.d/vfio.conf": "softdep ahci pre: vfio-pci\n"})
    assert problems(run(vfio_early)) == []


def test_udev_script_copy_in_etc_orders_the_local_script(vfio_early: Path) -> None:
    """A file in /etc/initramfs-tools/scripts replaces the package's of the same name."""
    edit(
        vfio_early,
        {
            "usr/share/initramfs-tools/scripts/init-top/load_vfio-pci": None,
            "usr/share/initramfs-tools/scripts/init-top/udev": UDEV_SHIPPED,
            "etc/initramfs-tools/scripts/init-top/load_vfio-pci": "#!/bin/sh\nmodprobe vfio-pci ids=1b21:0612\n",
            "etc/initramfs-tools/scripts/init-top/udev": UDEV_SHIPPED.replace('PREREQS=""', 'PREREQS="load_vfio-pci"'),
        },
    )
    findings = run(vfio_early)
    assert problems(findings) == []
    assert "before udev binds host drivers" in by_code(findings)["binding.configured"].why


def test_dpkg_md5sums_confirm_what_was_edited(vfio_early: Path) -> None:
    shipped = hashlib.md5(UDEV_SHIPPED.encode(), usedforsecurity=False).hexdigest()
    edit(
        vfio_early, {"var/lib/dpkg/info/udev.md5sums": f"{shipped}  usr/share/initramfs-tools/scripts/init-top/udev\n"}
    )
    details = {item.path: item.value for item in by_code(run(vfio_early))["binding.package-script"].evidence}
    assert (
        details["/usr/share/initramfs-tools/scripts/init-top/udev"] == "differs from package udev's copy (dpkg md5sums)"
    )
    assert "no package owns it" in details["/usr/share/initramfs-tools/scripts/init-top/load_vfio-pci"]
    # Restored to the package's copy: only the added script is left to report.
    edit(vfio_early, {"usr/share/initramfs-tools/scripts/init-top/udev": UDEV_SHIPPED})
    evidence = by_code(run(vfio_early))["binding.package-script"].evidence
    assert [item.path for item in evidence] == ["/usr/share/initramfs-tools/scripts/init-top/load_vfio-pci"]


# --- Will the early binding win against the host driver? --------------------------------------


def test_initramfs_modules_without_softdep_lets_ahci_bind_first(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/initramfs-tools/modules": modules_with(terramaster, "vfio-pci"),
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\n",
        },
    )
    findings = run(terramaster)
    codes = by_code(findings)
    assert problems(findings) == ["binding.initramfs-modules-late", "binding.not-effective"]
    late = codes["binding.initramfs-modules-late"]
    assert late.severity is Severity.WARN
    assert "softdep ahci pre: vfio-pci" in late.fix and "/etc/modprobe.d/vfio.conf" in late.fix
    assert "update-initramfs -u -k all" in late.fix
    assert "init-top" in late.why and "coldplug" in late.why
    assert {item.path for item in late.evidence} >= {"/etc/modprobe.d/vfio.conf", "/etc/initramfs-tools/modules"}


def test_softdep_for_the_host_driver_wins_the_race(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/initramfs-tools/modules": modules_with(terramaster, "vfio-pci"),
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\nsoftdep ahci pre: vfio-pci\n",
        },
    )
    findings = run(terramaster)
    # Still bound to ahci in this root: the configuration is newer than the boot.
    assert problems(findings) == ["binding.not-effective"]
    assert "already configured" in by_code(findings)["binding.not-effective"].fix


def test_install_line_is_an_early_loader_too(terramaster: Path) -> None:
    conf = (
        "options vfio_pci ids=1b21:0612\ninstall ahci /sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install ahci\n"
    )
    edit(terramaster, {"etc/modprobe.d/vfio.conf": conf})
    assert "binding.no-early-loader" not in by_code(run(terramaster))


def test_softdep_for_another_driver_does_not_help(terramaster: Path) -> None:
    edit(terramaster, {"etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\nsoftdep nouveau pre: vfio-pci\n"})
    finding = by_code(run(terramaster))["binding.no-early-loader"]
    assert "nowhere" in finding.message
    assert "softdep ahci pre: vfio-pci" in finding.fix


def test_vfio_pci_in_etc_modules_loads_too_late(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\n",
            "etc/modules": "vfio\nvfio_iommu_type1\nvfio_pci\n",
        },
    )
    finding = by_code(run(terramaster))["binding.no-early-loader"]
    assert finding.severity is Severity.WARN
    assert "real root" in finding.message


def test_dracut_force_drivers_is_early_but_add_drivers_is_not(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/initramfs-tools": None,
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\n",
            "etc/dracut.conf.d/vfio.conf": 'add_drivers+=" vfio_pci vfio vfio_iommu_type1 "\n',
        },
    )
    finding = by_code(run(terramaster))["binding.no-early-loader"]
    assert "dracut -f --regenerate-all" in finding.fix
    edit(terramaster, {"etc/dracut.conf.d/vfio.conf": 'force_drivers+=" vfio_pci vfio vfio_iommu_type1 "\n'})
    findings = run(terramaster)
    assert "binding.no-early-loader" not in by_code(findings)
    assert "dracut force_drivers" in by_code(findings)["binding.configured"].why


def test_mkinitcpio_needs_modconf_for_modprobe_ids(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/initramfs-tools": None,
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\n",
            "etc/mkinitcpio.conf": (
                "MODULES=(vfio_pci vfio vfio_iommu_type1)\nHOOKS=(base udev autodetect block filesystems)\n"
            ),
        },
    )
    findings = by_code(run(terramaster))
    modconf = findings["binding.modconf-missing"]
    assert modconf.severity is Severity.WARN
    assert "HOOKS=(base udev autodetect modconf block filesystems)" in modconf.fix
    assert "mkinitcpio -P" in modconf.fix
    assert "binding.no-early-loader" not in findings  # MODULES loads it early; the ids are what is missing
    edit(terramaster, {"etc/mkinitcpio.conf": "MODULES=(vfio_pci)\nHOOKS=(base udev autodetect modconf block)\n"})
    assert "binding.modconf-missing" not in by_code(run(terramaster))


def test_driverctl_override_applies_after_the_initramfs(terramaster: Path) -> None:
    edit(terramaster, {f"etc/driverctl.d/pci-{ASM}": "vfio-pci\n"})
    findings = run(terramaster)
    codes = by_code(findings)
    assert problems(findings) == []
    late = codes["binding.driverctl-late"]
    assert late.severity is Severity.INFO
    assert "real root" in late.why
    assert "driverctl override to vfio-pci" in codes["binding.configured"].message


def test_modprobe_file_without_conf_suffix_is_ignored(terramaster: Path) -> None:
    edit(terramaster, {"etc/modprobe.d/vfio": "options vfio-pci ids=1b21:0612\nsoftdep ahci pre: vfio-pci\n"})
    findings = by_code(run(terramaster))
    ignored = findings["binding.modprobe-ignored-file"]
    assert ignored.severity is Severity.WARN
    assert "mv /etc/modprobe.d/vfio /etc/modprobe.d/vfio.conf" in ignored.fix
    assert "binding.none" in findings


def test_initramfs_older_than_the_configuration(terramaster: Path) -> None:
    edit(
        terramaster,
        {
            "etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\nsoftdep ahci pre: vfio-pci\n",
            "boot/initrd.img-6.8.12-4-pve": "initramfs",
        },
    )
    image = terramaster / "boot/initrd.img-6.8.12-4-pve"
    conf = terramaster / "etc/modprobe.d/vfio.conf"
    os.utime(image, (1_700_000_000, 1_700_000_000))
    os.utime(conf, (1_700_000_600, 1_700_000_600))
    stale = by_code(run(terramaster))["binding.initramfs-stale"]
    assert stale.severity is Severity.WARN
    assert "/etc/modprobe.d/vfio.conf" in stale.message
    assert stale.fix.startswith("run `update-initramfs -u -k all`")
    os.utime(image, (1_700_001_000, 1_700_001_000))
    assert "binding.initramfs-stale" not in by_code(run(terramaster))


def test_install_hook_binds_by_address_before_the_host_driver(terramaster: Path) -> None:
    hook = (
        f"install ahci echo vfio-pci > /sys/bus/pci/devices/{ASM}/driver_override; /sbin/modprobe vfio-pci; "
        "/sbin/modprobe --ignore-install ahci $CMDLINE_OPTS\n"
    )
    edit(terramaster, {"etc/modprobe.d/vfio.conf": hook})
    findings = run(terramaster)
    assert problems(findings) == []
    assert "driver_override set by /etc/modprobe.d/vfio.conf:1" in by_code(findings)["binding.configured"].message
    # The Intel controller, also on ahci, is not named by the hook.
    assert "binding.none" in by_code(run(terramaster, "00:17.0"))


def test_driver_override_script_in_init_top_is_unordered(terramaster: Path) -> None:
    script = f"#!/bin/sh\necho vfio-pci > /sys/bus/pci/devices/{ASM}/driver_override\n"
    edit(terramaster, {"etc/initramfs-tools/scripts/init-top/vfio-override": script})
    finding = by_code(run(terramaster))["binding.script-unordered"]
    assert finding.severity is Severity.WARN
    assert f"install ahci echo vfio-pci > /sys/bus/pci/devices/{ASM}/driver_override" in finding.fix


# --- ids= collateral --------------------------------------------------------------------------


def two_controllers(
    tmp_path: Path, *, root_subsystem: int | None, root_on_other: bool = True, files: dict[str, str] | None = None
) -> Path:
    """Two ASM1062: 01:00.0 (behind 00:1c.0) holds the host's disk, 03:00.0 (behind 00:1c.6) the data disk."""
    other: dict[str, Any] = {"bdf": "01:00.0", "device": "asmedia-asm1062", "driver": "ahci"}
    if root_subsystem is not None:
        other["override"] = {"header": {"subsystem_device": root_subsystem}}
    host: dict[str, Any] = {
        "kernel": {
            "release": "6.1.0-26-amd64",
            "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.0-26-amd64 root=/dev/sda2 ro quiet intel_iommu=on",
        },
        "cpu": {"vendor": "intel", "model": "Intel(R) Core(TM) i3-N305", "cores": 8},
        "iommu": {"firmware_table": True, "enabled": True, "interrupt_remapping": True},
        "pci": [
            {"bdf": "00:00.0", "device": "intel-adln-host-bridge"},
            {"bdf": "00:1c.0", "device": "intel-adln-root-port-54ba", "driver": "pcieport", "bus": {"secondary": 1}},
            {"bdf": "00:1c.6", "device": "intel-adln-root-port-54be", "driver": "pcieport", "bus": {"secondary": 3}},
            other,
            {"bdf": "03:00.0", "device": "asmedia-asm1062", "driver": "ahci"},
        ],
        "disks": [
            {
                "name": "sda",
                "controller": "01:00.0",
                "port": 0,
                "model": "Samsung SSD 870",
                "serial": "S1",
                "partitions": [1, 2],
            },
            {"name": "sdb", "controller": "03:00.0", "port": 0, "model": "WDC WD40EFPX", "serial": "W1"},
        ],
        "mounts": [
            {"source": "/dev/sda2", "target": "/", "fstype": "ext4"},
            {"source": "/dev/sda1", "target": "/boot/efi", "fstype": "vfat"},
        ]
        if root_on_other
        else [],
        "files": {
            "/etc/modprobe.d/vfio.conf": "options vfio-pci ids=1b21:0612\nsoftdep ahci pre: vfio-pci\n",
            **(files or {}),
        },
    }
    name = "two-asm1062"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "two identical controllers", "host": host}))
    return render_scenario(path, tmp_path / "root")


def test_ids_capturing_the_root_disk_controller_fails_and_narrows_by_subsystem(tmp_path: Path) -> None:
    root = two_controllers(tmp_path, root_subsystem=0x1061)
    finding = by_code(run(root))["binding.ids-collateral"]
    assert finding.severity is Severity.FAIL
    assert finding.device == ASM
    assert "0000:01:00.0" in finding.message
    assert "root filesystem" in finding.why
    assert "`options vfio-pci ids=1b21:0612:1b21:1060`" in finding.fix
    assert "subsystem IDs (1b21:1060) differ" in finding.why
    paths = {item.path for item in finding.evidence}
    assert {"/etc/modprobe.d/vfio.conf", "/proc/mounts", "/sys/bus/pci/devices/0000:01:00.0/subsystem_device"} <= paths


def test_identical_subsystems_can_only_be_told_apart_by_address(tmp_path: Path) -> None:
    root = two_controllers(tmp_path, root_subsystem=None)
    finding = by_code(run(root))["binding.ids-collateral"]
    assert finding.severity is Severity.FAIL
    assert f"driverctl set-override {ASM} vfio-pci" in finding.fix
    hook = f"install ahci echo vfio-pci > /sys/bus/pci/devices/{ASM}/driver_override; /sbin/modprobe vfio-pci"
    assert hook in finding.fix
    assert "same vendor, device and subsystem IDs" in finding.why
    # Applying the fix: no ids= left, the address binding covers only this controller.
    conf = hook + "; /sbin/modprobe --ignore-install ahci $CMDLINE_OPTS\n"
    edit(root, {"etc/modprobe.d/vfio.conf": conf})
    findings = run(root)
    assert problems(findings) == []
    assert "binding.none" in by_code(run(root, "01:00.0"))


def test_collateral_without_host_disks_is_a_warning(tmp_path: Path) -> None:
    root = two_controllers(tmp_path, root_subsystem=None, root_on_other=False)
    finding = by_code(run(root))["binding.ids-collateral"]
    assert finding.severity is Severity.WARN


def test_narrowed_ids_capture_nothing_else(tmp_path: Path) -> None:
    conf = "options vfio-pci ids=1b21:0612:1b21:1060\nsoftdep ahci pre: vfio-pci\n"
    root = two_controllers(tmp_path, root_subsystem=0x1061, files={"/etc/modprobe.d/vfio.conf": conf})
    findings = by_code(run(root))
    assert "binding.ids-collateral" not in findings
    assert "binding.configured" in findings
    # The other controller is not covered at all.
    assert "binding.none" in by_code(run(root, "01:00.0"))


def test_cmdline_ids_collateral_is_fixed_in_the_bootloader(tmp_path: Path) -> None:
    grub = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on vfio-pci.ids=1b21:0612"\n'
    root = two_controllers(
        tmp_path,
        root_subsystem=0x1061,
        files={"/etc/modprobe.d/vfio.conf": "softdep ahci pre: vfio-pci\n", "/etc/default/grub": grub},
    )
    finding = by_code(run(root))["binding.ids-collateral"]
    assert finding.severity is Severity.FAIL
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on vfio-pci.ids=1b21:0612:1b21:1060"' in finding.fix
    assert "update-grub" in finding.fix


# --- Read-only --------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[float, bytes | str]]:
    state: dict[str, tuple[float, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        if path.is_symlink():
            state[str(path)] = (stat.st_mtime, os.readlink(path))
        elif path.is_file():
            state[str(path)] = (stat.st_mtime, path.read_bytes())
    return state


def test_the_checks_never_write_to_the_root(vfio_early: Path) -> None:
    from harness.checks import cmdline

    before = _snapshot(vfio_early)
    ctx = CheckContext(read_host(vfio_early), CheckOptions())
    list(binding.check(ctx))
    list(cmdline.check(ctx))
    assert _snapshot(vfio_early) == before
