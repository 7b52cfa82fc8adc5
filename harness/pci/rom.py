"""PCI option ROM images (harness.pci.rom): parsing, the rom-parser style report, ``vfiolab rom``.

A ROM is a chain of images, each starting with ``55 AA`` and pointing at a PCI Data Structure
("PCIR") that says which device and which firmware (code type) the image is for. Two readers of
that chain matter for passthrough and they do not agree on edge cases, so both are recorded:

- awilliam/rom-parser, the tool every passthrough guide tells users to run: it searches for the
  signature every 512 bytes and stops at the first image whose indicator byte is non-zero.
- the kernel (``drivers/pci/rom.c``), which sizes what the sysfs ``rom`` file returns: it walks by
  each image's length, stops at bit 7 of the indicator, and rejects a PCIR that is not 4-byte
  aligned or shorter than 0x18 bytes.

The layout follows the PCI Firmware Specification r3.3 §5.1.3 (the PCI data structure), the UEFI
specification's EFI expansion ROM header, awilliam/rom-parser's documented output and the
kernel's drivers/pci/rom.c; this module is written from those descriptions, not from either
tool's code.
"""

from __future__ import annotations

import enum
import os
import stat
import sys
from dataclasses import dataclass, field
from typing import TextIO

from harness import exitcodes

ROM_SIGNATURE = b"\x55\xaa"
PCIR_SIGNATURE = b"PCIR"
EFI_SIGNATURE = 0x00000EF1
IMAGE_BLOCK = 512
PCIR_MIN_LENGTH = 0x18
LAST_IMAGE_BIT = 0x80
#: The largest expansion ROM the PCI ROM BAR can map; anything bigger is not a ROM dump.
MAX_ROM_SIZE = 16 * 1024 * 1024

CODE_X86 = 0
CODE_OPEN_FIRMWARE = 1
CODE_PA_RISC = 2
CODE_EFI = 3
CODE_TYPE_NAMES = {CODE_X86: "x86 PC-AT", CODE_OPEN_FIRMWARE: "Open Firmware", CODE_PA_RISC: "PA-RISC", CODE_EFI: "EFI"}

EFI_SUBSYSTEM_NAMES = {0x0A: "Application", 0x0B: "Boot", 0x0C: "Runtime"}
EFI_MACHINE_X64 = 0x8664
EFI_MACHINE_EBC = 0x0EBC
EFI_MACHINE_NAMES = {
    0x014C: "IA32",
    0x0200: "Itanium",
    EFI_MACHINE_EBC: "EBC",
    EFI_MACHINE_X64: "X64",
    0x01C2: "ARM",
    0xAA64: "AArch64",
}
EFI_COMPRESSION_NAMES = {0: "none", 1: "EFI-compressed"}

# Offsets inside the image header and the PCIR structure (PCI Firmware Specification r3.3 §5.1.3).
_HEADER_INIT_SIZE = 0x02
_HEADER_PCIR_POINTER = 0x18
_EFI_SIGNATURE = 0x04
_EFI_SUBSYSTEM = 0x08
_EFI_MACHINE = 0x0A
_EFI_COMPRESSION = 0x0C
_EFI_IMAGE_OFFSET = 0x16
_PCIR_VENDOR = 0x04
_PCIR_DEVICE = 0x06
_PCIR_DEVICE_LIST = 0x08
_PCIR_LENGTH = 0x0A
_PCIR_REVISION = 0x0C
_PCIR_CLASS = 0x0D
_PCIR_IMAGE_LENGTH = 0x10
_PCIR_CODE_REVISION = 0x12
_PCIR_CODE_TYPE = 0x14
_PCIR_INDICATOR = 0x15
# The device list pointer only means something from PCI Firmware 3.0 (PCIR revision 3) on.
_DEVICE_LIST_REVISION = 3


@dataclass(frozen=True)
class RomImage:
    """One image of a ROM, as its header and PCIR describe it."""

    #: Where the image starts in the ROM.
    offset: int
    #: Where the PCIR starts, relative to the image (what rom-parser prints).
    pcir_offset: int
    vendor_id: int
    device_id: int
    device_list_pointer: int
    pcir_length: int
    pcir_revision: int
    #: Base class << 16 | subclass << 8 | prog-if, the same order as sysfs ``class``.
    class_code: int
    image_length_bytes: int
    code_revision: int
    code_type: int
    indicator: int
    #: Bit 7 of the indicator: the last image for the PCI Firmware spec and the kernel.
    last: bool
    #: Further device IDs the image supports (PCI Firmware 3.0 device list), zero-terminated in the ROM.
    device_list: tuple[int, ...] = ()
    #: The header's initialisation size (+0x02, in 512-byte units), in bytes.
    init_size_bytes: int = 0
    #: Legacy images must sum to 0 mod 256; None when not a legacy image or it runs past the data.
    checksum_ok: bool | None = None
    efi_signature_valid: bool | None = None
    efi_subsystem: int | None = None
    efi_machine: int | None = None
    efi_compression: int | None = None
    efi_image_offset: int | None = None

    @property
    def class_text(self) -> str:
        """The class code base-first, as rom-parser prints it (``010400``)."""
        return f"{self.class_code:06x}"

    @property
    def code_type_name(self) -> str:
        return CODE_TYPE_NAMES.get(self.code_type, f"unknown type {self.code_type:#04x}")

    @property
    def is_efi(self) -> bool:
        return self.code_type == CODE_EFI

    @property
    def is_x86(self) -> bool:
        return self.code_type == CODE_X86

    def supports_device(self, device_id: int) -> bool:
        return device_id == self.device_id or device_id in self.device_list

    def summary(self) -> str:
        """The PCIR fields on one line, for evidence and messages."""
        text = (
            f"type {self.code_type:x} ({self.code_type_name}), vendor {self.vendor_id:04x}, "
            f"device {self.device_id:04x}, class {self.class_text}, revision {self.pcir_revision}, "
            f"code revision {self.code_revision:04x}, length {self.image_length_bytes} bytes, "
            f"indicator {self.indicator:#04x}"
        )
        if self.device_list:
            text += ", device list " + " ".join(f"{item:04x}" for item in self.device_list)
        if self.is_efi:
            text += (
                f", EFI signature {'valid' if self.efi_signature_valid else 'invalid'}"
                f", subsystem {_efi_subsystem_name(self.efi_subsystem)}"
                f", machine {_efi_machine_name(self.efi_machine)}"
                f", compression {EFI_COMPRESSION_NAMES.get(self.efi_compression or 0, str(self.efi_compression))}"
            )
        return text


class ScanEnd(enum.Enum):
    """How rom-parser's scan ended."""

    LAST_IMAGE = "last image"
    RAN_OFF_END = "ran off the end"
    INVALID_PCIR = "invalid PCIR signature"


@dataclass
class RomParseResult:
    #: The images rom-parser's scan finds, in order.
    images: list[RomImage] = field(default_factory=list)
    #: Everything wrong with the ROM, one sentence each; empty for a sound ROM.
    problems: list[str] = field(default_factory=list)
    scan_end: ScanEnd = ScanEnd.RAN_OFF_END
    #: (image offset, PCIR offset) of the image whose PCIR signature was wrong.
    invalid_pcir_at: tuple[int, int] | None = None
    #: The images the kernel's walk accepts, in order.
    kernel_images: list[RomImage] = field(default_factory=list)
    #: How many bytes the kernel would expose through sysfs ``rom`` (given this much data).
    kernel_size: int = 0
    size: int = 0

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def code_types(self) -> set[int]:
        return {image.code_type for image in self.images}

    @property
    def x86_only(self) -> bool:
        return bool(self.images) and self.code_types == {CODE_X86}

    @property
    def has_efi(self) -> bool:
        return CODE_EFI in self.code_types


def _u8(data: bytes, position: int) -> int:
    return data[position] if 0 <= position < len(data) else 0


def _u16(data: bytes, position: int) -> int:
    return _u8(data, position) | _u8(data, position + 1) << 8


def _u32(data: bytes, position: int) -> int:
    return _u16(data, position) | _u16(data, position + 2) << 16


def _read_image(data: bytes, offset: int, problems: list[str]) -> RomImage:
    """The image at ``offset`` whose PCIR signature has been checked. Fields past the end of the
    data read as zero, and a problem says so."""
    pcir_offset = _u16(data, offset + _HEADER_PCIR_POINTER)
    pcir = offset + pcir_offset
    if pcir + PCIR_MIN_LENGTH > len(data):
        problems.append(
            f"image @{offset:x}h: PCIR at {pcir_offset:x}h runs past the end of the data ({len(data)} bytes)"
        )
    revision = _u8(data, pcir + _PCIR_REVISION)
    list_pointer = _u16(data, pcir + _PCIR_DEVICE_LIST)
    device_list: list[int] = []
    if revision >= _DEVICE_LIST_REVISION and list_pointer:
        position = pcir + list_pointer
        # The list is zero-terminated; bound it so a corrupt pointer cannot walk the whole ROM.
        while position + 2 <= len(data) and len(device_list) < 256:
            item = _u16(data, position)
            if item == 0:
                break
            device_list.append(item)
            position += 2
    code_type = _u8(data, pcir + _PCIR_CODE_TYPE)
    indicator = _u8(data, pcir + _PCIR_INDICATOR)
    length = _u16(data, pcir + _PCIR_IMAGE_LENGTH) * IMAGE_BLOCK
    is_efi = code_type == CODE_EFI
    # The header's initialisation size is a byte for legacy images and a word for EFI images.
    init_size = (
        _u16(data, offset + _HEADER_INIT_SIZE) if is_efi else _u8(data, offset + _HEADER_INIT_SIZE)
    ) * IMAGE_BLOCK
    checksum_ok: bool | None = None
    if code_type == CODE_X86 and init_size and offset + init_size <= len(data):
        # The checksum covers what the BIOS copies and runs: the initialisation size.
        checksum_ok = sum(data[offset : offset + init_size]) % 256 == 0
    return RomImage(
        offset=offset,
        pcir_offset=pcir_offset,
        vendor_id=_u16(data, pcir + _PCIR_VENDOR),
        device_id=_u16(data, pcir + _PCIR_DEVICE),
        device_list_pointer=list_pointer,
        pcir_length=_u16(data, pcir + _PCIR_LENGTH),
        pcir_revision=revision,
        # Stored prog-if, subclass, base (little-endian); kept base-first like sysfs and rom-parser.
        class_code=_u8(data, pcir + _PCIR_CLASS + 2) << 16
        | _u8(data, pcir + _PCIR_CLASS + 1) << 8
        | _u8(data, pcir + _PCIR_CLASS),
        image_length_bytes=length,
        code_revision=_u16(data, pcir + _PCIR_CODE_REVISION),
        code_type=code_type,
        indicator=indicator,
        last=bool(indicator & LAST_IMAGE_BIT),
        device_list=tuple(device_list),
        init_size_bytes=init_size,
        checksum_ok=checksum_ok,
        efi_signature_valid=_u32(data, offset + _EFI_SIGNATURE) == EFI_SIGNATURE if is_efi else None,
        efi_subsystem=_u16(data, offset + _EFI_SUBSYSTEM) if is_efi else None,
        efi_machine=_u16(data, offset + _EFI_MACHINE) if is_efi else None,
        efi_compression=_u16(data, offset + _EFI_COMPRESSION) if is_efi else None,
        efi_image_offset=_u16(data, offset + _EFI_IMAGE_OFFSET) if is_efi else None,
    )


def _pcir_signature_ok(data: bytes, offset: int) -> bool:
    pcir = offset + _u16(data, offset + _HEADER_PCIR_POINTER)
    return data[pcir : pcir + 4] == PCIR_SIGNATURE


def _scan_like_rom_parser(data: bytes, result: RomParseResult, problems: list[str]) -> None:
    offset = 0
    while offset < len(data):
        if data[offset : offset + 2] != ROM_SIGNATURE:
            offset += IMAGE_BLOCK
            continue
        if not _pcir_signature_ok(data, offset):
            result.scan_end = ScanEnd.INVALID_PCIR
            result.invalid_pcir_at = (offset, _u16(data, offset + _HEADER_PCIR_POINTER))
            return
        image = _read_image(data, offset, problems)
        result.images.append(image)
        # rom-parser stops on any non-zero indicator, not only bit 7.
        if image.indicator:
            result.scan_end = ScanEnd.LAST_IMAGE
            return
        # rom-parser steps one block, not the image length, so it can also find a signature inside an image.
        offset += IMAGE_BLOCK
    result.scan_end = ScanEnd.RAN_OFF_END


def _walk_like_the_kernel(data: bytes, result: RomParseResult, problems: list[str]) -> None:
    offset = 0
    while True:
        if data[offset : offset + 2] != ROM_SIGNATURE:
            if offset == 0:
                problems.append(f"kernel: no ROM signature (55 AA) at 0h, got {data[:2].hex(' ') or 'nothing'}")
            else:
                problems.append(f"kernel: image @{offset:x}h has no ROM signature; the kernel stops there")
            break
        pcir_offset = _u16(data, offset + _HEADER_PCIR_POINTER)
        if not _pcir_signature_ok(data, offset):
            problems.append(f"kernel: image @{offset:x}h: no PCIR signature at {pcir_offset:x}h")
            break
        if pcir_offset % 4:
            problems.append(
                f"kernel: image @{offset:x}h: PCIR offset {pcir_offset:x}h is not 4-byte aligned; the kernel rejects it"
            )
            break
        image = _read_image(data, offset, [])
        if image.pcir_length < PCIR_MIN_LENGTH:
            problems.append(
                f"kernel: image @{offset:x}h: PCIR length {image.pcir_length:#x} is below {PCIR_MIN_LENGTH:#x}; "
                "the kernel rejects it"
            )
            break
        result.kernel_images.append(image)
        following = offset + image.image_length_bytes
        if image.image_length_bytes == 0:
            problems.append(f"kernel: image @{offset:x}h: image length is 0; the kernel stops there")
            offset = following
            break
        offset = following
        if image.last or offset >= len(data):
            break
        if data[offset : offset + 2] != ROM_SIGNATURE:
            problems.append(
                f"image @{image.offset:x}h is not marked last (indicator {image.indicator:#04x}) "
                f"but no image follows at {offset:x}h; the kernel stops there"
            )
            break
    result.kernel_size = min(offset, len(data))


def parse_rom(data: bytes) -> RomParseResult:
    """Parse a ROM image both the way rom-parser scans it and the way the kernel walks it."""
    result = RomParseResult(size=len(data))
    problems: list[str] = []
    _scan_like_rom_parser(data, result, problems)
    if result.scan_end is ScanEnd.INVALID_PCIR and result.invalid_pcir_at is not None:
        image_offset, pcir_offset = result.invalid_pcir_at
        problems.append(f"image @{image_offset:x}h: invalid PCIR signature at {pcir_offset:x}h")
    elif result.scan_end is ScanEnd.RAN_OFF_END:
        if result.images:
            problems.append(
                f"ran off the end: image @{result.images[-1].offset:x}h is not marked last and no further image "
                f"follows in {len(data)} bytes (truncated dump?)"
            )
        else:
            problems.append(f"ran off the end: no ROM signature (55 AA) in {len(data)} bytes")
    for image in result.images:
        end = image.offset + image.image_length_bytes
        if end > len(data):
            problems.append(
                f"image @{image.offset:x}h declares {image.image_length_bytes} bytes but the data ends at "
                f"{len(data):x}h (truncated dump?)"
            )
        if image.checksum_ok is False:
            problems.append(f"image @{image.offset:x}h: legacy image checksum is not zero mod 256")
        if image.is_efi and not image.efi_signature_valid:
            problems.append(f"image @{image.offset:x}h: EFI image without the EFI signature 0x0EF1")
        if image.indicator and not image.last:
            problems.append(
                f"image @{image.offset:x}h: indicator {image.indicator:#04x} has bit 7 clear; rom-parser stops "
                "here, the kernel and firmware look for another image"
            )
    kernel_problems: list[str] = []
    _walk_like_the_kernel(data, result, kernel_problems)
    # The scan's own failure already explains a ROM the kernel cannot start on.
    if result.images:
        problems.extend(kernel_problems)
        scanned = [image.offset for image in result.images]
        walked = [image.offset for image in result.kernel_images]
        if walked and scanned != walked:
            problems.append(
                "rom-parser and the kernel disagree on the images: rom-parser finds them at "
                + ", ".join(f"{item:x}h" for item in scanned)
                + "; the kernel, walking by image length, at "
                + ", ".join(f"{item:x}h" for item in walked)
            )
    result.problems = list(dict.fromkeys(problems))
    return result


def _efi_subsystem_name(value: int | None) -> str:
    return EFI_SUBSYSTEM_NAMES.get(value or 0, f"Unknown ({value or 0:x})")


def _efi_machine_name(value: int | None) -> str:
    return EFI_MACHINE_NAMES.get(value or 0, f"Unknown ({value or 0:04x})")


def format_rom_parser(result: RomParseResult) -> str:
    """The report rom-parser prints for the same data.

    Exact from the documented outputs (tanezky's "Proxmox - HDD Passthrough Using SATA
    Controllers", 2024-08-16, and awilliam/rom-parser's README): the "Valid ROM signature" line,
    the two PCIR lines, "Last image",
    "Error, ran off the end", "type 3 (EFI)" and "EFI: Signature Valid, Subsystem: Boot, Machine: X64".
    Taken from rom-parser output quoted in the public issue awilliam/rom-parser#2: an unlabelled
    type prints as bare hex ("type e0"), and the EFI line is indented by two tabs after the
    revision line. Inferred, seen in neither: the PCIR revision prints in hex like the other
    numbers (identical below 10); "Invalid PCIR signature" comes unindented after that image's
    "Valid ROM signature" line; the other EFI words ("Signature Invalid", "Runtime",
    "Application", the machine names of :data:`EFI_MACHINE_NAMES`, "Unknown (N)").
    """
    lines: list[str] = []
    for image in result.images:
        lines.append(f"Valid ROM signature found @{image.offset:x}h, PCIR offset {image.pcir_offset:x}h")
        label = {CODE_X86: " (x86 PC-AT)", CODE_EFI: " (EFI)"}.get(image.code_type, "")
        lines.append(
            f"\tPCIR: type {image.code_type:x}{label}, vendor: {image.vendor_id:04x}, "
            f"device: {image.device_id:04x}, class: {image.class_text}"
        )
        lines.append(f"\tPCIR: revision {image.pcir_revision:x}, vendor revision: {image.code_revision:x}")
        if image.is_efi:
            signature = "Valid" if image.efi_signature_valid else "Invalid"
            lines.append(
                f"\t\tEFI: Signature {signature}, Subsystem: {_efi_subsystem_name(image.efi_subsystem)}, "
                f"Machine: {_efi_machine_name(image.efi_machine)}"
            )
    if result.scan_end is ScanEnd.LAST_IMAGE:
        lines.append("\tLast image")
    elif result.scan_end is ScanEnd.INVALID_PCIR and result.invalid_pcir_at is not None:
        image_offset, pcir_offset = result.invalid_pcir_at
        lines.append(f"Valid ROM signature found @{image_offset:x}h, PCIR offset {pcir_offset:x}h")
        lines.append("Invalid PCIR signature")
    else:
        lines.append("Error, ran off the end")
    return "\n".join(lines) + "\n"


def read_rom_file(path: str | os.PathLike[str]) -> tuple[bytes | None, str]:
    """(the image, "") or (None, why not). Only a regular file is read (a FIFO would block until
    a writer comes, a device node is not even opened), and at most one byte past the largest ROM,
    so a wrong file cannot make us wait or read forever."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None, "not a regular file; not read"
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the two looks
                return None, "not a regular file; not read"
            data = handle.read(MAX_ROM_SIZE + 1)
    except OSError as error:
        return None, error.strerror or str(error)
    if len(data) > MAX_ROM_SIZE:
        return None, "larger than 16 MiB, the largest option ROM"
    return data, ""


def run_rom_command(path: str, out: TextIO, err: TextIO | None = None) -> int:
    """``vfiolab rom FILE``: print the rom-parser style report, then any further problems.

    Returns 0 for a sound ROM, 1 when problems were found, 66 (``harness.exitcodes.NO_INPUT``)
    when the file cannot be read (one line on ``err``, default stderr).
    """
    errors = sys.stderr if err is None else err
    data, reason = read_rom_file(path)
    if data is None:
        print(f"vfiolab rom: cannot read {path}: {reason}", file=errors)
        return exitcodes.NO_INPUT
    result = parse_rom(data)
    out.write(format_rom_parser(result))
    if result.problems:
        # rom-parser's own lines stay untouched above, so its output can still be compared verbatim.
        out.write("\nProblems:\n")
        for problem in result.problems:
            out.write(f"\t{problem}\n")
        return 1
    return 0
