"""YAML documents that remember where each value came from.

Every data file vfiolab reads (device descriptions, hosts, scenarios) is loaded through
:func:`load_yaml`, which keeps the line of every mapping key and list item, so that an error can
say ``file:line: what was expected``. JSON Schema validation errors are turned into such
one-line messages by :func:`validate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from fakesys.errors import SourceError

JsonPath = tuple[str | int, ...]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1 sexagesimal numbers.

    YAML 1.1 reads ``03:00.0`` as the base-60 float 180.0; PCI addresses, times and MACs are
    written like that all the time, so such scalars stay strings. Hex (``0x1b21``), octal,
    binary (``0b0111``) and decimal numbers still load as integers.
    """


_LineLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


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


def _walk(node: yaml.Node, at: JsonPath, lines: dict[JsonPath, int]) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: str | int = key_node.value
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":int"):
                try:
                    key = int(key_node.value, 0)
                except ValueError:
                    key = key_node.value
            lines[at + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, at + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[at + (index,)] = item.start_mark.line + 1
            _walk(item, at + (index,), lines)


def parse_yaml(text: str, path: str) -> Document:
    """Parse ``text``; syntax errors become a :class:`SourceError` with the line."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = error.problem or str(error)
        raise SourceError(path, line, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise SourceError(path, 1, f"not valid YAML: {error}") from None
    finally:
        loader.dispose()
    lines: dict[JsonPath, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return Document(data, path, lines)


def load_yaml(path: Path | str) -> Document:
    """Read and parse a YAML file."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(name, 0, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(name, 0, f"cannot read: {error}") from None
    return parse_yaml(text, name)


def _format_path(at: Iterable[str | int]) -> str:
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    where = _format_path(error.absolute_path)
    expected = schema.get("x-expected")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        names = ", ".join(repr(name) for name in unknown)
        return f"{where}: unknown key {names}; allowed here: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if expected:
        return f"{where}: expected {expected}, got {error.instance!r}"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {error.instance!r}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        options = ", ".join(str(option) for option in error.validator_value)
        return f"{where}: expected one of {options}, got {error.instance!r}"
    return f"{where}: {error.message}"


def _best(errors: Iterable[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    best: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(errors)
    return best


def validate(document: Document, schema: Mapping[str, Any], prefix: JsonPath = ()) -> None:
    """Validate against a JSON Schema; the first error becomes a one-line SourceError."""
    validator = jsonschema.Draft202012Validator(schema)
    error = _best(validator.iter_errors(document.data))
    if error is None:
        return
    # Errors inside oneOf/anyOf are clearer from the most specific branch.
    while error.context:
        deeper = _best(error.context)
        if deeper is None:
            break
        error = deeper
    at = prefix + tuple(error.absolute_path)
    raise SourceError(document.path, document.line(tuple(error.absolute_path)), _explain_at(error, at))


def _explain_at(error: jsonschema.ValidationError, at: JsonPath) -> str:
    message = _explain(error)
    local = _format_path(error.absolute_path)
    if message.startswith(local):
        return _format_path(at) + message[len(local) :]
    return message
