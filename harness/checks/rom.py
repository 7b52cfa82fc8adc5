"""The option ROM check (harness.checks.rom): does the device's ROM fit the VM's firmware?

For each selected device it gets the ROM image (a file given with ``--rom``, else the sysfs
``rom`` attribute if it reads without being enabled), parses it with :mod:`harness.pci.rom` and
judges it against the guest firmware (SeaBIOS runs code type 0, OVMF only code type 3), the
device's IDs and its class. Read-only: the one write it may make is the documented opt-in
``echo 1 > rom`` / ``echo 0 > rom``, and only as root on the live root filesystem with
``read_rom`` set.

Codes: ``rom.not-read``, ``rom.file-unreadable``, ``rom.file-ambiguous``, ``rom.no-image``,
``rom.parse-problem``, ``rom.id-mismatch``, ``rom.x86-only-ovmf``, ``rom.seabios-runs``,
``rom.not-needed``, ``rom.seabios-data-rom`` (a storage or network controller's ROM that SeaBIOS
will run at POST: **warn**, the fix is ``rombar=0``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.checks.base import CheckContext
from harness.findings import Evidence, Finding, Severity
from harness.pci.address import Bdf
from harness.pci.rom import MAX_ROM_SIZE, RomImage, RomParseResult, parse_rom, read_rom_file
from harness.rootfs import RootError
from harness.storage import controller_in_use
from harness.sysfs import PciFunction, device_file, on_host

SOURCE = "option ROM format: PCI Firmware Specification r3.3 §5.1.3, awilliam/rom-parser, kernel drivers/pci/rom.c"
CLASS_STORAGE = 0x01
CLASS_NETWORK = 0x02
CLASS_DISPLAY = 0x03
DATA_CLASSES = {CLASS_STORAGE: "storage", CLASS_NETWORK: "network"}
ALL_DEVICES = "*"


@dataclass
class _Rom:
    """Where the ROM came from and its bytes (None when it could not be read)."""

    evidence: Evidence
    data: bytes | None
    #: Why it was not read, for ``rom.not-read`` / ``rom.file-unreadable``.
    reason: str = ""
    from_file: bool = False


def _rom_bar_off(name: str) -> str:
    return (
        f"Proxmox: `hostpciN: {name},rombar=0`; libvirt: `<rom bar='off'/>` inside the device's <hostdev>; "
        f"QEMU: `-device vfio-pci,host={name},rombar=0`"
    )


def _dump_commands(name: str) -> str:
    rom = on_host(device_file(name, "rom"))
    return f"echo 1 > {rom}; cat {rom} > {name}.rom; echo 0 > {rom}"


def _given_files(ctx: CheckContext, selected: list[PciFunction]) -> tuple[dict[Bdf, Path], Path | None]:
    """ROM files by device, and the ``*`` file when it cannot be given to one device."""
    by_device: dict[Bdf, Path] = {}
    for key, path in ctx.options.rom_files.items():
        if key == ALL_DEVICES:
            continue
        try:
            by_device[Bdf.parse(key)] = path
        except ValueError:
            continue
    wildcard = ctx.options.rom_files.get(ALL_DEVICES)
    if wildcard is None:
        return by_device, None
    if len(selected) == 1:
        by_device.setdefault(selected[0].bdf, wildcard)
        return by_device, None
    return by_device, wildcard


def _live_root(ctx: CheckContext) -> bool:
    """Enabling a ROM is a write to real hardware state: only as root, only on the running host."""
    try:
        return os.geteuid() == 0 and ctx.view.root.resolve() == Path("/")
    except OSError:
        return False


def _not_enabled(data: bytes | None, reason: str) -> tuple[bytes | None, str]:
    if data == b"":
        # sysfs ``rom`` reads empty until the ROM is enabled (echo 1 > rom).
        return None, "reading it returned nothing (the ROM is not enabled)"
    return data, reason


def _read(path: Path) -> tuple[bytes | None, str]:
    """A ROM file named on the command line (the user's own file, not part of the root)."""
    return _not_enabled(*read_rom_file(path))


def _read_in_root(ctx: CheckContext, relative: str) -> tuple[bytes | None, str]:
    """The root's sysfs ``rom``, through the confined reader."""
    try:
        blob = ctx.view.fs.read(relative, MAX_ROM_SIZE + 1)
    except RootError as error:
        return None, error.reason
    if len(blob.data) > MAX_ROM_SIZE:
        return None, "larger than 16 MiB, the largest option ROM"
    return _not_enabled(blob.data, "")


def _enable_and_read(ctx: CheckContext, relative: str) -> tuple[bytes | None, str]:
    # The live root only (see _live_root), so the path on this machine is the sysfs file itself.
    path = ctx.view.abs(relative)
    try:
        with open(path, "w", encoding="ascii") as handle:
            handle.write("1")
    except OSError as error:
        return None, f"`echo 1 > rom` failed: {error.strerror or error}"
    try:
        return _read_in_root(ctx, relative)
    finally:
        # Leave the ROM BAR as we found it even if the read failed.
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write("0")
        except OSError:
            pass


def _get_rom(ctx: CheckContext, function: PciFunction, given: Path | None) -> _Rom | None:
    if given is not None:
        data, reason = _read(given)
        value = f"{len(data)} bytes" if data is not None else f"not read: {reason}"
        return _Rom(Evidence(str(given), value), data, reason, from_file=True)
    if not function.has_rom:
        return None
    relative = f"{function.path}/rom"
    data, reason = _read_in_root(ctx, relative)
    enabled = False
    in_use = controller_in_use(ctx.view, function.bdf) if data is None and ctx.options.read_rom else []
    if in_use:
        reason += f"; --read-rom refuses a controller whose disks are in use ({'; '.join(in_use)})"
    elif data is None and ctx.options.read_rom:
        if _live_root(ctx):
            data, enable_reason = _enable_and_read(ctx, relative)
            reason = enable_reason or reason
            enabled = data is not None
        elif os.geteuid() != 0:
            reason += "; --read-rom needs root"
        else:
            reason += f"; --read-rom only enables ROMs on the running host, not under {ctx.view.root}"
    value = f"{len(data)} bytes" if data is not None else f"not read: {reason}"
    if enabled:
        value += " (read after `echo 1 > rom`, then `echo 0 > rom`)"
    return _Rom(ctx.device_evidence(function, "rom", value), data, reason)


def _image_evidence(rom: _Rom, image: RomImage) -> Evidence:
    return Evidence(f"{rom.evidence.path} @{image.offset:x}h PCIR {image.pcir_offset:x}h", image.summary())


def _ids_match(function: PciFunction, image: RomImage) -> bool:
    return image.vendor_id == function.vendor and function.device is not None and image.supports_device(function.device)


def check(ctx: CheckContext) -> Iterable[Finding]:
    """Judge each selected device's option ROM; see the module docstring for the codes."""
    selected = ctx.selected()
    files, unassigned = _given_files(ctx, selected)
    if unassigned is not None:
        yield Finding(
            code="rom.file-ambiguous",
            severity=Severity.WARN,
            message=f"ROM file {unassigned} was given for no device, and {len(selected)} devices are checked",
            why="A ROM file without a device address applies only when exactly one device is checked; guessing "
            "would judge one device's ROM against another device's IDs.",
            fix="Check one device (`--device 0000:03:00.0`) with the file, or give the file with the device address.",
            evidence=[Evidence(str(unassigned), "no device")],
        )
    for function in selected:
        yield from _check_function(ctx, function, files.get(function.bdf))


def _check_function(ctx: CheckContext, function: PciFunction, given: Path | None) -> Iterator[Finding]:
    rom = _get_rom(ctx, function, given)
    if rom is None:
        return
    name = function.name
    base_class = function.class_code >> 16 if function.class_code is not None else None
    result = parse_rom(rom.data) if rom.data is not None else None
    if result is None:
        yield _not_read(ctx, function, rom)
    else:
        yield from _judge(ctx, function, rom, result)
    seabios = ctx.options.vm_firmware.lower() == "seabios"
    runnable = result is None or any(image.is_x86 for image in result.images)
    if base_class in DATA_CLASSES and seabios and runnable:
        yield _seabios_runs_data_rom(ctx, function, rom, DATA_CLASSES[base_class])
    if base_class in DATA_CLASSES:
        kind = DATA_CLASSES[base_class]
        use = "boot from a disk on it" if base_class == CLASS_STORAGE else "network-boot (PXE) through it"
        yield Finding(
            code="rom.not-needed",
            severity=Severity.INFO,
            message=f"{name} is a {kind} controller: the guest needs no option ROM for it",
            why=f"Class {function.class_code:06x} is a {kind} controller: the guest OS's own driver runs it, and its "
            f"option ROM only matters to the VM's boot firmware, to {use}. Leaving the ROM BAR on makes the guest "
            f"firmware read and possibly run vendor code on the passed-through device for nothing [inferred; checker "
            f"rules of the {SOURCE}].",
            fix=f"Turn the ROM BAR off unless the VM must {use}: {_rom_bar_off(name)}.",
            evidence=_rom_and_class(ctx, function, rom),
            device=name,
        )


def _rom_and_class(ctx: CheckContext, function: PciFunction, rom: _Rom) -> list[Evidence]:
    return [rom.evidence, ctx.device_evidence(function, "class", f"0x{function.class_code:06x}")]


def _seabios_runs_data_rom(ctx: CheckContext, function: PciFunction, rom: _Rom, kind: str) -> Finding:
    name = function.name
    image = "its ROM's x86 image" if rom.data is not None else "its ROM (not read here; if it holds an x86 image)"
    return Finding(
        code="rom.seabios-data-rom",
        severity=Severity.WARN,
        message=f"SeaBIOS will run the option ROM of {kind} controller {name} at VM boot: the VM can stall there",
        why=f"SeaBIOS runs the option ROM of every PCI device that is not a VGA device and that it has no driver "
        f"of its own for (SeaBIOS src/optionroms.c optionrom_setup -> init_pcirom -> init_optionrom), and waits "
        f"for each ROM's initialisation code to return, with no time limit. A {kind} controller's ROM (RAID "
        f"setup, disk scan, PXE) then drives the passed-through hardware before the guest OS does; if it waits "
        f"for something that does not happen in a VM, POST stops at that controller. QEMU maps {image} through "
        f"the ROM BAR unless rombar=0 (hw/vfio/pci.c vfio_pci_size_rom), and the guest OS's own driver needs no "
        f"ROM ({SOURCE}).",
        fix=f"Turn the ROM BAR off unless the VM boots from this controller: {_rom_bar_off(name)}.",
        evidence=_rom_and_class(ctx, function, rom),
        device=name,
    )


def _not_read(ctx: CheckContext, function: PciFunction, rom: _Rom) -> Finding:
    name = function.name
    if rom.from_file:
        return Finding(
            code="rom.file-unreadable",
            severity=Severity.WARN,
            message=f"ROM file {rom.evidence.path} for {name} could not be read: {rom.reason}",
            why="The file given for this device could not be opened or was empty, so its option ROM was not checked.",
            fix=f"Give a readable dump of the device's ROM, made as root with: {_dump_commands(name)}.",
            evidence=[rom.evidence],
            device=name,
        )
    return Finding(
        code="rom.not-read",
        severity=Severity.INFO,
        message=f"option ROM of {name} was not read ({rom.reason})",
        why="The device has a ROM BAR (sysfs `rom` exists), but the kernel only returns the image after `echo 1 > "
        "rom` as root, and vfiolab does not enable it unless asked; without the image it cannot say which "
        f"firmware the ROM is for or whose IDs it carries ({SOURCE}).",
        fix=f"Run the check as root with `--read-rom` on the host itself, or dump it ({_dump_commands(name)}) and "
        f"pass `--rom {name}.rom`.",
        evidence=[rom.evidence],
        device=name,
    )


def _judge(ctx: CheckContext, function: PciFunction, rom: _Rom, result: RomParseResult) -> Iterator[Finding]:
    name = function.name
    images = [_image_evidence(rom, image) for image in result.images]
    evidence = [rom.evidence, *images]
    if not result.images:
        yield Finding(
            code="rom.no-image",
            severity=Severity.WARN,
            message=f"option ROM of {name} holds no usable image: {result.problems[0]}",
            why="A ROM image starts with 55 AA and points at a PCIR structure; rom-parser finds none here (it "
            f"would print {'Invalid PCIR signature' if result.invalid_pcir_at else 'Error, ran off the end'}), so no "
            f"firmware can run it and the guest gets a ROM BAR full of nothing ({SOURCE}).",
            fix=f"Turn the ROM BAR off: {_rom_bar_off(name)}. If this came from `cat rom`, check it was enabled "
            f"first ({_dump_commands(name)}).",
            evidence=evidence,
            device=name,
        )
    else:
        for problem in result.problems:
            yield Finding(
                code="rom.parse-problem",
                severity=Severity.WARN,
                message=f"option ROM of {name}: {problem}",
                why="rom-parser scans for images every 512 bytes and stops at a non-zero indicator; the kernel walks "
                "by image length, stops at indicator bit 7 and needs an aligned PCIR of at least 0x18 bytes. Where "
                "the ROM breaks these rules, what the guest firmware finds differs from what tools report "
                f"({SOURCE}).",
                fix=f"Re-dump the ROM ({_dump_commands(name)}) and compare; if the device's ROM really is like this, "
                f"give QEMU a good image (Proxmox `romfile=FILE` under /usr/share/kvm/, libvirt `<rom "
                f"file='/abs/FILE'/>`) or turn the ROM BAR off: {_rom_bar_off(name)}.",
                evidence=evidence,
                device=name,
            )
    mismatched = [image for image in result.images if not _ids_match(function, image)]
    if mismatched and function.vendor is not None and function.device is not None:
        first = mismatched[0]
        yield Finding(
            code="rom.id-mismatch",
            severity=Severity.WARN,
            message=f"option ROM image @{first.offset:x}h of {name} is for "
            f"{first.vendor_id:04x}:{first.device_id:04x}, not the device's {function.id_text}",
            why="The PCIR names the device an image was built for (vendor +0x04, device +0x06, and from PCI Firmware "
            "3.0 a device list); firmware matches them against the device before running the image, so a ROM of "
            "another device (a wrong romfile, a dump of another card, a cross-flashed card) is skipped or runs "
            f"against hardware it does not know ({SOURCE}).",
            fix=f"Use this device's own ROM: dump it ({_dump_commands(name)}) and give it as Proxmox "
            f"`romfile={name}.rom` (file under /usr/share/kvm/) or libvirt `<rom file='/abs/{name}.rom'/>`; "
            f"or, if the guest does not need it, {_rom_bar_off(name)}.",
            evidence=[
                *evidence,
                ctx.device_evidence(function, "vendor", f"0x{function.vendor:04x}"),
                ctx.device_evidence(function, "device", f"0x{function.device:04x}"),
            ],
            device=name,
        )
    firmware = ctx.options.vm_firmware.lower()
    if firmware == "ovmf" and result.x86_only:
        display = function.class_code is not None and function.class_code >> 16 == CLASS_DISPLAY
        consequence = (
            "the guest shows nothing on this display until its OS driver loads"
            if display
            else "the device works once the guest OS driver loads, but the VM cannot boot through it"
        )
        yield Finding(
            code="rom.x86-only-ovmf",
            severity=Severity.WARN if display else Severity.INFO,
            message=f"option ROM of {name} is legacy x86 only (code type 0): OVMF will not run it",
            why=f"Every image has PCIR code type 0 (x86 PC-AT, legacy BIOS) and none has code type 3 (EFI), the only "
            f"type OVMF runs; rom-parser shows it as 'type 0 (x86 PC-AT)' with no 'type 3 (EFI)' image "
            f"({SOURCE}). So the ROM is useless to this VM: {consequence}.",
            fix=f"Turn the ROM BAR off: {_rom_bar_off(name)}; or use SeaBIOS if the VM must boot through this device.",
            evidence=evidence,
            device=name,
        )
    if firmware == "seabios":
        legacy = [image for image in result.images if image.is_x86]
        if legacy:
            yield Finding(
                code="rom.seabios-runs",
                severity=Severity.INFO,
                message=f"SeaBIOS will run the x86 option ROM image @{legacy[0].offset:x}h of {name} at VM boot",
                why=f"The ROM has a code type 0 (x86 PC-AT) image, which SeaBIOS runs during the VM's POST ({SOURCE}); "
                "its vendor code then touches the passed-through device before the guest OS does.",
                fix=f"Nothing, if the VM boots through this device; otherwise skip it: {_rom_bar_off(name)}.",
                evidence=[rom.evidence, *(_image_evidence(rom, image) for image in legacy)],
                device=name,
            )
