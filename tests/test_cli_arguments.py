"""Argument rules of ``vfiolab generate`` and ``vfiolab check``: each mistake is one error line
with its documented exit code (64 usage, 65 bad input data, 73 output cannot be written), never a
traceback and never a code a verdict uses. Each case here is also a bad-input corpus entry."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main

RootOf = Callable[[str], Path]
SCENARIO = "terramaster-f4-424-pro"
SATA = "0000:00:17.0"

#: (arguments after "generate", exit code, fragment of the message); --root ROOT is added.
GENERATE_CASES = [
    (["proxmox", "--device", SATA, "--vmid", "-1"], 64, "expected a Proxmox VM id, 100 to 999999999, got '-1'"),
    (["proxmox", "--device", SATA, "--vmid", "0"], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmid", "99"], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmid", str(10**30)], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmid", "0100"], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmid", "1e3"], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmid", "100;reboot"], 64, "expected a Proxmox VM id"),
    (["proxmox", "--device", SATA, "--vmd", "100"], 64, "unrecognized arguments: --vmd"),
    (["proxmox", "--device", SATA, "--domain-xml"], 64, "--domain-xml does not apply to target proxmox"),
    (["qemu", "--device", SATA, "--domain-xml"], 64, "--domain-xml does not apply to target qemu"),
    (["proxmox", "--device", SATA, "--overwrite"], 64, "--overwrite only applies with --out DIR"),
    (["modprobe", "--device", SATA, "--node", "pve"], 64, "--node does not apply to target modprobe"),
    (["all", "--device", SATA, "--node", "pve"], 64, "--node does not apply to target all"),
    (["proxmox", "--device", SATA, "--node", "pve;reboot"], 64, "expected a Proxmox node name"),
    (["proxmox", "--device", SATA, "--node", "pve.example.com"], 64, "expected a Proxmox node name"),
    (["proxmox", "--device", SATA, "--node=-pve"], 64, "expected a Proxmox node name"),
    (["proxmox", "--device", SATA, "--guest-address", "06:00"], 64, "--guest-address does not apply to target"),
    (["modprobe", "--device", SATA, "--override", "sub-vendor-id=0x1002"], 64, "--override does not apply"),
    (["modprobe", "--device", SATA, "--unsafe", "acs-override"], 64, "--unsafe acs-override does not apply"),
    (["cmdline", "--device", SATA, "--unsafe", "unsafe-interrupts"], 64, "--unsafe unsafe-interrupts does not"),
    (["modprobe", "--device", SATA, "--vmid", "100"], 64, "--vmid does not apply to target modprobe"),
    (["driverctl", "--device", SATA, "--vmid", "200"], 64, "--vmid does not apply to target driverctl"),
    (["proxmox-disks", "--device", SATA, "--force"], 64, "--force does not apply to target proxmox-disks"),
]


@pytest.fixture(scope="module")
def root(final_root: RootOf) -> Path:
    return final_root(SCENARIO)


def exit_code(args: list[str]) -> int:
    """``vfiolab ARGS`` in this process: the exit code, from main() or argparse's exit."""
    try:
        return main(args)
    except SystemExit as exiting:
        return int(exiting.code or 0)


@pytest.mark.parametrize(("args", "code", "message"), GENERATE_CASES)
def test_generate_argument_mistakes(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    assert exit_code(["generate", *args, "--root", str(root)]) == code
    captured = capsys.readouterr()
    assert message in captured.err, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    error_lines = [line for line in captured.err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(error_lines) == 1, captured.err


def test_vm_ids_at_the_ends_of_the_range_are_accepted(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for vmid in ("100", "999999999"):
        assert main(["generate", "proxmox", "--device", SATA, "--vmid", vmid, "--root", str(root)]) == 0
        captured = capsys.readouterr()
        assert captured.out == "hostpci0: 0000:00:17.0,pcie=1\n"
        assert f"qm set {vmid} -hostpci0" in captured.err


@pytest.mark.parametrize("make", ["file", "file-parent", "proc"])
def test_out_that_cannot_be_written_is_one_line_73(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str
) -> None:
    if make == "file":
        out = tmp_path / "a-file"
        out.write_text("x")
        fragment = "exists and is not a directory"
    elif make == "file-parent":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file/sub"
        fragment = "--out"
    else:
        out = Path("/proc/vfiolab-cannot-write-here")
        fragment = "--out /proc/vfiolab-cannot-write-here"
    assert exit_code(["generate", "modprobe", "--device", SATA, "--root", str(root), "--out", str(out)]) == 73
    captured = capsys.readouterr()
    assert fragment in captured.err and len(captured.err.splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err


def test_out_never_follows_a_directory_link_out_of_dir(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "modprobe.d").mkdir(parents=True)
    out.mkdir()
    (out / "etc").symlink_to(elsewhere)
    assert exit_code(["generate", "modprobe", "--device", SATA, "--root", str(root), "--out", str(out)]) == 73
    err = capsys.readouterr().err
    assert "leads outside" in err and len(err.splitlines()) == 1
    assert list((elsewhere / "modprobe.d").iterdir()) == []


def test_a_hostname_that_is_no_node_name_is_bad_input_unless_node_is_given(
    final_root: RootOf, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    shutil.copytree(final_root(SCENARIO), root, symlinks=True)
    (root / "etc/hostname").write_text("pve'; touch PWNED; '\n")
    assert main(["generate", "proxmox", "--device", SATA, "--root", str(root)]) == 65
    err = capsys.readouterr().err
    assert "/etc/hostname holds" in err and "give the node with --node NAME" in err and len(err.splitlines()) == 1
    assert main(["generate", "proxmox", "--device", SATA, "--root", str(root), "--node", "pve1"]) == 0
    assert "node=pve1," in capsys.readouterr().err


# --- check --rom --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rom", "0000:09:00.0=x.rom"], "--rom 0000:09:00.0=...: no such PCI device under"),
        (["--device", "00:17.0", "--rom", "03:00.0=x.rom"], "that device is not checked (add --device 0000:03:00.0)"),
        (["--device", "03:00.0", "--rom", "x.rom", "--rom", "y.rom"], "--rom: more than one file for 0000:03:00.0"),
        (["--device", "03:00.0", "--rom", "x.rom", "--rom", "03:00.0=y.rom"], "more than one file for 0000:03:00.0"),
        (["--rom", "x.rom"], "--rom FILE needs exactly one --device"),
    ],
)
def test_check_rom_mistakes_are_usage_errors(
    root: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert exit_code(["check", "--root", str(root), *args]) == 64
    captured = capsys.readouterr()
    assert message in captured.err and len(captured.err.splitlines()) == 1, captured.err
    assert captured.out == ""
