"""Text that vfiolab prints for a user to paste into a shell or a configuration file: every value
interpolated into a command is one shell word, every value in a comment or a one-line text stays
on that line, and the names from host data that go into commands are checked first.

A captured root, a scenario or a bug report can hold any string where a hostname, a disk's
``/dev/disk/by-id`` name, a VM name or a module name belongs (``$(...)``, quotes, newlines,
terminal escapes). Commands are built with :func:`command` (each word through :func:`quote`,
``shlex.quote`` of the word made printable), so pasting one runs exactly that command; comments
and sentences around them go through :func:`printable`, so a value cannot end the comment line
and start a command of its own. Names that must match a format (a Proxmox node name, a kernel
module name, a udev by-id name) are checked with the ``is_*`` functions, and callers refuse or
leave out what does not match.

Public API::

    quote(value) -> str            one shell word, printable, on one line
    command(*words) -> str         words quoted and joined: a command safe to paste
    printable(text) -> str         control and other non-printable characters as escapes
    comment(text) -> str           "# " + printable(text)
    code(command) -> str           a command set off in running text, as a Markdown code span
    prose(value) -> str            a value in running text: printable, backticks escaped
    is_clean_text(text)            lines of printable text (tabs allowed): safe to print as a file
    is_node_name(text)             a Proxmox node name (pve-common pve_verify_node_name)
    is_hostname(text)              an RFC 1123 host name (labels joined by dots)
    is_vmid(text)                  a Proxmox VM id, 100 to 999999999 (pve_verify_vmid)
    is_disk_id(name)               a /dev/disk/by-id name as udev writes it
    is_module_name(name)           a kernel module name
    node_from_hostname(text)       the node name Proxmox derives from /etc/hostname
"""

from __future__ import annotations

import re
import shlex

#: pve-common src/PVE/JSONSchema.pm pve_verify_node_name: one DNS label (no dots).
_NODE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: pve-common pve_verify_vmid: ``^[1-9][0-9]{2,8}$``, i.e. 100 to 999999999.
_VMID = re.compile(r"[1-9][0-9]{2,8}")
VMID_MIN = 100
VMID_MAX = 999_999_999
#: The characters udev leaves in the names of the links it creates (systemd
#: src/shared/device-nodes.c ``whitelisted_char_for_devnode``: ASCII letters and digits and
#: ``#+-.:=@_``; udev_replace_chars also keeps valid UTF-8 beyond ASCII and turns everything else
#: into ``_``). A by-id name with anything else was not written by udev.
_DISK_ID = re.compile(r"(?:[A-Za-z0-9#+\-.:=@_]|[^\x00-\x7f])+")
#: Module names are C identifiers with ``-`` allowed in file names (MODULE_NAME_LEN is 56).
_MODULE = re.compile(r"[A-Za-z0-9_-]{1,55}")
#: Characters a terminal or a line-oriented reader treats specially even though ``str.isprintable``
#: says nothing about lines: the Unicode line and paragraph separators.
_LINE_BREAKS = {"\u2028", "\u2029", "\x85"}


def printable(text: str) -> str:
    """``text`` with every character that is not printable (newline, carriage return, tab, ESC and
    the other control characters, Unicode separators) written as a Python-style escape (``\\n``,
    ``\\x1b``, ``\\u2028``), so it stays on one line and sends nothing to the terminal."""
    if text.isprintable() and (text.isascii() or not _LINE_BREAKS.intersection(text)):
        return text
    out = []
    for character in text:
        if character.isprintable() and character not in _LINE_BREAKS:
            out.append(character)
        else:
            out.append(repr(character)[1:-1])
    return "".join(out)


def quote(value: str | int) -> str:
    """One shell word for ``value``: ``shlex.quote`` of its printable form. A value that needed
    escapes (it held control characters) no longer names what it named, but it is still one
    harmless word on one line."""
    return shlex.quote(printable(str(value)))


def command(*words: str | int) -> str:
    """A command line whose every word is quoted: pasting it runs exactly ``words``."""
    return " ".join(quote(word) for word in words)


def comment(text: str) -> str:
    """A ``#`` comment line for shell, modprobe.d and the other line-based formats."""
    return "# " + printable(text)


def code(command: str) -> str:
    """``command`` set off in a sentence (a fix text) as a Markdown code span: in single
    backticks, or in double ones with a space inside when the command itself holds a backtick
    (CommonMark, code spans), so the reader sees where it starts and ends."""
    if "`" not in command:
        return f"`{command}`"
    return f"`` {command} ``"


def prose(value: str) -> str:
    """A value from the host inside a sentence that sets commands off in backticks (a fix text):
    printable, and its own backticks escaped (``\\```) so none of it reads as a command."""
    return printable(value).replace("`", "\\`")


def is_clean_text(text: str) -> bool:
    """Whether ``text`` is lines of printable characters (tabs allowed): a host file vfiolab may
    reproduce in its output without carrying control characters to a terminal or a parser."""
    return all(printable(line.replace("\t", " ")) == line.replace("\t", " ") for line in text.split("\n"))


def is_node_name(text: str) -> bool:
    return _NODE_NAME.fullmatch(text) is not None


def is_hostname(text: str) -> bool:
    """RFC 1123 section 2.1: labels of letters, digits and hyphens, not starting or ending with a
    hyphen, at most 63 characters each and 253 in all. Proxmox's ``dns-name`` format (VM names)
    is the same."""
    return len(text) <= 253 and all(is_node_name(label) for label in text.split("."))


def is_vmid(text: str) -> bool:
    return _VMID.fullmatch(text) is not None


def is_disk_id(name: str) -> bool:
    return (
        len(name) <= 255
        and _DISK_ID.fullmatch(name) is not None
        and name not in (".", "..")
        and printable(name) == name
        and not any(character.isspace() for character in name)
    )


def is_module_name(name: str) -> bool:
    return _MODULE.fullmatch(name) is not None


def node_from_hostname(text: str) -> str:
    """The node name Proxmox uses for a host whose ``/etc/hostname`` holds ``text``: the first
    line without its domain part (pve-common src/PVE/INotify.pm ``read_etc_hostname`` and
    ``nodename`` strip everything from the first dot)."""
    first = text.split("\n", 1)[0]
    return first.split(".", 1)[0]
