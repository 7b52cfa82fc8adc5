"""What the generator offers instead of a refused device, by failure family (harness.generate.instead),
and the whole slot for a DMA alias that is a real function; each offer that is a command is run or
judged by the tools the generator tests use (vfiolab itself, the Proxmox format, qemu-system-x86_64)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from harness.checker import check_root
from harness.findings import Verdict
from harness.generate import GenerateOptions, GenerateRefused, generate
from harness.generate.plan import build_plan
from harness.generate.qemu import device_arguments
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.generate_cli import qemu_judges
from tests.helpers import vfiolab
from tests.proxmox_format import validate_hostpci
from tests.test_checker import terramaster, write_scenario

RootOf = Any
ASM = "0000:03:00.0"


def refusal(root: Path, device: str) -> GenerateRefused:
    with pytest.raises(GenerateRefused) as refused:
        generate("proxmox", root, [device])
    return refused.value


def test_a_controller_held_by_vfio_pci_offers_the_disk_command_that_prints_them(final_root: RootOf) -> None:
    """The ASM1062 bound to vfio-pci early: its disks are not visible, so the offer is the command
    that lists them once ahci has it; on the same host with ahci bound, that command prints them."""
    refused = refusal(final_root("terramaster-f4-424-pro-vfio-early"), ASM)
    assert refused.alternative is None
    (offer,) = refused.offers
    assert "once ahci holds it again" in offer
    command = re.findall(r"`([^`]+)`", offer)[0]
    words = shlex.split(command)
    assert words[:3] == ["vfiolab", "generate", "proxmox-disks"]
    completed = vfiolab(*words[1:], "--scenario", "terramaster-f4-424-pro")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "qm set 100 -scsi1 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680,serial=WD-WX12D34A5680",
        "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681,serial=WD-WX12D34A5681",
    ]


def test_visible_disks_are_the_alternative_and_no_offer_repeats_them(final_root: RootOf) -> None:
    refused = refusal(final_root("terramaster-f4-424-pro"), ASM)
    assert refused.alternative is not None and "-scsi1 /dev/disk/by-id/" in refused.alternative
    assert refused.offers == []


def test_an_rmrr_nic_cannot_be_assigned_and_goes_through_a_bridge(final_root: RootOf) -> None:
    refused = refusal(final_root("hpe-i350-rmrr-ubuntu2404"), ASM)
    assert any("isolation.rmrr" in reason for reason in refused.reasons)
    assert refused.alternative is None
    first, bridge, other = refused.offers
    assert "cannot be assigned to a VM" in first
    assert "`qm set 100 -net0 virtio,bridge=vmbrN`" in bridge
    assert "another slot" in other


def test_a_phantom_dma_alias_offers_no_disks_only_the_kernel(final_root: RootOf) -> None:
    refused = refusal(final_root("marvell-88se9125-dma-alias"), ASM)
    assert refused.alternative is None
    (offer,) = refused.offers
    assert "03:00.1 is a phantom function" in offer and "kernel that carries the DMA alias quirk" in offer


def alias_host(tmp_path: Path) -> Path:
    """The Terramaster's slot 03:00.0 as a Marvell 88SE9235 with a real function 1 (an IDE
    function), on 6.1.30: before the 6.1 branch got quirk_dma_func1_alias for it (6.1.40)."""
    marvell = {"header": {"vendor": 0x1B4B, "device": 0x9235}}
    ide = {"header": {"vendor": 0x1B4B, "device": 0x91A0, "class": 0x010185}}
    host = terramaster(
        kernel={
            "release": "6.1.30",
            "version": "Linux version 6.1.30 (builder@example) (gcc 12.2.0) #1 SMP PREEMPT_DYNAMIC",
            "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.1.30 root=/dev/sda1 ro intel_iommu=on",
        },
        pci=[
            {"bdf": "03:00.0", "device": "asmedia-asm1062", "behaviours": [], "override": marvell},
            {"bdf": "03:00.1", "device": "asmedia-asm1062", "override": ide},
        ],
    )
    root = tmp_path / "root"
    render_final_root(load_scenario(str(write_scenario(tmp_path, "alias", host))), root)
    return root


def test_a_real_dma_alias_function_goes_along_as_the_whole_slot(tmp_path: Path) -> None:
    root = alias_host(tmp_path)
    report = check_root(root)
    device = next(item for item in report.devices if item.function.name == ASM)
    assert device.verdict is Verdict.FAIL
    assert "isolation.dma-alias-missing" in {finding.code for finding in device.findings}
    options = GenerateOptions(vmid=100)
    plan = build_plan(root, [ASM], options)
    assert [item.address for item in plan.functions] == ["0000:03:00.0", "0000:03:00.1"]
    assert any("issues DMA as 03:00.1" in note for note in plan.notes)
    line = generate("proxmox", root, [ASM], options).text()
    key, value = next(item for item in line.splitlines() if item.startswith("hostpci")).split(": ", 1)
    assert value.startswith("0000:03:00,")
    validate_hostpci(key, value)
    arguments = [argument for group in device_arguments(plan) for argument in group]
    qemu_judges(arguments, "q35", [item.address for item in plan.functions])
