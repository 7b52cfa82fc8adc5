"""Hostile scenario files: names that would become paths outside the output, extends: and
device: names used as paths, cycles, values no step can take. Each is one line with file and
line, exit 65, no traceback, and nothing outside the intended output is touched."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fakesys import names
from fakesys.errors import FakesysError, SourceError
from fakesys.hw import library
from fakesys.sysfs.render import udev_id
from harness import exitcodes
from harness.scenario import load_scenario
from tests.canary import make_canary, run_cli, snapshot
from tests.helpers import vfiolab

DEFAULT = "terramaster-f4-424-pro"


def _write(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture
def escape(scratch: Path) -> tuple[Path, Path]:
    """The exploit of the audit: a scenario extending the default whose files: key climbs out
    of the output into a canary directory. Returns (scenario, canary)."""
    canary = make_canary(scratch / "canary")
    climb = "/.." * 40 + str(canary / "planted")
    scenario = _write(
        scratch,
        "escape",
        f"""\
        host:
          extends: {DEFAULT}
          files:
            {climb}: "written by a scenario\\n"
        """,
    )
    return scenario, canary


@pytest.mark.parametrize(
    "command",
    [
        ["fakesys", "render", "{scenario}", "{out}"],
        ["fakesys", "run", "{scenario}", "{out}"],
        ["fakesys", "lspci", "{scenario}"],
        ["check", "--scenario", "{scenario}"],
        ["generate", "proxmox", "--scenario", "{scenario}", "--device", "00:17.0"],
    ],
    ids=["render", "run", "lspci", "check", "generate"],
)
def test_files_key_climbing_out_writes_nothing_through_any_entry_point(
    escape: tuple[Path, Path], scratch: Path, command: list[str]
) -> None:
    scenario, canary = escape
    before = snapshot(canary)
    out = scratch / "out"
    args = [part.format(scenario=scenario, out=out) for part in command]
    completed = vfiolab(*args)
    assert completed.returncode == exitcodes.DATA, completed.stderr
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.strip().splitlines()
    assert line.startswith(f"vfiolab: error: {scenario}:4: host.files[")
    assert "is not a normalised absolute path" in line
    assert snapshot(canary) == before
    assert not out.exists()


NAME_CASES = {
    "files key with ..": ("files: {/etc/../../x: a}", 3, "is not a normalised absolute path"),
    "files key relative": ("files: {etc/x: a}", 3, "an absolute path such as"),
    "files key with a newline": ('files: {"/etc/a\\nb": a}', 3, "may only use letters"),
    "files key with NUL": ('files: {"/etc/a\\0b": a}', 3, "may only use letters"),
    "files key under /sys": ("files: {/sys/bus/pci/rescan: '1'}", 3, "which the simulated kernel renders"),
    "files key is a rendered file": ("files: {/proc/cmdline: x}", 3, "collides with /proc/cmdline"),
    "files key over the kernel log": ("files: {/var/log/dmesg/x: y}", 3, "collides with /var/log/dmesg"),
    "files key over the journal": ("files: {/.vfiolab-writes: y}", 3, "collides with /.vfiolab-writes"),
    "net name": ("net: [{name: ../../../../tmp/x, device: 01:00.0}]", 3, "is not a valid network interface name"),
    "net master": ("net: [{name: eth9, device: 01:00.0, master: ../x}]", 3, "is not a valid network interface name"),
    "net name too long": ("net: [{name: abcdefghijklmnop, device: 01:00.0}]", 3, "1-15 letters"),
    "device-mapper name": ("device_mapper: [{name: ../../x, slaves: [sda]}]", 3, "is not a valid device-mapper name"),
    "device-mapper slave": ("device_mapper: [{name: vg-x, slaves: [../sda]}]", 3, "is not a valid block device name"),
    "device path": ("pci: [{bdf: 00:17.0, device: ../../../../etc/passwd}]", 3, "is not a valid device name"),
    "device absolute path": ("pci: [{bdf: 00:17.0, device: /etc/passwd}]", 3, "a name, not a path"),
    "driver": ("pci: [{bdf: 00:17.0, driver: ../../../tmp/x}]", 3, "is not a valid driver name"),
    "module": ("modules: {../x: {a: 1}}", 3, "is not a valid module name"),
    "module parameter": ("modules: {vfio_pci: {../x: 1}}", 3, "is not a valid module parameter name"),
    "disk model with a newline": ('disks: [{name: sda, model: "a\\nb"}]', 3, "holds a control character"),
    "cmdline with a newline": ('kernel: {cmdline: "quiet\\nintel_iommu=on"}', 3, "holds a control character"),
    "iommu group beyond any path": ("pci: [{bdf: 00:17.0, iommu_group: 1" + "0" * 300 + "}]", 3, "iommu_group"),
}


@pytest.mark.parametrize("case", sorted(NAME_CASES))
def test_a_name_that_would_become_a_bad_path_is_a_load_error(scratch: Path, case: str) -> None:
    body, line, fragment = NAME_CASES[case]
    path = _write(scratch, "hostile", f"host:\n  extends: {DEFAULT}\n  {body}\n")
    with pytest.raises(SourceError) as raised:
        load_scenario(str(path))
    assert str(raised.value).startswith(f"{path}:{line}: "), raised.value
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("base", ["/etc/passwd", "../terramaster-f4-424-pro", "terramaster-f4-424-pro.yaml/x", "."])
def test_extends_is_a_name_never_a_path(scratch: Path, base: str) -> None:
    path = _write(scratch, "hostile", f"host:\n  extends: {base!r}\n")
    outcome = run_cli("fakesys", "render", str(path), str(scratch / "out"))
    outcome.assert_one_line_error(exitcodes.DATA, f"{path}:2: ")
    assert "extends" in outcome.stderr
    assert not (scratch / "out").exists()


def test_extends_cycle_names_the_cycle(scratch: Path) -> None:
    _write(scratch, "first", "host:\n  extends: second\n")
    _write(scratch, "second", "host:\n  extends: third\n")
    _write(scratch, "third", "host:\n  extends: first\n")
    outcome = run_cli("check", "--scenario", str(scratch / "first.yaml"))
    outcome.assert_one_line_error(exitcodes.DATA, "extends: forms a cycle: first -> second -> third -> first")


def test_extends_chain_is_bounded(scratch: Path) -> None:
    for index in range(40):
        _write(scratch, f"link{index}", f"host:\n  extends: link{index + 1}\n")
    with pytest.raises(SourceError, match="extends: chain longer than 16 files"):
        load_scenario(str(scratch / "link0.yaml"))


def test_scenario_file_name_must_be_a_name(scratch: Path) -> None:
    path = scratch / "..yaml"
    path.write_text(f"host:\n  extends: {DEFAULT}\n")
    with pytest.raises(SourceError, match="the file name gives the scenario name"):
        load_scenario(str(path))


def test_device_description_cycle_is_named(scratch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (scratch / "left.yaml").write_text("extends: right\n")
    (scratch / "right.yaml").write_text("extends: left\n")
    monkeypatch.setenv(library.DEVICE_PATH_VARIABLE, str(scratch))
    with pytest.raises(SourceError, match="extends: forms a cycle: left -> right -> left"):
        library.load_device("left")
    with pytest.raises(SourceError, match="is not a valid device name"):
        library.load_device("../left")
    with pytest.raises(SourceError, match="unknown device 'nothere'"):
        library.load_device("nothere")


def test_find_device_looks_up_names_only() -> None:
    assert library.find_device("asmedia-asm1062") == library.DEVICE_DIRECTORY / "asmedia-asm1062.yaml"
    assert library.find_device("asmedia-asm9999") is None
    for hostile in ("../devices/asmedia-asm1062", "/etc/passwd", "asmedia-asm1062/", "", ".", 7):
        with pytest.raises(names.BadName):
            library.find_device(hostile)


WAIT_CASES = {
    ".inf": ("wait: .inf", 5, "numbers must be finite"),
    "-.inf": ("wait: -.inf", 5, "numbers must be finite"),
    ".nan": ("wait: .nan", 5, "numbers must be finite"),
    "negative": ("wait: -1", 5, "from 0 to 86400"),
    "huge": ("wait: 1.0e+300", 5, "from 0 to 86400"),
    "overflowing float": ("wait: 1.0e+999", 5, "numbers must be finite"),
    "VM id below Proxmox's range": ("vm_start: 99", 5, "a Proxmox VM ID (100 to 999999999)"),
    "VM id above Proxmox's range": ("vm_stop: 1000000000", 5, "a Proxmox VM ID (100 to 999999999)"),
    "VM id of 40 digits": ("vm_reset: " + "9" * 40, 5, "a Proxmox VM ID"),
    "driver name in a step": ("bind: {device: 00:17.0, driver: ../../x}", 5, "is not a valid driver name"),
}


@pytest.mark.parametrize("case", sorted(WAIT_CASES))
def test_step_values_out_of_range_are_load_errors(scratch: Path, case: str) -> None:
    step, line, fragment = WAIT_CASES[case]
    path = _write(scratch, "steps", f"host:\n  extends: {DEFAULT}\n\nsteps:\n  - {step}\n")
    outcome = run_cli("fakesys", "run", str(path), str(scratch / "out"))
    outcome.assert_one_line_error(exitcodes.DATA, f"{path}:{line}: ")
    assert fragment in outcome.stderr
    assert not (scratch / "out").exists()


def test_malformed_vfio_ids_are_warned_about_like_the_kernel(scratch: Path) -> None:
    from fakesys.kernel.kernel import FakeKernel

    path = _write(
        scratch,
        "ids",
        f"""\
        host:
          extends: {DEFAULT}
          modules:
            vfio_pci: {{ids: "zz,1b21,1b21:0612junk,,8086:54d3:ffffffff"}}
        """,
    )
    kernel = FakeKernel(load_scenario(str(path)).host)
    texts = [record.text for record in kernel.log.records]
    # vfio_pci_fill_ids: fewer than two hex fields is warned about and skipped.
    assert 'vfio_pci: invalid id string "zz"' in texts
    assert 'vfio_pci: invalid id string "1b21"' in texts
    assert [(match.vendor, match.device) for match in kernel.dynamic_ids["vfio-pci"]] == [
        (0x1B21, 0x0612),
        (0x8086, 0x54D3),
    ]


@pytest.mark.parametrize(
    ("written", "link_part"),
    [
        ("  WDC  WD40EFRX-68N32N0 ", "WDC_WD40EFRX-68N32N0"),
        ("../../../../etc/x", ".._.._.._.._etc_x"),
        ("a$(reboot)`id`", "a__reboot__id_"),
        ("Ünïcode model", "Ünïcode_model"),
        ("esc\\x2fape", "esc\\x2fape"),
    ],
)
def test_disk_ids_become_link_names_as_udev_makes_them(written: str, link_part: str) -> None:
    assert udev_id(written) == link_part
    assert "/" not in udev_id(written)


def test_hostile_disk_model_renders_by_id_links_inside_the_root(scratch: Path) -> None:
    canary = make_canary(scratch / "canary")
    before = snapshot(canary)
    path = _write(
        scratch,
        "model",
        f"""\
        host:
          extends: {DEFAULT}
          disks:
            - {{name: sda, model: "../../../../../{canary.name}/x", serial: "../y", wwn: "../../z"}}
        """,
    )
    out = scratch / "out"
    assert run_cli("fakesys", "render", str(path), str(out)).code == exitcodes.OK
    by_id = sorted(entry.name for entry in (out / "dev/disk/by-id").iterdir())
    assert "ata-.._.._.._.._.._canary_x_.._y" in by_id
    assert "wwn-.._.._z" in by_id
    assert snapshot(canary) == before


def test_errors_are_fakesys_errors_for_library_callers(scratch: Path) -> None:
    path = _write(scratch, "hostile", f"host:\n  extends: {DEFAULT}\n  net: [{{name: '..', device: 01:00.0}}]\n")
    with pytest.raises(FakesysError):
        load_scenario(str(path))
