"""Hostile sources through ``vfiolab scenario import``: each gets one line with its documented
exit code (and the file and line where there is one), never a traceback, a hang or a write
outside the output directory. :data:`CASES` is the import's part of the bad-input corpus (the
command, the exit code, a fragment of the message)."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from tests.conftest import RenderRoot
from tests.helpers import deadline

TITLE = "03:00.0 SATA controller [0106]: ASMedia Technology Inc. ASM1062 Serial ATA Controller [1b21:0612] (rev 02)"
HEX = "".join(f"{row:02x}: " + " ".join(["00"] * 16) + "\n" for row in range(0, 256, 16))


def text(content: str | bytes) -> Callable[[Path, RenderRoot], list[str]]:
    def make(directory: Path, _roots: RenderRoot) -> list[str]:
        path = directory / "source.txt"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return [str(path)]

    return make


def special(kind: str) -> Callable[[Path, RenderRoot], list[str]]:
    def make(directory: Path, _roots: RenderRoot) -> list[str]:
        path = directory / "source.txt"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "huge":
            with open(path, "wb") as handle:
                handle.truncate(17 * 1024 * 1024)
        elif kind == "missing":
            pass
        elif kind == "device":
            return ["/dev/zero"]
        elif kind == "not-a-bundle":
            path.write_bytes(gzip.compress(b"not a tar at all" * 100))
        elif kind == "empty-dir":
            path.mkdir()
        return [str(path)]

    return make


def root_with(change: Callable[[Path], None]) -> Callable[[Path, RenderRoot], list[str]]:
    def make(directory: Path, roots: RenderRoot) -> list[str]:
        copy = directory / "root"
        shutil.copytree(roots("terramaster-f4-424-pro"), copy, symlinks=True)
        change(copy)
        return [str(copy)]

    return make


def _short_config(root: Path) -> None:
    (root / "sys/devices/pci0000:00/0000:00:17.0/config").write_bytes(b"\x86\x80" * 8 + b"\x00")


def _evil_names(root: Path) -> None:
    net = root / "sys/class/net"
    (net / "enp1s0").rename(net / "x;rm -rf ~")
    driver = root / "sys/devices/pci0000:00/0000:00:17.0/driver"
    driver.unlink()
    driver.symlink_to("../../../bus/pci/drivers/$(reboot)")
    (root / "etc/modprobe.d/bad name.conf").write_text("options x y=1\n")
    (root / "etc/modprobe.d/binary.conf").write_bytes(b"\xff\xfe\x00binary")


def _link_loop(root: Path) -> None:
    link = root / "sys/bus/pci/devices/0000:00:14.0"
    link.unlink()
    link.symlink_to("0000:00:14.0")


def _dead_everything(root: Path) -> None:
    for config in root.glob("sys/devices/**/config"):
        config.write_bytes(b"\xff" * len(config.read_bytes()))


#: (sources, extra arguments, exit code, fragment of the one-line message)
CASES: dict[str, tuple[Callable[[Path, RenderRoot], list[str]], list[str], int, str]] = {
    "empty file": (text(""), [], 65, "source.txt:1: neither lspci output"),
    "prose only": (text("Hello,\nmy VM does not start.\n"), [], 65, "source.txt:1: neither lspci output"),
    "binary garbage": (text(bytes(range(256)) * 64), [], 65, "source.txt:1: neither lspci output"),
    "missing file": (special("missing"), [], 66, "source.txt: no such file"),
    "a FIFO": (special("fifo"), [], 66, "not a regular file; not read"),
    "a device node": (special("device"), [], 66, "/dev/zero: not a regular file; not read"),
    "17 MiB": (special("huge"), [], 66, "source.txt: larger than 16777216 bytes; not read"),
    "a directory without sys/": (special("empty-dir"), [], 65, "a directory without sys/ under it"),
    # The bundle reader's own words say why.
    "gzip that is not a tar": (special("not-a-bundle"), [], 65, "/work/source.txt: "),
    "a name that is a path": (text(TITLE + "\n"), ["--name", "../escape"], 64, "--name: '../escape' is not a valid"),
    "a name with a slash": (text(TITLE + "\n"), ["--name", "a/b"], 64, "--name: 'a/b' is not a valid"),
    "group lines without titles": (
        text("IOMMU Group 1: 00:01.0\nIOMMU Group 2: 00:02.0\n"),
        [],
        65,
        "source.txt:1: no PCI device found in the sources",
    ),
    "bridges whose ranges overlap": (
        text(
            "00:01.0 PCI bridge [0604]: Intel Corporation Device [8086:1234]\n"
            "\tBus: primary=00, secondary=01, subordinate=05, sec-latency=0\n\n"
            "00:02.0 PCI bridge [0604]: Intel Corporation Device [8086:1234]\n"
            "\tBus: primary=00, secondary=03, subordinate=08, sec-latency=0\n"
        ),
        [],
        65,
        "the imported host does not load: ",
    ),
    "a config file of 17 bytes": (root_with(_short_config), [], 65, "17 bytes of config space"),
    "a symlink loop in the root": (root_with(_link_loop), [], 0, ""),
    "names that could not be paths": (root_with(_evil_names), [], 0, ""),
    "every device dead": (root_with(_dead_everything), [], 0, ""),
    "two roots": (lambda directory, roots: [str(roots("terramaster-f4-424-pro"))] * 2, [], 64, "one root or capture"),
    "a hex dump out of order and cut": (
        text(TITLE + "\n" + "10: " + " ".join(["ff"] * 16) + "\n00: 21 1b 12 06\n"),
        [],
        0,
        "",
    ),
    "a title with a device number past 1f": (
        text("03:20.0 SATA controller [0106]: X [1b21:0612]\n" + HEX),
        [],
        65,
        "source.txt:1: no lspci output found",
    ),
    "a log with control characters and long lines": (
        text(TITLE + "\n" + "[ 1.0] pci 0000:03:00.0: \x1b[31mred\x07\x00" + "A" * 10000 + "\n"),
        [],
        0,
        "",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_source_gets_its_documented_exit_code(
    case: str, tmp_path: Path, scenario_root: RenderRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    make, extra, code, fragment = CASES[case]
    work = tmp_path / "work"
    work.mkdir()
    sources = make(work, scenario_root)
    out = tmp_path / "out"
    before = sorted(path.name for path in tmp_path.iterdir())
    with deadline(60):
        returned = main(["scenario", "import", *sources, "--name", "hostile", "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert returned == code, captured.err
    if code:
        [line] = captured.err.strip().splitlines()
        assert line.startswith("vfiolab: error: ") and fragment in line, line
        assert not out.exists()
    else:
        assert "Traceback" not in captured.err and (out / "hostile.yaml").is_file()
        written = {path.relative_to(out).parts[0] for path in out.rglob("*")}
        assert written <= {"hostile.yaml", "devices"}
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted({*before, *(["out"] if not code else [])})


#: The capture bundle reader's bad-input corpus: every bundle in it is refused by import too,
#: with the reader's one line and exit 65.
HOSTILE_BUNDLES = Path(__file__).resolve().parent / "data" / "hostile-bundles"


@pytest.mark.parametrize("bundle", sorted(path.name for path in HOSTILE_BUNDLES.glob("*.tar.gz")))
def test_a_hostile_capture_bundle_is_refused_as_check_refuses_it(
    bundle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with deadline(60):
        returned = main(["scenario", "import", str(HOSTILE_BUNDLES / bundle), "--name", "hostile", "--out", str(out)])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert returned == 65 and line.startswith(f"vfiolab: error: {HOSTILE_BUNDLES / bundle}: "), line
    assert not out.exists()


def test_names_from_a_root_never_reach_the_scenario_unchecked(tmp_path: Path, scenario_root: RenderRoot) -> None:
    work = tmp_path / "work"
    work.mkdir()
    [root] = root_with(_evil_names)(work, scenario_root)
    assert main(["scenario", "import", root, "--name", "evil", "--out", str(tmp_path / "out")]) == 0
    scenario = (tmp_path / "out" / "evil.yaml").read_text()
    assert "rm -rf" not in scenario.split("# Notes")[0] or "x;rm" not in scenario.partition("\nname:")[2]
    host = scenario.partition("\nname:")[2]
    assert "x;rm -rf" not in host and "$(reboot)" not in host and "bad name.conf" not in host
    assert "binary.conf" not in host
    notes = scenario.partition("\nname:")[0]
    assert "driver: symlink to" in notes or "driver left out" in notes
    assert "bad name.conf: left out" in notes and "binary.conf: left out: not UTF-8 text" in notes


def test_output_that_is_a_link_or_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "dump.txt"
    source.write_text(TITLE + "\n" + HEX)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    assert main(["scenario", "import", str(source), "--out", str(tmp_path / "link")]) == 73
    assert "a symbolic link; not written through" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    (out / "devices").symlink_to(elsewhere)
    assert main(["scenario", "import", str(source), "--out", str(out)]) == 73
    (tmp_path / "file").write_text("x")
    assert main(["scenario", "import", str(source), "--out", str(tmp_path / "file")]) == 73
    assert list(elsewhere.iterdir()) == []
