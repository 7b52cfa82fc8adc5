"""``vfiolab check`` and ``vfiolab rom`` as a user runs them: exit codes, human and JSON output,
errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.report import load_schema
from tests.helpers import vfiolab

REPO = Path(__file__).resolve().parent.parent
REFERENCE_ROM_LINES = [
    "Valid ROM signature found @0h, PCIR offset 40h",
    "\tPCIR: type 0 (x86 PC-AT), vendor: 1b21, device: 0612, class: 010400",
    "\tPCIR: revision 3, vendor revision: 420",
    "\tLast image",
]


def test_check_help_documents_the_exit_codes() -> None:
    completed = vfiolab("check", "--help")
    assert completed.returncode == 0
    for line in (
        "0  every checked device passes",
        "1  the worst verdict is warn",
        "2  some device fails",
        "3  the checker could not run",
    ):
        assert line in completed.stdout
    assert "--scenario" in completed.stdout and "--vm-firmware" in completed.stdout


def test_check_of_the_default_scenario_prints_a_table_per_device() -> None:
    completed = vfiolab("check", "--scenario", "terramaster-f4-424-pro")
    assert completed.returncode == 2, completed.stderr
    out = completed.stdout
    assert "\033[" not in out  # not a terminal: no colour
    assert "vfiolab check of scenario terramaster-f4-424-pro" in out
    heading = next(line for line in out.splitlines() if line.startswith("0000:03:00.0"))
    assert heading.endswith("FAIL") and "[1b21:0612]" in heading
    sata = next(line for line in out.splitlines() if line.startswith("0000:00:17.0"))
    assert sata.endswith("PASS")
    assert "[reset.bus-reset-breaks-device]" in out
    assert "fix: Pass its disks instead of the controller" in out
    assert "device(s) checked" in out.splitlines()[-2]


def test_check_json_follows_the_schema_and_selects_devices() -> None:
    completed = vfiolab("check", "--scenario", "terramaster-f4-424-pro", "--device", "00:17.0", "--json")
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    jsonschema.validate(document, load_schema())
    assert [item["bdf"] for item in document["devices"]] == ["0000:00:17.0"]
    assert document["devices"][0]["verdict"] == "pass"
    assert document["exit_code"] == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--root", "/nonexistent/root"], 3, "no such directory"),
        (["--scenario", "no-such-scenario"], 65, "no scenario of that name"),
        (["--scenario", "terramaster-f4-424-pro", "--device", "0000:09:00.0"], 64, "no such PCI device"),
        (["--device", "not-an-address"], 64, "is not a PCI address"),
        (["--scenario", "terramaster-f4-424-pro", "--root", "/"], 64, "not allowed with argument"),
        (["--scenario", "terramaster-f4-424-pro", "--jsn"], 64, "unrecognized arguments: --jsn"),
    ],
)
def test_check_that_cannot_run_exits_with_its_code_and_one_line(args: list[str], code: int, message: str) -> None:
    completed = vfiolab("check", *args)
    assert completed.returncode == code
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_check_of_an_empty_directory_could_not_run(tmp_path: Path) -> None:
    completed = vfiolab("check", "--root", str(tmp_path))
    assert completed.returncode == 3
    assert "no PCI devices could be read" in completed.stderr


def test_read_rom_refuses_anything_but_the_running_host() -> None:
    completed = vfiolab("check", "--scenario", "terramaster-f4-424-pro", "--read-rom")
    assert completed.returncode == 64
    assert "running host only" in completed.stderr


def test_rom_file_for_one_device_is_judged_against_the_vm_firmware(tmp_path: Path) -> None:
    rom = tmp_path / "asm1061.rom"
    render = vfiolab("fakesys", "render", "terramaster-f4-424-pro", str(tmp_path / "root"))
    assert render.returncode == 0, render.stderr
    rom.write_bytes((tmp_path / "root/sys/bus/pci/devices/0000:03:00.0/rom").read_bytes())
    args = ["check", "--scenario", "terramaster-f4-424-pro", "--device", "03:00.0", "--rom", str(rom), "--json"]
    ovmf = json.loads(vfiolab(*args).stdout)
    seabios = json.loads(vfiolab(*args, "--vm-firmware", "seabios").stdout)
    ovmf_codes = {item["code"] for item in ovmf["devices"][0]["findings"]}
    seabios_codes = {item["code"] for item in seabios["devices"][0]["findings"]}
    assert "rom.x86-only-ovmf" in ovmf_codes and "rom.x86-only-ovmf" not in seabios_codes
    assert "rom.seabios-runs" in seabios_codes


def test_rom_prints_what_rom_parser_prints(tmp_path: Path) -> None:
    target = tmp_path / "root"
    assert vfiolab("fakesys", "render", "terramaster-f4-424-pro", str(target)).returncode == 0
    completed = vfiolab("rom", str(target / "sys/bus/pci/devices/0000:03:00.0/rom"))
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[:4] == REFERENCE_ROM_LINES


def test_rom_of_a_missing_file_is_one_line() -> None:
    completed = vfiolab("rom", "/nonexistent.rom")
    assert completed.returncode == 66
    assert "Traceback" not in completed.stderr and "/nonexistent.rom" in completed.stderr


def test_readme_main_job_and_test_command_are_what_runs() -> None:
    lines = (REPO / "README.md").read_text().splitlines()[:10]
    commands = [line.strip() for line in lines if line.startswith("    ")]
    assert len(commands) == 2
    main_job, tests = commands
    assert tests in (REPO / ".ci/run").read_text()
    vfiolab_args = main_job.split(".venv/bin/vfiolab ", 1)[1].split()
    completed = vfiolab(*vfiolab_args)
    assert completed.returncode == 2, completed.stderr
    assert "0000:03:00.0" in completed.stdout and "[reset.bus-reset-breaks-device]" in completed.stdout
