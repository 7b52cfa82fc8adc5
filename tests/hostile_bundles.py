"""Hostile capture bundles, built block by block so that each can hold what ``tarfile`` would
refuse to write: every case tries one way out of the bundle reader's bounds (a name that climbs,
a link out, a device node, a lying header, a bomb). ``CASES`` maps a case to its builder and the
fragment of the one-line error ``vfiolab check --root CASE.tar.gz`` must print (exit 65).

``python -m tests.hostile_bundles DIR`` writes the small cases into DIR (the bad-input corpus);
the two bombs are built when a test runs (they are large by design).
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Callable
from pathlib import Path

from harness.rootfs_bundle import MEMBER_LIMIT, PAX_LIMIT, STREAM_LIMIT

BLOCK = 512


def header(name: str, kind: bytes = b"0", size: int = 0, linkname: str = "", mode: int = 0o644) -> bytes:
    """One ustar header block with a valid checksum, whatever the name holds."""
    block = bytearray(BLOCK)

    def put(offset: int, width: int, value: bytes) -> None:
        block[offset : offset + width] = value[:width].ljust(width, b"\0")

    put(0, 100, name.encode("utf-8", "surrogateescape"))
    put(100, 8, b"%07o" % mode)
    put(108, 8, b"0000000")
    put(116, 8, b"0000000")
    put(124, 12, b"%011o" % size)
    put(136, 12, b"%011o" % 0)
    put(156, 1, kind)
    put(157, 100, linkname.encode("utf-8", "surrogateescape"))
    put(257, 6, b"ustar\0")
    put(263, 2, b"00")
    block[148:156] = b" " * 8
    put(148, 8, b"%06o\0 " % sum(block))
    return bytes(block)


def member(name: str, data: bytes = b"", kind: bytes = b"0", linkname: str = "", declared: int | None = None) -> bytes:
    size = len(data) if declared is None else declared
    return header(name, kind, size, linkname) + data + bytes(-len(data) % BLOCK)


def pax(records: dict[str, str]) -> bytes:
    """A pax extended header (``x``) carrying ``records``."""
    body = b""
    for key, value in records.items():
        text = f" {key}={value}\n".encode()
        length = len(text) + 1
        while len(str(length)) + len(text) != length:
            length = len(str(length)) + len(text)
        body += str(length).encode() + text
    return member("././@PaxHeader", body, kind=b"x")


def end() -> bytes:
    return bytes(2 * BLOCK)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def bundle(*members: bytes) -> bytes:
    """A small bundle with a readable ``proc/cmdline`` before the hostile part."""
    return gz(member("proc", kind=b"5") + member("proc/cmdline", b"quiet\n") + b"".join(members) + end())


# --- The cases ------------------------------------------------------------------------------------


def dotdot_name() -> bytes:
    return bundle(member("sys/../../../etc/shadow", b"x"))


def absolute_name() -> bytes:
    return bundle(member("/etc/shadow", b"x"))


def symlink_out() -> bytes:
    return bundle(member("proc/version", kind=b"2", linkname="../../../../../etc/shadow"))


def hard_link() -> bytes:
    return bundle(member("proc/version", kind=b"1", linkname="proc/cmdline"))


def character_device() -> bytes:
    return bundle(member("proc/zero", kind=b"3"))


def block_device() -> bytes:
    return bundle(member("dev/sda", kind=b"4"))


def fifo() -> bytes:
    return bundle(member("proc/version", kind=b"6"))


def sparse_file() -> bytes:
    return bundle(member("proc/version", kind=b"S"))


def longer_than_header() -> bytes:
    """600 bytes of data behind a header that says 10: what follows the 10 is no header."""
    data = b"A" * 600
    return gz(member("proc", kind=b"5") + header("proc/version", size=10) + data + end())


def shorter_than_header() -> bytes:
    """A header that says 4096 bytes in a bundle that ends after 100."""
    return gz(member("proc", kind=b"5") + header("proc/version", size=4096) + b"B" * 100)


def member_below_symlink() -> bytes:
    return bundle(member("etc", kind=b"2", linkname="/tmp"), member("etc/shadow", b"x"))


def name_twice() -> bytes:
    return bundle(member("proc/cmdline", b"again\n"))


def control_character() -> bytes:
    return bundle(member("proc/cmd\nline", b"x"))


def huge_declared_size() -> bytes:
    """A header that says 8 GiB; nothing that large follows (or is ever read)."""
    return gz(member("proc", kind=b"5") + header("proc/version", size=8 * 1024**3 - 1))


def not_gzip() -> bytes:
    return member("proc/cmdline", b"quiet\n") + end()


def corrupt_gzip() -> bytes:
    good = bundle()
    return good[:20] + bytes(byte ^ 0x5A for byte in good[20:60]) + good[60:]


def truncated_gzip() -> bytes:
    """A bundle cut in the middle of its compressed stream (an interrupted download)."""
    good = bundle(member("etc/hostname", bytes(range(256)) * 64))
    return good[: len(good) // 2]


def gzip_without_trailer() -> bytes:
    """Every member and the end-of-archive marker there, the gzip checksum and length cut off."""
    return bundle()[:-8]


def pax_path_climbs() -> bytes:
    """A harmless ustar name whose pax ``path`` record climbs out."""
    return bundle(pax({"path": "../../etc/shadow"}), member("proc/version", b"x"))


def tar_bomb() -> bytes:
    """One member more than a bundle may hold (empty directories, the cheapest member)."""
    body = b"".join(header(f"d/{index:06d}", kind=b"5") for index in range(MEMBER_LIMIT + 1))
    return gz(body + end())


def gzip_bomb() -> bytes:
    """Pax headers of the largest size the reader takes, repeated until the decompressed stream
    passes its limit: concatenated gzip members, each compressing one header (about 120 bytes
    for 64 KiB), so that the file stays small."""
    record = pax({"comment": "x" * (PAX_LIMIT - 64)})
    assert len(record) <= PAX_LIMIT + BLOCK
    unit = gz(record)
    count = STREAM_LIMIT // len(record) + 2
    return gz(member("proc", kind=b"5")) + unit * count + gz(member("proc/version", b"x") + end())


#: name -> (builder, fragment of the one-line error); every case exits 65.
CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "dotdot-name": (dotdot_name, "a '..' component"),
    "absolute-name": (absolute_name, "an absolute name"),
    "symlink-out": (symlink_out, "leads out of the bundle"),
    "hard-link": (hard_link, "is a hard link"),
    "character-device": (character_device, "is a character device"),
    "block-device": (block_device, "is a block device"),
    "fifo": (fifo, "is a FIFO"),
    "sparse-file": (sparse_file, "is a sparse file"),
    "longer-than-header": (longer_than_header, "a member longer than its header says"),
    "shorter-than-header": (shorter_than_header, "ends inside member 'proc/version'"),
    "member-below-symlink": (member_below_symlink, "which is a symlink"),
    "name-twice": (name_twice, "a name given twice"),
    "control-character": (control_character, "a control character in the name"),
    "huge-declared-size": (huge_declared_size, "its files hold more than 64 MiB"),
    "not-gzip": (not_gzip, "not a capture bundle"),
    "corrupt-gzip": (corrupt_gzip, "not a readable gzip stream"),
    "truncated-gzip": (truncated_gzip, "not a readable gzip stream"),
    "gzip-without-trailer": (gzip_without_trailer, "not a readable gzip stream"),
    "pax-path-climbs": (pax_path_climbs, "a '..' component"),
    "tar-bomb": (tar_bomb, f"more than {MEMBER_LIMIT} members"),
    "gzip-bomb": (gzip_bomb, "decompresses to more than"),
}
#: Built when a test runs rather than stored (megabytes by design).
GENERATED_ONLY = ("tar-bomb", "gzip-bomb")


def write_corpus(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (build, _) in CASES.items():
        if name in GENERATED_ONLY:
            continue
        path = directory / f"{name}.tar.gz"
        path.write_bytes(build())
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_corpus(Path(sys.argv[1])):
        print(path)
