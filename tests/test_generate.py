"""The config generator, judged by the real tools straight from what ``vfiolab generate`` prints
on stdout: virt-xml-validate and libvirt's test driver for the XML, qemu-system-x86_64 with the
printed arguments, kmod's modprobe for the modprobe.d file, and a validator of Proxmox's
documented format (tests/proxmox_format.py). Plus the Terramaster acceptance cases, identical
controllers, apply.sh, golden files (stdout and stderr) for every target on two hosts, and no
unsafe option unless asked for.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.generate import TARGET_OPTIONS, TARGETS, GeneratedOutput, GenerateOptions, GenerateRefused, generate
from harness.generate.plan import build_plan
from harness.generate.qemu import device_arguments
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.generate_cli import (
    in_a_domain,
    libvirt_accepts,
    modprobe_accepts,
    option_arguments,
    qemu_judges,
    rendered,
    run_generate,
)
from tests.helpers import vfiolab
from tests.proxmox_format import FormatError, validate_hostpci, validate_mapping_section

REPO = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "data" / "generate"
INTEL_SATA = "0000:00:17.0"
ASM = "0000:03:00.0"
#: Golden hosts: scenario -> devices asked for.
GOLDEN_HOSTS = {
    "terramaster-f4-424-pro": [INTEL_SATA],
    "amd-ryzen-radeon-gpu": ["0000:08:00.0"],
    # VM 100 already passes the ASM1062 (hostpci0), which the checker fails.
    "terramaster-asm1062-vm-start": [INTEL_SATA],
}
UNSAFE_WORDS = (
    "pcie_acs_override",
    "allow_unsafe_interrupts",
    "iommu=soft",
    "relax_rmrr",
    "disable_denylist",
    "nointremap",
)

RootOf = Callable[[str], Path]


# --- Acceptance on the default scenario -------------------------------------------------------------


def test_proxmox_line_for_the_intel_sata_controller() -> None:
    completed = vfiolab(
        "generate", "proxmox", "--scenario", "terramaster-f4-424-pro", "--device", INTEL_SATA, "--vmid", "100"
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "hostpci0: 0000:00:17.0,pcie=1\n"
    assert "qm set 100 -hostpci0 0000:00:17.0,pcie=1" in completed.stderr.splitlines()


def test_asm1062_is_refused_with_the_checker_reasons_and_the_disk_commands() -> None:
    completed = vfiolab("generate", "proxmox", "--scenario", "terramaster-f4-424-pro", "--device", ASM)
    assert completed.returncode == 2
    assert "reset.bus-reset-breaks-device" in completed.stderr
    # Nothing on stdout: `vfiolab generate proxmox ... >> 100.conf` must not append commands.
    assert completed.stdout == ""
    assert "qm set 100 -scsi1 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680" in completed.stderr
    assert "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681" in completed.stderr


def test_forced_output_says_so_in_every_file(final_root: RootOf) -> None:
    root = final_root("terramaster-f4-424-pro")
    for target in ("modprobe", "libvirt", "qemu", "initramfs-tools"):
        output = generate(target, root, [ASM], GenerateOptions(force=True))
        assert "generated although the checker fails" in output.guidance(), target
        for item in output.files:
            if item.path.endswith("modules") or target == "qemu":
                continue  # the host's own file, with our lines appended; QEMU arguments have no comments
            assert "generated although the checker fails" in item.content, (target, item.path)
            assert "reset.bus-reset-breaks-device" in item.content


def test_disk_fallback_needs_no_force(final_root: RootOf) -> None:
    output = generate("proxmox-disks", final_root("terramaster-f4-424-pro"), [ASM])
    commands = [command for _, command in output.commands]
    assert commands == [
        "qm set 100 -scsi1 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680,serial=WD-WX12D34A5680",
        "qm set 100 -scsi2 /dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681,serial=WD-WX12D34A5681",
    ]
    assert any("SMART" in note for note in output.notes) and any("scsiblock=1" in note for note in output.notes)


# --- apply.sh ----------------------------------------------------------------------------------------


def test_all_writes_a_tree_whose_apply_script_lists_each_change(final_root: RootOf, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    completed = vfiolab(
        "generate", "all", "--scenario", "terramaster-f4-424-pro", "--device", INTEL_SATA, "--out", str(out)
    )
    assert completed.returncode == 0, completed.stderr
    assert (out / "etc/modprobe.d/vfio.conf").is_file() and os.access(out / "apply.sh", os.X_OK)
    host = tmp_path / "host"
    shutil.copytree(final_root("terramaster-f4-424-pro"), host, symlinks=True)
    before = (host / "etc/initramfs-tools/modules").read_text()
    environment = {**os.environ, "VFIOLAB_ROOT": str(host)}

    dry = subprocess.run(
        [str(out / "apply.sh"), "--dry-run"], capture_output=True, text=True, env=environment, check=False
    )
    assert dry.returncode == 0, dry.stderr
    assert "would create: /etc/modprobe.d/vfio.conf" in dry.stdout
    assert "would replace: /etc/initramfs-tools/modules" in dry.stdout
    assert "    +vfio_pci" in dry.stdout  # the diff of what changes
    assert "would run: update-initramfs -u -k all" in dry.stdout
    assert "would run: qm set 100 -hostpci0 0000:00:17.0,pcie=1" in dry.stdout
    assert not (host / "etc/modprobe.d/vfio.conf").exists()
    assert (host / "etc/initramfs-tools/modules").read_text() == before

    applied = subprocess.run(
        [str(out / "apply.sh"), "--yes"], capture_output=True, text=True, env=environment, check=False
    )
    assert applied.returncode == 0, applied.stderr
    assert (host / "etc/modprobe.d/vfio.conf").read_text() == (out / "etc/modprobe.d/vfio.conf").read_text()
    backups = list((host / "etc/initramfs-tools").glob("modules.vfiolab-*"))
    assert len(backups) == 1 and backups[0].read_text() == before
    again = subprocess.run(
        [str(out / "apply.sh"), "--yes"], capture_output=True, text=True, env=environment, check=False
    )
    assert "unchanged: /etc/modprobe.d/vfio.conf" in again.stdout and "wrote" not in again.stdout

    other = {**os.environ, "VFIOLAB_ROOT": str(final_root("n100-asm1184e-switch"))}
    refused = subprocess.run([str(out / "apply.sh"), "--yes"], capture_output=True, text=True, env=other, check=False)
    assert refused.returncode == 2 and "refusing" in refused.stderr


def test_out_never_overwrites_without_asking(tmp_path: Path) -> None:
    target = tmp_path / "etc/modprobe.d/vfio.conf"
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    args = [
        "generate",
        "modprobe",
        "--scenario",
        "terramaster-f4-424-pro",
        "--device",
        INTEL_SATA,
        "--out",
        str(tmp_path),
    ]
    completed = vfiolab(*args)
    assert completed.returncode == 73 and "--overwrite" in completed.stderr
    assert target.read_text() == "mine\n"
    assert vfiolab(*args, "--overwrite").returncode == 0
    assert "options vfio-pci ids=8086:54d3" in target.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["generate", "proxmox", "--scenario", "terramaster-f4-424-pro", "--device", "0000:09:00.0"],
            "no such PCI device",
        ),
        (["generate", "nonsense", "--scenario", "terramaster-f4-424-pro", "--device", INTEL_SATA], "invalid choice"),
        (["generate", "proxmox", "--scenario", "terramaster-f4-424-pro"], "--device"),
        (["generate", "proxmox", "--scenario", "terramaster-f4-424-pro", "--device", "00:1c.6"], "bridge"),
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    completed = vfiolab(*args)
    assert completed.returncode == 64, completed.stdout
    assert message in completed.stderr and "Traceback" not in completed.stderr


# --- Identical controllers -----------------------------------------------------------------------------


def identical_controllers(tmp_path: Path, second_subsystem: int | None) -> Path:
    """The Terramaster with a second ASM1062 in place of the NVMe, holding the host's root; both
    with FLR (so the checker passes them)."""
    flr = {"capabilities": [{"id": "express", "devcap": {"flr": True}}]}
    second: dict[str, Any] = {"bdf": "04:00.0", "device": "asmedia-asm1062", "driver": "ahci", "override": flr}
    if second_subsystem is not None:
        second["override"] = {**flr, "header": {"subsystem_device": second_subsystem}}
    host = {
        "extends": "terramaster-f4-424-pro",
        "pci": [{"bdf": "03:00.0", "behaviours": [], "override": flr}, second],
        "disks": [
            {"name": "nvme0n1", "remove": True},
            {
                "name": "sde",
                "controller": "04:00.0",
                "model": "Samsung SSD 870",
                "serial": "S6PNNX0T1",
                "partitions": [1, 2, 3],
            },
        ],
        "device_mapper": [{"name": "pve-root", "slaves": ["sde3"]}, {"name": "pve-swap", "slaves": ["sde3"]}],
        "mounts": [{"source": "/dev/sde2", "target": "/boot/efi", "fstype": "vfat"}],
    }
    path = tmp_path / "twins.yaml"
    path.write_text(yaml.safe_dump({"name": "twins", "host": host}, sort_keys=False))
    root = tmp_path / "root"
    render_final_root(load_scenario(str(path)), root)
    return root


def modprobe_text(output: GeneratedOutput) -> str:
    [conf] = [item for item in output.files if item.path == "/etc/modprobe.d/vfio.conf"]
    return conf.content


def test_identical_twins_are_bound_by_address(tmp_path: Path) -> None:
    root = identical_controllers(tmp_path, None)
    text = modprobe_text(generate("modprobe", root, [ASM]))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not [line for line in lines if line.startswith("options vfio-pci ids=")]
    assert lines == [
        "install ahci echo vfio-pci > /sys/bus/pci/devices/0000:03:00.0/driver_override; /sbin/modprobe vfio-pci; "
        "/sbin/modprobe --ignore-install ahci $CMDLINE_OPTS"
    ]
    assert "0000:04:00.0" not in "\n".join(lines)
    assert "bound by address" in text and "driverctl set-override 0000:03:00.0 vfio-pci" in text
    modprobe_accepts(tmp_path, text)


def test_twins_told_apart_by_subsystem_get_a_narrowed_ids_entry(tmp_path: Path) -> None:
    root = identical_controllers(tmp_path, 0x2116)
    text = modprobe_text(generate("modprobe", root, [ASM]))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["options vfio-pci ids=1b21:0612:1b21:1060", "softdep ahci pre: vfio-pci"]
    assert "plain 1b21:0612 would also capture 04:00.0" in text
    modprobe_accepts(tmp_path, text)


# --- Real tools as judges -------------------------------------------------------------------------------


def for_target(target: str, options: GenerateOptions) -> GenerateOptions:
    """``options`` without those ``target`` does not use (giving them is a usage error)."""
    used = TARGET_OPTIONS[target]
    return dataclasses.replace(
        options,
        guest_address=options.guest_address if "--guest-address" in used else None,
        id_overrides=options.id_overrides if "--override" in used else {},
        domain_xml=options.domain_xml and "--domain-xml" in used,
        node=options.node if "--node" in used else None,
        qemu_format=options.qemu_format if "--format" in used else None,
        vmid=options.vmid if "--vmid" in used else GenerateOptions.vmid,
        domain=options.domain if "--domain" in used else None,
    )


def plans() -> list[tuple[str, list[str], GenerateOptions]]:
    overrides = {"sub-vendor-id": "0x1002", "sub-device-id": "0x0b36"}
    return [
        ("terramaster-f4-424-pro", [INTEL_SATA], GenerateOptions()),
        ("amd-ryzen-radeon-gpu", ["0000:08:00.0"], GenerateOptions(guest_address="06:00", id_overrides=overrides)),
        ("terramaster-f4-424-pro", [INTEL_SATA, "0000:01:00.0"], GenerateOptions(force=True, vmid=200)),
    ]


def generate_stdout(root: Path, target: str, devices: list[str], options: GenerateOptions) -> str:
    """What ``vfiolab generate TARGET`` prints on stdout, checked to exit 0."""
    args = [target, *(word for device in devices for word in ("--device", device)), *option_arguments(options)]
    result = run_generate(*args, root=root)
    assert result.code == 0, result.err
    return result.out


@pytest.mark.parametrize(("scenario", "devices", "options"), plans())
def test_libvirt_domain_on_stdout_passes_virt_xml_validate_and_the_test_driver(
    final_root: RootOf, scenario: str, devices: list[str], options: GenerateOptions
) -> None:
    options = dataclasses.replace(for_target("libvirt", options), domain_xml=True)
    document = generate_stdout(final_root(scenario), "libvirt", devices, options)
    assert document.lstrip().startswith("<")
    description = libvirt_accepts(document)
    plan = build_plan(final_root(scenario), devices, options)
    assert description.count("<hostdev mode='subsystem' type='pci' managed='yes'>") == len(plan.functions)
    for item in plan.functions:
        bdf = item.function.bdf
        assert f"bus='0x{bdf.bus:02x}' slot='0x{bdf.device:02x}' function='0x{bdf.function:x}'" in description


@pytest.mark.parametrize(("scenario", "devices", "options"), plans())
def test_each_hostdev_document_is_valid_in_a_domain(
    final_root: RootOf, tmp_path: Path, scenario: str, devices: list[str], options: GenerateOptions
) -> None:
    """One guest function: the <hostdev> is stdout; several: one file each under --out (what
    virsh attach-device takes, one device per call)."""
    options = for_target("libvirt", options)
    plan = build_plan(final_root(scenario), devices, options)
    if len(plan.functions) == 1 and not options.id_overrides:
        documents = [generate_stdout(final_root(scenario), "libvirt", devices, options)]
    else:
        args = [word for device in devices for word in ("--device", device)] + option_arguments(options)
        assert run_generate("libvirt", *args, root=final_root(scenario)).code == 64
        out = tmp_path / "out"
        result = run_generate("libvirt", *args, "--out", str(out), root=final_root(scenario))
        assert result.code == 0 and result.out == "", result.err
        documents = [path.read_text() for path in sorted(out.glob("hostdev-*.xml"))]
    assert len(documents) == len(plan.functions)
    for document in documents:
        assert document.count("<hostdev ") == 1
        wrapped = in_a_domain(document, "q35" if plan.vm.q35 else "pc")
        assert "<hostdev mode='subsystem' type='pci' managed='yes'>" in libvirt_accepts(wrapped)


@pytest.mark.parametrize(("scenario", "devices", "options"), plans())
def test_qemu_arguments_on_stdout_are_parsed_by_the_real_qemu(
    final_root: RootOf, scenario: str, devices: list[str], options: GenerateOptions
) -> None:
    options = for_target("qemu", options)
    printed = generate_stdout(final_root(scenario), "qemu", devices, options)
    arguments = printed.splitlines()
    assert not [line for line in arguments if line.startswith("#") or line.endswith("\\")]
    plan = build_plan(final_root(scenario), devices, options)
    assert arguments == [argument for group in device_arguments(plan) for argument in group]
    shell = dataclasses.replace(options, qemu_format="shell")
    shell_line = generate_stdout(final_root(scenario), "qemu", devices, shell)
    assert shell_line.count("\n") == 1 and shlex.split(shell_line) == arguments
    qemu_judges(arguments, "q35" if plan.vm.q35 else "pc", [item.address for item in plan.functions])


@pytest.mark.parametrize(("scenario", "devices", "options"), plans())
def test_proxmox_output_follows_the_documented_format(
    final_root: RootOf, scenario: str, devices: list[str], options: GenerateOptions
) -> None:
    options = for_target("proxmox", options)
    printed = generate_stdout(final_root(scenario), "proxmox", devices, options)
    assert printed.splitlines()
    for line in printed.splitlines():
        key, _, value = line.partition(": ")
        validate_hostpci(key, value)
    output = generate("proxmox", final_root(scenario), devices, options)
    config, mapping = output.files
    assert config.content == printed
    for section in mapping.content.split("\n\n"):
        if section.strip():
            validate_mapping_section(section)
    for _, command in output.commands:
        words = shlex.split(command)
        if words[:2] == ["qm", "set"]:
            validate_hostpci(words[3].lstrip("-"), words[4])


@pytest.mark.parametrize(
    "line",
    [
        "hostpci0: 0000:03:00.0,pcie=1",
        "hostpci0: 0000:03:00.0,pcie=1,rombar=0",
        "hostpci0: 0000:03:00.0,pcie=1,rombar=0,sub-device-id=0x0612,sub-vendor-id=0x1b21",
        "hostpci0: 0000:03:00.0,pcie=1,rombar=0,romfile=asm1061.rom",
        "hostpci0: 0000:03:00.0,pcie=1,x-vga=on",
        "hostpci1: mapping=asm1061,pcie=1",
        "hostpci2: 0000:08:00,pcie=1",
    ],
)
def test_the_validator_accepts_the_reference_lines(line: str) -> None:
    key, _, value = line.partition(": ")
    validate_hostpci(key, value)


@pytest.mark.parametrize(
    "line",
    [
        "hostpci0: 0000:0A:00.0",  # uppercase hex
        "hostpci0: asm1061",  # a bare mapping name
        "hostpci0: 0000:03:00.0,romfile=/usr/share/kvm/asm1061.rom",  # absolute romfile
        "hostpci0: 0000:03:00.0,sub-device-id=1060",  # no 0x
        "hostpci16: 0000:03:00.0",
        "hostpci0: host=0000:03:00.0,mapping=asm1061",
    ],
)
def test_the_validator_rejects_known_bad_forms(line: str) -> None:
    key, _, value = line.partition(": ")
    with pytest.raises(FormatError):
        validate_hostpci(key, value)


@pytest.mark.parametrize(
    "section",
    [
        "asm1061\n\tmap id=1b21:0612,node=pve,path=03:00.0\n",  # path without domain
        "asm1061\n\tmap id=0x1b21:0x0612,node=pve,path=0000:03:00.0\n",  # id with 0x
        "pci: asm1061\n\tmap id=1b21:0612,node=pve,path=0000:03:00.0\n",  # prefixed header
    ],
)
def test_the_validator_rejects_bad_mapping_entries(section: str) -> None:
    with pytest.raises(FormatError):
        validate_mapping_section(section)


def test_modprobe_output_on_stdout_is_accepted_by_kmod(final_root: RootOf, tmp_path: Path) -> None:
    for scenario, devices, options in plans():
        options = for_target("modprobe", options)
        printed = generate_stdout(final_root(scenario), "modprobe", devices, options)
        assert printed == modprobe_text(generate("modprobe", final_root(scenario), devices, options))
        modprobe_accepts(tmp_path, printed)


# --- Golden files and safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(GOLDEN_HOSTS))
@pytest.mark.parametrize("target", list(TARGETS))
def test_golden_output(final_root: RootOf, scenario: str, target: str) -> None:
    """Each target's whole output on two hosts as the command line prints it (stdout and stderr,
    or the files --out writes); VFIOLAB_UPDATE_GOLDEN=1 rewrites the files (review the diff
    before committing)."""
    text = rendered(generate(target, final_root(scenario), GOLDEN_HOSTS[scenario]))
    path = GOLDEN / scenario / f"{target}.txt"
    if os.environ.get("VFIOLAB_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        pytest.skip(f"rewrote {path}: review the diff")
    assert path.exists(), f"no golden file {path}: run with VFIOLAB_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def non_comment_lines(output: GeneratedOutput) -> list[str]:
    lines = [command for _, command in output.commands]
    for item in output.files:
        lines += [
            line for line in item.content.splitlines() if line.strip() and not line.lstrip().startswith(("#", "<!--"))
        ]
    return lines


@pytest.mark.parametrize("scenario", list(GOLDEN_HOSTS))
def test_no_unsafe_option_without_the_explicit_flag(final_root: RootOf, scenario: str) -> None:
    root = final_root(scenario)
    for target in TARGETS:
        output = generate(target, root, GOLDEN_HOSTS[scenario])
        offending = [line for line in non_comment_lines(output) if any(word in line for word in UNSAFE_WORDS)]
        assert offending == [], (target, offending)
    asked = generate("all", root, GOLDEN_HOSTS[scenario], GenerateOptions(unsafe=("acs-override", "unsafe-interrupts")))
    text = "\n".join(item.content for item in asked.files)
    assert "options vfio_iommu_type1 allow_unsafe_interrupts=1" in text
    assert "WARNING: allow_unsafe_interrupts" in text
    modprobe = generate("cmdline", root, GOLDEN_HOSTS[scenario], GenerateOptions(unsafe=("acs-override",)))
    assert any("pcie_acs_override=downstream,multifunction" in line for line in non_comment_lines(modprobe))
    assert any("WARNING: pcie_acs_override" in note for note in modprobe.notes)


def test_group_peers_are_passed_and_listed_or_the_device_is_refused(final_root: RootOf, tmp_path: Path) -> None:
    with pytest.raises(GenerateRefused) as refused:
        generate("proxmox", final_root("n100-asm1184e-switch"), ["0000:03:00.0"])
    assert "isolation.switch-without-acs" in str(refused.value)
    output = generate("proxmox", final_root("amd-ryzen-radeon-gpu"), ["0000:08:00.0"])
    assert any("08:00.1" in note and "go to the VM with it" in note for note in output.notes)
    assert output.files[0].content.startswith("hostpci0: 0000:08:00,pcie=1")


def test_planning_the_audio_function_leaves_its_isa_bridge_out(final_root: RootOf) -> None:
    output = generate("proxmox", final_root("terramaster-f4-424-pro"), ["0000:00:1f.3"], GenerateOptions(force=True))
    assert output.files[0].content.startswith("hostpci0: 0000:00:1f.3,")
    assert not any("00:1f.0" in note for note in output.notes)


def test_a_bad_guest_address_could_not_run() -> None:
    args = [
        "generate",
        "libvirt",
        "--scenario",
        "terramaster-f4-424-pro",
        "--device",
        INTEL_SATA,
        "--guest-address",
        "zz",
    ]
    completed = vfiolab(*args)
    assert completed.returncode == 64 and "BUS:SLOT" in completed.stderr and "Traceback" not in completed.stderr
