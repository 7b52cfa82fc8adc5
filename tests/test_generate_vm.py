"""The generator reads the Proxmox VM as it is configured and respects it: the first free
``hostpciN`` (or the index that already passes the device), a warning with the checker's reasons
for a device the VM already passes and the checker fails, the VM's memory, vCPUs, machine type
and firmware in the libvirt domain, disks it already has not offered again; and apply.sh (target
``all``) planning against that configuration. Scenario-based: ``terramaster-asm1062-vm-start``
(VM 100 already has ``hostpci0: 0000:03:00.0``) and ``terramaster-f4-424-pro`` (VM 100: q35,
OVMF, 4 cores, 16 GiB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.generate import GenerateOptions, generate
from harness.generate.vm import parse_hostpci, proxmox_machine
from tests.generate_cli import libvirt_accepts, run_generate
from tests.proxmox_format import validate_hostpci

RootOf = Callable[[str], Path]
INTEL_SATA = "0000:00:17.0"
ASM = "0000:03:00.0"
VM_START = "terramaster-asm1062-vm-start"
DEFAULT = "terramaster-f4-424-pro"
CONFIG = "etc/pve/qemu-server/100.conf"


def copy_with_config(final_root: RootOf, tmp_path: Path, scenario: str, edit: Callable[[str], str]) -> Path:
    """A copy of the scenario's final root with VM 100's configuration edited."""
    root = tmp_path / "root"
    shutil.copytree(final_root(scenario), root, symlinks=True)
    config = root / CONFIG
    config.write_text(edit(config.read_text()))
    return root


# --- What the VM already passes --------------------------------------------------------------


def test_an_existing_failing_passthrough_is_warned_about_and_the_next_index_used(final_root: RootOf) -> None:
    result = run_generate("proxmox", "--device", INTEL_SATA, root=final_root(VM_START))
    assert result.code == 0, result.err
    assert result.out == "hostpci1: 0000:00:17.0,pcie=1\n"
    [warning] = [line for line in result.err.splitlines() if "WARNING" in line]
    assert "VM 100 already passes 0000:03:00.0 [1b21:0612] (hostpci0: 0000:03:00.0,pcie=1)" in warning
    # The checker's verdict, with its reasons, and how to remove the device.
    assert "the checker fails it: reset.bus-reset-breaks-device" in warning
    assert "qm set 100 -delete hostpci0" in warning
    assert "qm set 100 -hostpci1 0000:00:17.0,pcie=1" in result.err.splitlines()


def test_the_warning_is_in_the_libvirt_document_too(final_root: RootOf) -> None:
    result = run_generate("libvirt", "--device", INTEL_SATA, root=final_root(VM_START))
    assert result.code == 0, result.err
    comments = [line for line in result.out.splitlines() if line.startswith("<!--")]
    assert any("already passes 0000:03:00.0" in line and "reset.bus-reset-breaks-device" in line for line in comments)
    assert "WARNING: VM 100 already passes 0000:03:00.0" in result.err


@pytest.mark.parametrize("target", ["qemu", "all", "proxmox-disks"])
def test_every_target_that_configures_the_vm_warns(final_root: RootOf, target: str) -> None:
    output = generate(target, final_root(VM_START), [INTEL_SATA])
    assert any(note.startswith("WARNING: VM 100 already passes 0000:03:00.0") for note in output.notes)


def test_targets_that_do_not_configure_the_vm_do_not_warn(final_root: RootOf) -> None:
    for target in ("modprobe", "driverctl", "cmdline"):
        output = generate(target, final_root(VM_START), [INTEL_SATA])
        assert not [note for note in output.notes if "already passes" in note], target


def test_a_device_the_vm_already_passes_keeps_its_index(final_root: RootOf, tmp_path: Path) -> None:
    def edit(text: str) -> str:
        return text.replace("ide2:", "hostpci2: 0000:00:17.0\nide2:")

    root = copy_with_config(final_root, tmp_path, DEFAULT, edit)
    result = run_generate("proxmox", "--device", INTEL_SATA, root=root)
    assert result.code == 0, result.err
    assert result.out == "hostpci2: 0000:00:17.0,pcie=1\n"
    assert "0000:00:17.0 is already hostpci2 of VM 100 (0000:00:17.0): set again as 0000:00:17.0,pcie=1" in result.err
    assert "WARNING" not in result.err


def test_a_device_passed_as_configured_is_unchanged(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_with_config(final_root, tmp_path, DEFAULT, lambda text: text + "hostpci3: 0000:00:17.0,pcie=1\n")
    output = generate("proxmox", root, [INTEL_SATA])
    assert output.stdout == "hostpci3: 0000:00:17.0,pcie=1\n"
    assert any(note.endswith("(0000:00:17.0,pcie=1): unchanged") for note in output.notes)


def test_a_mapped_device_is_resolved_through_pci_cfg(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_with_config(
        final_root,
        tmp_path,
        VM_START,
        lambda text: text.replace("hostpci0: 0000:03:00.0,pcie=1", "hostpci0: mapping=asm,pcie=1"),
    )
    mapping = root / "etc/pve/mapping/pci.cfg"
    mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping.write_text(
        "other\n\tmap id=8086:54d3,node=pve,path=0000:00:17.0\nasm\n\tmap id=1b21:0612,node=pve,path=0000:03:00.0\n"
    )
    output = generate("proxmox", root, [INTEL_SATA])
    assert any(
        "already passes 0000:03:00.0 [1b21:0612] (hostpci0: mapping=asm,pcie=1)" in note for note in output.notes
    )
    assert output.stdout == "hostpci1: 0000:00:17.0,pcie=1\n"


def test_what_cannot_be_resolved_is_said_not_guessed(final_root: RootOf, tmp_path: Path) -> None:
    def edit(text: str) -> str:
        return text.replace("ide2:", "hostpci0: 0000:0a:00.0\nhostpci1: mapping=nothere\nhostpci2: $(reboot)\nide2:")

    root = copy_with_config(final_root, tmp_path, DEFAULT, edit)
    output = generate("proxmox", root, [INTEL_SATA])
    notes = "\n".join(output.notes)
    assert "hostpci0 (0000:0a:00.0): 0000:0a:00.0 is not on this host" in notes
    assert "hostpci1 (mapping=nothere): mapping nothere: /etc/pve/mapping/pci.cfg is missing" in notes
    assert "hostpci2 ($(reboot)): '$(reboot)' is not a PCI address" in notes
    assert output.stdout == "hostpci3: 0000:00:17.0,pcie=1\n"


def test_hostpci_values_parse_like_qemu_server() -> None:
    assert parse_hostpci("hostpci0", "0000:08:00,pcie=1,x-vga=1").hosts == ("0000:08:00",)
    assert parse_hostpci("hostpci1", "host=03:00.0;04:00.0,rombar=0").hosts == ("03:00.0", "04:00.0")
    assert parse_hostpci("hostpci2", "mapping=gpu,pcie=1").mapping == "gpu"
    assert [proxmox_machine(value) for value in ("q35", "pc-q35-8.1+pve0", "type=q35,viommu=intel", None)] == [
        "q35",
        "pc-q35-8.1",
        "q35",
        "pc",
    ]


# --- The VM's shape in the libvirt domain ------------------------------------------------------


def test_the_domain_has_the_vms_memory_vcpus_machine_and_firmware(final_root: RootOf) -> None:
    """VM 100 of the default scenario: q35, OVMF, 1 socket x 4 cores, 16 GiB (not 2048 MiB / 2)."""
    result = run_generate("libvirt", "--device", INTEL_SATA, "--domain-xml", root=final_root(DEFAULT))
    assert result.code == 0, result.err
    document = result.out
    assert '<memory unit="MiB">16384</memory>' in document
    assert "<vcpu>4</vcpu>" in document
    assert '<topology sockets="1" dies="1" cores="4" threads="1" />' in document
    assert '<os firmware="efi">' in document and 'machine="q35"' in document
    assert "<name>truenas</name>" in document
    described = libvirt_accepts(document)
    assert "<memory unit='KiB'>16777216</memory>" in described
    assert "<vcpu placement='static'>4</vcpu>" in described
    assert "cores='4'" in described


def test_unset_values_take_qemu_servers_defaults_and_say_so(final_root: RootOf, tmp_path: Path) -> None:
    def edit(text: str) -> str:
        kept = [line for line in text.splitlines() if not line.startswith(("memory:", "cores:", "sockets:", "bios:"))]
        return "\n".join([*kept, "machine: pc-i440fx-8.1+pve0", "vcpus: 1", "cores: 2", ""])

    root = copy_with_config(final_root, tmp_path, DEFAULT, edit)
    result = run_generate("libvirt", "--device", INTEL_SATA, "--domain-xml", root=root)
    assert result.code == 0, result.err
    assert '<memory unit="MiB">512</memory>' in result.out
    assert '<vcpu current="1">2</vcpu>' in result.out
    assert 'machine="pc-i440fx-8.1"' in result.out and "firmware" not in result.out
    assert "memory is not set: qemu-server's default, 512 MiB" in result.err
    libvirt_accepts(result.out)


def test_a_vm_without_configuration_is_assumed_and_says_so(final_root: RootOf) -> None:
    result = run_generate("libvirt", "--device", INTEL_SATA, "--domain-xml", "--vmid", "4242", root=final_root(DEFAULT))
    assert result.code == 0, result.err
    assert "VM 4242 has no configuration on this root: assuming machine q35 with OVMF" in result.err
    assert '<memory unit="MiB">2048</memory>' in result.out and "<name>vm4242</name>" in result.out


# --- Disks the VM already has ------------------------------------------------------------------


def test_a_disk_the_vm_already_has_is_not_offered_again(final_root: RootOf, tmp_path: Path) -> None:
    disk = "/dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5678"

    def edit(text: str) -> str:
        return text.replace("scsihw:", f"sata3: {disk},serial=WD-WX12D34A5678\nscsi1: local-lvm:vm-100-disk-2\nscsihw:")

    root = copy_with_config(final_root, tmp_path, DEFAULT, edit)
    result = run_generate("proxmox-disks", "--device", INTEL_SATA, root=root)
    assert result.code == 0, result.err
    # sda is already sata3; scsi0 and scsi1 are taken, so sdb becomes scsi2.
    assert result.out == (
        "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5679,serial=WD-WX12D34A5679\n"
    )
    assert f"sda is already sata3 of VM 100 ({disk}): not offered again" in result.err


def test_the_refusals_disk_alternative_skips_them_too(final_root: RootOf, tmp_path: Path) -> None:
    disk = "/dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680"
    root = copy_with_config(final_root, tmp_path, DEFAULT, lambda text: text + f"scsi1: {disk}\n")
    result = run_generate("proxmox", "--device", ASM, root=root)
    assert result.code == 2 and result.out == ""
    assert "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681" in result.err
    assert f"-scsi1 {disk}" not in result.err and "sdc is already scsi1 of VM 100" in result.err


# --- apply.sh with the VM's configuration --------------------------------------------------------


def apply(out: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "VFIOLAB_ROOT": str(root)}
    return subprocess.run(
        ["sh", str(out / "apply.sh"), *args], capture_output=True, text=True, env=environment, check=False
    )


def test_apply_sets_the_next_free_index_and_warns(final_root: RootOf, tmp_path: Path) -> None:
    host = tmp_path / "host"
    shutil.copytree(final_root(VM_START), host, symlinks=True)
    out = tmp_path / "plan"
    result = run_generate("all", "--device", INTEL_SATA, "--out", str(out), root=host)
    assert result.code == 0 and result.out == "", result.err
    assert "WARNING: VM 100 already passes 0000:03:00.0" in result.err
    script = (out / "apply.sh").read_text()
    assert "# WARNING: VM 100 already passes 0000:03:00.0" in script
    dry = apply(out, host, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would run: qm set 100 -hostpci1 0000:00:17.0,pcie=1" in dry.stdout
    # Someone takes hostpci1 after the plan: the script refuses, naming it.
    config = host / CONFIG
    config.write_text(config.read_text().replace("ide2:", "hostpci1: 0000:04:00.0\nide2:"))
    refused = apply(out, host, "--dry-run")
    assert refused.returncode == 2 and "hostpci1 now holds 'hostpci1: 0000:04:00.0'" in refused.stderr


def test_apply_sets_a_reused_index_again_once(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_with_config(final_root, tmp_path, DEFAULT, lambda text: text + "hostpci2: 0000:00:17.0\n")
    out = tmp_path / "plan"
    generate("all", root, [INTEL_SATA]).write(out)
    assert (
        "expect_vm_key etc/pve/qemu-server/100.conf hostpci2 'hostpci2: 0000:00:17.0' "
        in (out / "apply.sh").read_text()
    )
    dry = apply(out, root, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would run: qm set 100 -hostpci2 0000:00:17.0,pcie=1" in dry.stdout
    # Once qm has written the line, a rerun leaves it alone.
    config = root / CONFIG
    config.write_text(config.read_text().replace("hostpci2: 0000:00:17.0\n", "hostpci2: 0000:00:17.0,pcie=1\n"))
    again = apply(out, root, "--dry-run")
    assert again.returncode == 0 and "unchanged: /etc/pve/qemu-server/100.conf has 'hostpci2:" in again.stdout


def test_every_hostpci_line_printed_follows_the_format(final_root: RootOf) -> None:
    for scenario in (VM_START, DEFAULT):
        output = generate("proxmox", final_root(scenario), [INTEL_SATA], GenerateOptions(force=True))
        for line in (output.stdout or "").splitlines():
            key, _, value = line.partition(": ")
            validate_hostpci(key, value)


def test_snapshot_sections_are_mentioned(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_with_config(
        final_root, tmp_path, DEFAULT, lambda text: text + "\n[before-upgrade]\nhostpci0: 0000:03:00.0\n"
    )
    output = generate("proxmox", root, [INTEL_SATA])
    assert output.stdout == "hostpci0: 0000:00:17.0,pcie=1\n"
    assert any("snapshot or pending sections" in note for note in output.notes)
    assert not any("already passes" in note for note in output.notes)
    assert os.path.exists(root / CONFIG)
