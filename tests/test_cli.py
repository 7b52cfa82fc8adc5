"""The vfiolab command line, run as a user would run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from tests.helpers import vfiolab

REPO = Path(__file__).resolve().parent.parent


def test_help_explains_commands_and_exit_codes() -> None:
    completed = vfiolab("--help")
    assert completed.returncode == 0
    assert "fakesys" in completed.stdout and "exit codes" in completed.stdout
    render_help = vfiolab("fakesys", "render", "--help").stdout
    assert "--unprivileged" in render_help and "SCENARIO" in render_help


def test_render_writes_a_root_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "root"
    assert main(["fakesys", "render", "terramaster-f4-424-pro", str(target)]) == 0
    assert (target / "sys/bus/pci/devices/0000:03:00.0/config").exists()
    assert main(["fakesys", "render", "terramaster-f4-424-pro", str(target)]) == 73
    assert main(["fakesys", "render", "terramaster-f4-424-pro", str(target), "--force"]) == 0


def test_render_never_touches_a_foreign_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["fakesys", "render", "terramaster-f4-424-pro", str(tmp_path), "--force"]) == 73
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert "not written by vfiolab" in capsys.readouterr().err


def test_lspci_subcommand_runs_the_real_lspci(tmp_path: Path) -> None:
    completed = vfiolab("fakesys", "lspci", "terramaster-f4-424-pro", "--", "-tvnn")
    assert completed.returncode == 0, completed.stderr
    assert "1c.6-[03]----00.0" in completed.stdout and "[1b21:0612]" in completed.stdout


def test_lspci_unprivileged_option_before_the_separator(tmp_path: Path) -> None:
    completed = vfiolab("fakesys", "lspci", "terramaster-f4-424-pro", "--unprivileged", "--", "-vv", "-s", "03:00.0")
    assert "Capabilities: <access denied>" in completed.stdout


def test_unknown_scenario_lists_the_known_ones() -> None:
    completed = vfiolab("fakesys", "render", "no-such-host", "/nonexistent")
    assert completed.returncode == 65
    assert "no scenario of that name; known scenarios: " in completed.stderr
    assert "terramaster-f4-424-pro" in completed.stderr and "Traceback" not in completed.stderr


def test_describe_turns_a_dump_into_an_equivalent_description(tmp_path: Path) -> None:
    from fakesys.hw.describe import encode
    from fakesys.hw.hexdump import format_hexdump
    from fakesys.hw.library import load_device
    from fakesys.source import parse_yaml

    model = load_device("asmedia-asm1062")
    dump = tmp_path / "dump.txt"
    dump.write_text(format_hexdump("03:00.0", "SATA controller", bytes(model.config)))
    completed = vfiolab("fakesys", "describe", str(dump))
    assert completed.returncode == 0, completed.stderr
    assert encode(parse_yaml(completed.stdout, "described")).config == model.config


def test_scenarios_are_found_from_any_directory(tmp_path: Path) -> None:
    completed = vfiolab("fakesys", "render", "terramaster-f4-424-pro", str(tmp_path / "r"), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr


def test_one_exit_code_table_in_help_and_readme() -> None:
    from harness import exitcodes

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- exit-codes:")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- /exit-codes -->")].strip()
    assert block == exitcodes.markdown_table()
    help_text = vfiolab("--help").stdout
    for entry in exitcodes.TABLE:
        assert f"{entry.code:>3}  " in help_text
    assert len({entry.code for entry in exitcodes.TABLE}) == len(exitcodes.TABLE)


def test_a_usage_error_never_shares_a_verdict_code() -> None:
    for args in (["check", "--jsn"], ["generate", "proxmox", "--vmd", "100", "--device", "00:17.0"], ["nope"]):
        completed = vfiolab(*args)
        assert completed.returncode == 64, (args, completed.stderr)
        assert "Traceback" not in completed.stderr
