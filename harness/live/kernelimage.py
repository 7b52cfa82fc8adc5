"""The uncompressed kernel (``vmlinux``) inside a Debian ``vmlinuz`` (an x86 bzImage), for a PVH
boot: QEMU loads an ELF kernel with a PVH note directly with ``-kernel``, which skips the
firmware's and the decompressor's work (about 3 s under TCG).

Where the compressed kernel is comes from the bzImage header (``Documentation/arch/x86/boot.rst``
in the kernel: ``setup_sects`` at 0x1f1, ``payload_offset``/``payload_length`` at 0x248/0x24c,
boot protocol 2.08 and later). The payload ends with the uncompressed size as a 32-bit
little-endian number (``arch/x86/boot/compressed/Makefile``: ``*_with_size``), which checks the
result. Debian 12's 6.1 kernels are XZ-compressed (Python's ``lzma``), its 6.12 kernels are
zstd-compressed (the ``zstd`` tool from Debian's ``zstd`` package); gzip is handled too.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

from harness.live.errors import AssetError

_HEADER_MAGIC = b"HdrS"
_ELF_MAGIC = b"\x7fELF"
#: Leading bytes of each compressed format the kernel's build can use.
_FORMATS = {
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\x1f\x8b": "gzip",
    b"\x02\x21\x4c\x18": "lz4",
    b"BZh": "bzip2",
    b"\x89LZO": "lzo",
    b"\x5d\x00\x00": "lzma",
}


def compressed_payload(image: bytes, source: str = "vmlinuz") -> tuple[str, bytes, int]:
    """(format, compressed bytes without the size trailer, uncompressed size) of a bzImage."""
    if len(image) < 0x250 or image[0x202:0x206] != _HEADER_MAGIC:
        raise AssetError(f"{source}: not an x86 bzImage (no HdrS boot header)")
    (protocol,) = struct.unpack_from("<H", image, 0x206)
    if protocol < 0x208:
        raise AssetError(f"{source}: boot protocol {protocol >> 8}.{protocol & 0xFF:02d} has no payload fields")
    setup_sectors = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sectors + 1) * 512 + offset
    payload = image[start : start + length]
    if len(payload) != length or length < 8:
        raise AssetError(f"{source}: the compressed kernel runs past the end of the file")
    kind = next((name for magic, name in _FORMATS.items() if payload.startswith(magic)), None)
    if kind is None:
        raise AssetError(f"{source}: unknown compression (payload starts with {payload[:6].hex()})")
    (size,) = struct.unpack("<I", payload[-4:])
    return kind, payload[:-4], size


def _decompress(kind: str, data: bytes, source: str) -> bytes:
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if kind == "gzip":
        return gzip.decompress(data)
    if kind == "zstd":
        tool = shutil.which("zstd")
        if tool is None:
            raise AssetError(f"{source} is zstd-compressed and the zstd tool is missing (apt-get install zstd)")
        done = subprocess.run([tool, "-d", "-c", "-q"], input=data, capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise AssetError(f"{source}: zstd -d failed: {message[-1] if message else done.returncode}")
        return done.stdout
    raise AssetError(f"{source}: {kind}-compressed kernels are not supported (xz, zstd and gzip are)")


def extract_vmlinux(vmlinuz: Path, destination: Path) -> int:
    """Write the ELF kernel inside ``vmlinuz`` to ``destination``; returns its size."""
    kind, data, size = compressed_payload(vmlinuz.read_bytes(), str(vmlinuz))
    vmlinux = _decompress(kind, data, str(vmlinuz))
    if len(vmlinux) != size or not vmlinux.startswith(_ELF_MAGIC):
        raise AssetError(
            f"{vmlinuz}: the {kind} payload gave {len(vmlinux)} bytes, the header says {size}; not a vmlinux"
        )
    destination.write_bytes(vmlinux)
    return size
