"""Capture bundles: the format, ``vfiolab capture`` (a root into a bundle) and the manifest reader.

A bundle (format 1) is a gzip-compressed tar. Its members are:

* ``vfiolab-capture.json``, first: the manifest (see :func:`build_manifest`)::

      {"format": 1, "vfiolab": "<version>", "created": "2025-01-31T12:00:00Z",
       "root": "/", "redacted": true, "privileged": true,
       "read": ["proc/cmdline", ...],                      # files copied (in full or in part)
       "partial": [{"path", "kept", "reason"}],            # truncated, or presence only
       "skipped": [{"path", "reason"}],                    # seen but not in the bundle
       "commands": [{"argv", "exit", "output", "truncated", "error"}],
       "commands_not_run": null | "<why>",
       "checker_error": null | "<what>",
       "limits": {...}}

* ``vfiolab-commands/<name>.txt``: the output of each command run (``lspci -vvv -nn -k``,
  ``lspci -xxxx``, ``dmesg`` or ``journalctl -k``), named by the manifest's ``output``.
* The root's entries under their root-relative paths as on the host (``sys/...``, ``proc/...``,
  ``etc/...``, ``dev/disk/by-id/...``, ``run/udev/data/...``, ``var/log/...``): directories as
  directory members, symlinks as symlink members with their original targets (relative or
  absolute), regular files as files; nothing else. Paths and contents are redacted unless the
  manifest says ``"redacted": false``. Two pax records (extended attributes
  ``user.vfiolab.truncated`` and ``user.vfiolab.unread``) mark files kept in part or by
  presence only, with the reason the content is missing
  (:data:`~harness.rootfs_bundle.TRUNCATED_KEY`, :data:`~harness.rootfs_bundle.UNREAD_KEY`).
  Members are ustar headers (long names split into prefix and name), with a pax header only
  where that is not enough: a name beyond 255 bytes, a fractional mtime, the two records.

``check --root BUNDLE`` reads a bundle through :class:`harness.rootfs_bundle.BundleRoot`;
:func:`read_manifest` gives an importer the manifest, validated.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import json
import os
import stat
import struct
import tarfile
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__, paste
from harness.capture.commands import COMMAND_SECONDS, OUTPUT_LIMIT, CommandOutput, HostCommands
from harness.capture.redact import Redactor
from harness.capture.snapshot import ACPI_HEADER, ACPI_TABLES, Snapshot, take_snapshot
from harness.errors import CannotRunError, OutputError
from harness.rootfs import (
    ATTRIBUTE_LIMIT,
    CONFIG_SPACE_LIMIT,
    LOG_LIMIT,
    TEXT_LIMIT,
    Kind,
    RootError,
    RootFS,
    open_root,
)
from harness.rootfs_bundle import (
    CONTENT_LIMIT,
    MEMBER_LIMIT,
    MEMBER_SIZE_LIMIT,
    TRUNCATED_KEY,
    UNREAD_KEY,
    BundleError,
    Member,
    MemoryRoot,
)

FORMAT = 1
MANIFEST = "vfiolab-capture.json"
COMMANDS_DIR = "vfiolab-commands"
#: The most of a manifest :func:`read_manifest` reads.
MANIFEST_LIMIT = 16 * 1024 * 1024
#: gzip level: 6 compresses a capture within a few percent of 9 in a third of the time.
COMPRESSION = 6
#: Files whose bytes are not text (redaction rewrites config space's serial number only).
_BINARY_NAMES = frozenset({"config"})
#: Files that are identity records (short serials are redacted in them too).
_IDENTITY_NAMES = frozenset({"serial", "wwid", "uevent"})


@dataclass
class CaptureResult:
    out: Path
    members: int
    content_bytes: int
    compressed_bytes: int
    seconds: float
    read: int
    partial: int
    skipped: int
    redacted: bool
    privileged: bool
    this_machine: bool
    commands: list[CommandOutput] = field(default_factory=list)
    checker_error: str | None = None


def is_this_machine(root: str | os.PathLike[str]) -> bool:
    """``root`` is this machine's ``/`` (the commands describe it)."""
    try:
        return os.path.isdir(root) and os.path.samefile(root, "/")
    except OSError:
        return False


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse (:class:`~harness.errors.OutputError`, exit 73) an output that cannot be written, or
    that exists without ``overwrite``; before the capture starts."""
    shown = paste.printable(str(out))
    if os.path.lexists(out) and not overwrite:
        raise OutputError(f"--out {shown}: already exists; add --overwrite to replace it")
    if os.path.isdir(out):
        raise OutputError(f"--out {shown}: is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent_is_directory = stat.S_ISDIR(os.stat(parent).st_mode)
    except PermissionError:
        raise OutputError(f"--out {shown}: {paste.printable(str(parent))} cannot be reached by this user") from None
    except OSError:
        parent_is_directory = False
    if not parent_is_directory:
        raise OutputError(f"--out {shown}: {paste.printable(str(parent))} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"--out {shown}: {parent} is not writable")


def capture(
    root: str | os.PathLike[str] = "/",
    out: str | os.PathLike[str] = "capture.tar.gz",
    *,
    redact: bool = True,
    overwrite: bool = False,
    run_commands: bool | None = None,
    redactor: Redactor | None = None,
    content_limit: int = CONTENT_LIMIT,
) -> CaptureResult:
    """Capture ``root`` (a directory, or a bundle to capture again) into the bundle ``out``.

    ``run_commands``: None runs lspci and the kernel log commands when ``root`` is this
    machine's ``/``. ``redactor``: the one to use (its secret decides the pseudonyms); by default
    a new one. Raises :class:`~harness.errors.OutputError` (73), ``CannotRunError`` (3: the
    root cannot be opened) or :class:`~harness.rootfs_bundle.BundleError` (65)."""
    started = time.monotonic()
    target = Path(out)
    check_output(target, overwrite)
    try:
        fs = open_root(root)
    except RootError as error:
        raise CannotRunError(f"{paste.printable(os.fspath(root))}: cannot capture: {error.reason}") from None
    with fs:
        this_machine = is_this_machine(root)
        wanted = this_machine if run_commands is None else run_commands
        running = HostCommands() if wanted else None
        snapshot = take_snapshot(Path(root), fs, content_limit)
        commands = running.results() if running is not None else []
        active = (redactor or Redactor()) if redact else None
        if active is not None:
            active.learn(fs)
            for command in commands:
                if command.argv[0] == "lspci":
                    active.add_lspci_text(command.output.decode("utf-8", "replace"))
    tree = snapshot.recorded.tree
    skipped = dict(snapshot.recorded.skipped)
    if active is not None:
        tree = redact_tree(tree, active, skipped)
    outputs = _command_members(commands, active, content_limit - tree.content_size, skipped)
    manifest = build_manifest(
        root,
        snapshot,
        commands,
        redactor=active,
        skipped=skipped,
        commands_not_run=None
        if wanted
        else "not run: the root is not this machine's /, so lspci and the kernel log would describe another "
        "machine (and tools are not run on a tree made elsewhere)",
    )
    entries = [(MANIFEST, Member(Kind.FILE, manifest, mtime=time.time(), mode=0o644)), *outputs]
    room = MEMBER_LIMIT - len(entries)
    members = tree.members()
    for name, _ in members[room:]:
        skipped[name] = f"not captured: the bundle's cap of {MEMBER_LIMIT} members was reached"
    entries += members[:room]
    compressed = write_bundle(target, entries, overwrite=overwrite, private=active is None)
    return CaptureResult(
        target,
        len(entries),
        sum(len(member.data) for _, member in entries),
        compressed,
        time.monotonic() - started,
        len(snapshot.recorded.read),
        len(snapshot.recorded.partial),
        len(skipped),
        active is not None,
        os.geteuid() == 0,
        this_machine,
        commands,
        snapshot.checker_error,
    )


def _command_members(
    commands: list[CommandOutput], redactor: Redactor | None, room: int, skipped: dict[str, str]
) -> list[tuple[str, Member]]:
    members = []
    for command in commands:
        if not command.output:
            continue
        data = command.output
        if redactor is not None:
            text = data.decode("utf-8", "surrogateescape")
            text = redactor.hexdump_text(text) if command.argv == ("lspci", "-xxxx") else redactor.text(text)
            data = text.encode("utf-8", "surrogateescape")
        if len(data) > room:
            skipped[command.member] = f"not captured: the bundle's {CONTENT_LIMIT // (1024 * 1024)} MiB cap was reached"
            command.output = b""
            continue
        room -= len(data)
        members.append(
            (command.member, Member(Kind.FILE, data, mtime=time.time(), mode=0o644, truncated=command.truncated))
        )
    return members


def redact_tree(tree: MemoryRoot, redactor: Redactor, skipped: dict[str, str]) -> MemoryRoot:
    """A copy of ``tree`` with member names, symlink targets and contents redacted."""
    fresh = MemoryRoot(tree.description)
    for name, member in tree.members():
        new_name = redactor.path(name)
        if member.kind is Kind.SYMLINK:
            member = replace(member, target=redactor.path(member.target or ""))
        elif member.kind is Kind.FILE and member.data:
            member = replace(member, data=_redact_file(redactor, name, member.data))
        if member.unread:
            member = replace(member, unread=redactor.text(member.unread))
        try:
            fresh.add(new_name, member)
        except ValueError as error:
            skipped[new_name] = f"not captured after redaction: {error}"
    return fresh


def _redact_file(redactor: Redactor, name: str, data: bytes) -> bytes:
    base = name.rsplit("/", 1)[-1]
    if name.startswith("sys/") and base in _BINARY_NAMES:
        return redactor.config_space(data)
    if name.startswith(ACPI_TABLES + "/"):
        return data
    identity = name.startswith("run/udev/data/") or base in _IDENTITY_NAMES
    return redactor.bytes_text(data, identity=identity)


def build_manifest(
    root: str | os.PathLike[str],
    snapshot: Snapshot,
    commands: list[CommandOutput],
    *,
    redactor: Redactor | None,
    skipped: dict[str, str],
    commands_not_run: str | None,
) -> bytes:
    """The manifest's bytes (JSON, one key per line group, sorted lists)."""

    def path(text: str) -> str:
        return redactor.path(text) if redactor is not None else text

    def text(value: str) -> str:
        return redactor.text(value) if redactor is not None else value

    recorded = snapshot.recorded
    document: dict[str, Any] = {
        "format": FORMAT,
        "vfiolab": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "root": text(os.fspath(root)),
        "redacted": redactor is not None,
        "privileged": os.geteuid() == 0,
        "read": [path(item) for item in recorded.read],
        "partial": [
            {"path": path(item), "kept": kept, "reason": text(reason)} for item, kept, reason in recorded.partial
        ],
        "skipped": [{"path": path(item), "reason": text(reason)} for item, reason in sorted(skipped.items())],
        "commands": [
            {
                "argv": list(command.argv),
                "exit": command.exit,
                "output": command.member if command.output else None,
                "truncated": command.truncated,
                "error": text(command.error) if command.error else None,
            }
            for command in commands
        ],
        "commands_not_run": commands_not_run,
        "checker_error": snapshot.checker_error,
        "limits": {
            "content_bytes": CONTENT_LIMIT,
            "members": MEMBER_LIMIT,
            "file_bytes": MEMBER_SIZE_LIMIT,
            "config_space_bytes": CONFIG_SPACE_LIMIT,
            "attribute_bytes": ATTRIBUTE_LIMIT,
            "text_file_bytes": TEXT_LIMIT,
            "log_bytes": LOG_LIMIT,
            "acpi_table_header_bytes": ACPI_HEADER,
            "command_output_bytes": OUTPUT_LIMIT,
            "command_seconds": COMMAND_SECONDS,
        },
    }
    return (json.dumps(document, indent=1) + "\n").encode("utf-8")


# --- Writing --------------------------------------------------------------------------------------


def _tar_info(name: str, member: Member) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    # An integral time fits the ustar header; a fraction needs pax (the checker compares mtimes).
    info.mtime = int(member.mtime) if member.mtime == int(member.mtime) else member.mtime
    info.mode = member.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if member.kind is Kind.DIRECTORY:
        info.type = tarfile.DIRTYPE
    elif member.kind is Kind.SYMLINK:
        info.type = tarfile.SYMTYPE
        info.linkname = member.target or ""
    else:
        info.type = tarfile.REGTYPE
        info.size = len(member.data)
    extended = {}
    if member.truncated:
        extended[TRUNCATED_KEY] = "1"
    if member.unread:
        extended[UNREAD_KEY] = member.unread
    info.pax_headers = extended
    return info


_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_USTAR_TYPES = {Kind.DIRECTORY: tarfile.DIRTYPE, Kind.SYMLINK: tarfile.SYMTYPE, Kind.FILE: tarfile.REGTYPE}


def _ustar_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) as POSIX ustar splits a long name (at a ``/``: prefix at most 155 bytes,
    name at most 100), or None when it cannot."""
    if len(name) <= 100:
        return b"", name
    # The shortest prefix whose rest fits in 100 bytes (as tarfile and GNU tar choose).
    cut = name.find(b"/", len(name) - 101)
    return (name[:cut], name[cut + 1 :]) if 0 < cut <= 155 else None


def _ustar_header(name: str, member: Member) -> bytes | None:
    """One POSIX ustar header block for ``member``, or None when one block cannot hold it (a
    name or target that is not ASCII or too long, a fractional mtime, vfiolab's pax records).
    What ``tarfile`` writes for the same member, without its per-member overhead (a capture
    writes tens of thousands)."""
    if member.truncated or member.unread or member.mtime != int(member.mtime) or not 0 <= member.mtime < 8**11:
        return None
    try:
        raw_name = (name + "/" if member.kind is Kind.DIRECTORY else name).encode("ascii")
        target = (member.target or "").encode("ascii") if member.kind is Kind.SYMLINK else b""
    except UnicodeEncodeError:
        return None
    split = _ustar_name(raw_name)
    size = len(member.data) if member.kind is Kind.FILE else 0
    if split is None or len(target) > 100 or size >= 8**11:
        return None
    prefix, short = split
    fields = [
        short,
        b"%07o\0" % (member.mode & 0o7777),
        b"0000000\0",
        b"0000000\0",
        b"%011o\0" % size,
        b"%011o\0" % int(member.mtime),
        b" " * 8,
        _USTAR_TYPES[member.kind],
        target,
        b"ustar\0",
        b"00",
        b"",
        b"",
        b"",
        b"",
        prefix,
    ]
    block = bytearray(_USTAR.pack(*fields))
    block[148:155] = b"%06o\0" % sum(block)
    return bytes(block)


def _header(name: str, member: Member) -> bytes:
    """A member's header: one ustar block (a long name split into ustar's prefix and name, as
    POSIX allows) when that holds everything, else a pax extended header before it."""
    block = _ustar_header(name, member)
    if block is not None:
        return block
    return _tar_info(name, member).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def write_bundle(out: Path, entries: list[tuple[str, Member]], overwrite: bool = False, private: bool = False) -> int:
    """Write ``entries`` as a bundle at ``out``, atomically: into a temporary file beside it,
    then linked into place (never replacing a file unless ``overwrite``). ``private``: readable by
    the owner only (an unredacted capture). Returns the bundle's size in bytes."""
    shown = paste.printable(str(out))
    parent = out.parent if str(out.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".vfiolab-new", dir=parent)
    except OSError as error:
        raise OutputError(f"--out {shown}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESSION, mtime=0) as compressed:
                for name, member in entries:
                    compressed.write(_header(name, member))
                    if member.kind is Kind.FILE and member.data:
                        compressed.write(member.data)
                        compressed.write(bytes(-len(member.data) % tarfile.BLOCKSIZE))
                compressed.write(bytes(2 * tarfile.BLOCKSIZE))
            raw.flush()
            os.fsync(raw.fileno())
            size = raw.tell()
        os.chmod(temporary, 0o600 if private else 0o644 & ~_umask())
        _publish(temporary, out, overwrite)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise OutputError(f"--out {shown}: {error.strerror or error}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return size


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _publish(temporary: str, out: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, out)
        return
    try:
        # link() never replaces: a file created at ``out`` since the check is kept.
        os.link(temporary, out)
    except FileExistsError:
        raise OutputError(f"--out {paste.printable(str(out))}: already exists; add --overwrite to replace it") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.EOPNOTSUPP):
            raise
        # A file system without hard links (vfat): the check and rename leave a small race.
        if os.path.lexists(out):
            raise OutputError(
                f"--out {paste.printable(str(out))}: already exists; add --overwrite to replace it"
            ) from None
        os.rename(temporary, out)
        return
    os.unlink(temporary)


# --- Reading the manifest -------------------------------------------------------------------------

_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": int,
    "vfiolab": str,
    "created": str,
    "root": str,
    "redacted": bool,
    "read": list,
    "partial": list,
    "skipped": list,
    "commands": list,
    "limits": dict,
}


def read_manifest(fs: RootFS) -> dict[str, Any]:
    """The manifest of the bundle ``fs`` (a :class:`~harness.rootfs_bundle.BundleRoot`),
    validated: a JSON object of format 1 with the documented keys and types, each command's
    output a member under ``vfiolab-commands/``. Raises :class:`BundleError`."""
    where = f"{fs.description}: {MANIFEST}"
    try:
        blob = fs.read(MANIFEST, MANIFEST_LIMIT)
    except RootError as error:
        raise BundleError(f"{where}: {error.reason} (not a vfiolab capture bundle)") from None
    if blob.truncated:
        raise BundleError(f"{where}: larger than {MANIFEST_LIMIT // (1024 * 1024)} MiB")
    try:
        document = json.loads(blob.data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise BundleError(f"{where}: not JSON ({paste.printable(str(error))[:120]})") from None
    if not isinstance(document, dict):
        raise BundleError(f"{where}: not a JSON object")
    if document.get("format") != FORMAT:
        raise BundleError(f"{where}: format {document.get('format')!r} is not supported (this vfiolab reads {FORMAT})")
    for key, kind in _MANIFEST_TYPES.items():
        if not isinstance(document.get(key), kind):
            raise BundleError(f"{where}: {key!r} is missing or not a {getattr(kind, '__name__', kind)}")
    for command in document["commands"]:
        output = command.get("output") if isinstance(command, dict) else None
        if not isinstance(command, dict) or not isinstance(command.get("argv"), list):
            raise BundleError(f"{where}: a command entry is not an object with argv")
        if output is not None and (not isinstance(output, str) or not output.startswith(COMMANDS_DIR + "/")):
            raise BundleError(
                f"{where}: a command's output {paste.printable(str(output))!r} is not under {COMMANDS_DIR}/"
            )
    return document
