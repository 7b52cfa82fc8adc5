"""Documents already known to satisfy their JSON Schema, by digest: a packaged scenario is not
validated again on every run.

Validating with jsonschema costs more than the rest of loading a scenario (importing it alone
takes 0.1 to 0.3 s). The scenarios shipped in the package cannot change without the package
changing, and the test suite validates every one of them, so :data:`RECORD_FILE` (package data,
checked in) lists the digest of each (schema, document) pair that validation accepted;
``python -m harness.scenario.validity`` writes it and ``tests/test_validity_record.py`` fails
when it is not exactly what validating the packaged files gives.

A digest (:func:`digest`) covers the full text of every schema involved and the document's exact
data (``repr`` of plain YAML data tells ``1``, ``"1"``, ``1.0`` and ``true`` apart and keeps key
order), never a file name or a modification time. So an edited file, a file that only resembles
a packaged one, or any document under a changed schema has another digest and is validated as
before, with the same one-line errors. Nothing is written at run time: the record is read-only
package data, and the only other memory is :func:`remember`'s, for the life of the process (a
base scenario that many scenarios extend is validated once per run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hashlib import sha256
else:
    # hashlib loads OpenSSL (5 ms); like the standard library's random module, take the lean
    # built-in module first.
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython 3.12 and later
        except ImportError:
            from hashlib import sha256

#: The record of known-valid digests, in the ``fakesys`` package.
RECORD_FILE = "validated.json"
#: The record's format number; a record of another format is ignored (everything is validated).
RECORD_FORMAT = 1

_validated_here: set[str] = set()
#: Whether :func:`known_valid` consults the shipped record (``python -m
#: harness.scenario.validity`` turns it off to validate everything afresh).
use_record = True


def digest(schemas: Iterable[Mapping[str, Any]], data: Any) -> str:
    """The SHA-256 of every schema validity depends on (the schema and those it refers to),
    then of the document's data."""
    hasher = sha256()
    for schema in schemas:
        hasher.update(json.dumps(schema, sort_keys=True, ensure_ascii=True).encode("ascii"))
        hasher.update(b"\0")
    hasher.update(b"\1")
    hasher.update(repr(data).encode("utf-8", "surrogatepass"))
    return hasher.hexdigest()


@cache
def recorded() -> frozenset[str]:
    """The digests in the shipped record (none when it is missing or of another format)."""
    try:
        text = resources.files("fakesys").joinpath(RECORD_FILE).read_text(encoding="utf-8")
        record = json.loads(text)
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return frozenset()
    digests = record.get("digests")
    if not isinstance(digests, list):
        return frozenset()
    return frozenset(item for item in digests if isinstance(item, str))


def known_valid(key: str) -> bool:
    """Whether the document of digest ``key`` was validated already (shipped, or in this process)."""
    return key in _validated_here or (use_record and key in recorded())


def remember(key: str) -> None:
    """Note that validation accepted the document of digest ``key``."""
    _validated_here.add(key)


def validated_in_this_process() -> frozenset[str]:
    return frozenset(_validated_here)


def forget() -> None:
    """Forget what this process validated (the record writer starts from nothing)."""
    _validated_here.clear()


def record_text(digests: Iterable[str]) -> str:
    """The record file's text: sorted digests, one per line (a change is a one-line diff)."""
    lines = ",\n".join(f'  "{item}"' for item in sorted(set(digests)))
    return (
        '{"format": 1,\n'
        ' "about": "digests of packaged documents that passed JSON Schema validation; '
        'written by python -m harness.scenario.validity",\n'
        f' "digests": [\n{lines}\n]}}\n'
    )
