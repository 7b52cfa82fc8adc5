"""IOMMU group listings as people paste them: which functions shared a group on the real host.

The usual forms are the output of the scripts passed around for VFIO setups (the Arch wiki's
"for g in /sys/kernel/iommu_groups/*" loop and its one-line variants), and of ``find``/``ls``
under ``/sys/kernel/iommu_groups``::

    IOMMU Group 12: 03:00.0 SATA controller [0106]: ASMedia ... [1b21:0612] (rev 02)
    IOMMU Group 12 03:00.0 SATA controller [0106]: ...
    IOMMU Group 12:
        03:00.0 SATA controller [0106]: ...
    /sys/kernel/iommu_groups/12/devices/0000:03:00.0

A member line's text after the address is an ``lspci -nns`` title; :attr:`GroupListing.titles`
keeps it (re-joined when a mail client wrapped it) so that a device seen only here still gets its
IDs. Lines are cleaned like any paste (:func:`harness.capture.paste.clean_lines`: quoting, CRLF,
fences); every pattern is linear and the input is bounded by the paste limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.capture.paste import PasteLine, clean_lines
from harness.pci.address import Bdf

#: The largest group number a host description may pin (its schema's maximum).
MAX_GROUP = 65535
#: Members read from one listing.
MAX_MEMBERS = 65536
#: A member line at least this long was probably wrapped by a mail client.
_WRAP_WIDTH = 60

_ADDRESS = r"(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
_HEADER = re.compile(r"^\s*IOMMU [Gg]roup\s+(\d{1,10})\s*:?\s*(.*)$|^\s*[Gg]roup\s+(\d{1,10})\s*:\s*(.*)$")
_ANY_HEADER = re.compile(r"^[ \t>]{0,16}(?:IOMMU [Gg]roup|[Gg]roup)\s+\d{1,10}\b", re.MULTILINE)
_MEMBER = re.compile(rf"^\s*({_ADDRESS})(?:\s+(\S.*))?$")
# Text a user pasted from ``find /sys/kernel/iommu_groups/ -type l`` on their host, not a path
# this module reads: nothing here opens a file.
_PATH = re.compile(rf"/sys/kernel/iommu_groups/(\d{{1,10}})/devices/({_ADDRESS})\b")


@dataclass
class GroupListing:
    """Groups by number (members as full addresses), the member titles, the lines used."""

    source: str
    groups: dict[int, list[str]] = field(default_factory=dict)
    #: address -> (line, "03:00.0 SATA controller [0106]: ..."), for devices known only here.
    titles: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Lines that belong to the listing (the other parsers skip them).
    lines: set[int] = field(default_factory=set)
    #: (line, what is wrong) for lines that look like the listing but cannot be used.
    problems: list[tuple[int, str]] = field(default_factory=list)
    #: The line each member was listed on.
    where: dict[str, int] = field(default_factory=dict)

    @property
    def members(self) -> int:
        return sum(len(members) for members in self.groups.values())


def _address(text: str) -> str | None:
    try:
        return str(Bdf.parse(text))
    except ValueError:
        return None


class _Reader:
    def __init__(self, listing: GroupListing) -> None:
        self.listing = listing
        self.current: int | None = None
        self.last_member: str | None = None
        self.last_length = 0

    def add(self, group: int, text: str, line: PasteLine, title: str | None) -> None:
        listing = self.listing
        address = _address(text)
        if address is None:
            listing.problems.append((line.number, f"{text!r} is not a PCI address"))
            return
        if group > MAX_GROUP:
            listing.problems.append((line.number, f"group {group} is above {MAX_GROUP}"))
            return
        if listing.members >= MAX_MEMBERS:
            listing.problems.append((line.number, f"more than {MAX_MEMBERS} members; the rest is ignored"))
            return
        listing.lines.add(line.number)
        if address in listing.where:
            first = listing.where[address]
            if address not in listing.groups.get(group, []):
                listing.problems.append(
                    (line.number, f"{address} is listed again in another group (first at line {first})")
                )
            return
        listing.groups.setdefault(group, []).append(address)
        listing.where[address] = line.number
        if title:
            listing.titles[address] = (line.number, f"{text} {title}")
        self.last_member = address if title else None
        self.last_length = len(line.text)

    def _cut(self, address: str) -> bool:
        """The member's title looks cut: a long line that does not end the way a title does
        (``[vvvv:dddd]``, ``(rev rr)``, ``(prog-if ...)``)."""
        title = self.listing.titles[address][1]
        return self.last_length >= _WRAP_WIDTH and not title.rstrip().endswith(("]", ")"))

    def read(self, line: PasteLine) -> None:
        text = line.text
        path = _PATH.search(text)
        if path is not None:
            self.add(int(path[1]), path[2], line, None)
            self.current = None
            return
        header = _HEADER.match(text)
        if header is not None:
            group = int(header[1] or header[3])
            rest = (header[2] if header[1] else header[4]) or ""
            self.current = group
            self.last_member = None
            self.listing.lines.add(line.number)
            member = _MEMBER.match(rest)
            if member is not None:
                self.add(group, member[1], line, member[2])
            elif rest.strip():
                self.listing.problems.append((line.number, "a group line whose device address cannot be read"))
            return
        member = _MEMBER.match(text)
        if member is not None and self.current is not None and line.indent > 0:
            self.add(self.current, member[1], line, member[2])
            return
        if self.last_member is not None and text.strip() and self._cut(self.last_member):
            # The rest of a member's title that a mail client moved to a line of its own.
            number, title = self.listing.titles[self.last_member]
            self.listing.titles[self.last_member] = (number, f"{title} {text.strip()}")
            self.listing.lines.add(line.number)
            self.last_length = len(line.text)
            return
        if text.strip():
            self.current = None
        self.last_member = None


def parse_groups(text: str, source: str = "<paste>") -> GroupListing:
    """Every group and member a listing shows; lines that are something else are left alone
    (:attr:`GroupListing.lines` says which lines were the listing)."""
    listing = GroupListing(source)
    reader = _Reader(listing)
    for line in clean_lines(text, source):
        reader.read(line)
    return listing


def looks_like_groups(text: str) -> bool:
    """Whether ``text`` holds a group listing at all (a cheap test before parsing)."""
    return "roup" in text and (_ANY_HEADER.search(text) is not None or "/kernel/iommu_groups/" in text)
