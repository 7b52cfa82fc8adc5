"""Device descriptions and hex dumps: encoding, decoding, round trips and error reports."""

from __future__ import annotations

import random

import pytest

from fakesys.errors import DescriptionError, HexDumpError, SourceError
from fakesys.hw.describe import describe, encode
from fakesys.hw.hexdump import format_hexdump, parse_hexdump
from fakesys.hw.library import library_names, load_device
from fakesys.hw.model import DeviceModel
from fakesys.hw.rom import build_image, declared_length, describe_image
from fakesys.source import Document, parse_yaml
from harness.pci import regs
from harness.pci.config import CapabilityLoopError, ConfigSpace

LIBRARY = library_names()


@pytest.mark.parametrize("name", LIBRARY)
def test_library_device_round_trips_through_its_description(name: str) -> None:
    model = load_device(name)
    again = encode(Document(describe(model), "<described>"))
    assert again.config == model.config
    assert again.bars == model.bars
    assert again.rom == model.rom


@pytest.mark.parametrize("name", LIBRARY)
def test_library_device_round_trips_through_a_hex_dump(name: str) -> None:
    model = load_device(name)
    text = format_hexdump("0000:03:00.0", model.title, bytes(model.config))
    [dumped] = parse_hexdump(text)
    assert dumped.config == bytes(model.config)
    assert format_hexdump(dumped.bdf, dumped.title, dumped.config) == text


@pytest.mark.parametrize("name", LIBRARY)
def test_library_device_cites_its_sources(name: str) -> None:
    model = load_device(name)
    assert model.sources, f"{name} has no sources"
    assert model.title


def test_arbitrary_bytes_describe_and_encode_back_exactly() -> None:
    generator = random.Random(1234)
    for size in (256, 4096) * 20:
        config = bytearray(generator.randbytes(size))
        config[0x0E] &= 0x81  # a header layout the decoder knows (normal), any multifunction bit
        model = DeviceModel("random", config)
        assert encode(Document(describe(model), "<random>")).config == config


def test_asm1062_decodes_the_reference_registers() -> None:
    space = load_device("asmedia-asm1062").space
    express = space.express()
    pm = space.power_management()
    assert express is not None and pm is not None
    assert (express.offset, express.port_type_name, express.version, express.flr) == (0x80, "legacy_endpoint", 2, False)
    assert (pm.offset, pm.version, pm.no_soft_reset) == (0x78, 3, False)
    assert [(cap.name, cap.offset) for cap in space.all_capabilities()] == [
        ("msi", 0x50),
        ("pm", 0x78),
        ("express", 0x80),
        ("vc", 0x100),
    ]


def test_asm1062_rom_starts_with_the_reference_bytes_and_is_one_legacy_image() -> None:
    rom = load_device("asmedia-asm1062").rom
    assert rom is not None and rom.size == 0x10000 and not rom.enabled
    image = rom.image
    assert image[:4] == bytes.fromhex("55aa4ae9") and image[0x40:0x44] == b"PCIR"
    assert image[0x40 + 0x14] == 0 and image[0x40 + 0x15] & 0x80  # code type x86, last image
    assert len(image) == declared_length(image) == 0x4A * 512
    assert sum(image) % 256 == 0
    assert build_image(describe_image(image), rom.size) == image


def _doc(text: str) -> Document:
    return parse_yaml(text, "dev.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("header: {vendor: 0x10000}", "dev.yaml:1: 0x10000 does not fit in 2 byte(s)"),
        ("header: {bogus: 1}", "dev.yaml:1: unknown header0 register 'bogus'"),
        ("colour: red", "dev.yaml:1: unknown key 'colour'"),
        (
            "capabilities:\n  - {id: msi, at: 0x20}",
            "dev.yaml:2: a capability sits at a dword-aligned offset in 0x40..0xfc, got 0x20",
        ),
        (
            "capabilities:\n  - {id: pm, at: 0x40}\n  - {id: msi, at: 0x44}",
            "dev.yaml:3: capability at 0x44 overlaps the one at 0x40",
        ),
        (
            "capabilities:\n  - {id: express, at: 0x40, devcap: {flr: maybe}}",
            "dev.yaml:2: devcap.flr: expected true or false",
        ),
        (
            "capabilities:\n  - {id: express, at: 0x40, lnkcap: {max_speed: 3GT/s}}",
            "dev.yaml:2: lnkcap.max_speed: unknown value '3GT/s'",
        ),
        (
            "bars:\n  - {index: 0, kind: memory, address: 0x1001, size: 0x1000}",
            "dev.yaml:2: address 0x1001 is not aligned to size 0x1000",
        ),
        (
            "bars:\n  - {index: 5, kind: memory, bits: 64, address: 0}",
            "dev.yaml:2: BAR 5 overlaps another BAR or the end of the header",
        ),
        ("raw: {0x40: zz}", "dev.yaml:1: expected hex bytes like '00 ff 1a', got 'zz'"),
        ("rom: {address: 0, size: 1000}", "dev.yaml:1: a ROM BAR size is a power of two from 2 KiB to 2 GiB"),
    ],
)
def test_bad_descriptions_are_reported_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(SourceError) as raised:
        encode(_doc(text))
    assert str(raised.value).startswith(message)


def test_description_error_type_is_a_fakesys_error() -> None:
    assert issubclass(DescriptionError, Exception)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("03:00.0 SATA\n00: 21 1b\n", "dump:2: expected 16 bytes on the line, found 2"),
        ("03:00.0 SATA\n00: " + "zz " * 16 + "\n", "dump:2: 'zz' is not a hex byte"),
        (
            "03:00.0 SATA\n" + "".join(f"{o:02x}: " + "00 " * 16 + "\n" for o in range(0, 48, 16)),
            "dump:1: 0000:03:00.0 has 48 bytes of config space",
        ),
        ("03:00.0 SATA\n10: " + "00 " * 16 + "\n", "dump:2: offset 0x10 out of sequence; expected 0x0"),
        ("00: " + "00 " * 16 + "\n", "dump:1: data before the first device address line"),
        ("hello\n", "dump:1: expected 'OFF: hh hh ...' or a device address line"),
        ("", "dump: no device found"),
    ],
)
def test_malformed_hex_dumps_name_the_line(text: str, message: str) -> None:
    with pytest.raises(HexDumpError) as raised:
        parse_hexdump(text, "dump")
    assert str(raised.value).startswith(message)


def test_capability_pointer_loop_is_detected() -> None:
    config = bytearray(256)
    config[0x06] = regs.STATUS_CAPABILITIES
    config[0x34] = 0x40
    config[0x40:0x42] = bytes([0x01, 0x50])
    config[0x50:0x52] = bytes([0x05, 0x40])
    with pytest.raises(CapabilityLoopError, match="capability list loops back to offset 0x40"):
        ConfigSpace(config).capabilities()


def test_extended_capability_loop_is_detected() -> None:
    config = bytearray(4096)
    regs.write_register(config, 0x100, 4, 0x0001 | 1 << 16 | 0x200 << 20)
    regs.write_register(config, 0x200, 4, 0x000D | 1 << 16 | 0x100 << 20)
    with pytest.raises(CapabilityLoopError, match="extended capability list loops back to offset 0x100"):
        ConfigSpace(config).extended_capabilities()
