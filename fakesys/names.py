"""Names from data that become paths: the character set each kind of name may use.

Scenario, host and device files come from other people, and vfiolab renders them as root (often
literally). Every name such a file gives that ends up in a path of the rendered tree, or that
selects a file to read, is checked here when the file is loaded, so that a name can never climb
out of the directory it belongs in:

============================  ==================================================================
name                          rule
============================  ==================================================================
library names: ``device:``,   :data:`LIBRARY_NAME`: a letter or digit, then letters, digits and
``extends:``, scenario        ``_ + . -``; at most 128 characters. A name, never a path.
names
``files:`` keys               an absolute, normalised path (no ``.``/``..``/empty components, no
                              trailing ``/``), each component from :data:`PATH_COMPONENT`'s set
                              and at most 255 bytes, at most 1024 bytes in all; not under
                              ``/sys`` or ``/dev`` (the simulated kernel renders those) nor a
                              file the renderer writes itself (``/proc/cmdline`` ...).
network interfaces            the kernel's ``dev_valid_name`` (net/core/dev.c): 1-15
(``net[].name``, ``master``)  characters, not ``.`` or ``..``, no ``/``, ``:`` or white space;
                              narrowed here to letters, digits and ``_ . + - @``.
device-mapper names           1-127 characters (``DM_NAME_LEN`` is 128 with the NUL) from
                              letters, digits and ``_ + . -``, not ``.`` or ``..``.
block devices (``slaves``)    :data:`BLOCK_NAME`: a kernel block device name such as ``sda``,
                              ``nvme0n1p3`` or ``dm-0``.
drivers (``driver:``)         :data:`DRIVER_NAME`: letters, digits and ``_ . + -``, starting
                              with a letter or digit, at most 64 characters.
modules and parameters        ``[A-Za-z0-9_-]`` up to 55 characters (``MODULE_NAME_LEN`` 56);
                              parameters ``[A-Za-z0-9_]`` up to 64.
============================  ==================================================================

Each check raises :class:`BadName` (a ``ValueError``) with what is wrong; the loaders turn it
into a :class:`~fakesys.errors.SourceError` at the file and line the name was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ``device:``, ``extends:`` and scenario names.
LIBRARY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.-]{0,127}")
#: One component of a ``files:`` path.
PATH_COMPONENT = re.compile(r"[A-Za-z0-9_+.,:=@~-]{1,255}")
INTERFACE_NAME = re.compile(r"[A-Za-z0-9_.+@-]{1,15}")
DM_NAME = re.compile(r"[A-Za-z0-9_+.-]{1,127}")
BLOCK_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
DRIVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
MODULE_NAME = re.compile(r"[A-Za-z0-9_-]{1,55}")
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
#: Longest ``files:`` path accepted, in bytes.
MAX_FILE_PATH = 1024
#: Top-level directories the simulated kernel renders whole; ``files:`` cannot write into them.
KERNEL_DIRECTORIES = ("sys", "dev")
#: The /proc files the renderer writes (other /proc files, such as a module's, may be given).
PROC_FILES = (
    "proc/cmdline",
    "proc/version",
    "proc/sys/kernel/osrelease",
    "proc/cpuinfo",
    "proc/mounts",
    "proc/swaps",
    "proc/iomem",
)
#: Files the renderer writes itself (root-relative), which ``files:`` cannot replace.
KERNEL_LOG = "var/log/dmesg"
USERSPACE_LOG = "var/log/vfiolab/userspace.log"
#: What a rendered root holds at its top for vfiolab's own use: the mark of a vfiolab render and
#: the journal of writes ``fakesys sync`` applied.
MARKER = ".vfiolab-root"
JOURNAL = ".vfiolab-writes"
RENDERER_FILES = (KERNEL_LOG, USERSPACE_LOG, MARKER, JOURNAL, *PROC_FILES)
#: Files the simulated userspace writes (qemu-server's PCI reservations): a host may hold them,
#: but not as a directory or below them.
RESERVATIONS = "run/qemu-server/pci-id-reservations"
USERSPACE_FILES = (RESERVATIONS,)


class BadName(ValueError):
    """A name from data that cannot be used: the message says what is wrong."""


#: Control characters (tab excepted): no value of a host may hold them, so that none can forge a
#: line of a rendered file (``/proc/mounts``, ``/proc/cmdline``, a disk's ``model``).
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _shown(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 60 else text[:57] + "..."


def _require(pattern: re.Pattern[str], name: object, what: str, rule: str) -> str:
    if not isinstance(name, str) or pattern.fullmatch(name) is None or name in (".", ".."):
        raise BadName(f"{_shown(str(name))} is not a valid {what} ({rule})")
    return name


def one_line(text: object) -> str:
    """A value that is written into a rendered file as (part of) one line."""
    if isinstance(text, str) and CONTROL.search(text) is not None:
        raise BadName(f"{_shown(text)} holds a control character (a newline, NUL ...); write one line")
    return str(text)


def library_name(name: object, what: str = "name") -> str:
    """A device library, scenario or ``extends:`` name: looked up by name, never as a path."""
    return _require(
        LIBRARY_NAME,
        name,
        what,
        "a name, not a path: a letter or digit, then letters, digits and _ + . -, at most 128 characters",
    )


@dataclass(frozen=True)
class NameRule:
    """One kind of name: its pattern, what it is called and the rule in words. Calling it
    checks a name and returns it, or raises :class:`BadName`."""

    pattern: re.Pattern[str]
    what: str
    rule: str

    def __call__(self, name: object) -> str:
        return _require(self.pattern, name, self.what, self.rule)


interface_name = NameRule(INTERFACE_NAME, "network interface name", "1-15 letters, digits and _ . + - @")
dm_name = NameRule(DM_NAME, "device-mapper name", "1-127 letters, digits and _ + . -")
block_name = NameRule(BLOCK_NAME, "block device name", "a kernel name such as sda, nvme0n1p3 or dm-0")
driver_name = NameRule(DRIVER_NAME, "driver name", "letters, digits and _ . + -, at most 64 characters")
module_name = NameRule(MODULE_NAME, "module name", "letters, digits, _ and -, at most 55 characters")
parameter_name = NameRule(PARAMETER_NAME, "module parameter name", "letters, digits and _, at most 64 characters")


def file_path(path: object) -> str:
    """A ``files:`` key: an absolute host path, returned root-relative (``etc/default/grub``)."""
    if not isinstance(path, str):
        raise BadName(f"{_shown(str(path))} is not a path")
    if not path.startswith("/"):
        raise BadName(f"{_shown(path)} is not an absolute path such as /etc/default/grub")
    if len(path.encode()) > MAX_FILE_PATH:
        raise BadName(f"{_shown(path)} is longer than {MAX_FILE_PATH} bytes")
    parts = path[1:].split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise BadName(
                f"{_shown(path)} is not a normalised absolute path (no empty, '.' or '..' components, no trailing '/')"
            )
        if PATH_COMPONENT.fullmatch(part) is None:
            raise BadName(
                f"{_shown(path)}: component {_shown(part)} may only use letters, digits and _ + . , : = @ ~ - "
                "(at most 255 characters)"
            )
    relative = "/".join(parts)
    if parts[0] in KERNEL_DIRECTORIES:
        raise BadName(f"{path} is under /{parts[0]}, which the simulated kernel renders; describe it in the host")
    for own in (*RENDERER_FILES, *USERSPACE_FILES):
        if (
            (relative == own and own in RENDERER_FILES)
            or own.startswith(relative + "/")
            or relative.startswith(own + "/")
        ):
            raise BadName(f"{path} collides with /{own}, which vfiolab writes itself")
    return relative


def file_paths(paths: list[str]) -> dict[str, str]:
    """Every ``files:`` key checked (:func:`file_path`), root-relative, and no file also a
    directory of another (``/etc/a`` and ``/etc/a/b``)."""
    relative = {path: file_path(path) for path in paths}
    names = set(relative.values())
    for path, name in relative.items():
        parent = name.rpartition("/")[0]
        while parent:
            if parent in names:
                raise BadName(f"{path} needs /{parent} to be a directory, but it is also one of the files")
            parent = parent.rpartition("/")[0]
    return relative
