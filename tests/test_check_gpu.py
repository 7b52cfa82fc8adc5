"""The GPU check (harness.checks.gpu) on small fakesys hosts: the AMD reference host's Radeon at
08:00.0 with one change each, for the boundaries of every rule: the firmware framebuffer in a BAR
(fail, with the fix for the kernel and the region), the boot VGA device without one (warn), a
display device that is not VGA (no boot-VGA finding), the card's audio function (info), SeaBIOS
primary display (info), and the AMD reset bug with and without vendor-reset on kernels before and
after 5.15 (fail, fail, info).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.checker import DeviceReport, check_root
from harness.checks import CheckOptions
from harness.findings import Finding, Severity, Verdict
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import write_scenario

GPU = "0000:08:00.0"
#: The Radeon's BAR 0 in the reference host (d0000000, 256 MiB).
BAR0 = 0xD0000000
NAVI10 = {"header": {"device": 0x731F}}
DEBIAN_510 = {
    "release": "5.10.0-30-amd64",
    "version": "Linux version 5.10.0-30-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 5.10.218-1 (2024-06-01)",
    "cmdline": "BOOT_IMAGE=/boot/vmlinuz-5.10.0-30-amd64 root=/dev/mapper/pve-root ro quiet",
}


def host(**changes: Any) -> dict[str, Any]:
    """A small host: a PCIe root port with the Radeon RX 6600's two functions behind it, Proxmox
    VE's 6.8 kernel (reset_method exists), AMD-Vi on."""
    document: dict[str, Any] = {
        "kernel": {"release": "6.8.12-4-pve", "cmdline": "root=/dev/mapper/pve-root ro quiet"},
        "cpu": {"vendor": "amd"},
        "iommu": {"firmware_table": True, "enabled": True, "interrupt_remapping": True},
    }
    document.update(changes)
    return document


def gpu(override: dict[str, Any] | None = None, audio: bool = True) -> list[dict[str, Any]]:
    """The root port and the card; without its audio function the GPU is alone on its bus and
    the kernel offers a bus reset (drivers/pci/pci.c pci_parent_bus_reset)."""
    port = {"bdf": "00:1c.0", "device": "qemu-pcie-root-port", "driver": "pcieport", "bus": {"secondary": 8}}
    slot: dict[str, Any] = {"bdf": "08:00.0", "device": "amd-navi23-rx6600", "driver": "vfio-pci"}
    if override is not None:
        slot["override"] = override
    functions = [port, slot]
    if audio:
        functions.append({"bdf": "08:00.1", "device": "amd-navi23-hdmi-audio", "driver": "vfio-pci"})
    return functions


def checked(
    tmp_path: Path, document: dict[str, Any], steps: list[Any] | None = None, firmware: str = "ovmf"
) -> DeviceReport:
    root = tmp_path / "root"
    render_final_root(load_scenario(str(write_scenario(tmp_path, "variant", document, steps))), root)
    report = check_root(root, CheckOptions(devices=[GPU], vm_firmware=firmware))
    return next(item for item in report.devices if item.function.name == GPU)


def gpu_findings(device: DeviceReport) -> dict[str, Finding]:
    return {item.code: item for item in device.findings if item.code.startswith("gpu.")}


def framebuffer(**fields: Any) -> dict[str, Any]:
    return {"base": BAR0, "size": 0x7E9000, **fields}


def test_simpledrm_in_bar0_fails_with_the_sysfb_blacklist_as_fix(tmp_path: Path) -> None:
    device = checked(tmp_path, host(framebuffer=framebuffer(driver="simpledrm"), pci=gpu()))
    found = gpu_findings(device)
    fail = found["gpu.framebuffer-in-bar"]
    assert fail.severity is Severity.FAIL and device.verdict is Verdict.FAIL
    assert "(BOOTFB)" in fail.message
    assert "`initcall_blacklist=sysfb_init`" in fail.fix and "video=efifb:off" not in fail.fix
    values = [item.value for item in fail.evidence]
    assert "d0000000-dfffffff : 0000:08:00.0" in values
    assert "d0000000-d07e8fff : BOOTFB" in values and "d0000000-d07e8fff : simpledrm" in values
    assert "gpu.boot-vga" not in found  # the failure says it all


def test_the_blacklist_already_booted_and_the_region_still_there(tmp_path: Path) -> None:
    kernel = {"release": "6.8.12-4-pve", "cmdline": "root=/dev/mapper/pve-root ro initcall_blacklist=sysfb_init"}
    device = checked(tmp_path, host(kernel=kernel, framebuffer=framebuffer(driver="simpledrm"), pci=gpu()))
    fail = gpu_findings(device)["gpu.framebuffer-in-bar"]
    assert "initcall_blacklist=sysfb_init is on the command line" in fail.why
    assert "initcall_blacklist" not in fail.fix and "primary display" in fail.fix


def test_efifb_before_515_is_turned_off_with_video_efifb_off(tmp_path: Path) -> None:
    device = checked(tmp_path, host(kernel=DEBIAN_510, framebuffer=framebuffer(resource="efifb"), pci=gpu()))
    fail = gpu_findings(device)["gpu.framebuffer-in-bar"]
    assert "`video=efifb:off`" in fail.fix and "initcall_blacklist" not in fail.fix
    assert "kernel 5.10.0-30-amd64" in fail.fix


def test_vfio_cannot_reserve_the_bar_at_vm_start_and_the_log_is_evidence(tmp_path: Path) -> None:
    files = {"/etc/pve/qemu-server/100.conf": "bios: ovmf\nmachine: q35\nhostpci0: 0000:08:00,pcie=1\n"}
    device = checked(
        tmp_path, host(framebuffer=framebuffer(driver="simpledrm"), pci=gpu(), files=files), steps=[{"vm_start": 100}]
    )
    fail = gpu_findings(device)["gpu.framebuffer-in-bar"]
    logged = [item.value for item in fail.evidence if "can't reserve" in item.value]
    assert logged and "BAR 0: can't reserve [mem 0xd0000000-0xdfffffff 64bit pref]" in logged[0]


def test_boot_vga_without_a_framebuffer_in_its_bars_warns(tmp_path: Path) -> None:
    found = gpu_findings(checked(tmp_path, host(pci=gpu())))
    assert found["gpu.boot-vga"].severity is Severity.WARN
    assert "gpu.framebuffer-in-bar" not in found and "gpu.framebuffer-unseen" not in found


def test_a_3d_controller_is_no_boot_vga_device(tmp_path: Path) -> None:
    """Boundary: boot_vga exists for VGA-class devices only (pci-sysfs.c); a 3D controller
    (class 0302) with the same BARs gets neither boot-VGA finding."""
    found = gpu_findings(checked(tmp_path, host(pci=gpu({"header": {"class": 0x030200}}))))
    assert not {"gpu.boot-vga", "gpu.framebuffer-in-bar", "gpu.framebuffer-unseen"} & set(found)


def test_the_audio_function_goes_with_the_gpu(tmp_path: Path) -> None:
    companion = gpu_findings(checked(tmp_path, host(pci=gpu())))["gpu.companion-functions"]
    assert companion.severity is Severity.INFO
    assert "0000:08:00.1 (HDMI/DP audio" in companion.message
    assert "hostpciN: 0000:08:00,pcie=1" in companion.fix


def test_seabios_primary_display_needs_x_vga(tmp_path: Path) -> None:
    found = gpu_findings(checked(tmp_path, host(pci=gpu()), firmware="seabios"))
    assert found["gpu.seabios-primary"].severity is Severity.INFO
    assert "x-vga=1" in found["gpu.seabios-primary"].fix and "x-vga=on" in found["gpu.seabios-primary"].fix
    (tmp_path / "ovmf").mkdir()
    assert "gpu.seabios-primary" not in gpu_findings(checked(tmp_path / "ovmf", host(pci=gpu())))


def test_navi23_is_not_counted_as_a_reset_bug_gpu(tmp_path: Path) -> None:
    found = gpu_findings(checked(tmp_path, host(pci=gpu())))
    assert not {"gpu.amd-reset-bug", "gpu.vendor-reset", "gpu.vendor-reset-not-selected"} & set(found)


def test_navi10_without_vendor_reset_fails(tmp_path: Path) -> None:
    fail = gpu_findings(checked(tmp_path, host(pci=gpu(NAVI10, audio=False))))["gpu.amd-reset-bug"]
    assert fail.severity is Severity.FAIL and "Navi 10" in fail.message
    assert "echo device_specific > /sys/bus/pci/devices/0000:08:00.0/reset_method" in fail.fix


def test_navi10_with_vendor_reset_not_selected_on_68_fails(tmp_path: Path) -> None:
    device = checked(tmp_path, host(pci=gpu(NAVI10, audio=False), modules={"vendor_reset": {}}))
    fail = gpu_findings(device)["gpu.vendor-reset-not-selected"]
    assert fail.severity is Severity.FAIL
    assert any(item.value == "loaded" for item in fail.evidence)


def test_navi10_with_device_specific_selected_passes_the_gpu_check(tmp_path: Path) -> None:
    steps = [{"reset_method": {"device": "08:00.0", "value": "device_specific"}}]
    found = gpu_findings(checked(tmp_path, host(pci=gpu(NAVI10, audio=False), modules={"vendor_reset": {}}), steps))
    assert found["gpu.vendor-reset"].severity is Severity.INFO
    assert "reset_method starts with device_specific" in found["gpu.vendor-reset"].why


def test_device_specific_refused_without_the_module_is_evidence(tmp_path: Path) -> None:
    steps = [{"reset_method": {"device": "08:00.0", "value": "device_specific"}}]
    fail = gpu_findings(checked(tmp_path, host(pci=gpu(NAVI10, audio=False)), steps))["gpu.amd-reset-bug"]
    assert any("Unsupported reset method 'device_specific'" in item.value for item in fail.evidence)


def test_navi10_with_vendor_reset_before_515_is_hooked(tmp_path: Path) -> None:
    document = host(kernel=DEBIAN_510, pci=gpu(NAVI10, audio=False), modules={"vendor_reset": {}})
    found = gpu_findings(checked(tmp_path, document))
    assert found["gpu.vendor-reset"].severity is Severity.INFO
    assert "before 5.15" in found["gpu.vendor-reset"].why
