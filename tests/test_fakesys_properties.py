"""Property tests over fakesys's input readers: for any input, a hex dump, a device
description, a dump turned into descriptions or a scenario file either loads or raises one of
the documented :class:`fakesys.errors.FakesysError` types, never anything else. Example counts
stay modest so the default suite stays fast."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fakesys.errors import FakesysError, HexDumpError
from fakesys.hw.describe import describe, encode
from fakesys.hw.hexdump import format_hexdump, parse_hexdump
from fakesys.hw.model import DeviceModel
from fakesys.source import Document
from harness import exitcodes
from harness.scenario import load_scenario
from tests.canary import run_cli

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIG = st.sampled_from([64, 256, 4096]).flatmap(lambda size: st.binary(min_size=size, max_size=size))


@SETTINGS
@given(CONFIG)
def test_any_config_space_describes_and_encodes_back_exactly(config: bytes) -> None:
    """Dead devices (all ones), unknown header types (0x7f) and looping capability lists
    included: describe() either gives a description that encodes to the same bytes, or says
    why it cannot, as a FakesysError. A 64-byte dump (``lspci -x``) is the header only: it
    encodes to conventional config space with the dump's bytes first and zeros after them."""
    model = DeviceModel("random", bytearray(config))
    try:
        description = describe(model)
    except FakesysError:
        return
    encoded = encode(Document(description, "<random>")).config
    assert len(encoded) == max(len(config), 256)
    assert encoded[: len(config)] == bytearray(config)
    assert not any(encoded[len(config) :])


DUMP_LINE = st.one_of(
    st.from_regex(r"\A[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] [ -~]{0,20}\Z"),
    st.from_regex(r"\A[0-9a-f]{2,3}:( [0-9a-f]{2}){0,17}\Z"),
    st.text(max_size=30),
)


@SETTINGS
@given(st.lists(DUMP_LINE, max_size=30).map("\n".join))
def test_any_text_is_a_dump_or_a_hexdump_error(text: str) -> None:
    try:
        devices = parse_hexdump(text, "<fuzz>")
    except HexDumpError as error:
        assert "\n" not in str(error)
        return
    for device in devices:
        assert len(device.config) in (64, 256, 4096)


@SETTINGS
@given(CONFIG, st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_dumps_round_trip_and_describe(config: bytes, title: str) -> None:
    assume("\n" not in title and "\r" not in title)
    text = format_hexdump("0000:03:00.0", title.strip(), config)
    [device] = parse_hexdump(text)
    assert device.config == config
    with contextlib.suppress(FakesysError):
        describe(DeviceModel("dumped", bytearray(device.config), title=device.title))


SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["00:17.0", "03:00.0", "vfio-pci", "ahci", "/etc/x", "../x", "", "sda", "D3hot", "dead"]),
    st.text(max_size=12),
)
KEYS = st.sampled_from(
    [
        "bdf",
        "device",
        "driver",
        "behind",
        "bus",
        "secondary",
        "name",
        "controller",
        "model",
        "serial",
        "files",
        "net",
        "pci",
        "disks",
        "kernel",
        "cmdline",
        "iommu",
        "modules",
        "override",
        "capabilities",
        "id",
        "behaviours",
        "remove",
        "extends",
        "wait",
        "vm_start",
        "reset",
    ]
)
VALUE = st.recursive(
    SCALAR,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
HOST = st.fixed_dictionaries(
    {"extends": st.just("terramaster-f4-424-pro")},
    optional={
        "pci": st.lists(
            st.fixed_dictionaries(
                {"bdf": st.sampled_from(["00:17.0", "03:00.0", "01:00.0", "00:1c.6", "zz"])},
                optional={
                    "driver": SCALAR,
                    "device": SCALAR,
                    "override": VALUE,
                    "behaviours": VALUE,
                    "condition": SCALAR,
                },
            ),
            max_size=2,
        ),
        "files": st.dictionaries(st.sampled_from(["/etc/a", "/etc/a/b", "/proc/x", "/../x", "/etc/"]), SCALAR),
        "net": VALUE,
        "disks": VALUE,
        "modules": VALUE,
        "kernel": VALUE,
    },
)
SCENARIO = st.fixed_dictionaries(
    {"host": HOST},
    optional={"steps": st.lists(st.dictionaries(KEYS, VALUE, min_size=1, max_size=1), max_size=3)},
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SCENARIO)
def test_any_scenario_loads_or_is_a_fakesys_error(tmp_path_factory: object, scenario: dict[str, object]) -> None:
    directory = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = Path(directory) / "fuzz.yaml"
    path.write_text(yaml.safe_dump(scenario))
    try:
        load_scenario(str(path))
    except FakesysError as error:
        assert "\n" not in str(error)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SCENARIO)
def test_any_scenario_through_the_command_line_is_a_documented_code(
    tmp_path_factory: object, scenario: dict[str, object]
) -> None:
    directory = Path(tmp_path_factory.mktemp("fuzzcli"))  # type: ignore[attr-defined]
    path = directory / "fuzz.yaml"
    path.write_text(yaml.safe_dump(scenario))
    outcome = run_cli("fakesys", "run", str(path), str(directory / "out"))
    assert outcome.code in (exitcodes.OK, exitcodes.DATA), outcome.stderr
    assert "Traceback" not in outcome.stderr
    if outcome.code:
        assert len(outcome.stderr.strip().splitlines()) == 1


def test_the_reference_dead_device_dump_describes() -> None:
    """The guest's ``unknown header type 7f`` device: every byte reads 0xff."""
    text = "03:00.0 SATA controller: ASMedia Technology Inc. ASM1062 Serial ATA Controller (rev ff)\n" + "".join(
        f"{offset:02x}: " + " ".join(["ff"] * 16) + "\n" for offset in range(0, 256, 16)
    )
    [device] = parse_hexdump(textwrap.dedent(text))
    try:
        description = describe(DeviceModel("dead", bytearray(device.config)))
    except FakesysError:
        return
    assert encode(Document(description, "<dead>")).config == bytearray(device.config)
