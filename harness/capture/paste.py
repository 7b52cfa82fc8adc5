"""Undo what mail clients, forums and terminals do to pasted command output.

A pasted report arrives quoted (``> `` at any depth), with CRLF line ends, leading timestamps,
Markdown fences, quoted-printable soft breaks, mail headers and prose around it, and with error
messages of lspci/pcilib spliced into its lines. :func:`clean_lines` turns it into
:class:`PasteLine` records that keep the original line numbers; whether a line is a device title,
a hex row or a tree row is decided by :func:`classify`. Wrapped lines are re-joined later, by the
parser that knows lspci's field names (``harness.capture.lspci_text``).

The input is untrusted: its size and line count are capped, every pattern here is linear (no
nested quantifiers), and nothing recurses on the input's structure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from harness.errors import PasteError

MAX_PASTE_CHARS = 16 * 1024 * 1024
MAX_PASTE_LINES = 400_000
#: A physical line longer than this is cut (lspci's own lines stay far below it).
MAX_LINE_CHARS = 4096

_QUOTE = re.compile(r"^[ \t]{0,8}>(?=[ \t>]|$)[ \t]?")
_TIMESTAMPS = (
    re.compile(r"^\[ {0,12}\d{1,10}\.\d{1,9}\] ?"),  # dmesg
    re.compile(r"^\[\d{2}:\d{2}(?::\d{2})?\] ?"),  # [12:34:56]
    re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})? "),
)
_FENCE = re.compile(r"^\s{0,3}(?:```|~~~)")
_QP_HEADER = re.compile(r"^content-transfer-encoding:\s*quoted-printable\s*$", re.IGNORECASE)
_QP_ESCAPE = re.compile(r"=([0-9A-F]{2})")
#: Messages lspci and libpci print to stderr, which land inside stdout lines in a paste.
_STDERR = re.compile(r"(?:lspci|pcilib|setpci): (?=[A-Za-z])")

_TITLE = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{4,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[01][0-9a-fA-F])\.(?P<fn>[0-7])"
    r"(?P<path>(?:/(?:[0-9a-fA-F]{2}:)?[0-9a-fA-F]{2}\.[0-7]){0,32}) (?P<rest>\S.*)$"
)
#: After the address: "Class name: ...", "Class name [0106]: ..." or "0106: 1b21:0612" (-n).
_TITLE_REST = re.compile(r"^(?:[^:\[\]]{1,80}(?: \[[0-9a-fA-F]{4}\])?|[0-9a-fA-F]{4}): \S")
_HEX_ROW = re.compile(r"^(?P<offset>[0-9a-fA-F]{2,3}):(?P<bytes>(?: [0-9a-fA-F]{2}){1,16}) ?$")
#: A hex row an error message cut short (its bytes go on on the next line).
_HEX_ROW_START = re.compile(r"^[0-9a-fA-F]{2,3}:(?: [0-9a-fA-F]{2}){1,15}$")
_HEX_TAIL = re.compile(r"^(?:[0-9a-fA-F]{2} ?){1,15}$")
_TREE = re.compile(r"^(?:[ |]{0,400}[+\\]-|-\[|[+\\]-\[)")
#: A command line as a terminal shows it: a prompt (``$``, ``#``, ``user@host:~$``) or nothing,
#: then ``lspci`` and its options.
_COMMAND = re.compile(r"^(?:\S{0,64}[#$%] ?)?(?:sudo\s+)?lspci(?P<args>(?:\s+-\S+|\s+[0-9a-fA-F:.]+){0,20})\s*$")


class Kind(Enum):
    BLANK = "blank"
    TITLE = "title"
    HEX = "hex"
    TREE = "tree"
    COMMAND = "command"
    TEXT = "text"


@dataclass
class PasteLine:
    """One line after cleaning. ``indent`` counts leading columns (a tab is 8); ``spliced``
    marks a line from which an error message was cut: the next line continues it directly."""

    number: int
    text: str
    indent: int = 0
    spliced: bool = False
    kind: Kind = Kind.TEXT

    @property
    def stripped(self) -> str:
        return self.text.strip()


def _indent_width(text: str) -> int:
    width = 0
    for char in text:
        if char == "\t":
            width += 8 - width % 8
        elif char == " ":
            width += 1
        else:
            break
    return width


def unquote(text: str) -> str:
    """``text`` without mail quoting (``> ``, ``>> `` ... at any depth up to 64)."""
    for _ in range(64):
        match = _QUOTE.match(text)
        if match is None:
            return text
        text = text[match.end() :]
    return text


def _strip_timestamp(text: str) -> str:
    for pattern in _TIMESTAMPS:
        match = pattern.match(text)
        if match is not None:
            return text[match.end() :]
    return text


def _is_quoted_printable(lines: list[str]) -> bool:
    return any(_QP_HEADER.match(unquote(line).strip()) for line in lines[:400])


def _decode_quoted_printable(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join soft line breaks (a trailing ``=``) and decode ``=XX`` escapes, keeping the number of
    the first physical line of each joined line."""
    decoded: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in lines:
        if pending is not None:
            number, text = pending[0], pending[1] + text
            pending = None
        if text.endswith("=") and len(text) < MAX_LINE_CHARS:
            pending = (number, text[:-1])
            continue
        decoded.append((number, _QP_ESCAPE.sub(lambda match: chr(int(match[1], 16)), text)))
    if pending is not None:
        decoded.append(pending)
    return decoded


def split_lines(text: str, source: str) -> list[tuple[int, str]]:
    """The paste's physical lines with their numbers; too large an input is refused."""
    if len(text) > MAX_PASTE_CHARS:
        raise PasteError(source, 1, f"the paste has {len(text)} characters; at most {MAX_PASTE_CHARS} are read")
    raw = text.split("\n")
    if len(raw) > MAX_PASTE_LINES:
        raise PasteError(source, MAX_PASTE_LINES + 1, f"the paste has more than {MAX_PASTE_LINES} lines")
    return [(number, line) for number, line in enumerate(raw, start=1)]


#: Control characters other than tab become spaces.
_CONTROL_TO_SPACE = {code: " " for code in range(0x20) if code != ord("\t")}


def clean_lines(text: str, source: str = "<paste>") -> list[PasteLine]:
    """Every line of ``text`` with quoting, timestamps, fences, CR and stderr noise removed."""
    # Mail clients indent with no-break spaces (Thunderbird's format=flowed): they are spaces.
    text = text.lstrip("\ufeff").replace("\x00", "").replace("\u00a0", " ")
    numbered = split_lines(text, source)
    if _is_quoted_printable([line for _, line in numbered]):
        numbered = _decode_quoted_printable(numbered)
    cleaned: list[PasteLine] = []
    for number, raw_line in numbered:
        line = raw_line.rstrip("\r\n")[:MAX_LINE_CHARS]
        line = line.translate(_CONTROL_TO_SPACE).rstrip()
        line = _strip_timestamp(unquote(line))
        line = unquote(line).rstrip()
        if _FENCE.match(line):
            line = ""
        spliced = False
        error = _STDERR.search(line)
        if error is not None:
            if not line[: error.start()].strip():
                continue  # an error line of its own: it is not part of any output
            line, spliced = line[: error.start()], True
        record = PasteLine(number, line, _indent_width(line), spliced)
        record.kind = classify(record)
        cleaned.append(record)
    return _join_hex_tails(cleaned)


def _join_hex_tails(lines: list[PasteLine]) -> list[PasteLine]:
    """A hex row an error message cut in two continues on the next line without an offset."""
    joined: list[PasteLine] = []
    for line in lines:
        previous = joined[-1] if joined else None
        if previous is not None and previous.kind is Kind.HEX and previous.spliced and _HEX_TAIL.match(line.stripped):
            previous.text = previous.text.rstrip() + " " + line.stripped
            previous.spliced = False
            continue
        joined.append(line)
    return joined


def classify(line: PasteLine) -> Kind:
    text = line.text
    stripped = text.strip()
    if not stripped:
        return Kind.BLANK
    if line.indent == 0 and title_match(text) is not None:
        return Kind.TITLE
    if _HEX_ROW.match(stripped) or (line.spliced and _HEX_ROW_START.match(stripped)):
        return Kind.HEX
    if _TREE.match(text) and ("." in text or "[" in text):
        return Kind.TREE
    if "lspci" in stripped and _COMMAND.search(stripped):
        return Kind.COMMAND
    return Kind.TEXT


def title_match(text: str) -> re.Match[str] | None:
    match = _TITLE.match(text)
    if match is None or _TITLE_REST.match(match["rest"]) is None:
        return None
    return match


def hex_row(text: str) -> tuple[int, list[int]] | None:
    """``(offset, bytes)`` of a hex row, or None."""
    match = _HEX_ROW.match(text.strip())
    if match is None:
        return None
    return int(match["offset"], 16), [int(item, 16) for item in match["bytes"].split()]


def command_args(text: str) -> str | None:
    match = _COMMAND.search(text.strip())
    return None if match is None else match["args"].strip()
