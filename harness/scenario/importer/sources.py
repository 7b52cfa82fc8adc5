"""What each source of an import is, told from its content (never from its name).

A source is one of:

- a **root**: a directory holding ``sys/`` (a rendered tree, a captured root) or a capture bundle
  (a gzip or plain tar, ``vfiolab capture``), read through :func:`harness.rootfs.open_root`;
- **text**, which may hold any mix of ``lspci`` output (``-v``/``-vv``/``-vvv`` text, ``-x`` to
  ``-xxxx`` hex, ``-t`` trees, in any paste form), an IOMMU group listing and kernel log lines.
  Each line goes to the parser whose form it has: group listing lines first, then kernel log
  lines, and the rest is read as ``lspci`` output (lines taken by the first two are blanked, so
  line numbers stay the file's).

Text is read whole up to the paste limit (:data:`harness.capture.paste.MAX_PASTE_CHARS`), from a
regular file only, by the reader of every input file (:func:`fakesys.source.read_file`: a FIFO
or device is refused, not read; what cannot be read is exit 66, not bad data).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from fakesys.errors import UnreadableFileError
from fakesys.source import read_file
from harness import exitcodes
from harness.capture.paste import MAX_PASTE_CHARS, Kind, clean_lines, hex_row, title_match, unquote
from harness.errors import InputError, VfiolabError
from harness.scenario.importer.dmesg import LogExcerpt, parse_log
from harness.scenario.importer.groups import GroupListing, looks_like_groups, parse_groups

_GZIP = b"\x1f\x8b"
_TAR_MAGIC_AT = 257


class SourceUnreadable(VfiolabError):
    """A source named on the command line does not exist or cannot be read (exit 66)."""

    exit_code = exitcodes.NO_INPUT


@dataclass
class TextSource:
    """A text source, split into what each parser took."""

    path: str
    text: str
    groups: GroupListing | None = None
    log: LogExcerpt | None = None
    #: The text for the lspci parser (group and log lines blanked); None when nothing is left.
    lspci: str | None = None
    kinds: list[str] = field(default_factory=list)


@dataclass
class RootPath:
    path: str
    bundle: bool


def _is_bundle(head: bytes) -> bool:
    return head.startswith(_GZIP) or head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar"


def read_text(path: str) -> str:
    """A text source's content: a regular file of at most the paste limit, UTF-8 (bytes that are
    not are replaced, so a Latin-1 paste still reads). A file that cannot be read as a regular
    file (missing, a FIFO, a device, a directory, over the limit) is :class:`SourceUnreadable`
    (66): its contents were never judged."""
    try:
        data = read_file(path, MAX_PASTE_CHARS)
    except UnreadableFileError as error:
        raise SourceUnreadable(str(error)) from None
    return data.decode("utf-8", errors="replace")


def classify(path: str) -> RootPath | TextSource:
    """What the source at ``path`` is (a missing file: :class:`SourceUnreadable`)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SourceUnreadable(f"{path}: no such file or directory") from None
    except OSError as error:
        raise SourceUnreadable(f"{path}: cannot read: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        if not (Path(path) / "sys").is_dir() and not (Path(path) / "vfiolab-capture.json").exists():
            raise InputError(f"{path}: a directory without sys/ under it; expected a captured or rendered root")
        return RootPath(path, bundle=False)
    if stat.S_ISREG(info.st_mode):
        try:
            with open(path, "rb") as handle:
                head = handle.read(_TAR_MAGIC_AT + 8)
        except OSError as error:
            raise SourceUnreadable(f"{path}: cannot read: {error.strerror or error}") from None
        if _is_bundle(head):
            return RootPath(path, bundle=True)
    return split_text(path, read_text(path))


def split_text(path: str, text: str) -> TextSource:
    """Give each line of ``text`` to the parser whose form it has."""
    source = TextSource(path, text)
    taken: set[int] = set()
    if looks_like_groups(text):
        listing = parse_groups(text, path)
        if listing.groups:
            source.groups = listing
            source.kinds.append(f"IOMMU group listing ({len(listing.groups)} groups, {listing.members} functions)")
            taken |= listing.lines
    log = parse_log(text, path)
    log.entries = [entry for entry in log.entries if entry.line not in taken]
    log.lines -= taken
    if log.entries:
        source.log = log
        source.kinds.append(f"kernel log ({len(log.entries)} lines)")
        taken |= log.lines
    lines = text.split("\n")
    remaining = [("" if number in taken else line) for number, line in enumerate(lines, start=1)]
    rest = "\n".join(remaining)
    if _has_lspci(rest, path):
        source.lspci = rest
    return source


def _has_lspci(text: str, path: str) -> bool:
    """Whether ``text`` has a device title, a hex row or a tree row (what the lspci parser reads)."""
    if not text.strip():
        return False
    # Most pastes show a title or hex row as it is, quoted at most; cleaning every line (mail
    # headers, wrapping, quoted-printable) is for the ones that do not.
    for line in text.split("\n"):
        plain = unquote(line).strip()
        if title_match(plain) is not None or hex_row(plain) is not None:
            return True
    return any(line.kind in (Kind.TITLE, Kind.HEX, Kind.TREE) for line in clean_lines(text, path))
