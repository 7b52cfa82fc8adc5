"""The generator's output contract, target by target: stdout is exactly one document, usable as it
comes (a pipe into the real tool, a redirection into the file), everything else is on stderr;
targets with several files need ``--out DIR`` (exit 64 otherwise); ``--guest-address`` is
honoured by the targets that can place a device and refused by the others, with the reason.
The pipelines of the issue run for real in a shell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.generate import TARGET_OPTIONS, TARGETS, GenerateOptions, generate
from harness.generate.plan import build_plan
from harness.generate.qemu import device_arguments
from tests.generate_cli import (
    libvirt_accepts,
    modprobe_accepts,
    qemu_judges,
    run_generate,
)
from tests.helpers import REPO, system_tool

RootOf = Callable[[str], Path]
SCENARIO = "terramaster-f4-424-pro"
INTEL_SATA = "0000:00:17.0"
#: What stdout is per target on the default scenario (None: several files, --out needed).
SINGLE_DOCUMENT = {
    "proxmox": "hostpci0: 0000:00:17.0,pcie=1\n",
    "proxmox-disks": (
        "qm set 100 -scsi1 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5678,serial=WD-WX12D34A5678\n"
        "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5679,serial=WD-WX12D34A5679\n"
    ),
    "qemu": (
        "-device\npcie-root-port,id=vfiolab-rp0,bus=pcie.0,chassis=1,port=1,addr=0x1c.0,multifunction=on\n"
        "-device\nvfio-pci,host=0000:00:17.0,bus=vfiolab-rp0,addr=0x0.0\n"
    ),
    "modprobe": (
        "# vfiolab: passthrough of 0000:00:17.0 [8086:54d3]\n"
        "options vfio-pci ids=8086:54d3\nsoftdep ahci pre: vfio-pci\n"
    ),
    "driverctl": "driverctl set-override 0000:00:17.0 vfio-pci\n",
    "cmdline": "",
    "libvirt": None,  # checked below: a <hostdev> document
    "initramfs-tools": None,
    "dracut": None,
    "mkinitcpio": None,
    "all": None,
}


def test_every_target_is_in_the_table() -> None:
    assert set(SINGLE_DOCUMENT) == set(TARGETS)


@pytest.mark.parametrize("target", list(SINGLE_DOCUMENT))
def test_stdout_is_one_document_and_stderr_the_rest(final_root: RootOf, tmp_path: Path, target: str) -> None:
    result = run_generate(target, "--device", INTEL_SATA, root=final_root(SCENARIO))
    expected = SINGLE_DOCUMENT[target]
    if target == "libvirt":
        assert result.code == 0, result.err
        assert result.out.startswith("<!-- vfiolab: passthrough of 0000:00:17.0") and result.out.count("<hostdev ") == 1
        assert "virsh attach-device truenas hostdev-0000-00-17-0.xml --config" in result.err
    elif expected is None:
        assert result.code == 64 and result.out == ""
        assert f"target {target} writes" in result.err and "give --out DIR" in result.err
        assert len(result.err.splitlines()) == 1
        written = run_generate(
            target, "--device", INTEL_SATA, "--out", str(tmp_path / "out"), root=final_root(SCENARIO)
        )
        assert written.code == 0 and written.out == "", written.err
        assert written.err.startswith(f"wrote {tmp_path / 'out'}/")
        return
    else:
        assert result.code == 0, result.err
        assert result.out == expected
    assert "# stdout: " in result.err
    for line in result.out.splitlines():
        assert not line.endswith("\\"), line


def test_modprobe_redirected_into_the_file_is_the_file(final_root: RootOf, tmp_path: Path) -> None:
    """``vfiolab generate modprobe ... > /etc/modprobe.d/vfio.conf``, through a real shell."""
    conf = tmp_path / "vfio.conf"
    command = [sys.executable, "-m", "harness.cli", "generate", "modprobe", "--root", str(final_root(SCENARIO))]
    command += ["--device", INTEL_SATA]
    completed = subprocess.run(
        ["sh", "-c", f"{shlex.join(command)} > {shlex.quote(str(conf))}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert conf.read_text() == generate("modprobe", final_root(SCENARIO), [INTEL_SATA]).files[0].content
    assert "update-initramfs -u -k all" in completed.stderr
    modprobe_accepts(tmp_path, conf.read_text())


def test_domain_xml_pipes_into_virt_xml_validate(final_root: RootOf) -> None:
    """The issue's own reproduction: ``vfiolab generate libvirt ... --domain-xml | virt-xml-validate - domain``."""
    generate_command = [sys.executable, "-m", "harness.cli", "generate", "libvirt", "--root", str(final_root(SCENARIO))]
    generate_command += ["--device", INTEL_SATA, "--domain-xml"]
    pipeline = (
        f"set -o pipefail; {shlex.join(generate_command)} | {shlex.quote(system_tool('virt-xml-validate'))} - domain"
    )
    completed = subprocess.run(
        [system_tool("bash"), "-c", pipeline], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "- validates" in completed.stderr


def test_qemu_lines_feed_a_bash_array(final_root: RootOf, tmp_path: Path) -> None:
    """``mapfile -t ARGS < <(vfiolab generate qemu ...)`` and ``eval "set -- $(... --format shell)"``
    give QEMU the same arguments; QEMU parses them (the device itself is missing on this machine)."""
    if os.path.exists(f"/sys/bus/pci/devices/{INTEL_SATA}"):
        pytest.skip(f"this machine has a device at {INTEL_SATA}: QEMU would try to open it")
    base = [sys.executable, "-m", "harness.cli", "generate", "qemu", "--root", str(final_root(SCENARIO))]
    base += ["--device", INTEL_SATA]
    qemu = shlex.join([system_tool("qemu-system-x86_64"), "-machine", "q35,accel=tcg", "-nodefaults"])
    qemu += " -display none -S -monitor none"
    for script in (
        f'mapfile -t ARGS < <({shlex.join(base)}); {qemu} "${{ARGS[@]}}"',
        f'eval "set -- $({shlex.join([*base, "--format", "shell"])})"; {qemu} "$@"',
    ):
        completed = subprocess.run(
            [system_tool("bash"), "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert "no such host device" in completed.stderr, completed.stderr
        assert "vfio-pci,host=0000:00:17.0,bus=vfiolab-rp0,addr=0x0.0" in completed.stderr


def test_cmdline_prints_the_arguments_to_add(final_root: RootOf, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(final_root(SCENARIO), root, symlinks=True)
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace("intel_iommu=on ", ""))
    result = run_generate("cmdline", "--device", INTEL_SATA, root=root)
    assert result.code == 0, result.err
    assert result.out == "intel_iommu=on\n"
    assert "/etc/default/grub (GRUB_CMDLINE_LINUX_DEFAULT)" in result.err and "update-grub" in result.err
    out = tmp_path / "out"
    written = run_generate("cmdline", "--device", INTEL_SATA, "--out", str(out), root=root)
    assert written.code == 0 and written.out == ""
    assert 'GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"' in (out / "etc/default/grub").read_text()


# --- --guest-address ------------------------------------------------------------------------------


def test_guest_address_is_refused_where_it_cannot_be_expressed(final_root: RootOf) -> None:
    expressible = {target for target, options in TARGET_OPTIONS.items() if "--guest-address" in options}
    assert expressible == {"libvirt", "qemu"}
    for target in set(TARGETS) - expressible:
        result = run_generate(target, "--device", INTEL_SATA, "--guest-address", "06:00", root=final_root(SCENARIO))
        assert result.code == 64 and result.out == "", target
        assert f"--guest-address does not apply to target {target}" in result.err
    proxmox = run_generate("proxmox", "--device", INTEL_SATA, "--guest-address", "06:00", root=final_root(SCENARIO))
    assert "qemu-server places hostpciN devices itself" in proxmox.err


@pytest.mark.parametrize(
    ("machine", "address", "expected"),
    [
        ("q35", "00:10", ["-device", "vfio-pci,host=0000:00:17.0,bus=pcie.0,addr=0x10.0"]),
        (
            "q35",
            "06:00",
            [
                "-device",
                "pcie-root-port,id=vfiolab-bus06,bus=pcie.0,chassis=6,port=6,addr=0x1c.0,multifunction=on",
                "-device",
                "vfio-pci,host=0000:00:17.0,bus=vfiolab-bus06,addr=0x0.0",
            ],
        ),
        ("pc", "00:07", ["-device", "vfio-pci,host=0000:00:17.0,bus=pci.0,addr=0x7.0"]),
        (
            "pc",
            "06:03",
            [
                "-device",
                "pci-bridge,id=vfiolab-bus06,bus=pci.0,chassis_nr=6,addr=0x1c",
                "-device",
                "vfio-pci,host=0000:00:17.0,bus=vfiolab-bus06,addr=0x3.0",
            ],
        ),
    ],
)
def test_qemu_places_the_device_at_the_guest_address(
    final_root: RootOf, tmp_path: Path, machine: str, address: str, expected: list[str]
) -> None:
    root = tmp_path / "root"
    shutil.copytree(final_root(SCENARIO), root, symlinks=True)
    config = root / "etc/pve/qemu-server/100.conf"
    config.write_text(config.read_text().replace("machine: q35", f"machine: {machine}"))
    result = run_generate("qemu", "--device", INTEL_SATA, "--guest-address", address, root=root)
    assert result.code == 0, result.err
    assert result.out.splitlines() == expected
    qemu_judges(expected, machine, [INTEL_SATA])
    libvirt = run_generate("libvirt", "--device", INTEL_SATA, "--guest-address", address, "--domain-xml", root=root)
    assert libvirt.code == 0, libvirt.err
    bus, slot = address.split(":")
    assert f'<address type="pci" domain="0x0000" bus="0x{bus}" slot="0x{slot}" function="0x0" />' in libvirt.out
    libvirt_accepts(libvirt.out)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("06:03", "on q35 a device behind a PCIe root port (bus 06) is at slot 00"),
        ("00:1f", "slot 1f of bus 00 holds the ICH9 LPC, SATA and SMBus functions"),
        ("00:00", "slot 00 of bus 00 holds the host bridge"),
    ],
)
def test_a_guest_address_the_machine_cannot_take_is_a_usage_error(
    final_root: RootOf, address: str, message: str
) -> None:
    for target in ("qemu", "libvirt"):
        result = run_generate(target, "--device", INTEL_SATA, "--guest-address", address, root=final_root(SCENARIO))
        assert result.code == 64 and message in result.err and result.out == "", result.err


def test_several_guest_devices_take_the_next_root_ports(final_root: RootOf) -> None:
    options = GenerateOptions(guest_address="06:00", force=True)
    plan = build_plan(final_root(SCENARIO), [INTEL_SATA, "0000:01:00.0"], options)
    ports = [group[1].split(",")[0:2] for group in device_arguments(plan)]
    assert ports == [["pcie-root-port", "id=vfiolab-bus06"], ["pcie-root-port", "id=vfiolab-bus07"]]
    qemu_judges(
        [argument for group in device_arguments(plan) for argument in group],
        "q35",
        [item.address for item in plan.functions],
    )


def test_format_applies_to_qemu_only(final_root: RootOf) -> None:
    result = run_generate("modprobe", "--device", INTEL_SATA, "--format", "shell", root=final_root(SCENARIO))
    assert result.code == 64 and "--format does not apply to target modprobe (it applies to: qemu)" in result.err
    bad = run_generate("qemu", "--device", INTEL_SATA, "--format", "json", root=final_root(SCENARIO))
    assert bad.code == 64 and "invalid choice" in bad.err
