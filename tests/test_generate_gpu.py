"""The generator's GPU and option-ROM consequences (harness.generate.gpu_setup and the ROM BAR
choice), on the report scenarios, each judged by the real tool that reads it: kmod for the
vendor-reset modprobe.d lines, qemu-system-x86_64 for the ``x-vga=on`` and ``rombar=0``
devices, virt-xml-validate and libvirt's test driver for ``<rom bar='off'/>``, the documented
Proxmox format for ``x-vga=1`` and ``rombar=0``; the framebuffer cmdline on its two kernels.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from harness.generate import GenerateOptions
from harness.generate.plan import build_plan
from harness.generate.qemu import device_arguments
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.generate_cli import in_a_domain, libvirt_accepts, modprobe_accepts, qemu_judges, run_generate
from tests.proxmox_format import validate_hostpci

RootOf = Callable[[str], Path]
REPO = Path(__file__).resolve().parent.parent
TALOS_GPU = "0000:c3:00.0"
LSI = "0000:06:00.0"


def stdout(root: Path, target: str, device: str, *options: str) -> str:
    result = run_generate(target, "--device", device, *options, root=root)
    assert result.code == 0, result.err
    return result.out


def test_the_framebuffer_cmdline_is_the_fix_the_cmdline_target_writes(final_root: RootOf) -> None:
    root = final_root("report-talos-simpledrm-boot-gpu")
    assert stdout(root, "cmdline", TALOS_GPU).split() == ["initcall_blacklist=sysfb_init"]
    # The other targets pass the device, which the framebuffer still blocks: refused.
    refused = run_generate("proxmox", "--device", TALOS_GPU, root=root)
    assert refused.code == 2 and "gpu.framebuffer-in-bar" in refused.err


def test_no_argument_when_the_blacklist_is_booted_and_did_not_help(final_root: RootOf) -> None:
    root = final_root("report-talos-simpledrm-sysfb-blacklisted")
    result = run_generate("cmdline", "--device", TALOS_GPU, root=root)
    assert result.code == 0 and result.out == ""
    assert "although initcall_blacklist=sysfb_init is booted" in result.err


def test_vendor_reset_set_up_is_accepted_by_kmod(final_root: RootOf, tmp_path: Path) -> None:
    text = stdout(final_root("report-vendor-reset-515"), "modprobe", "0000:0f:00.0")
    lines = text.splitlines()
    assert "softdep vfio_pci pre: vendor_reset" in lines
    install = [line for line in lines if line.startswith("install vendor_reset ")]
    assert install == [
        "install vendor_reset /sbin/modprobe --ignore-install vendor_reset $CMDLINE_OPTS; "
        "echo device_specific > /sys/bus/pci/devices/0000:0f:00.0/reset_method"
    ]
    modprobe_accepts(tmp_path, text)


def test_before_515_vendor_reset_needs_no_reset_method_line(final_root: RootOf, tmp_path: Path) -> None:
    text = stdout(final_root("report-navi10-vendor-reset-58"), "modprobe", "0000:0a:00.0")
    assert "softdep vfio_pci pre: vendor_reset" in text.splitlines()
    assert "reset_method" not in text
    modprobe_accepts(tmp_path, text)


def _seabios_navi10(tmp_path: Path) -> Path:
    """The 5.8 Navi 10 host with VM 100 on SeaBIOS (Proxmox's default firmware without bios:)."""
    directory = tmp_path / "scenario"
    shutil.copytree(REPO / "scenarios" / "devices", directory / "devices")
    document = {
        "name": "seabios-gpu",
        "host": {
            "extends": "report-navi10-vendor-reset-58",
            "files": {"/etc/pve/qemu-server/100.conf": "machine: q35\nmemory: 4096\n"},
        },
    }
    path = directory / "seabios-gpu.yaml"
    path.write_text(yaml.safe_dump(document))
    root = tmp_path / "root"
    render_final_root(load_scenario(str(path)), root)
    return root


def test_primary_passthrough_under_seabios_gets_x_vga(tmp_path: Path) -> None:
    root = _seabios_navi10(tmp_path)
    proxmox = stdout(root, "proxmox", "0000:0a:00.0").splitlines()
    assert proxmox[0] == "hostpci0: 0000:0a:00.0,pcie=1,x-vga=1"
    key, _, value = proxmox[0].partition(": ")
    validate_hostpci(key, value)
    arguments = stdout(root, "qemu", "0000:0a:00.0").splitlines()
    assert "vfio-pci,host=0000:0a:00.0,bus=vfiolab-rp0,addr=0x0.0,x-vga=on" in arguments
    qemu_judges(arguments, "q35", ["0000:0a:00.0"])


def test_no_x_vga_under_ovmf(final_root: RootOf) -> None:
    root = final_root("report-talos-simpledrm-boot-gpu")
    plan = build_plan(root, [TALOS_GPU], GenerateOptions(force=True))
    assert plan.vm.firmware == "ovmf"
    assert not [argument for group in device_arguments(plan) for argument in group if "x-vga" in argument]


def test_the_storage_rom_bar_is_off_in_every_target(final_root: RootOf) -> None:
    """The SAS3008 whose ROM SeaBIOS would run: rombar=0 (Proxmox, QEMU), <rom bar='off'/>
    (libvirt), each judged by its tool."""
    root = final_root("report-lsi-sas3008-rombar")
    line = stdout(root, "proxmox", LSI).splitlines()[0]
    assert line == "hostpci0: 0000:06:00.0,pcie=1,rombar=0"
    validate_hostpci(*line.split(": ", 1))
    arguments = stdout(root, "qemu", LSI).splitlines()
    assert any(argument.startswith("vfio-pci,host=0000:06:00.0,") and "rombar=0" in argument for argument in arguments)
    qemu_judges(arguments, "q35", [LSI])
    hostdev = stdout(root, "libvirt", LSI)
    assert "<rom bar='off'/>" in hostdev.replace('"', "'").replace(" />", "/>")
    libvirt_accepts(in_a_domain(hostdev))
