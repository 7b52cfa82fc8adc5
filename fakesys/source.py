"""YAML documents that remember where each value came from, read within fixed bounds.

Every data file vfiolab reads (device descriptions, hosts, scenarios) is loaded through
:func:`load_yaml` or :func:`parse_yaml`. They keep the line of every mapping key and list item, so
that an error can say ``file:line: what was expected``; JSON Schema validation errors are turned
into such one-line messages by :func:`validate`.

Data files come from other people, so parsing is bounded (the limits are module constants and
every violation is a :class:`~fakesys.errors.SourceError` naming file and line):

- a document is at most :data:`MAX_DOCUMENT_BYTES` long, nested at most :data:`MAX_DEPTH` deep
  and holds at most :data:`MAX_NODES` values (scalars, lists and mappings);
- an alias (``*name``) counts as every value and level its anchor (``&name``) holds, so the
  few hundred bytes that expand into gigabytes elsewhere stop at the value limit here (the
  repeated value is shared, as PyYAML shares it, not copied);
- only plain data is built: strings, integers, finite floats, booleans, null, lists and mappings
  with scalar keys, each key once; any other tag (``!!python/...``, ``!!binary``, ``!!set``,
  local ``!tags``) is an error, as are ``.inf`` and ``.nan``;
- YAML 1.1's base-60 numbers, timestamps and ``=`` are not resolved: ``03:00.0`` (a PCI
  address), ``2024-01-31`` and ``=`` stay strings.

Parsing uses libyaml's C parser when PyYAML was built with it and PyYAML's pure-Python parser
otherwise (:data:`LOADERS`, :data:`DEFAULT_LOADER`). Both feed the same event-driven builder in
this module (never PyYAML's recursive composer and constructor), so both give the same data and
the same lines, and the limits hold whichever parser runs.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml
import yaml.events as ev
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from fakesys import validity
from fakesys.errors import SourceError, UnreadableFileError

if TYPE_CHECKING:
    # Imported where a document is validated: jsonschema is a large import that reading YAML
    # does not need.
    import jsonschema

JsonPath = tuple[str | int, ...]

#: Largest document read, in bytes (the largest shipped file is about 12 KiB; a host with
#: thousands of functions stays well below).
MAX_DOCUMENT_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings (shipped files nest at most 8 deep).
MAX_DEPTH = 32
#: Most values in one document (shipped files hold at most about 600).
MAX_NODES = 200_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_NON_SPECIFIC = (None, "!")
#: Characters YAML does not allow in a stream (both parsers refuse them; checked here first so
#: that the error names the line the same way whichever parser runs).
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Resolver(Resolver):
    """YAML 1.1's implicit types without base-60 numbers, timestamps, merge keys and ``=``.

    YAML 1.1 reads ``03:00.0`` as the base-60 float 180.0; PCI addresses, times and MACs are
    written like that all the time, so such scalars stay strings. Hex (``0x1b21``), octal,
    binary (``0b0111``) and decimal numbers still load as integers.
    """


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag in (_BOOL, _NULL)]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Resolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _EventSource(Protocol):
    """What both parsers offer: a stream of YAML events."""

    def get_event(self) -> Any: ...

    def dispose(self) -> None: ...


class _PythonParser(Reader, Scanner, Parser):
    """PyYAML's pure-Python reader, scanner and parser, without its composer and constructor."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)

    def dispose(self) -> None:
        self.states = []
        self.state = None


def _libyaml_parser() -> Callable[[str], _EventSource] | None:
    try:
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml
        return None
    parser: Callable[[str], _EventSource] = CParser
    return parser


#: The parsers available here, by name; ``libyaml`` is missing when PyYAML lacks it.
LOADERS: dict[str, Callable[[str], _EventSource]] = {"python": _PythonParser}
_LIBYAML = _libyaml_parser()
if _LIBYAML is not None:
    LOADERS["libyaml"] = _LIBYAML
#: The parser :func:`parse_yaml` uses: libyaml's when there is one.
DEFAULT_LOADER = "libyaml" if "libyaml" in LOADERS else "python"


@dataclass
class Document:
    """Parsed YAML data plus the line (1-based) of each path within it."""

    data: Any
    path: str
    lines: dict[JsonPath, int] = field(default_factory=dict)

    def line(self, at: Sequence[str | int]) -> int:
        """The line of ``at`` or of its nearest ancestor that has one."""
        key = tuple(at)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def error(self, at: Sequence[str | int], message: str) -> SourceError:
        return SourceError(self.path, self.line(at), message)

    def sub(self, prefix: Sequence[str | int]) -> Document:
        """The document below ``prefix``, keeping file and lines."""
        data: Any = self.data
        for part in prefix:
            data = data[part]
        size = len(prefix)
        lines = {key[size:]: line for key, line in self.lines.items() if key[:size] == tuple(prefix)}
        return Document(data, self.path, lines)


_RESOLVER = _Resolver()
_resolve: Callable[[type[ScalarNode], str, tuple[bool, bool]], str] = _RESOLVER.resolve
_CONSTRUCTOR = SafeConstructor()
_SCALAR_KINDS = {_STR: "a string", _INT: "an integer", _FLOAT: "a number", _BOOL: "true or false", _NULL: "null"}


def _tag(tag: str) -> str:
    """A tag as it is usually written (``!!binary``, not ``tag:yaml.org,2002:binary``)."""
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Builder:
    """Plain data and its line map from a stream of parser events, built without recursion."""

    def __init__(self, source: _EventSource, path: str, last_line: int) -> None:
        self.source = source
        self.path = path
        self.lines: dict[JsonPath, int] = {}
        self.nodes = 0
        # libyaml puts the end of a stream that lacks a final newline (and an empty node there)
        # on a line of its own; PyYAML's parser does not: both are on the text's last line.
        self.last_line = last_line

    def line_of(self, event: Any) -> int:
        line: int = event.start_mark.line + 1
        return line if line < self.last_line else self.last_line

    def fail(self, event: Any, message: str) -> SourceError:
        return SourceError(self.path, self.line_of(event), message)

    def build(self) -> Any:
        next_event = self.source.get_event
        next_event()  # StreamStartEvent
        event = next_event()
        if isinstance(event, ev.StreamEndEvent):
            return None
        data = self.document(next_event)
        event = next_event()
        if not isinstance(event, ev.StreamEndEvent):
            raise self.fail(event, "more than one YAML document (a second '---'); a file holds one")
        return data

    def scalar(self, event: Any) -> Any:
        tag = event.tag
        if tag == "!":
            # The non-specific tag '!' makes a scalar a string (YAML 1.1, 1.2).
            tag = _STR
        elif tag is None:
            tag = _resolve(ScalarNode, event.value, event.implicit)
        if tag == _STR:
            return event.value
        if tag not in _SCALAR_KINDS:
            raise self.fail(
                event,
                f"tag {_tag(event.tag)} is not allowed here (plain data only: strings, numbers, true/false, null)",
            )
        node = ScalarNode(tag, event.value)
        try:
            if tag == _NULL:
                return None
            if tag == _BOOL:
                return _CONSTRUCTOR.bool_values[event.value.lower()]
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(node)
            value = _CONSTRUCTOR.construct_yaml_float(node)
        except (ValueError, KeyError, OverflowError, TypeError):
            raise self.fail(event, f"{_shown(event.value)} is not {_SCALAR_KINDS[tag]}") from None
        if not math.isfinite(value):
            raise self.fail(event, f"{_shown(event.value)}: numbers must be finite (no .inf or .nan)")
        return value

    def document(self, next_event: Callable[[], Any]) -> Any:
        """The values of one document, up to its DocumentEndEvent.

        An alias stands for the value its anchor built (shared, as PyYAML shares it); it counts
        as every value it repeats towards :data:`MAX_NODES` and as every level it holds towards
        :data:`MAX_DEPTH`, so repeating cannot grow past the limits. Its line is the alias's."""
        lines = self.lines
        # Each open collection: [the list or dict, its path, the pending key of a mapping,
        # its anchor, the value count before it, its height in levels].
        stack: list[list[Any]] = []
        root: list[Any] = []
        # Anchor name -> (value, values it holds, height in levels; 0 for a scalar).
        anchors: dict[str, tuple[Any, int, int]] = {}
        open_anchors: set[str] = set()
        while True:
            event = next_event()
            kind = type(event)
            if kind is ev.DocumentEndEvent:
                return root[0] if root else None
            if kind is ev.SequenceEndEvent or kind is ev.MappingEndEvent:
                frame = stack.pop()
                if frame[3] is not None:
                    anchors[frame[3]] = (frame[0], self.nodes - frame[4], frame[5])
                    open_anchors.discard(frame[3])
                if stack:
                    stack[-1][5] = max(stack[-1][5], frame[5] + 1)
                continue
            height = 0
            if kind is ev.AliasEvent:
                name = event.anchor
                if name in open_anchors:
                    raise self.fail(event, f"alias *{name} refers to the list or mapping it is inside of")
                if name not in anchors:
                    raise self.fail(event, f"alias *{name} has no anchor &{name} before it")
                value, size, height = anchors[name]
                if len(stack) + height > MAX_DEPTH:
                    raise self.fail(event, f"alias *{name} nests the document more than {MAX_DEPTH} levels deep")
                self.nodes += size
            else:
                self.nodes += 1
            if self.nodes > MAX_NODES:
                raise self.fail(event, f"more than {MAX_NODES} values in one document (counting what aliases repeat)")
            line = self.line_of(event)
            if kind is ev.AliasEvent:
                pass
            elif kind is ev.ScalarEvent:
                value = self.scalar(event)
                if event.anchor is not None:
                    anchors[event.anchor] = (value, 1, 0)
            elif kind is ev.SequenceStartEvent:
                if event.tag not in _NON_SPECIFIC and event.tag != _SEQ:
                    raise self.fail(event, f"tag {_tag(event.tag)} is not allowed here (plain lists only)")
                value = []
            else:
                if event.tag not in _NON_SPECIFIC and event.tag != _MAP:
                    raise self.fail(event, f"tag {_tag(event.tag)} is not allowed here (plain mappings only)")
                value = {}
            opens = kind is ev.SequenceStartEvent or kind is ev.MappingStartEvent
            if not stack:
                at: JsonPath = ()
                lines[at] = line
                root.append(value)
            else:
                parent = stack[-1]
                container = parent[0]
                if isinstance(container, list):
                    at = parent[1] + (len(container),)
                    lines[at] = line
                    container.append(value)
                elif parent[2] is _NO_KEY:
                    if opens or isinstance(value, (list, dict)):
                        raise self.fail(event, "a mapping key must be a name or a number, not a list or mapping")
                    if isinstance(value, bool) or not isinstance(value, (str, int)):
                        # yes:, null: and 1.5: as keys are the names written, not values.
                        value = event.value if kind is ev.ScalarEvent else str(value)
                    at = parent[1] + (value,)
                    if value in container:
                        raise self.fail(event, f"key {_shown(str(value))} appears twice (first at line {lines[at]})")
                    lines[at] = line
                    parent[2] = value
                    continue
                else:
                    key = parent[2]
                    at = parent[1] + (key,)
                    container[key] = value
                    parent[2] = _NO_KEY
                parent[5] = max(parent[5], height + 1)
            if opens:
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(event, f"nested more than {MAX_DEPTH} levels deep")
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                stack.append([value, at, _NO_KEY, event.anchor, self.nodes - 1, 1])


_NO_KEY = object()


def _line_of(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    line = text.count("\n", 0, position) + 1
    return line, position - (text.rfind("\n", 0, position) + 1) + 1


def parse_yaml(text: str, path: str, loader: str | None = None) -> Document:
    """Parse ``text`` within the limits; any problem is a :class:`SourceError` with the line.

    ``loader`` picks the parser (a key of :data:`LOADERS`); the default is :data:`DEFAULT_LOADER`.
    """
    if len(text) > MAX_DOCUMENT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise SourceError(path, 0, f"larger than {MAX_DOCUMENT_BYTES} bytes; not read")
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, column = _line_of(text, bad.start())
        raise SourceError(
            path, line, f"not valid YAML: character {ord(bad.group()):#06x} is not allowed (column {column})"
        )
    chosen = loader or DEFAULT_LOADER
    try:
        return _build(text, path, chosen)
    except yaml.YAMLError as error:
        if chosen == "python":
            raise _syntax_error(error, text, path) from None
    # A syntax error (rare): the pure-Python parser reports it, so that what is wrong and where
    # does not depend on which parser is installed (the two word their errors differently and
    # disagree on a few corner cases).
    try:
        return _build(text, path, "python")
    except yaml.YAMLError as error:
        raise _syntax_error(error, text, path) from None


def _build(text: str, path: str, loader: str) -> Document:
    source = LOADERS[loader](text)
    builder = _Builder(source, path, text.count("\n") + 1)
    try:
        data = builder.build()
    finally:
        source.dispose()
    return Document(data, path, builder.lines)


def _syntax_error(error: yaml.YAMLError, text: str, path: str) -> SourceError:
    if not isinstance(error, yaml.MarkedYAMLError):
        return SourceError(path, 1, f"not valid YAML: {error}")
    mark = error.problem_mark or error.context_mark
    line = min(mark.line + 1, text.count("\n") + 1) if mark is not None else 1  # as _Builder.line_of
    where = f" (column {mark.column + 1})" if mark is not None else ""
    return SourceError(path, line, f"not valid YAML: {error.problem or error}{where}")


def read_up_to(fd: int, count: int) -> bytes:
    """At most ``count`` bytes from ``fd``, however the reads come back (a file that grows
    while it is read is still cut at ``count``)."""
    chunks: list[bytes] = []
    size = 0
    while size < count:
        chunk = os.read(fd, count - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_file(path: Path | str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else (a missing file, a
    directory, a FIFO, a device, a larger file) is an :class:`UnreadableFileError` naming the file. A
    FIFO is not waited on and ``/dev/zero`` is not read."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UnreadableFileError(name, 0, "no such file") from None
    except OSError as error:
        raise UnreadableFileError(name, 0, f"cannot read: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFileError(name, 0, "not a regular file; not read")
        if info.st_size > limit:
            raise UnreadableFileError(name, 0, f"larger than {limit} bytes; not read")
        data = read_up_to(fd, limit + 1)
    except OSError as error:
        raise UnreadableFileError(name, 0, f"cannot read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnreadableFileError(name, 0, f"larger than {limit} bytes; not read")
    return data


def read_text_file(path: Path | str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """:func:`read_file` decoded as UTF-8; bytes that are not UTF-8 are a :class:`SourceError`
    with the line they are on."""
    data = read_file(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SourceError(str(path), line, f"not UTF-8 text (byte {error.start})") from None


def load_yaml(path: Path | str, loader: str | None = None) -> Document:
    """Read (:func:`read_text_file`) and parse (:func:`parse_yaml`) a YAML file."""
    return parse_yaml(read_text_file(path), str(path), loader)


def format_path(at: Iterable[str | int]) -> str:
    """``host.pci[2].device``: where in a document, as a message names it."""
    text = ""
    for part in at:
        # Keys holding dots, colons or slashes (PCI addresses, paths) are bracketed to stay readable.
        if isinstance(part, int) or any(mark in str(part) for mark in "./:"):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    where = format_path(error.absolute_path)
    expected = schema.get("x-expected")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        names = ", ".join(repr(name) for name in unknown)
        return f"{where}: unknown key {names}; allowed here: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    got = _shown(error.instance)
    if expected:
        return f"{where}: expected {expected}, got {got}"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {got}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        options = ", ".join(str(option) for option in error.validator_value)
        return f"{where}: expected one of {options}, got {got}"
    return f"{where}: {error.message}"


def _best(errors: Iterable[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    import jsonschema

    best: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(errors)
    return best


def validate(document: Document, schema: Mapping[str, Any], prefix: JsonPath = ()) -> None:
    """Validate against a JSON Schema; the first error becomes a one-line SourceError.

    A document of a digest validated before (:mod:`fakesys.validity`: a packaged file, or one
    validated earlier in this process) is not validated again."""
    key = validity.digest((schema,), document.data)
    if validity.known_valid(key):
        return
    if _fast_accepts(document.data, schema):
        validity.remember(key)
        return
    # Rejected (or no generated validator): jsonschema decides and explains.
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = _best(validator.iter_errors(document.data))
    if error is None:
        validity.remember(key)
        return
    # Errors inside oneOf/anyOf are clearer from the most specific branch.
    while error.context:
        deeper = _best(error.context)
        if deeper is None:
            break
        error = deeper
    at = prefix + tuple(error.absolute_path)
    raise SourceError(document.path, document.line(tuple(error.absolute_path)), _explain_at(error, at))


def _fast_accepts(data: Any, schema: Mapping[str, Any]) -> bool:
    """Whether a validator generated ahead of time from ``schema``'s file accepts ``data``
    (only the host schema has one: :mod:`fakesys.host.host_validator`, written by
    ``python -m harness.scenario.schemacode`` from ``host.schema.json``)."""
    from fakesys.host import host_validator

    if schema.get("$id") != host_validator.SCHEMA_ID:
        return False
    try:
        host_validator.validate(data)
    except Exception:
        # A rejection, or data the generated code did not expect: jsonschema has the last word.
        return False
    return True


def _explain_at(error: jsonschema.ValidationError, at: JsonPath) -> str:
    message = _explain(error)
    local = format_path(error.absolute_path)
    if message.startswith(local):
        return format_path(at) + message[len(local) :]
    return message
