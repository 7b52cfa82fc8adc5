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
from fakesys.hw import library
from fakesys.hw.describe import describe, encode
from fakesys.hw.hexdump import format_hexdump, parse_hexdump
from fakesys.hw.model import DeviceModel
from fakesys.source import Document
from harness import exitcodes
from harness.pci import regs
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


#: Values a description field might be given: edges of every width (negative, 8/16/32/64-bit
#: limits, beyond), strings that look like numbers, and wrong shapes.
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 1, 0x3F, 0x40, 0xFC, 0xFF, 0x100, 0xFFC, 0x1000, 0xFFFF, 2**32, 2**64, 2**31]),
)
FIELD_VALUE = st.one_of(
    NUMBER, st.booleans(), st.none(), st.sampled_from(["D3hot", "x", "0x10", "", "2.5GT/s"]), st.floats(width=16)
)
REGISTER_NAMES = sorted(
    {register.name for structure in (regs.HEADER_TYPE0, regs.HEADER_TYPE1) for register in structure.registers}
    | {
        register.name
        for structure in {**regs.CAPABILITIES, **regs.EXTENDED_CAPABILITIES}.values()
        for register in structure.registers
    }
    | {"nope", "offset"}
)
FIELD_NAMES = sorted(
    {
        field.name
        for structure in {**regs.CAPABILITIES, **regs.EXTENDED_CAPABILITIES}.values()
        for register in structure.registers
        for field in register.fields
    }
)
REGISTERS = st.dictionaries(
    st.sampled_from(REGISTER_NAMES),
    st.one_of(FIELD_VALUE, st.dictionaries(st.sampled_from([*FIELD_NAMES, "nope"]), FIELD_VALUE, max_size=3)),
    max_size=3,
)
CAPABILITY_ID = st.one_of(
    st.sampled_from([*regs.CAPABILITIES, *regs.EXTENDED_CAPABILITIES, "nope"]), NUMBER, st.booleans(), st.none()
)
CAPABILITY = st.one_of(
    st.builds(
        lambda cap_id, at, rest: {"id": cap_id, "at": at, **rest},
        CAPABILITY_ID,
        st.one_of(NUMBER, st.just("x")),
        st.one_of(REGISTERS, st.fixed_dictionaries({}, optional={"version": NUMBER, "remove": st.just(True)})),
    ),
    FIELD_VALUE,
)
BAR = st.one_of(
    st.fixed_dictionaries(
        {"index": st.one_of(NUMBER, st.booleans())},
        optional={
            "kind": st.sampled_from(["io", "memory", "nope", 1]),
            "address": NUMBER,
            "size": NUMBER,
            "bits": st.sampled_from([32, 64, 16, -64]),
            "prefetchable": st.one_of(st.booleans(), st.just("x")),
        },
    ),
    FIELD_VALUE,
)
ROM = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "address": NUMBER,
            "size": st.one_of(NUMBER, st.sampled_from([2048, 2**24, 2**31, 2**40])),
            "enabled": st.booleans(),
            "image": st.one_of(
                st.fixed_dictionaries(
                    {"hex": st.sampled_from(["55 aa", "zz", "", "55aa00"])},
                    optional={"length": NUMBER, "fill": NUMBER, "checksum": st.booleans()},
                ),
                FIELD_VALUE,
            ),
        },
    ),
    FIELD_VALUE,
)
BEHAVIOUR = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["ready_after_reset", "dma_alias", "degraded_link", "pm_reset_ignored", "nope"])},
        optional={"ms": NUMBER, "function": NUMBER, "width": NUMBER, "speed": NUMBER, "after": st.just(["flr"])},
    ),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=3)), FIELD_VALUE, max_size=2),
    FIELD_VALUE,
)


def _listish(item: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(item, max_size=4), FIELD_VALUE, st.dictionaries(st.text(max_size=3), item, max_size=2))


DESCRIPTION = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=8), FIELD_VALUE),
        "title": st.one_of(st.text(max_size=8), FIELD_VALUE, st.lists(st.integers(), max_size=2)),
        "sources": _listish(st.one_of(st.text(max_size=8), FIELD_VALUE)),
        "notes": st.one_of(st.text(max_size=8), FIELD_VALUE),
        "layout": st.sampled_from(["normal", "bridge", "x", 7]),
        "config_size": st.one_of(st.sampled_from([256, 4096]), NUMBER),
        "header": st.one_of(REGISTERS, FIELD_VALUE),
        "bars": _listish(BAR),
        "rom": ROM,
        "capabilities": _listish(CAPABILITY),
        "extended_capabilities": _listish(CAPABILITY),
        "raw": st.one_of(
            st.dictionaries(
                st.one_of(NUMBER, st.just("zz")), st.sampled_from(["00", "ff ff", "zz", "00 " * 300]), max_size=3
            ),
            FIELD_VALUE,
        ),
        "behaviours": _listish(BEHAVIOUR),
    },
)


@settings(max_examples=300, deadline=None)
@given(DESCRIPTION)
def test_any_description_encodes_or_is_a_fakesys_error(data: dict[str, object]) -> None:
    """Whatever a description (a library file, or a host's override: merged into one) holds, the
    encoder builds a model with a whole configuration space (256 or 4096 bytes) or raises a
    FakesysError naming the place."""
    try:
        model = encode(Document(data, "<fuzz>"))
    except FakesysError as error:
        assert "\n" not in str(error) and str(error).startswith("<fuzz>:")
        return
    assert len(model.config) in (256, 4096)
    if model.rom is not None:
        assert len(model.rom.image) <= 16 * 1024 * 1024


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(library.library_names()), DESCRIPTION)
def test_any_override_of_a_library_device_loads_or_is_a_fakesys_error(name: str, override: dict[str, object]) -> None:
    try:
        model = library.load_device(name, override, ("<host>", 7))
    except FakesysError as error:
        assert "\n" not in str(error)
        return
    assert len(model.config) in (256, 4096)


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
