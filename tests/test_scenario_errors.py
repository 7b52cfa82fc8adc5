"""Bad scenario files: one line naming file and line, what is wrong and what to write instead.

Each case is a small valid scenario with one mistake; the expected text is the whole message
after the file name, so a change of wording or line number shows up here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.scenario import ScenarioError, load_scenario
from harness.scenario.schema import suggest_bdf

HOST = """\
name: broken
host:
  kernel: {release: 6.8.12-4-pve}
  pci:
    - {bdf: 00:1c.0, device: intel-adln-root-port-54be, driver: pcieport, bus: {secondary: 1}}
    - {bdf: 01:00.0, device: realtek-rtl8125, driver: r8169}
"""


def _write(tmp_path: Path, tail: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(HOST + textwrap.dedent(tail))
    return path


CASES = {
    "unknown top-level key": (
        """\
        stepz:
          - wait: 1
        """,
        "broken.yaml:7: stepz: unknown key 'stepz'; did you mean 'steps'? "
        "(allowed in (top level): description, expect, guest, host, name, report, steps, tags)",
    ),
    "unknown key in an expectation": (
        """\
        expect:
          kernel_log:
            lines: ["x"]
            absnt: ["y"]
        """,
        "broken.yaml:10: expect.kernel_log.absnt: unknown key 'absnt'; did you mean 'absent'? "
        "(allowed in expect.kernel_log: absent, lines, match, since)",
    ),
    "unknown key inside a line pattern": (
        """\
        expect:
          kernel_log:
            lines: [{regx: "ready.*"}]
        """,
        "broken.yaml:9: expect.kernel_log.lines[0].regx: unknown key 'regx'; did you mean 'regex'? "
        "(allowed in expect.kernel_log.lines[0]: gap_ms, regex, tolerance_ms)",
    ),
    "wrong type": (
        """\
        steps:
          - wait: soon
        """,
        "broken.yaml:8: steps[0].wait: expected a number (seconds of virtual time), got 'soon'",
    ),
    "BDF in the wrong form in a step": (
        """\
        steps:
          - reset: 1:0.0
        """,
        "broken.yaml:8: steps[0].reset: expected a PCI address like 0000:03:00.0 or 03:00.0, got '1:0.0'; "
        "write 0000:01:00.0",
    ),
    "BDF in the wrong form as a checker device": (
        """\
        expect:
          checker:
            devices:
              1:00.0: {verdict: pass}
        """,
        "broken.yaml:10: expect.checker.devices[1:00.0]: expected the key to be a PCI address like "
        "0000:03:00.0 or 03:00.0; write 0000:01:00.0",
    ),
    "a step naming an absent device": (
        """\
        steps:
          - reset: 05:00.0
        """,
        "broken.yaml:8: steps[0].reset: no device 05:00.0 in the host; its devices are 0000:00:1c.0, 0000:01:00.0",
    ),
    "a checker expectation naming an absent device": (
        """\
        expect:
          checker:
            devices:
              0000:02:00.0: {verdict: pass}
        """,
        "broken.yaml:10: expect.checker.devices[0000:02:00.0]: no device 0000:02:00.0 in the host; "
        "its devices are 0000:00:1c.0, 0000:01:00.0",
    ),
    "a generator expectation naming an absent device": (
        """\
        expect:
          generator:
            - {target: proxmox, devices: [03:00.0]}
        """,
        "broken.yaml:9: expect.generator[0].devices[0]: no device 03:00.0 in the host; "
        "its devices are 0000:00:1c.0, 0000:01:00.0",
    ),
    "a misspelt verdict": (
        """\
        expect:
          checker:
            devices:
              01:00.0: {verdict: pas}
        """,
        "broken.yaml:10: expect.checker.devices[01:00.0].verdict: expected one of pass, warn, fail, got 'pas'; "
        "did you mean 'pass'?",
    ),
    "an unknown generator target": (
        """\
        expect:
          generator:
            - {target: proxmx, devices: [01:00.0]}
        """,
        "broken.yaml:9: expect.generator[0].target: expected one of proxmox, proxmox-disks, libvirt, qemu, "
        "modprobe, initramfs-tools, dracut, mkinitcpio, driverctl, cmdline, all, got 'proxmx'; "
        "did you mean 'proxmox'?",
    ),
    "a finding code that is not one": (
        """\
        expect:
          checker:
            devices:
              01:00.0: {findings: [bus-reset-breaks-device]}
        """,
        "broken.yaml:10: expect.checker.devices[01:00.0].findings[0]: expected a finding code such as "
        "reset.bus-reset-breaks-device, got 'bus-reset-breaks-device'",
    ),
    "two actions in one step": (
        """\
        steps:
          - {wait: 1, reset: 01:00.0}
        """,
        "broken.yaml:8: steps[0]: expected one action per step: vm_start, vm_stop, vm_reset, write, bind, "
        "unbind, driver_override, reset, reset_method, modprobe, wait or host_reboot, "
        "got {'wait': 1, 'reset': '01:00.0'}",
    ),
    "reasons without refused": (
        """\
        expect:
          generator:
            - {target: proxmox, devices: [01:00.0], reasons: ["x"]}
        """,
        "broken.yaml:9: expect.generator[0].reasons: reasons are only checked with refused: true; add it",
    ),
    "a group that is not a number": (
        """\
        expect:
          checker:
            groups:
              twelve: {verdict: fail}
        """,
        "broken.yaml:10: expect.checker.groups.twelve: expected the key to be an IOMMU group number",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schema_error_is_one_line_with_file_line_and_fix(tmp_path: Path, case: str) -> None:
    tail, expected = CASES[case]
    path = _write(tmp_path, tail)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(str(path))
    message = str(raised.value)
    assert "\n" not in message
    assert message == f"{tmp_path}/{expected}"


def test_a_valid_file_of_the_same_shape_loads(tmp_path: Path) -> None:
    """The cases above fail because of their one mistake, not because of the shared host."""
    path = _write(
        tmp_path,
        """\
        steps:
          - wait: 1
          - reset: 01:00.0
        expect:
          checker:
            devices:
              01:00.0: {verdict: warn, findings: [kernel-log.not-ready]}
            groups:
              12: {verdict: warn}
          generator:
            - {target: proxmox, devices: [01:00.0], refused: true, reasons: [{regex: ".*"}]}
        """,
    )
    scenario = load_scenario(str(path))
    assert scenario.layers == ["checker", "generator"]
    assert [next(iter(step)) for step in scenario.steps] == ["wait", "reset"]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("1:0.0", "0000:01:00.0"), ("3:00.0", "0000:03:00.0"), ("0:1c.6", "0000:00:1c.6"), ("03:00:0", "0000:03:00.0")],
)
def test_bdf_fix_spells_out_the_full_address(written: str, canonical: str) -> None:
    assert suggest_bdf(written) == canonical


def test_no_bdf_fix_for_what_is_not_an_address() -> None:
    assert suggest_bdf("sata0") is None
    assert suggest_bdf("00:20.0") is None  # device 0x20 does not exist


def test_the_schema_ships_in_the_package() -> None:
    from importlib import resources

    schema = resources.files("harness.scenario").joinpath("scenario.schema.json")
    assert schema.is_file()
    assert '"guest_dmesg"' in schema.read_text(encoding="utf-8")


def test_generator_targets_in_the_schema_are_the_generators_targets() -> None:
    """Needs harness.generate."""
    import json
    from importlib import resources

    from harness.generate import TARGETS

    schema = json.loads(resources.files("harness.scenario").joinpath("scenario.schema.json").read_text())
    assert schema["$defs"]["generator_expectation"]["properties"]["target"]["enum"] == list(TARGETS)


@pytest.mark.parametrize(
    "arguments",
    [
        ("check", "--scenario", "{tmp}/missing.yaml"),
        ("check", "--scenario", "{tmp}/fifo.yaml"),
        ("scenario", "show", "{tmp}/fifo.yaml"),
        ("scenario", "run", "{tmp}/missing.yaml"),
        # fakesys describe DUMP: the importer's own reader still says 65 for a FIFO or device
        # (tests/data/bad-input/hexdump-fifo, known_bug).
    ],
)
def test_a_file_named_on_the_command_line_that_cannot_be_read_is_66(arguments: tuple[str, ...], tmp_path: Path) -> None:
    # 65 is for contents that are malformed; these were never read (the exit-code table, harness/exitcodes.py).
    import os

    from tests.canary import run_cli

    os.mkfifo(tmp_path / "fifo.yaml")
    outcome = run_cli(*(part.replace("{tmp}", str(tmp_path)) for part in arguments))
    assert outcome.code == 66, outcome.stderr + outcome.stdout
    assert "Traceback" not in outcome.stderr + outcome.stdout


def test_a_malformed_scenario_outranks_an_unreadable_one_in_scenario_run(tmp_path: Path) -> None:
    from tests.canary import run_cli

    (tmp_path / "bad.yaml").write_text("name: [\n")
    outcome = run_cli("scenario", "run", str(tmp_path / "missing.yaml"), str(tmp_path / "bad.yaml"))
    assert outcome.code == 65
    assert "2 did not load" in outcome.stdout
