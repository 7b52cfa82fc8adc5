"""The rendered root, checked on a real directory and on pyfakefs with the same tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem_unittest import Patcher

from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def kernel() -> FakeKernel:
    return FakeKernel(load_scenario(str(SCENARIOS / "terramaster-f4-424-pro.yaml")).host)


@pytest.fixture(params=["tmpdir", "pyfakefs"])
def root(request: pytest.FixtureRequest, kernel: FakeKernel, tmp_path: Path) -> Iterator[Path]:
    """The default host rendered to a real directory or into pyfakefs."""
    if request.param == "tmpdir":
        render(kernel, str(tmp_path))
        yield tmp_path
        return
    with Patcher() as patcher:
        assert patcher.fs is not None
        fake_root = Path("/fakeroot")
        patcher.fs.create_dir(fake_root)
        render(kernel, str(fake_root))
        yield fake_root


def _read(path: Path) -> str:
    return path.read_text()


def test_devices_nest_under_their_bridges(root: Path) -> None:
    link = root / "sys/bus/pci/devices/0000:03:00.0"
    assert os.readlink(link) == "../../../devices/pci0000:00/0000:00:1c.6/0000:03:00.0"
    assert link.resolve() == (root / "sys/devices/pci0000:00/0000:00:1c.6/0000:03:00.0").resolve()


def test_every_symlink_resolves(root: Path) -> None:
    dangling = []
    for directory, subdirs, files in os.walk(root):
        for name in subdirs + files:
            path = Path(directory) / name
            if path.is_symlink() and not path.exists():
                dangling.append(str(path.relative_to(root)))
    assert dangling == []


def test_text_attributes_have_kernel_formats(root: Path) -> None:
    device = root / "sys/bus/pci/devices/0000:03:00.0"
    assert _read(device / "vendor") == "0x1b21\n"
    assert _read(device / "device") == "0x0612\n"
    assert _read(device / "subsystem_vendor") == "0x1b21\n"
    assert _read(device / "subsystem_device") == "0x1060\n"
    assert _read(device / "class") == "0x010601\n"
    assert _read(device / "revision") == "0x02\n"
    assert _read(device / "numa_node") == "-1\n"
    assert _read(device / "driver_override") == "(null)\n"
    assert _read(device / "modalias") == "pci:v00001B21d00000612sv00001B21sd00001060bc01sc06i01\n"
    assert _read(device / "current_link_speed") == "5.0 GT/s PCIe\n"
    assert _read(device / "max_link_speed") == "5.0 GT/s PCIe\n"
    assert _read(device / "current_link_width") == "1\n"


def test_resource_lines_hold_bars_rom_and_bridge_windows(root: Path) -> None:
    lines = _read(root / "sys/bus/pci/devices/0000:03:00.0/resource").splitlines()
    assert len(lines) == 13
    assert lines[0] == "0x0000000000003050 0x0000000000003057 0x0000000000040101"
    assert lines[5] == "0x0000000080510000 0x00000000805101ff 0x0000000000040200"
    assert lines[6] == "0x0000000080500000 0x000000008050ffff 0x0000000000046200"
    bridge = _read(root / "sys/bus/pci/devices/0000:00:1c.6/resource").splitlines()
    assert len(bridge) == 17
    assert bridge[13] == "0x0000000000003000 0x0000000000003fff 0x0000000000000100"
    assert bridge[14] == "0x0000000080500000 0x00000000805fffff 0x0000000000000200"


def test_reset_files_follow_the_reset_methods(root: Path) -> None:
    asm1062 = root / "sys/bus/pci/devices/0000:03:00.0"
    assert _read(asm1062 / "reset_method") == "pm bus\n"
    assert (asm1062 / "reset").exists()
    sata = root / "sys/bus/pci/devices/0000:00:17.0"
    assert not (sata / "reset").exists()
    assert not (sata / "reset_method").exists()
    assert _read(root / "sys/bus/pci/devices/0000:04:00.0/reset_method") == "flr bus\n"


def test_drivers_have_control_files_and_back_links(root: Path) -> None:
    ahci = root / "sys/bus/pci/drivers/ahci"
    for name in ("bind", "unbind", "new_id", "remove_id"):
        assert (ahci / name).exists()
    assert sorted(p.name for p in ahci.iterdir() if p.name.startswith("0000:")) == ["0000:00:17.0", "0000:03:00.0"]
    assert (root / "sys/bus/pci/devices/0000:03:00.0/driver").resolve().name == "ahci"
    assert not (root / "sys/bus/pci/devices/0000:00:14.2/driver").exists()


def test_iommu_groups_and_units(root: Path) -> None:
    group = root / "sys/kernel/iommu_groups/9/devices"
    assert sorted(p.name for p in group.iterdir()) == ["0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4", "0000:00:1f.5"]
    assert (root / "sys/class/iommu/dmar0/devices/0000:00:02.0").exists()
    assert (root / "sys/class/iommu/dmar1/devices/0000:03:00.0").exists()
    assert (root / "sys/firmware/acpi/tables/DMAR").read_bytes()[:4] == b"DMAR"


def test_power_state_reflects_the_driver(root: Path) -> None:
    assert _read(root / "sys/bus/pci/devices/0000:03:00.0/power_state") == "D0\n"
    assert _read(root / "sys/bus/pci/devices/0000:00:14.2/power_state") == "unknown\n"


def test_block_devices_link_to_their_controller(root: Path) -> None:
    sdc = (root / "sys/block/sdc").resolve()
    assert "0000:00:1c.6/0000:03:00.0" in str(sdc)
    assert (root / "dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680").resolve().name == "sdc"
    assert (root / "dev/mapper/pve-root").resolve().name == "dm-1"
    assert sorted(p.name for p in (root / "sys/block/dm-1/slaves").iterdir()) == ["nvme0n1p3"]
    assert "0000:00:1d.0/0000:04:00.0" in str((root / "sys/block/dm-1/slaves/nvme0n1p3").resolve())


def test_proc_files_and_host_files(root: Path) -> None:
    assert "intel_iommu=on iommu=pt" in _read(root / "proc/cmdline")
    assert "/dev/mapper/pve-root / ext4" in _read(root / "proc/mounts")
    assert " vmx " in _read(root / "proc/cpuinfo")
    assert "machine: q35" in _read(root / "etc/pve/qemu-server/100.conf")
    assert _read(root / "proc/sys/kernel/osrelease") == "6.8.12-4-pve\n"


def test_kernel_log_has_boot_lines_in_dmesg_format(root: Path) -> None:
    log = _read(root / "var/log/dmesg").splitlines()
    assert any(
        line.endswith("DMI: retsamarret 000-F4424Pro-CN36-2000/M-ADLN01, BIOS MADN0101.V04 12/22/2023") for line in log
    )
    acpi_error = "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PC00.TXHC.RHUB.SS01], AE_NOT_FOUND"
    assert f"[    0.312207] {acpi_error} (20230628/dswload2-162)" in log
    assert any(line.endswith("pci 0000:03:00.0: Adding to iommu group 12") for line in log)
    stamps = [line[: line.index("]") + 1] for line in log]
    assert stamps == sorted(stamps, key=lambda stamp: float(stamp.strip("[] ")))
