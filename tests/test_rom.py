"""Option ROM parsing (harness.pci.rom), the rom-parser style report, ``vfiolab rom`` and the ROM check.

ROMs are built here from the format description (checker-and-generator.md §9); the Terramaster
ASM1062 ROM is the device library's image, whose first 512 bytes are the reference hexdump.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import yaml

from fakesys.hw.library import device_path, load_device
from fakesys.hw.rom import build_image
from fakesys.kernel.kernel import FakeKernel
from fakesys.sysfs.render import render
from harness.checks.base import CheckContext, CheckOptions
from harness.checks.rom import check
from harness.findings import Finding, Severity
from harness.pci.rom import CODE_EFI, CODE_X86, ScanEnd, format_rom_parser, parse_rom, run_rom_command
from harness.scenario import load_scenario
from harness.sysfs import HostView, read_host
from tests.helpers import deadline

REPO = Path(__file__).resolve().parent.parent
ASM1062 = "0000:03:00.0"
TERRAMASTER_REPORT = (
    "Valid ROM signature found @0h, PCIR offset 40h\n"
    "\tPCIR: type 0 (x86 PC-AT), vendor: 1b21, device: 0612, class: 010400\n"
    "\tPCIR: revision 3, vendor revision: 420\n"
    "\tLast image\n"
)


# --- Building ROMs ---------------------------------------------------------------------------------


def rom_image(
    vendor: int = 0x8086,
    device: int = 0x1533,
    class_code: int = 0x020000,
    *,
    code_type: int = CODE_X86,
    blocks: int = 1,
    indicator: int = 0x80,
    pcir: int = 0x1C,
    pcir_length: int = 0x18,
    pcir_signature: bytes = b"PCIR",
    code_revision: int = 0x0001,
    efi_signature: int = 0x0EF1,
    efi_machine: int = 0x8664,
) -> bytes:
    """One image: header, PCIR, zero fill; legacy images get the checksum byte set."""
    image = bytearray(blocks * 512)
    image[0:2] = b"\x55\xaa"
    if code_type == CODE_EFI:
        image[2:4] = blocks.to_bytes(2, "little")
        image[4:8] = efi_signature.to_bytes(4, "little")
        image[8:10] = (0x0B).to_bytes(2, "little")  # boot-service driver
        image[0x0A:0x0C] = efi_machine.to_bytes(2, "little")
        image[0x16:0x18] = (0x38).to_bytes(2, "little")
    else:
        image[2] = blocks
        image[3] = 0xE9
    image[0x18:0x1A] = pcir.to_bytes(2, "little")
    structure = bytearray(0x18)
    structure[0:4] = pcir_signature
    structure[4:6] = vendor.to_bytes(2, "little")
    structure[6:8] = device.to_bytes(2, "little")
    structure[0x0A:0x0C] = pcir_length.to_bytes(2, "little")
    structure[0x0C] = 3
    structure[0x0D:0x10] = class_code.to_bytes(3, "little")
    structure[0x10:0x12] = blocks.to_bytes(2, "little")
    structure[0x12:0x14] = code_revision.to_bytes(2, "little")
    structure[0x14] = code_type
    structure[0x15] = indicator
    image[pcir : pcir + 0x18] = structure
    if code_type == CODE_X86:
        image[-1] = (-sum(image[:-1])) & 0xFF
    return bytes(image)


def hybrid_rom(vendor: int = 0x8086, device: int = 0x1533, class_code: int = 0x020000) -> bytes:
    legacy = rom_image(vendor, device, class_code, blocks=2, indicator=0)
    efi = rom_image(vendor, device, class_code, code_type=CODE_EFI, blocks=1)
    return legacy + efi


def terramaster_rom() -> bytes:
    rom = load_device("asmedia-asm1062").rom
    assert rom is not None
    return rom.image


# --- Parsing ---------------------------------------------------------------------------------------


def test_terramaster_rom_is_built_from_the_reference_hexdump() -> None:
    spec = yaml.safe_load(device_path("asmedia-asm1062").read_text())["rom"]["image"]
    head = bytes.fromhex(" ".join(spec["hex"].split()))
    built = build_image(spec, 0x10000)
    assert len(head) == 512
    assert len(built) == 0x4A * 512
    assert built[:512] == head
    assert built == terramaster_rom()


def test_terramaster_rom_fields() -> None:
    result = parse_rom(terramaster_rom())
    assert result.problems == []
    assert result.scan_end is ScanEnd.LAST_IMAGE
    (image,) = result.images
    assert (image.offset, image.pcir_offset) == (0, 0x40)
    assert (image.vendor_id, image.device_id) == (0x1B21, 0x0612)
    assert image.class_code == 0x010400
    assert image.class_text == "010400"
    assert (image.pcir_revision, image.pcir_length, image.code_revision) == (3, 0x1C, 0x0420)
    assert image.code_type == CODE_X86
    assert (image.indicator, image.last) == (0x80, True)
    assert image.image_length_bytes == 0x4A * 512
    assert image.device_list_pointer == 0x1C
    assert image.device_list == (0x0611, 0x0612, 0x0601, 0x0602, 0x0614, 0x0615)
    assert image.checksum_ok is True
    assert image.efi_signature_valid is None and image.efi_machine is None
    assert result.kernel_images == result.images
    assert result.kernel_size == 0x4A * 512
    assert result.x86_only and not result.has_efi


def test_terramaster_report_is_rom_parsers() -> None:
    assert format_rom_parser(parse_rom(terramaster_rom())) == TERRAMASTER_REPORT


def test_legacy_only_rom() -> None:
    result = parse_rom(rom_image())
    assert result.problems == []
    assert [image.code_type for image in result.images] == [CODE_X86]
    assert format_rom_parser(result) == (
        "Valid ROM signature found @0h, PCIR offset 1ch\n"
        "\tPCIR: type 0 (x86 PC-AT), vendor: 8086, device: 1533, class: 020000\n"
        "\tPCIR: revision 3, vendor revision: 1\n"
        "\tLast image\n"
    )


def test_hybrid_rom_finds_the_efi_image_at_400h() -> None:
    result = parse_rom(hybrid_rom())
    assert result.problems == []
    legacy, efi = result.images
    assert (legacy.offset, legacy.last, efi.offset, efi.last) == (0, False, 0x400, True)
    assert efi.code_type == CODE_EFI
    assert (efi.efi_signature_valid, efi.efi_subsystem, efi.efi_machine, efi.efi_compression) == (True, 0x0B, 0x8664, 0)
    assert efi.efi_image_offset == 0x38
    assert [image.offset for image in result.kernel_images] == [0, 0x400]
    assert result.has_efi and not result.x86_only
    assert format_rom_parser(result) == (
        "Valid ROM signature found @0h, PCIR offset 1ch\n"
        "\tPCIR: type 0 (x86 PC-AT), vendor: 8086, device: 1533, class: 020000\n"
        "\tPCIR: revision 3, vendor revision: 1\n"
        "Valid ROM signature found @400h, PCIR offset 1ch\n"
        "\tPCIR: type 3 (EFI), vendor: 8086, device: 1533, class: 020000\n"
        "\tPCIR: revision 3, vendor revision: 1\n"
        "\t\tEFI: Signature Valid, Subsystem: Boot, Machine: X64\n"
        "\tLast image\n"
    )


def test_corrupt_pcir_signature() -> None:
    result = parse_rom(rom_image(pcir_signature=b"PCIX"))
    assert result.images == []
    assert result.scan_end is ScanEnd.INVALID_PCIR
    assert result.invalid_pcir_at == (0, 0x1C)
    assert any("invalid PCIR signature" in problem for problem in result.problems)
    assert format_rom_parser(result).endswith("Invalid PCIR signature\n")


def test_all_ff_file_runs_off_the_end() -> None:
    result = parse_rom(b"\xff" * 0x10000)
    assert result.images == [] and result.kernel_images == []
    assert result.scan_end is ScanEnd.RAN_OFF_END
    assert format_rom_parser(result) == "Error, ran off the end\n"
    assert result.problems == ["ran off the end: no ROM signature (55 AA) in 65536 bytes"]
    assert result.kernel_size == 0


def test_empty_file_runs_off_the_end() -> None:
    result = parse_rom(b"")
    assert format_rom_parser(result) == "Error, ran off the end\n"
    assert not result.valid


def test_signature_after_a_blank_block_is_found_512_bytes_on() -> None:
    result = parse_rom(b"\xff" * 512 + rom_image())
    assert [image.offset for image in result.images] == [0x200]
    # The kernel does not search: with no signature at 0 it exposes nothing.
    assert result.kernel_images == [] and result.kernel_size == 0
    assert any(problem.startswith("kernel: no ROM signature") for problem in result.problems)


def test_image_not_marked_last_at_the_end_of_the_data_runs_off_the_end() -> None:
    result = parse_rom(rom_image(indicator=0))
    assert len(result.images) == 1
    assert format_rom_parser(result).endswith("\tPCIR: revision 3, vendor revision: 1\nError, ran off the end\n")
    assert any("ran off the end" in problem for problem in result.problems)


def test_truncated_image_is_reported() -> None:
    result = parse_rom(rom_image(blocks=4)[:1024])
    assert any("declares 2048 bytes" in problem for problem in result.problems)
    assert result.kernel_size == 1024


def test_bad_legacy_checksum_is_reported() -> None:
    image = bytearray(rom_image())
    image[-1] ^= 0x01
    result = parse_rom(bytes(image))
    assert result.images[0].checksum_ok is False
    assert any("checksum" in problem for problem in result.problems)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (rom_image(pcir=0x1A), "not 4-byte aligned"),
        (rom_image(pcir_length=0x10), "below 0x18"),
    ],
)
def test_pcir_rules_only_the_kernel_applies(image: bytes, expected: str) -> None:
    result = parse_rom(image)
    assert len(result.images) == 1 and result.scan_end is ScanEnd.LAST_IMAGE  # rom-parser is content
    assert result.kernel_images == []
    assert any(expected in problem for problem in result.problems)


def test_zero_image_length_stops_the_kernel_before_the_image() -> None:
    image = bytearray(rom_image())
    image[0x1C + 0x10 : 0x1C + 0x12] = b"\x00\x00"
    result = parse_rom(bytes(image))
    assert len(result.images) == 1
    assert result.kernel_size == 0
    assert any("image length is 0" in problem for problem in result.problems)


def test_indicator_without_bit_7_stops_rom_parser_only() -> None:
    data = rom_image(indicator=0x01) + rom_image(code_type=CODE_EFI)
    result = parse_rom(data)
    assert [image.offset for image in result.images] == [0]
    assert result.images[0].last is False
    assert [image.offset for image in result.kernel_images] == [0, 0x200]
    assert any("bit 7 clear" in problem for problem in result.problems)
    assert any("disagree" in problem for problem in result.problems)


def test_image_length_that_skips_the_next_image_is_a_disagreement() -> None:
    # The first image says 2 blocks but the next one starts after 1: rom-parser still finds it.
    first = bytearray(rom_image(indicator=0))
    first[0x1C + 0x10 : 0x1C + 0x12] = (2).to_bytes(2, "little")
    data = bytes(first) + rom_image(code_type=CODE_EFI) + b"\x00" * 512
    result = parse_rom(data)
    assert [image.offset for image in result.images] == [0, 0x200]
    assert [image.offset for image in result.kernel_images] == [0]
    assert any("no image follows at 400h" in problem for problem in result.problems)


def test_unknown_code_type_and_efi_names() -> None:
    data = rom_image(code_type=0xE0, indicator=0) + rom_image(code_type=CODE_EFI, efi_machine=0xAA64, efi_signature=0)
    report = format_rom_parser(parse_rom(data))
    assert "\tPCIR: type e0, vendor: 8086" in report
    assert "\t\tEFI: Signature Invalid, Subsystem: Boot, Machine: AArch64\n" in report


# --- vfiolab rom -----------------------------------------------------------------------------------


def test_rom_command_valid_rom(tmp_path: Path) -> None:
    path = tmp_path / "asm1061.rom"
    path.write_bytes(terramaster_rom())
    out, err = io.StringIO(), io.StringIO()
    assert run_rom_command(str(path), out, err) == 0
    assert out.getvalue() == TERRAMASTER_REPORT
    assert err.getvalue() == ""


def test_rom_command_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.rom"
    path.write_bytes(rom_image(pcir_signature=b"XXXX"))
    out = io.StringIO()
    assert run_rom_command(str(path), out, io.StringIO()) == 1
    assert "Invalid PCIR signature\n" in out.getvalue()
    assert "\nProblems:\n\timage @0h: invalid PCIR signature at 1ch\n" in out.getvalue()


@pytest.mark.parametrize("name", ["missing.rom", "."])
def test_rom_command_unreadable_file(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert run_rom_command(str(tmp_path / name), out) == 66
    assert out.getvalue() == ""
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("vfiolab rom: cannot read ")
    assert "Traceback" not in error


def test_rom_command_refuses_an_endless_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run_rom_command("/dev/zero", io.StringIO()) == 66
    assert "/dev/zero: not a regular file; not read" in capsys.readouterr().err
    sparse = tmp_path / "huge.rom"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 30)
    assert run_rom_command(str(sparse), io.StringIO()) == 66
    assert "larger than 16 MiB" in capsys.readouterr().err


def test_rom_command_does_not_wait_on_a_fifo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fifo = tmp_path / "rom"
    os.mkfifo(fifo)
    with deadline(10):
        assert run_rom_command(str(fifo), io.StringIO()) == 66
    assert "not a regular file" in capsys.readouterr().err


# --- The check on a rendered Terramaster ------------------------------------------------------------


def rendered(root: Path) -> HostView:
    render(FakeKernel(load_scenario(str(REPO / "scenarios" / "terramaster-f4-424-pro.yaml")).host), str(root))
    return read_host(root)


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> HostView:
    return rendered(tmp_path_factory.mktemp("terramaster"))


def run(
    view: HostView,
    *,
    devices: list[str] | None = None,
    vm_firmware: str = "ovmf",
    rom_files: dict[str, Path] | None = None,
    read_rom: bool = False,
    all_endpoints: bool = False,
) -> list[Finding]:
    options = CheckOptions(
        devices=None if all_endpoints else (devices or [ASM1062]),
        vm_firmware=vm_firmware,
        rom_files=rom_files or {},
        read_rom=read_rom,
    )
    return list(check(CheckContext(view, options)))


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


def by_code(findings: list[Finding], code: str) -> Finding:
    (found,) = [finding for finding in findings if finding.code == code]
    return found


def test_ovmf_with_the_legacy_only_rom(view: HostView) -> None:
    findings = run(view)
    assert codes(findings) == ["rom.x86-only-ovmf", "rom.not-needed"]
    useless = by_code(findings, "rom.x86-only-ovmf")
    assert useless.severity is Severity.INFO
    assert useless.device == ASM1062
    assert "OVMF will not run it" in useless.message and "\n" not in useless.message
    assert "rombar=0" in useless.fix and "<rom bar='off'/>" in useless.fix
    assert "PCI Firmware Specification r3.3" in useless.why
    rom_path = f"/sys/bus/pci/devices/{ASM1062}/rom"
    assert (useless.evidence[0].path, useless.evidence[0].value) == (rom_path, f"{0x4A * 512} bytes")
    assert useless.evidence[1].path == f"{rom_path} @0h PCIR 40h"
    assert "vendor 1b21, device 0612, class 010400" in useless.evidence[1].value
    assert by_code(findings, "rom.not-needed").severity is Severity.INFO
    assert "rombar=0" in by_code(findings, "rom.not-needed").fix
    for finding in findings:
        assert finding.to_json()["device"] == ASM1062


def test_seabios_runs_the_legacy_rom(view: HostView) -> None:
    """The ASM1062 is a storage controller: SeaBIOS runs its x86 ROM at POST, a warning whose fix
    is rombar=0 (SeaBIOS src/optionroms.c runs every non-VGA device's ROM)."""
    findings = run(view, vm_firmware="seabios")
    assert codes(findings) == ["rom.seabios-runs", "rom.seabios-data-rom", "rom.not-needed"]
    assert by_code(findings, "rom.seabios-runs").severity is Severity.INFO
    data = by_code(findings, "rom.seabios-data-rom")
    assert data.severity is Severity.WARN
    assert "rombar=0" in data.fix and "<rom bar='off'/>" in data.fix
    assert "optionrom_setup" in data.why


def test_seabios_skips_a_storage_rom_without_an_x86_image(view: HostView, tmp_path: Path) -> None:
    """Boundary: SeaBIOS runs only code type 0 images, so an EFI-only ROM is no stall risk; under
    OVMF the warning never applies."""
    path = tmp_path / "efi-only.rom"
    path.write_bytes(rom_image(0x1B21, 0x0612, 0x010601, code_type=CODE_EFI))
    assert "rom.seabios-data-rom" not in codes(run(view, rom_files={"*": path}, vm_firmware="seabios"))
    assert "rom.seabios-data-rom" not in codes(run(view))


def test_seabios_warns_for_a_storage_rom_it_could_not_read(view: HostView) -> None:
    """A ROM BAR whose image was not read may hold an x86 image: warn, saying it was not read."""
    findings = run(view, vm_firmware="seabios", rom_files={"*": Path("/nonexistent/x.rom")})
    data = by_code(findings, "rom.seabios-data-rom")
    assert data.severity is Severity.WARN and "not read here" in data.why


def test_efi_image_present_under_ovmf(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "hybrid.rom"
    path.write_bytes(hybrid_rom(0x1B21, 0x0612, 0x010601))
    findings = run(view, rom_files={"*": path})
    assert codes(findings) == ["rom.not-needed"]
    assert findings[0].evidence[0].path == str(path)
    assert "rom.seabios-runs" in codes(run(view, rom_files={"*": path}, vm_firmware="seabios"))


def test_rom_file_by_short_address_wins_over_sysfs(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "efi-only.rom"
    path.write_bytes(rom_image(0x1B21, 0x0612, 0x010601, code_type=CODE_EFI))
    findings = run(view, rom_files={"03:00.0": path})
    assert codes(findings) == ["rom.not-needed"]


@pytest.mark.parametrize(
    ("vendor", "device", "mismatch"),
    [
        (0x1B21, 0x0612, False),
        (0x1B21, 0x0625, True),  # device in neither the PCIR nor its device list
        (0x8086, 0x0612, True),
    ],
)
def test_pcir_ids_against_the_device(view: HostView, tmp_path: Path, vendor: int, device: int, mismatch: bool) -> None:
    path = tmp_path / "other.rom"
    path.write_bytes(rom_image(vendor, device, 0x010601))
    findings = run(view, rom_files={ASM1062: path})
    assert ("rom.id-mismatch" in codes(findings)) is mismatch
    if mismatch:
        finding = by_code(findings, "rom.id-mismatch")
        assert finding.severity is Severity.WARN
        assert f"{vendor:04x}:{device:04x}" in finding.message and "1b21:0612" in finding.message
        assert "romfile=" in finding.fix


def test_device_list_counts_as_a_match(view: HostView, tmp_path: Path) -> None:
    # The Terramaster ROM names 0612 in its PCIR; patch the PCIR device to 0611, still listed.
    image = bytearray(terramaster_rom())
    image[0x46:0x48] = (0x0611).to_bytes(2, "little")
    path = tmp_path / "listed.rom"
    path.write_bytes(bytes(image))
    findings = run(view, rom_files={"*": path})
    assert "rom.id-mismatch" not in codes(findings)
    assert "rom.parse-problem" in codes(findings)  # the patch broke the checksum


def test_all_ff_rom_has_no_image(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "blank.rom"
    path.write_bytes(b"\xff" * 0x10000)
    findings = run(view, rom_files={"*": path})
    assert codes(findings) == ["rom.no-image", "rom.not-needed"]
    assert by_code(findings, "rom.no-image").severity is Severity.WARN
    assert "Error, ran off the end" in by_code(findings, "rom.no-image").why


def test_corrupt_pcir_has_no_image(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "corrupt.rom"
    path.write_bytes(rom_image(0x1B21, 0x0612, pcir_signature=b"PCIX"))
    finding = by_code(run(view, rom_files={"*": path}), "rom.no-image")
    assert "invalid PCIR signature" in finding.message
    assert "Invalid PCIR signature" in finding.why


def test_kernel_only_problem_is_a_parse_problem(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "misaligned.rom"
    path.write_bytes(rom_image(0x1B21, 0x0612, pcir=0x1A))
    finding = by_code(run(view, rom_files={"*": path}), "rom.parse-problem")
    assert finding.severity is Severity.WARN
    assert "not 4-byte aligned" in finding.message


def test_unreadable_rom_file(view: HostView, tmp_path: Path) -> None:
    findings = run(view, rom_files={ASM1062: tmp_path / "missing.rom"})
    assert codes(findings) == ["rom.file-unreadable", "rom.not-needed"]
    assert "echo 1 >" in by_code(findings, "rom.file-unreadable").fix


def test_wildcard_file_with_several_devices_is_not_guessed(view: HostView, tmp_path: Path) -> None:
    path = tmp_path / "x.rom"
    path.write_bytes(rom_image())
    findings = run(view, devices=[ASM1062, "0000:00:17.0"], rom_files={"*": path})
    assert codes(findings) == ["rom.file-ambiguous", "rom.x86-only-ovmf", "rom.not-needed"]
    assert findings[1].evidence[0].path.endswith("/rom")


def test_device_without_rom_bar_has_no_findings(view: HostView) -> None:
    assert run(view, devices=["0000:00:17.0"]) == []
    assert run(view, devices=["0000:01:00.0"], vm_firmware="seabios") == []


def test_every_endpoint_by_default(view: HostView) -> None:
    findings = run(view, all_endpoints=True)
    assert {finding.device for finding in findings} == {ASM1062}


def test_rom_that_does_not_read_is_not_enabled_off_the_live_root(tmp_path: Path) -> None:
    view = rendered(tmp_path)
    function = view.function(ASM1062)
    assert function is not None
    rom = tmp_path / function.path / "rom"
    # What a real host's rom returns before `echo 1 > rom`: nothing.
    rom.write_bytes(b"")
    before = os.stat(rom).st_mtime_ns
    for read_rom in (False, True):
        findings = run(view, read_rom=read_rom)
        assert codes(findings) == ["rom.not-read", "rom.not-needed"]
        finding = by_code(findings, "rom.not-read")
        assert finding.severity is Severity.INFO
        assert "--read-rom" in finding.fix and "--rom " in finding.fix
        assert f"echo 1 > /sys/bus/pci/devices/{ASM1062}/rom" in finding.fix
        assert finding.evidence[0].value.startswith("not read: ")
        if read_rom:
            assert "running host" in finding.evidence[0].value or "needs root" in finding.evidence[0].value
    assert rom.read_bytes() == b""
    assert os.stat(rom).st_mtime_ns == before
