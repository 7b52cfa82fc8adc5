"""Adding hardware without touching the package: the device search path, ``fakesys devices`` and
``fakesys describe``.

A device name is looked up in the ``devices/`` directory beside the scenario, then
``$VFIOLAB_DEVICE_PATH``, then ``--device-dir``, then the packaged library; the first file wins.
Names stay names: nothing from a scenario becomes a path, and a device file that is a symbolic
link is refused rather than followed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from fakesys import names
from fakesys.errors import SourceError
from fakesys.hw import library
from fakesys.hw.describe import encode
from fakesys.hw.hexdump import is_plain_dump
from fakesys.source import parse_yaml
from harness.cli import main
from harness.errors import InputError
from harness.scenario import load_scenario
from harness.scenario.importer.describe import describe_file
from tests.conftest import RenderRoot, RunLspci
from tests.helpers import vfiolab

PACKAGED = library.DEVICE_DIRECTORY / "asmedia-asm1062.yaml"


def scenario(directory: Path, device: str, name: str = "mine") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(
        f"host:\n  extends: terramaster-f4-424-pro\n  pci:\n    - {{bdf: '03:00.0', device: {device}, driver: ahci}}\n"
    )
    return path


def variant(directory: Path, name: str, device_id: int) -> Path:
    """The ASM1062 with another device ID (so that which file was used shows)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(f"extends: asmedia-asm1062\ntitle: variant {device_id:#06x}\nheader:\n  device: {device_id:#06x}\n")
    return path


def device_id(path: Path, *device_dirs: Path) -> int:
    library.set_device_dirs(device_dirs)
    try:
        [spec] = [item for item in load_scenario(str(path)).host.functions if str(item.bdf) == "0000:03:00.0"]
        return spec.model.device_id
    finally:
        library.set_device_dirs(())


@pytest.fixture(autouse=True)
def _no_device_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(library.DEVICE_PATH_VARIABLE, raising=False)


def test_the_first_directory_of_the_search_path_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = scenario(tmp_path / "scenarios", "asm-variant")
    with pytest.raises(SourceError, match="unknown device 'asm-variant'"):
        load_scenario(str(path))
    variant(tmp_path / "option", "asm-variant", 0x0003)
    assert device_id(path, tmp_path / "option") == 0x0003
    variant(tmp_path / "env", "asm-variant", 0x0002)
    monkeypatch.setenv(library.DEVICE_PATH_VARIABLE, f"{tmp_path / 'nowhere'}:{tmp_path / 'env'}")
    assert device_id(path, tmp_path / "option") == 0x0002
    variant(tmp_path / "scenarios" / "devices", "asm-variant", 0x0001)
    assert device_id(path, tmp_path / "option") == 0x0001


def test_a_device_file_beside_the_scenario_shadows_the_packaged_one(tmp_path: Path) -> None:
    own = tmp_path / "devices" / "asmedia-asm1062.yaml"
    own.parent.mkdir()
    own.write_text(PACKAGED.read_text().replace("device: 0x0612", "device: 0x0611"))
    path = scenario(tmp_path, "asmedia-asm1062")
    assert device_id(path) == 0x0611
    listing = vfiolab("fakesys", "devices", "--verbose", "--scenario", str(path))
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if line.startswith("asmedia-asm1062 "))
    assert "beside the scenario" in line and str(own) in line
    assert f"shadows {PACKAGED} (packaged library)" in listing.stdout
    assert "behaviours (built in" in listing.stdout and "link_dead_after_bus_reset" in listing.stdout


def test_every_command_that_loads_scenarios_takes_device_dir(tmp_path: Path) -> None:
    variant(tmp_path / "mine", "asm-variant", 0x0612)
    path = scenario(tmp_path / "scenarios", "asm-variant")
    for command in (
        ["check", "--scenario", str(path), "--device", "03:00.0"],
        ["generate", "modprobe", "--scenario", str(path), "--device", "00:17.0"],
        ["scenario", "show", str(path)],
        ["fakesys", "render", str(path), str(tmp_path / "root")],
        ["fakesys", "lspci", str(path), "--", "-s", "03:00.0"],
        ["fakesys", "run", str(path), str(tmp_path / "run")],
        ["scenario", "run", str(path)],
    ):
        without = vfiolab(*command)
        said = without.stdout + without.stderr
        assert without.returncode in (2, 65) and "unknown device 'asm-variant'" in said, (command, said)
        at = command.index("--") if "--" in command else len(command)
        with_dir = vfiolab(*command[:at], "--device-dir", str(tmp_path / "mine"), *command[at:])
        assert with_dir.returncode in (0, 1, 2), (command, with_dir.stderr)
    missing = vfiolab("check", "--device-dir", str(tmp_path / "absent"), "--scenario", str(path))
    assert missing.returncode == 66 and "no such directory" in missing.stderr


def test_the_unknown_device_error_says_how_to_add_one(tmp_path: Path) -> None:
    path = scenario(tmp_path, "asmedia-asm1063")
    with pytest.raises(SourceError) as raised:
        load_scenario(str(path))
    message = str(raised.value)
    assert f"{path}:" in message  # file and line of the reference
    assert "unknown device 'asmedia-asm1063' (did you mean 'asmedia-asm1062'?)" in message
    assert "vfiolab scenario import DUMP" in message
    assert "vfiolab fakesys describe DUMP > devices/asmedia-asm1063.yaml beside the scenario" in message
    assert f"--device-dir DIR or listed in ${library.DEVICE_PATH_VARIABLE}" in message
    assert "vfiolab fakesys devices" in message


def test_names_are_never_paths(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(PACKAGED.read_text())
    for hostile in ("../outside", str(outside), "devices/x", "x/../../y"):
        with pytest.raises((SourceError, names.BadName)):
            load_scenario(str(scenario(tmp_path / "s", f"'{hostile}'")))


def test_a_device_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    devices = tmp_path / "devices"
    devices.mkdir()
    secret = tmp_path / "secret.yaml"
    secret.write_text("vendor: not for you\n")
    os.symlink(secret, devices / "linked.yaml")
    os.mkfifo(devices / "fifo.yaml")
    path = scenario(tmp_path, "linked")
    with pytest.raises(SourceError, match=r"a symbolic link .* not read"):
        load_scenario(str(path))
    with pytest.raises(SourceError, match="not a regular file"):
        load_scenario(str(scenario(tmp_path, "fifo", "other")))
    assert "linked" not in library.device_index(library.beside([path]))


# --- fakesys describe ----------------------------------------------------------------------------


def test_describe_takes_a_64_byte_dump_and_writes_hex(
    scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    dump = tmp_path / "x.txt"
    dump.write_text(lspci(root, "-x", "-s", "03:00.0"))
    completed = vfiolab("fakesys", "describe", str(dump))
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout
    assert "vendor: 0x1b21" in text and "device: 0x0612" in text and "class: 0x010601" in text
    document = parse_yaml(text, "described")
    assert document.data["sources"][0].startswith(f"{dump}:1, device 0000:03:00.0: 03:00.0 SATA controller: ASMedia")
    assert document.data["title"].startswith("SATA controller: ASMedia")
    assert "first 64 bytes" in document.data["notes"]  # the notes say what is unknown
    model = encode(document)
    config = (root / "sys/bus/pci/devices/0000:03:00.0/config").read_bytes()
    assert bytes(model.config[:64]) == config[:64]
    assert "<describe" not in text and "<describe" not in completed.stderr


def test_describe_of_a_device_the_file_does_not_show_is_a_usage_error(
    scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    dump = tmp_path / "x.txt"
    dump.write_text(lspci(scenario_root("terramaster-f4-424-pro"), "-x", "-s", "03:00.0"))
    completed = vfiolab("fakesys", "describe", str(dump), "--device", "04:00.0")
    assert completed.returncode == 64 and "no device 0000:04:00.0" in completed.stderr


def test_describe_with_decoded_text_gives_the_capabilities_too(
    scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    dump = tmp_path / "vvx.txt"
    dump.write_text(lspci(root, "-vv", "-x", "-s", "03:00.0"))
    completed = vfiolab("fakesys", "describe", str(dump))
    assert completed.returncode == 0, completed.stderr
    model = encode(parse_yaml(completed.stdout, "described"))
    assert model.space.express() is not None and model.bars[5].size == 512


def test_describe_reads_a_plain_dump_strictly_and_a_paste_as_a_paste(
    scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    dump = lspci(root, "-x", "-s", "03:00.0")
    broken = tmp_path / "broken.txt"
    broken.write_text(re.sub(r"(?m)^(10:) [0-9a-f]{2}", r"\1 zz", dump, count=1))
    with pytest.raises(InputError) as raised:
        describe_file(str(broken))
    assert str(raised.value) == f"{broken}:3: 'zz' is not a hex byte"
    # A plain listing above the dump (lspci, then lspci -x) makes a paste, read as one.
    listed = tmp_path / "listed.txt"
    listed.write_text(lspci(root) + "\n" + dump)
    assert not is_plain_dump(listed.read_text()) and is_plain_dump(dump)
    documents, _ = describe_file(str(listed), "03:00.0")
    assert "vendor: 0x1b21" in documents[0] and "device: 0x0612" in documents[0]


def test_describe_errors_name_the_file_a_user_gave(tmp_path: Path) -> None:
    prose = tmp_path / "mail.txt"
    prose.write_text("Hello,\nthe controller is gone.\n")
    completed = vfiolab("fakesys", "describe", str(prose))
    assert completed.returncode == 65 and completed.stderr.startswith(f"vfiolab: error: {prose}:1: ")
    missing = vfiolab("fakesys", "describe", str(tmp_path / "absent.txt"))
    assert missing.returncode == 66 and "no such file" in missing.stderr
    with pytest.raises(SystemExit) as usage:
        main(["fakesys", "describe", str(prose), "--device", "nonsense"])
    assert usage.value.code == 64
