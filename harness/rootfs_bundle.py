"""Roots held in memory: a capture bundle (``vfiolab capture``'s ``.tar.gz``) read without
extracting it, behind the same confined reader as a directory (:class:`harness.rootfs.RootFS`).

A bundle comes from someone else, so it is read as hostile input, in one bounded pass:

* The file is a gzip-compressed tar (``1f 8b``); it is decompressed as a stream, never written
  to disk, and at most :data:`STREAM_LIMIT` decompressed bytes are read (a gzip bomb stops
  there).
* Members are directories, regular files and symlinks; a hard link, a device node, a FIFO, a
  sparse file or any other kind refuses the bundle. Names are root-relative (a leading ``./`` is
  dropped): no absolute name, no ``..``, ``.`` or empty component, no control character, at
  most :data:`NAME_LIMIT` bytes. A member below a file or a symlink, or a name given twice,
  refuses the bundle (tar would let the later one replace or write through the earlier).
* A symlink's target is kept as written. An absolute target names the captured host's file and
  is re-rooted when resolved (as ``openat2(RESOLVE_IN_ROOT)``); a relative target that climbs
  above the bundle's top refuses the bundle.
* At most :data:`MEMBER_LIMIT` members (a tar bomb stops there), :data:`CONTENT_LIMIT` bytes of
  file content in all, checked against the sizes the headers declare before any is read; a file
  larger than :data:`MEMBER_SIZE_LIMIT` keeps its first bytes and reads as truncated. A member
  whose data is shorter than its header says, or followed by bytes that are no tar header (the
  data was longer than the header said), refuses the bundle.

A refused bundle raises :class:`BundleError` (an :class:`~harness.errors.InputError`, exit 65)
with one line naming the member; nothing is written anywhere.

Two pax extended-header records carry what a capture could not copy whole, as extended
attributes in the ``SCHILY.xattr`` namespace GNU tar and libarchive know (they restore them as
``user.vfiolab.*`` attributes, or ignore them; neither warns): :data:`TRUNCATED_KEY` (the file
held more than the member's bytes) and :data:`UNREAD_KEY` (why the content, or a directory's
listing, could not be read on the host: reading the member raises
:class:`~harness.rootfs.Unreadable` with that reason, as the host did).

:class:`MemoryRoot` is the in-memory tree itself; the capture builds one from what it read, and
:class:`BundleRoot` is one loaded from a bundle file.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import struct
import tarfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, NamedTuple

from harness.errors import InputError
from harness.rootfs import (
    LISTING_LIMIT,
    LOG_LIMIT,
    Blob,
    Entry,
    Kind,
    Listing,
    NotFound,
    NotRegular,
    RootError,
    RootFS,
    Unreadable,
)

#: File content a bundle may hold in all (uncompressed); ``vfiolab capture`` stops adding files
#: at this size and lists what it skipped.
CONTENT_LIMIT = 64 * 1024 * 1024
#: Members a bundle may hold (a 1,024-function host captures to about 52,000).
MEMBER_LIMIT = 100_000
#: The largest file kept whole: the largest read the checker makes (a kernel log).
MEMBER_SIZE_LIMIT = LOG_LIMIT
#: One pax extended header or GNU long name.
PAX_LIMIT = 64 * 1024
#: A member name or symlink target, in bytes (PATH_MAX), and one component of it (NAME_MAX).
NAME_LIMIT = 4096
COMPONENT_LIMIT = 255
#: Decompressed bytes read from one bundle: the content, plus per member three 512-byte header
#: blocks (a pax header, its data, the ustar header) and the padding of its data to a block.
STREAM_LIMIT = CONTENT_LIMIT + MEMBER_LIMIT * 4 * 512
#: The pax keys of vfiolab's own (see the module docstring).
TRUNCATED_KEY = "SCHILY.xattr.user.vfiolab.truncated"
UNREAD_KEY = "SCHILY.xattr.user.vfiolab.unread"

_BLOCK = 512
_GZIP_MAGIC = b"\x1f\x8b"
_KINDS = {
    tarfile.REGTYPE: Kind.FILE,
    tarfile.AREGTYPE: Kind.FILE,
    tarfile.DIRTYPE: Kind.DIRECTORY,
    tarfile.SYMTYPE: Kind.SYMLINK,
}
_REFUSED_TYPES = {
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class BundleError(InputError):
    """A bundle that cannot be read safely or at all: one line naming the bundle and the member."""


@dataclass(frozen=True)
class Member:
    """One entry of an in-memory root."""

    kind: Kind
    data: bytes = b""
    target: str | None = None
    mtime: float = 0.0
    mode: int = 0o644
    #: The file on the host held more than :attr:`data`.
    truncated: bool = False
    #: Why the content (a directory: its listing) could not be read on the host; None: it was.
    unread: str | None = None


def member_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a member of a bundle, or None. Names are root-relative paths as on
    the host (``sys/bus/pci/devices/0000:03:00.0``)."""
    if not name:
        return "an empty name"
    if name.startswith("/"):
        return "an absolute name"
    problem = _text_problem(name, "name")
    if problem is not None:
        return problem
    for part in name.split("/"):
        if not part:
            return "an empty component"
        if part in (".", ".."):
            return f"a {part!r} component"
        if len(part) > COMPONENT_LIMIT // 4 and len(part.encode("utf-8")) > COMPONENT_LIMIT:
            return f"a component longer than {COMPONENT_LIMIT} bytes"
    return None


_CONTROL = re.compile("[\x00-\x1f\x7f]")
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _text_problem(text: str, what: str) -> str | None:
    if len(text) > NAME_LIMIT // 4 and len(text.encode("utf-8", "surrogateescape")) > NAME_LIMIT:
        return f"a {what} longer than {NAME_LIMIT} bytes"
    if _CONTROL.search(text):
        return f"a control character in the {what}"
    if _NOT_UTF8.search(text):
        return f"a {what} that is not UTF-8"
    return None


def link_target_problem(name: str, target: str) -> str | None:
    """Why the symlink ``name`` may not point at ``target``, or None. An absolute target is kept
    (it is re-rooted when resolved); a relative one may not climb above the top."""
    if not target:
        return "an empty symlink target"
    problem = _text_problem(target, "symlink target")
    if problem is not None:
        return problem
    if target.startswith("/"):
        return None
    depth = name.count("/")
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            return f"a symlink to {target!r}, which leads out of the bundle"
    return None


# --- The in-memory tree ---------------------------------------------------------------------------


class MemoryRoot(RootFS):
    """A root whose entries are held in memory, keyed by their canonical root-relative path."""

    def __init__(self, description: str = "") -> None:
        self.description = description
        self._members: dict[str, Member] = {"": Member(Kind.DIRECTORY, mode=0o755)}
        self._children: dict[str, set[str]] = {"": set()}

    # --- Building ---------------------------------------------------------------------------

    def add(self, name: str, member: Member) -> None:
        """Add ``member`` at ``name``, creating the directories above it. Raises
        :class:`ValueError` with the reason for a name or target :func:`member_name_problem`
        or :func:`link_target_problem` refuses, a name given twice, or a member below a file
        or a symlink. A directory given twice keeps the later attributes."""
        problem = member_name_problem(name)
        if problem is None and member.kind is Kind.SYMLINK:
            problem = link_target_problem(name, member.target or "")
        if problem is None and member.kind not in (Kind.FILE, Kind.DIRECTORY, Kind.SYMLINK):
            problem = f"a {member.kind.value}"
        if problem is not None:
            raise ValueError(problem)
        self._insert(name, member)

    def _insert(self, name: str, member: Member) -> None:
        parent, _, last = name.rpartition("/")
        above = self._members.get(parent)
        if above is None:
            self._insert(parent, Member(Kind.DIRECTORY, mode=0o755))
        elif above.kind is not Kind.DIRECTORY:
            raise ValueError(f"a member below {parent}, which is a {above.kind.value}")
        old = self._members.get(name)
        if old is not None and not (old.kind is Kind.DIRECTORY and member.kind is Kind.DIRECTORY):
            raise ValueError("a name given twice")
        self._members[name] = member
        self._children[parent].add(last)
        if member.kind is Kind.DIRECTORY:
            self._children.setdefault(name, set())

    def member(self, path: str) -> Member | None:
        """The member at the canonical ``path`` (no symlink followed), or None."""
        return self._members.get(path.strip("/"))

    def members(self) -> list[tuple[str, Member]]:
        """Every member but the top, parents before children, in path order."""
        return sorted(
            ((name, member) for name, member in self._members.items() if name), key=lambda item: item[0].split("/")
        )

    def set_member(self, path: str, member: Member) -> None:
        """Replace the member at the existing ``path`` with one of the same kind."""
        old = self._members[path]
        if old.kind is not member.kind:
            raise ValueError(f"{path}: a {old.kind.value} cannot become a {member.kind.value}")
        self._members[path] = member

    @property
    def content_size(self) -> int:
        return sum(len(member.data) for member in self._members.values())

    # --- RootFS ---------------------------------------------------------------------------------

    def _entry(self, parent: str, name: str) -> Entry:
        path = f"{parent}/{name}" if parent else name
        member = self._members.get(path)
        if member is None:
            raise NotFound(path)
        return Entry(member.kind, member.target)

    def _read_canonical(self, path: str, limit: int) -> Blob:
        member = self._members[path]
        if member.unread is not None:
            raise Unreadable(path, member.unread)
        truncated = member.truncated or len(member.data) > limit
        return Blob(member.data[:limit] if len(member.data) > limit else member.data, truncated)

    def _list_canonical(self, path: str, limit: int = LISTING_LIMIT) -> Listing:
        member = self._members[path]
        if member.unread is not None:
            raise Unreadable(path, member.unread)
        names = sorted(self._children.get(path, ()))
        return Listing(names[:limit], len(names) > limit)

    def _mtime_canonical(self, path: str) -> float:
        return self._members[path].mtime

    def close(self) -> None:
        pass


def _join(parts: list[str]) -> str:
    return "/".join(parts)


# --- A bundle file ----------------------------------------------------------------------------------


class _Stream:
    """The decompressed bundle, read in exact amounts, counting against :data:`STREAM_LIMIT`."""

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self._gzip = gzip.GzipFile(fileobj=raw, mode="rb")
        self._name = name
        self.consumed = 0

    def read(self, size: int, what: str) -> bytes:
        if self.consumed + size > STREAM_LIMIT:
            raise self._too_large()
        chunks: list[bytes] = []
        wanted = size
        try:
            while wanted:
                chunk = self._gzip.read(min(wanted, 1024 * 1024))
                if not chunk:
                    break
                chunks.append(chunk)
                wanted -= len(chunk)
        except (OSError, EOFError, zlib.error) as error:
            raise BundleError(f"{self._name}: not a readable gzip stream ({error})") from None
        data = b"".join(chunks)
        self.consumed += len(data)
        if len(data) != size and data:
            raise BundleError(f"{self._name}: ends inside {what} (truncated bundle)")
        return data

    def finish(self) -> None:
        """Read what follows the end-of-archive marker (tar pads its last record with zeros) to
        the end of the gzip stream, so that its checksum and length are verified: a bundle cut
        short or damaged after its last member is refused too."""
        while True:
            try:
                chunk = self._gzip.read(min(1024 * 1024, STREAM_LIMIT - self.consumed + 1))
            except (OSError, EOFError, zlib.error) as error:
                raise BundleError(f"{self._name}: not a readable gzip stream ({error})") from None
            if not chunk:
                return
            self.consumed += len(chunk)
            if self.consumed > STREAM_LIMIT:
                raise self._too_large()

    def _too_large(self) -> BundleError:
        return BundleError(
            f"{self._name}: decompresses to more than {STREAM_LIMIT // (1024 * 1024)} MiB "
            "(not a vfiolab capture, or a gzip bomb)"
        )

    def skip(self, size: int, what: str) -> None:
        while size:
            step = min(size, 1024 * 1024)
            if len(self.read(step, what)) != step:
                raise BundleError(f"{self._name}: ends inside {what} (truncated bundle)")
            size -= step


def _padding(size: int) -> int:
    return -size % _BLOCK


def _pax_records(data: bytes, name: str) -> dict[str, str]:
    """The records of a pax extended header (POSIX.1-2001 ``"%d %s=%s\\n"``)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        if data[position:].strip(b"\x00") == b"":
            break
        space = data.find(b" ", position)
        try:
            length = int(data[position:space]) if space > position else -1
        except ValueError:
            length = -1
        end = position + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise BundleError(f"{name}: a malformed pax extended header")
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals:
            raise BundleError(f"{name}: a malformed pax extended header")
        try:
            records[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleError(f"{name}: a pax extended header that is not UTF-8") from None
        position = end
    return records


def _number(records: dict[str, str], key: str, name: str) -> float | None:
    if key not in records:
        return None
    try:
        value = float(records[key])
    except ValueError:
        raise BundleError(f"{name}: pax {key}={records[key]!r} is not a number") from None
    if not 0 <= value < 2**63:
        raise BundleError(f"{name}: pax {key}={records[key]!r} is out of range")
    return value


class BundleRoot(MemoryRoot):
    """A capture bundle (gzip-compressed tar) loaded into memory, every member validated."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(str(path))
        name = os.fspath(path)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise (NotFound(name) if error.errno == 2 else Unreadable(name, error.strerror or str(error))) from None
        with os.fdopen(fd, "rb") as raw:
            info = os.fstat(raw.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NotRegular(name, Kind.of(info.st_mode))
            if info.st_size > STREAM_LIMIT:
                raise BundleError(f"{name}: larger than {STREAM_LIMIT // (1024 * 1024)} MiB: not a vfiolab capture")
            if raw.read(2) != _GZIP_MAGIC:
                raise BundleError(
                    f"{name}: not a capture bundle (expected a gzip-compressed tar, as vfiolab capture writes)"
                )
            raw.seek(0)
            self._load(_Stream(raw, name), name)

    def _load(self, stream: _Stream, name: str) -> None:
        headers = 0
        members = 0
        content = 0
        pax: dict[str, str] = {}
        long_name: str | None = None
        long_link: str | None = None
        previous = "the start"
        while True:
            block = stream.read(_BLOCK, "a tar header")
            if not block or block == bytes(_BLOCK):
                # The end-of-archive marker (or the end of the stream at a block boundary, as GNU
                # tar accepts); what follows is only decompressed, not parsed.
                if pax or long_name or long_link:
                    raise BundleError(f"{name}: ends after an extended header with no member")
                stream.finish()
                return
            headers += 1
            if headers > 4 * MEMBER_LIMIT:
                raise BundleError(f"{name}: more than {MEMBER_LIMIT} members")
            try:
                header = _parse_header(block)
            except (tarfile.HeaderError, UnicodeDecodeError) as error:
                raise BundleError(
                    f"{name}: after {previous}: not a tar header ({error}); a member longer than its header "
                    "says, or a corrupt bundle"
                ) from None
            kind = header.type
            if kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                if header.size > PAX_LIMIT:
                    raise BundleError(f"{name}: after {previous}: an extended header of {header.size} bytes")
                data = stream.read(header.size, "an extended header")
                stream.skip(_padding(header.size), "an extended header")
                if kind == tarfile.XHDTYPE:
                    pax.update(_pax_records(data, name))
                elif kind == tarfile.GNUTYPE_LONGNAME:
                    long_name = _gnu_text(data, name)
                elif kind == tarfile.GNUTYPE_LONGLINK:
                    long_link = _gnu_text(data, name)
                # A global pax header (XGLTYPE) describes the archive, nothing we use.
                continue
            member_name = pax.get("path", long_name if long_name is not None else header.name)
            target = pax.get("linkpath", long_link if long_link is not None else header.linkname)
            shown = _shown(member_name)
            if kind in _REFUSED_TYPES:
                raise BundleError(
                    f"{name}: member {shown} is {_REFUSED_TYPES[kind]} "
                    "(a bundle holds only files, directories and symlinks)"
                )
            if kind not in _KINDS:
                raise BundleError(f"{name}: member {shown} is of an unknown tar type {kind!r}")
            if any(key.startswith("GNU.sparse") for key in pax):
                raise BundleError(f"{name}: member {shown} is a sparse file")
            size_value = _number(pax, "size", shown)
            size = int(size_value) if size_value is not None else header.size
            mtime_value = _number(pax, "mtime", shown)
            members += 1
            if members > MEMBER_LIMIT:
                raise BundleError(f"{name}: more than {MEMBER_LIMIT} members")
            if size < 0:
                raise BundleError(f"{name}: member {shown} has a negative size")
            content += size
            if content > CONTENT_LIMIT:
                raise BundleError(
                    f"{name}: its files hold more than {CONTENT_LIMIT // (1024 * 1024)} MiB (at member {shown})"
                )
            kept = min(size, MEMBER_SIZE_LIMIT) if _KINDS[kind] is Kind.FILE else 0
            data = stream.read(kept, f"member {shown}")
            if len(data) != kept:
                raise BundleError(f"{name}: ends inside member {shown} (its header says {size} bytes)")
            stream.skip(size - kept + _padding(size), f"member {shown}")
            self._add_member(
                name,
                member_name,
                Member(
                    _KINDS[kind],
                    data,
                    target if _KINDS[kind] is Kind.SYMLINK else None,
                    mtime_value if mtime_value is not None else float(header.mtime),
                    header.mode & 0o7777,
                    truncated=pax.get(TRUNCATED_KEY) == "1" or size > kept,
                    unread=pax.get(UNREAD_KEY) or None,
                ),
            )
            previous = f"member {shown}"
            pax, long_name, long_link = {}, None, None

    def _add_member(self, bundle: str, name: str, member: Member) -> None:
        while name.startswith("./"):
            name = name[2:]
        if member.kind is Kind.DIRECTORY:
            name = name.rstrip("/")
            if name in ("", "."):
                return  # the top itself ("./" as GNU tar writes it)
        try:
            self.add(name, member if member.kind is not Kind.SYMLINK else replace(member, data=b""))
        except ValueError as error:
            raise BundleError(f"{bundle}: member {_shown(name)}: {error}") from None


class _Header(NamedTuple):
    name: str
    mode: int
    size: int
    mtime: int
    type: bytes
    linkname: str


_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s")
_POSIX_MAGIC = b"ustar\x0000"


def _octal(field: bytes) -> int:
    return int(field.split(b"\x00", 1)[0].strip() or b"0", 8)


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8")


def _parse_header(block: bytes) -> _Header:
    """A header block: POSIX ustar blocks (all that ``vfiolab capture`` writes) parsed directly,
    every other form by ``tarfile`` (GNU's, base-256 numbers, old V7 headers). Both check the
    checksum; both raise :class:`tarfile.HeaderError` or :class:`UnicodeDecodeError`."""
    if block[257:265] == _POSIX_MAGIC:
        fields = _USTAR.unpack_from(block)
        try:
            mode, size, mtime, checksum = (_octal(fields[index]) for index in (1, 4, 5, 6))
        except ValueError:
            pass  # base-256 or garbage: tarfile decides
        else:
            if checksum == sum(block) - sum(block[148:156]) + 8 * 32:
                name, kind, linkname, prefix = _text(fields[0]), fields[7], _text(fields[8]), _text(fields[15])
                if kind == tarfile.AREGTYPE and name.endswith("/"):
                    kind = tarfile.DIRTYPE
                if kind == tarfile.DIRTYPE:
                    name = name.rstrip("/")
                if prefix and kind not in tarfile.GNU_TYPES:
                    name = prefix + "/" + name
                return _Header(name, mode, size, mtime, kind, linkname)
    info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
    return _Header(info.name, info.mode, info.size, int(info.mtime), info.type, info.linkname)


def _gnu_text(data: bytes, name: str) -> str:
    try:
        return data.split(b"\x00", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{name}: a GNU long name that is not UTF-8") from None


def _shown(name: str) -> str:
    """A member name for a one-line message: printable, and cut short."""
    text = _CONTROL.sub("?", name[:121])
    return repr(text if len(text) <= 120 else text[:120] + "...")


def open_bundle(path: str | os.PathLike[str]) -> BundleRoot:
    """The bundle at ``path``. Raises :class:`BundleError` (bad input) or a
    :class:`~harness.rootfs.RootError` (the file cannot be opened)."""
    return BundleRoot(Path(path))


__all__ = [
    "CONTENT_LIMIT",
    "MEMBER_LIMIT",
    "MEMBER_SIZE_LIMIT",
    "STREAM_LIMIT",
    "TRUNCATED_KEY",
    "UNREAD_KEY",
    "BundleError",
    "BundleRoot",
    "Member",
    "MemoryRoot",
    "RootError",
    "link_target_problem",
    "member_name_problem",
    "open_bundle",
]
