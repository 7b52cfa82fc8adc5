"""Bad host descriptions: one clear line naming file and line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakesys.errors import FakesysError
from fakesys.kernel.kernel import FakeKernel
from harness.scenario import load_scenario

ROOT_PORT = "{bdf: 00:1c.0, device: intel-adln-root-port-54ba, bus: {secondary: 1}}"


def _scenario(tmp_path: Path, body: str, name: str = "broken") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


CASES = {
    "unknown device": (
        f"""\
        host:
          pci:
            - {ROOT_PORT}
            - {{bdf: 01:00.0, device: asmedia-asm9999}}
        """,
        ":4: unknown device 'asmedia-asm9999'",
    ),
    "duplicate address": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata}
            - {bdf: 0000:00:17.0, device: intel-adln-sata}
        """,
        ":4: 0000:00:17.0 is listed twice (first at line 3)",
    ),
    "device behind a non-bridge": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata}
            - {bdf: 01:00.0, device: asmedia-asm1062, behind: 00:17.0}
        """,
        ":4: 0000:01:00.0 is behind 0000:00:17.0 (intel-adln-sata), which is not a bridge",
    ),
    "bus outside the parent range": (
        f"""\
        host:
          pci:
            - {ROOT_PORT}
            - {{bdf: 05:00.0, device: asmedia-asm1062, behind: 00:1c.0}}
        """,
        ":4: 0000:05:00.0 is on bus 05, outside the secondary bus 01 of 0000:00:1c.0 (range 01-01)",
    ),
    "bus under no bridge": (
        """\
        host:
          pci:
            - {bdf: 07:00.0, device: asmedia-asm1062}
        """,
        ":3: no bridge has bus 07 in its range",
    ),
    "function without function 0": (
        """\
        host:
          pci:
            - {bdf: 00:1f.3, device: intel-adln-hda}
        """,
        ":3: 0000:00:1f.3 has no function 0 in its slot (0000:00:1f.0)",
    ),
    "unknown key": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, colour: blue}
        """,
        ":3: host.pci[0]: unknown key 'colour'",
    ),
    "address in the wrong form": (
        """\
        host:
          pci:
            - {bdf: 0:17.0, device: intel-adln-sata}
        """,
        ":3: host.pci[0].bdf: expected a PCI address like 0000:03:00.0 or 03:00.0",
    ),
    "wrong type": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, irq: lots}
        """,
        ":3: host.pci[0].irq: expected integer, got 'lots'",
    ),
    "disk on an absent controller": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata}
          disks:
            - {name: sda, controller: 00:18.0, model: X, serial: Y}
        """,
        ":5: disk sda names controller 0000:00:18.0, which is not in pci:",
    ),
    "bus range on an endpoint": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, bus: {secondary: 2}}
        """,
        ":3: 0000:00:17.0 (intel-adln-sata) is not a bridge and has no bus range",
    ),
    "bad override": (
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, override: {header: {vendor: -1}}}
        """,
        ":3: -0x1 does not fit in 2 byte(s)",
    ),
    "not yaml": (
        "host: [unclosed\n",
        ":2: not valid YAML",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_host_gives_file_line_and_reason(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    path = _scenario(tmp_path, body)
    with pytest.raises(FakesysError) as raised:
        FakeKernel(load_scenario(str(path)).host)
    assert f"{path}{expected}" in str(raised.value)


@pytest.mark.parametrize("case", ["unknown device", "device behind a non-bridge", "not yaml"])
def test_cli_reports_bad_input_without_traceback(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    path = _scenario(tmp_path, body)
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "fakesys", "render", str(path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 65
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("vfiolab: error: ")
    assert expected in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_extends_merges_by_address_and_removes(tmp_path: Path) -> None:
    _scenario(
        tmp_path,
        f"""\
        host:
          pci:
            - {ROOT_PORT}
            - {{bdf: 01:00.0, device: asmedia-asm1062, driver: ahci}}
          disks:
            - {{name: sda, controller: 01:00.0, model: M, serial: S}}
        """,
        name="base",
    )
    child = _scenario(
        tmp_path,
        """\
        host:
          extends: base
          pci:
            - {bdf: 0000:01:00.0, driver: vfio-pci}
          disks:
            - {name: sda, remove: true}
        """,
        name="child",
    )
    host = load_scenario(str(child)).host
    assert [(str(f.bdf), f.driver) for f in host.functions] == [("0000:00:1c.0", None), ("0000:01:00.0", "vfio-pci")]
    assert host.disks == []


def test_errors_in_inherited_entries_point_at_the_base_file(tmp_path: Path) -> None:
    base = _scenario(
        tmp_path,
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, behind: 00:14.0}
            - {bdf: 00:14.0, device: intel-adln-xhci}
        """,
        name="base",
    )
    child = _scenario(tmp_path, "host:\n  extends: base\n", name="child")
    with pytest.raises(FakesysError) as raised:
        FakeKernel(load_scenario(str(child)).host)
    assert str(raised.value).startswith(f"{base}:3: ")
