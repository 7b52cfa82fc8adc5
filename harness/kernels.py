"""Kernel versions as vfiolab reasons about them, and whether a given kernel carries a change.

A kernel is its upstream version (6.12.117), the distribution that built it (Debian, Proxmox VE,
plain upstream, another distribution) with that distribution's package version, and, where
known, the date its source was fixed (the date ``/proc/version`` shows). :func:`running_kernel`
reads it from a root's ``uname -r`` and ``/proc/version``; :func:`parse_kernel` from a name given
on the command line (``6.12.117``, ``6.8.12-4-pve``, ``6.12.117-1~deb12u1``).

:func:`carries` says PRESENT, ABSENT or COULD_NOT_JUDGE for one upstream change (a quirk entry)
and one kernel, from recorded facts only; nothing is interpolated between versions. In order:

1. **Read.** The kernel is a Debian package whose source was read: what that tree holds.
2. **Built before the change existed.** The kernel's date is before the first public posting
   of the patch: absent.
3. **Stable branch record.** For the kernel's series X.Y, the stable releases whose ChangeLog
   lists the change or its revert decide: the last event at or before X.Y.Z (added: present,
   reverted: absent); before the first event, absent (the change reached the branch later).
   Upstream and Debian kernels carry exactly the stable release they name; a Proxmox kernel
   carries at least the stable patches up to the release it names, so only "present" (and a
   recorded revert) carry over to it.
4. **Mainline.** A series whose mainline X.Y is at or after the change's first release carries
   it (every distribution builds X.Y on mainline X.Y), unless a revert is recorded (rule 3).
5. **Later uploads of a read Debian branch.** A Debian kernel of a series whose tree was read
   with the change, at or after that tree's upstream version, carries it (no revert recorded).

Anything else could not be judged, and the answer says what is missing. In particular a later
series does not inherit what an earlier one had: the PLX PEX 8532/8533/8548 no-D3 quirk is in
Debian's 6.12.118 (stable 6.12.117) and not in Debian's 7.2.13.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import Enum

from harness.pci.release import DEBIAN_BUILD, PROXMOX_BUILD, Release, leading_release

Version = Release
Series = tuple[int, int]


class Flavour(Enum):
    """Who built the kernel, which decides how its version number relates to upstream."""

    UPSTREAM = "upstream"  # a kernel.org release: X.Y.Z is exactly the stable release
    DEBIAN = "debian"  # Debian's linux package: X.Y.Z is the upstream stable release it merged
    PROXMOX = "proxmox"  # Proxmox VE (Ubuntu-based): at least the stable patches up to X.Y.Z
    OTHER = "other"  # any other distribution: only the series X.Y is taken from the number


FLAVOUR_NAMES = {
    Flavour.UPSTREAM: "upstream",
    Flavour.DEBIAN: "Debian",
    Flavour.PROXMOX: "Proxmox VE",
    Flavour.OTHER: "distribution",
}


class KernelNameError(ValueError):
    """A kernel name vfiolab cannot read (the message says what it expected)."""


@dataclass(frozen=True)
class Kernel:
    """A kernel build: its upstream version, who built it, and what else is known of it."""

    version: Version
    flavour: Flavour
    #: The distribution's package version (``6.12.117-1~deb12u1``, Proxmox ``6.8.12-4``).
    package: str | None = None
    #: The date its source was fixed (Debian's changelog date, Proxmox's build time).
    built: date | None = None
    #: The name as given or read (``6.8.12-4-pve``).
    name: str = ""

    @property
    def series(self) -> Series:
        return self.version[0], self.version[1]

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def describe(self) -> str:
        """``Debian 6.12.117-1~deb12u1``, ``Proxmox VE 6.8.12-4-pve (built 2024-11-06)``."""
        if self.flavour is Flavour.DEBIAN and self.package:
            text = f"Debian {self.package}"
        elif self.flavour is Flavour.UPSTREAM:
            text = f"upstream {self.version_text}"
        else:
            text = f"{FLAVOUR_NAMES[self.flavour]} {self.name or self.version_text}"
        if self.built is not None:
            text += f" (built {self.built.isoformat()})"
        return text


# --- Reading kernel names ---------------------------------------------------------------------

_DATE_SUFFIX = re.compile(r"^(?P<name>.+?)@(?P<date>\d{4}-\d{2}-\d{2})$")
_PROXMOX = re.compile(r"^(?P<v>\d+\.\d+\.\d+)-(?P<build>\d+)-pve$")
_DEBIAN_PACKAGE = re.compile(r"^(?P<v>\d+\.\d+\.\d+)-(?P<rev>\d+(?:~[A-Za-z0-9.+]+)?)$")
_DEBIAN_ABI = re.compile(r"^\d+\.\d+\.0-\d+(?:-[a-z0-9]+)+$")
_UPSTREAM = re.compile(r"^(?P<v>\d+\.\d+(?:\.\d+)?)\+?$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# ``(2024-11-06T15:04Z)`` (Proxmox), ``(2026-09-20)`` (Debian)
_ISO_DATE = re.compile(r"\((\d{4})-(\d{2})-(\d{2})(?:[T ][^)]*)?\)")
# ``Fri Nov 29 12:00:00 UTC 2024`` (the kernel's default KBUILD_BUILD_TIMESTAMP)
_C_DATE = re.compile(r"\b(" + "|".join(_MONTHS) + r") +(\d{1,2}) \d{2}:\d{2}:\d{2}(?: [A-Z]{2,5})? (\d{4})\b")


def _version(text: str) -> Version:
    version = leading_release(text)
    if version is None:
        raise KernelNameError(f"{text!r} does not start with a kernel version like 6.12.117")
    return version


def _date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_kernel(text: str) -> Kernel:
    """A kernel named on the command line: ``6.12.117`` (upstream), ``6.8.12-4-pve`` (Proxmox
    VE's ``uname -r``), ``6.12.117-1~deb12u1`` (a Debian package version, as ``uname -v``
    shows it), each optionally with ``@YYYY-MM-DD``, the date its source was fixed."""
    name = text.strip()
    built = None
    suffix = _DATE_SUFFIX.match(name)
    if suffix is not None:
        name = suffix["name"]
        year, month, day = suffix["date"].split("-")
        built = _date(year, month, day)
        if built is None:
            raise KernelNameError(f"{suffix['date']!r} is not a date (YYYY-MM-DD)")
    if (match := _PROXMOX.match(name)) is not None:
        return Kernel(_version(match["v"]), Flavour.PROXMOX, f"{match['v']}-{match['build']}", built, name)
    if _DEBIAN_ABI.match(name):
        raise KernelNameError(
            f"{name} is Debian's ABI name, which hides the upstream version; give the package version "
            "that uname -v shows after 'Debian' (e.g. 6.1.112-1)"
        )
    if (match := _DEBIAN_PACKAGE.match(name)) is not None:
        return Kernel(_version(match["v"]), Flavour.DEBIAN, name, built, name)
    if (match := _UPSTREAM.match(name)) is not None:
        return Kernel(_version(match["v"]), Flavour.UPSTREAM, None, built, name)
    raise KernelNameError(
        f"{name!r} is not a kernel name vfiolab knows: give an upstream version (6.12.117), a Proxmox VE "
        "release (6.8.12-4-pve) or a Debian package version (6.12.117-1~deb12u1), optionally with @YYYY-MM-DD"
    )


def running_kernel(release: str | None, proc_version: str | None) -> Kernel | None:
    """The kernel a root runs, from ``/proc/sys/kernel/osrelease`` and ``/proc/version``:
    Debian and Proxmox name their package version after the build number (``#1 SMP
    PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)``, ``PMX 6.8.12-4 (2024-11-06T15:04Z)``)."""
    build = (proc_version or "").partition("#")[2]
    built = None
    if (iso := _ISO_DATE.search(build)) is not None:
        built = _date(*iso.groups())
    elif (c_date := _C_DATE.search(build)) is not None:
        built = _date(c_date[3], str(_MONTHS.index(c_date[1]) + 1), c_date[2])
    name = (release or "").strip()
    if (debian := DEBIAN_BUILD.search(build)) is not None:
        return Kernel(_version(debian[1]), Flavour.DEBIAN, debian[1], built, name or debian[1])
    if (proxmox := PROXMOX_BUILD.search(build)) is not None:
        return Kernel(_version(proxmox[1]), Flavour.PROXMOX, proxmox[1], built, name or proxmox[1])
    if not name or leading_release(name) is None:
        return None
    flavour = Flavour.UPSTREAM if _UPSTREAM.match(name) else Flavour.OTHER
    return Kernel(_version(name), flavour, None, built, name)


def same_build(one: Kernel | None, other: Kernel | None) -> bool:
    """Both name the same build: the same distribution, version and package version."""
    if one is None or other is None:
        return False
    return (one.flavour, one.version, one.package) == (other.flavour, other.version, other.package)


def assumed_kernel(named: Kernel, running: Kernel | None) -> Kernel:
    """The kernel ``--assume-kernel`` names; when it is the running build and no date was given,
    the running kernel's build date (the same package has the same source)."""
    if named.built is None and running is not None and same_build(named, running):
        return replace(named, built=running.built)
    return named


# --- What a kernel carries --------------------------------------------------------------------


class Presence(Enum):
    """Whether a kernel carries a change, or that it could not be judged."""

    PRESENT = "present"
    ABSENT = "absent"
    COULD_NOT_JUDGE = "could not judge"


@dataclass(frozen=True)
class Answer:
    """Whether a kernel carries a change, and why vfiolab says so."""

    presence: Presence
    #: Why, citing what was read ("in the 6.12 stable branch since 6.12.75 (...)").
    reason: str

    @property
    def present(self) -> bool:
        return self.presence is Presence.PRESENT

    @property
    def absent(self) -> bool:
        return self.presence is Presence.ABSENT

    @property
    def unknown(self) -> bool:
        return self.presence is Presence.COULD_NOT_JUDGE


@dataclass(frozen=True)
class TreeRead:
    """A kernel source tree that was read (a Debian linux-source package)."""

    label: str
    flavour: Flavour
    package: str
    version: Version
    #: Its source package's name, for citations (``linux-source-6.12``).
    source_package: str = ""

    @property
    def series(self) -> Series:
        return self.version[0], self.version[1]

    def describe(self) -> str:
        return f"Debian {self.source_package or 'linux'} {self.package}".replace("  ", " ")


@dataclass(frozen=True)
class BranchEvent:
    """A stable release whose ChangeLog lists the change (``added``) or its revert."""

    version: Version
    added: bool
    evidence: str


@dataclass(frozen=True)
class History:
    """What is known of one change across kernel versions."""

    #: Trees read that carry it, with where (``drivers/pci/quirks.c:3826``).
    present_in: Mapping[TreeRead, str] = field(default_factory=dict)
    absent_in: tuple[TreeRead, ...] = ()
    first_release: Series | None = None
    #: Commit id, for the mainline reason.
    commit: str | None = None
    never_released: bool = False
    #: Per stable series, events in release order (a revert listed in the same release as the
    #: change comes after it).
    backports: Mapping[Series, tuple[BranchEvent, ...]] = field(default_factory=dict)
    not_before: date | None = None


def _text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def _read(history: History, kernel: Kernel) -> Answer | None:
    if kernel.flavour is not Flavour.DEBIAN or not kernel.package:
        return None
    for tree, where in history.present_in.items():
        if tree.flavour is Flavour.DEBIAN and tree.package == kernel.package:
            return Answer(Presence.PRESENT, f"read in {tree.describe()} ({where})")
    for tree in history.absent_in:
        if tree.flavour is Flavour.DEBIAN and tree.package == kernel.package:
            return Answer(Presence.ABSENT, f"not in {tree.describe()} (read)")
    return None


def _branch(history: History, kernel: Kernel) -> Answer | None:
    events = history.backports.get(kernel.series)
    if not events or kernel.flavour is Flavour.OTHER:
        return None
    series = _text(kernel.series)
    upto = [event for event in events if event.version <= kernel.version]
    if upto:
        last = upto[-1]
        if last.added:
            return Answer(
                Presence.PRESENT, f"in the {series} stable branch since {_text(last.version)} ({last.evidence})"
            )
        return Answer(
            Presence.ABSENT, f"reverted in the {series} stable branch in {_text(last.version)} ({last.evidence})"
        )
    first = events[0]
    mainline_has_it = history.first_release is not None and kernel.series >= history.first_release
    if first.added and not mainline_has_it and kernel.flavour in (Flavour.UPSTREAM, Flavour.DEBIAN):
        return Answer(
            Presence.ABSENT,
            f"it reached the {series} stable branch only in {_text(first.version)} ({first.evidence})",
        )
    return None


def _mainline(history: History, kernel: Kernel) -> Answer | None:
    if history.never_released or history.first_release is None or kernel.series < history.first_release:
        return None
    commit = f" (commit {history.commit[:12]})" if history.commit else ""
    return Answer(
        Presence.PRESENT,
        f"in mainline since {_text(history.first_release)}{commit}; {_text(kernel.series)} is built on it",
    )


def _debian_branch(history: History, kernel: Kernel) -> Answer | None:
    if kernel.flavour is not Flavour.DEBIAN:
        return None
    for tree, where in sorted(history.present_in.items(), key=lambda item: item[0].version):
        if tree.flavour is Flavour.DEBIAN and tree.series == kernel.series and tree.version <= kernel.version:
            return Answer(
                Presence.PRESENT,
                f"read in {tree.describe()} ({where}); later Debian uploads of {_text(kernel.series)} keep it "
                "(no revert recorded)",
            )
    return None


def _unknown(history: History, kernel: Kernel) -> Answer:
    series = _text(kernel.series)
    missing = []
    if not any(tree.series == kernel.series for tree in (*history.present_in, *history.absent_in)):
        missing.append(f"no {series} tree was read")
    elif kernel.flavour is not Flavour.DEBIAN:
        missing.append(f"only Debian's {series} trees were read")
    else:
        missing.append(f"the {series} trees read do not cover {kernel.package or kernel.version_text}")
    if kernel.series not in history.backports:
        missing.append(f"no {series} stable backport is recorded")
    if history.never_released:
        missing.append("no mainline release carried it")
    elif history.first_release is None:
        missing.append("its first mainline release is not known")
    else:
        missing.append(f"mainline {series} predates its first release {_text(history.first_release)}")
    if kernel.built is None and history.not_before is not None:
        missing.append(f"the kernel's build date is not known (the change was first posted {history.not_before})")
    if kernel.flavour is Flavour.PROXMOX:
        missing.append("Proxmox VE kernels (Ubuntu-based) were not read")
    return Answer(Presence.COULD_NOT_JUDGE, "; ".join(missing))


def answer_sentence(answer: Answer, kernel_text: str, change: str) -> str:
    """The sentence a finding says about it: ``The kernel Debian 6.12.117-1 does not carry
    quirk_no_flr for 14c3:0616 (why).``, or that it could not be judged and why."""
    if answer.unknown:
        return (
            f"Whether the {kernel_text} carries {change} could not be judged ({answer.reason}): vfiolab does not "
            "guess between the versions it knows."
        )
    carried = "carries" if answer.present else "does not carry"
    return f"The {kernel_text} {carried} {change} ({answer.reason})."


def carries(history: History, kernel: Kernel | None) -> Answer:
    """Whether ``kernel`` carries the change ``history`` describes (rules: module docstring)."""
    if kernel is None:
        return Answer(Presence.COULD_NOT_JUDGE, "the kernel version could not be read")
    answer = _read(history, kernel)
    if answer is not None:
        return answer
    if kernel.built is not None and history.not_before is not None and kernel.built < history.not_before:
        return Answer(
            Presence.ABSENT,
            f"the kernel was built {kernel.built}, before the change was first posted ({history.not_before})",
        )
    for rule in (_branch, _mainline, _debian_branch):
        answer = rule(history, kernel)
        if answer is not None:
            return answer
    return _unknown(history, kernel)
