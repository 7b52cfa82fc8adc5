"""YAML documents that are not scenarios (lab plans) read through the project's one bounded YAML
loader and checked against their JSON Schema, for harness packages that may not import fakesys.

Every problem is an :class:`~harness.errors.InputError` (exit 65) naming the file and line, or
:class:`~harness.errors.NoInputError` (exit 66) when the file cannot be read at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakesys.errors import SourceError
from fakesys.source import Document, load_yaml, validate
from harness.errors import InputError, NoInputError


@dataclass
class CheckedDocument:
    """Parsed, schema-checked data with the line of each path in it (for later messages)."""

    data: Any
    path: str
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def error(self, at: Sequence[str | int], message: str) -> InputError:
        """A one-line error at ``at`` (or its nearest ancestor that has a line)."""
        document = Document(self.data, self.path, self.lines)
        return InputError(str(document.error(at, message)))


def load_checked_yaml(path: Path | str, schema: Mapping[str, Any]) -> CheckedDocument:
    """Read ``path`` (bounded: size, depth, node count, no aliases bombs), then validate it."""
    try:
        document = load_yaml(path)
    except SourceError as error:
        if error.line == 0 and not Path(path).is_file():
            raise NoInputError(str(error)) from None
        raise InputError(str(error)) from None
    try:
        validate(document, schema)
    except SourceError as error:
        raise InputError(str(error)) from None
    return CheckedDocument(document.data, document.path, dict(document.lines))
