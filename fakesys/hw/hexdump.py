"""``lspci -x``/``-xxx``/``-xxxx`` hex dumps, read into configuration space and written back.

The format is pciutils' (``lspci.c`` ``show_hex_dump``; read back by ``lib/dump.c``): a
device line starting with the address, then lines ``OFF: hh hh ...`` of 16 bytes, offsets in
hex (two digits, three past 0xff). A dump holds 64, 256 or 4096 bytes per device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fakesys.errors import HexDumpError
from fakesys.source import read_file

VALID_LENGTHS = (64, 256, 4096)
#: Largest dump file read: ``lspci -xxxx`` of a thousand functions is about 13 MB.
MAX_DUMP_BYTES = 32 * 1024 * 1024
_DEVICE_LINE = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{4,5}):)?(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})\.(?P<fn>[0-7])(?:\s|$)"
)
_DATA_LINE = re.compile(r"^(?P<offset>[0-9a-fA-F]{2,3}):(?P<bytes>(?: [^ ]*)*)\s*$")


@dataclass(frozen=True)
class DumpedDevice:
    """One device of a dump: its address, the title lspci printed, and its bytes."""

    bdf: str
    title: str
    config: bytes
    line: int


def parse_hexdump(text: str, source: str = "<dump>") -> list[DumpedDevice]:
    """Every device in ``text``; a malformed dump raises :class:`HexDumpError` naming the line."""
    devices: list[DumpedDevice] = []
    current: tuple[str, str, int] | None = None
    data = bytearray()

    def finish(end_line: int) -> None:
        if current is None:
            return
        bdf, title, line = current
        if len(data) not in VALID_LENGTHS:
            raise HexDumpError(
                f"{source}:{line}: {bdf} has {len(data)} bytes of config space; "
                "expected 64 (-x), 256 (-xxx) or 4096 (-xxxx)"
            )
        devices.append(DumpedDevice(bdf, title, bytes(data), line))

    # Lines end at "\n" only (what lspci writes); str.splitlines would also split at \x1c-\x1e.
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip()
        if not line.strip():
            continue
        match = _DEVICE_LINE.match(line)
        if match:
            finish(number)
            domain = int(match["domain"] or "0", 16)
            bdf = f"{domain:04x}:{match['bus'].lower()}:{match['dev'].lower()}.{match['fn']}"
            current = (bdf, line[match.end() :].strip(), number)
            data = bytearray()
            continue
        data_match = _DATA_LINE.match(line)
        if data_match is None:
            raise HexDumpError(f"{source}:{number}: expected 'OFF: hh hh ...' or a device address line, got {line!r}")
        if current is None:
            raise HexDumpError(f"{source}:{number}: data before the first device address line")
        offset = int(data_match["offset"], 16)
        if offset != len(data):
            raise HexDumpError(f"{source}:{number}: offset {offset:#x} out of sequence; expected {len(data):#x}")
        fields = data_match["bytes"].split()
        if len(fields) != 16:
            raise HexDumpError(f"{source}:{number}: expected 16 bytes on the line, found {len(fields)}")
        for item in fields:
            if not re.fullmatch(r"[0-9a-fA-F]{2}", item):
                raise HexDumpError(f"{source}:{number}: {item!r} is not a hex byte")
            data.append(int(item, 16))
    finish(0)
    if not devices:
        raise HexDumpError(f"{source}: no device found (expected lines like '03:00.0 SATA controller: ...')")
    return devices


def is_plain_dump(text: str) -> bool:
    """Whether ``text`` is in the dump's own form, well formed or not: every non-blank line a
    device address line or an ``OFF:`` data line, and data lines after every device line. Such a
    text is a dump and nothing else (no decoded text, no device listing without bytes), so
    :func:`parse_hexdump` judges it whole."""
    awaiting_data = seen_data = False
    for raw_line in text.split("\n"):
        line = raw_line.rstrip()
        if not line.strip():
            continue
        if _DEVICE_LINE.match(line):
            if awaiting_data:
                return False
            awaiting_data = True
        elif _DATA_LINE.match(line):
            awaiting_data, seen_data = False, True
        else:
            return False
    return seen_data and not awaiting_data


def read_hexdump(path: Path | str) -> list[DumpedDevice]:
    """Read and parse a dump file of at most :data:`MAX_DUMP_BYTES` (a regular file; a FIFO or
    device is refused rather than waited on or read without end: an
    :class:`~fakesys.errors.UnreadableFileError`, not a malformed dump)."""
    data = read_file(path, MAX_DUMP_BYTES)
    return parse_hexdump(data.decode("utf-8", errors="replace"), str(path))


def format_hexdump(bdf: str, title: str, config: bytes) -> str:
    """Text as ``lspci -xxxx`` prints it for one device (without the trailing blank line)."""
    lines = [f"{bdf} {title}".rstrip()]
    for offset in range(0, len(config), 16):
        chunk = " ".join(f"{byte:02x}" for byte in config[offset : offset + 16])
        lines.append(f"{offset:02x}: {chunk}")
    return "\n".join(lines) + "\n"
