"""The scenario file's JSON Schema (``scenario.schema.json``, shipped in the package) and its
validation errors as one line each: file, line, where in the file, what is wrong and the fix.

A document is first checked by the validator generated ahead of time from the same schema files
(:mod:`harness.scenario.schemacode`); only one it rejects is validated by ``jsonschema`` (imported
then), which gives the message, so an error reads exactly as jsonschema explains it.

The ``host:`` part has its own schema and loader in :mod:`fakesys.host`; here it is only required
to be a mapping. Schema entries may carry ``x-expected`` (what to write instead, in words) and
``x-kind: bdf`` (a PCI address, for which the fix spells out the full form of what was written).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from fakesys import validity
from fakesys.errors import SourceError
from fakesys.source import Document, JsonPath

if TYPE_CHECKING:
    # Imported where a validator is built: jsonschema is a large import that only validating needs.
    import jsonschema
    from referencing import Registry

_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string (quote it if it looks like a number)",
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "boolean": "true or false",
    "null": "nothing (null)",
}
#: A PCI address written loosely: unpadded parts, any case; used to suggest the canonical form.
_LOOSE_BDF = re.compile(r"^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})[.:]([0-7])$")


@cache
def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a whole scenario file (the host part has its own schema)."""
    text = resources.files("harness.scenario").joinpath("scenario.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _guest_schema() -> dict[str, Any]:
    """The live guest part's schema (``harness/live/guest.schema.json``), which the scenario
    schema refers to by URI."""
    text = resources.files("harness.live").joinpath("guest.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _registry() -> Registry[Any]:
    """The schemas the scenario schema refers to by URI: the live guest part's, and the scenario
    schema itself, which that one uses."""
    from referencing import Registry, Resource

    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in (scenario_schema(), _guest_schema())
    )


@cache
def _validator() -> jsonschema.Draft202012Validator:
    # Built once: compiling the schema's references costs more than validating a file.
    import jsonschema

    return jsonschema.Draft202012Validator(scenario_schema(), registry=_registry())


@cache
def _step_validator() -> jsonschema.Draft202012Validator:
    import jsonschema

    schema = scenario_schema()
    return jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/step"})


def validate_scenario(document: Document) -> None:
    """Raise a one-line :class:`SourceError` for the most relevant schema violation, if any.

    A document validated before (:mod:`fakesys.validity`: a packaged scenario, or one validated
    earlier in this process) is not validated again: its digest covers both schemas and the data."""
    key = validity.digest((scenario_schema(), _guest_schema()), document.data)
    if validity.known_valid(key):
        return
    if not _fast_accepts(document.data):
        # jsonschema decides (and explains): the generated code only ever says yes sooner.
        _raise_first(document, _validator())
    validity.remember(key)


def _fast_accepts(data: Any) -> bool:
    """Whether the validator generated from the same schema files
    (:mod:`harness.scenario.scenario_validator`, see :mod:`harness.scenario.schemacode`) accepts
    ``data``; it costs a small part of importing jsonschema and validating with it."""
    from harness.scenario import scenario_validator

    try:
        scenario_validator.validate(data)
    except Exception:
        # A rejection, or data the generated code did not expect: jsonschema has the last word.
        return False
    return True


def validate_step(step: Mapping[str, Any], source: str = "<step>") -> None:
    """Check one step given in code (the ``fake_kernel`` fixture) as a scenario file's step."""
    _raise_first(Document(dict(step), source), _step_validator())


def _raise_first(document: Document, validator: jsonschema.Draft202012Validator) -> None:
    errors = list(validator.iter_errors(document.data))
    if not errors:
        return
    error = _most_specific(_best(errors))
    line, message = _explain(document, error)
    # A document built in code (a step from a test) has no lines to point at.
    raise SourceError(document.path, line if document.lines else 0, message)


def describe_path(at: Iterable[str | int]) -> str:
    """``steps[1].reset``, ``expect.checker.devices[0000:03:00.0].verdict``."""
    text = ""
    for part in at:
        # Keys that hold dots or colons (PCI addresses, paths) are bracketed to stay readable.
        if isinstance(part, int) or "." in part or ":" in part or "/" in part:
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(top level)"


def suggest_bdf(text: str) -> str | None:
    """The canonical form of a loosely written PCI address (``3:0.0`` -> ``0000:03:00.0``)."""
    match = _LOOSE_BDF.match(text.strip())
    if match is None:
        return None
    domain, bus, device, function = match.groups()
    if int(device, 16) > 0x1F:
        return None
    return f"{int(domain or '0', 16):04x}:{int(bus, 16):02x}:{int(device, 16):02x}.{function}"


def closest(word: str, choices: Iterable[str]) -> str | None:
    # Imported here: only explaining a mistake needs it.
    import difflib

    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _best(errors: Iterable[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    import jsonschema

    best: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(errors)
    assert best is not None  # called with at least one error
    return best


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _branch_accepts_type(branch: Mapping[str, Any], kind: str) -> bool:
    declared = branch.get("type")
    if declared is None:
        return True
    names = declared if isinstance(declared, list) else [declared]
    return kind in names or (kind == "integer" and "number" in names)


def _most_specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Inside oneOf/anyOf, the error of the branch meant for this kind of value (a mapping
    written with a misspelt key is explained by the mapping branch, not the string one)."""
    while error.context and error.validator in ("oneOf", "anyOf"):
        branches = error.validator_value if isinstance(error.validator_value, list) else []
        kind = _json_type(error.instance)
        fitting = [
            item
            for item in error.context
            if item.relative_schema_path
            and isinstance(item.relative_schema_path[0], int)
            and item.relative_schema_path[0] < len(branches)
            and _branch_accepts_type(branches[item.relative_schema_path[0]], kind)
        ]
        if not fitting:
            return error
        error = _best(fitting)
    return error


def _explain(document: Document, error: jsonschema.ValidationError) -> tuple[int, str]:
    """(line, message) for one schema error."""
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    at: JsonPath = tuple(error.absolute_path)
    expected = schema.get("x-expected")
    if "propertyNames" in error.absolute_schema_path:
        # The key itself is wrong: point at the key's own line.
        key: str | int = error.instance if isinstance(error.instance, (str, int)) else str(error.instance)
        where = describe_path((*at, key))
        fix = _bdf_fix(schema, key)
        return document.line((*at, key)), f"{where}: expected the key to be {expected or error.message}{fix}"
    where = describe_path(at)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted((key for key in error.instance if key not in allowed), key=str)
        first = unknown[0]
        guess = closest(str(first), allowed)
        hint = f"; did you mean {guess!r}?" if guess else ""
        return (
            document.line((*at, first)),
            f"{describe_path((*at, first))}: unknown key {first!r}{hint} (allowed in {where}: {', '.join(allowed)})",
        )
    if error.validator == "required" and isinstance(error.validator_value, list):
        present = error.instance if isinstance(error.instance, Mapping) else {}
        missing = [name for name in error.validator_value if name not in present]
        return document.line(at), f"{where}: missing {', '.join(repr(name) for name in missing)}"
    if error.validator in ("oneOf", "anyOf", "minProperties", "maxProperties") and expected:
        return document.line(at), f"{where}: expected {expected}, got {_shown(error.instance)}"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        options = [str(option) for option in error.validator_value]
        guess = closest(str(error.instance), options)
        hint = f"; did you mean {guess!r}?" if guess else ""
        return document.line(at), f"{where}: expected one of {', '.join(options)}, got {_shown(error.instance)}{hint}"
    if error.validator == "type":
        declared = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        words = " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in declared)
        what = f" ({schema['description']})" if isinstance(schema.get("description"), str) else ""
        return document.line(at), f"{where}: expected {words}{what}, got {_shown(error.instance)}"
    if error.validator == "const":
        return document.line(at), f"{where}: expected {json.dumps(error.validator_value)}, got {_shown(error.instance)}"
    if expected:
        fix = _bdf_fix(schema, error.instance)
        return document.line(at), f"{where}: expected {expected}, got {_shown(error.instance)}{fix}"
    return document.line(at), f"{where}: {error.message}"


def _bdf_fix(schema: Mapping[str, Any], value: object) -> str:
    if schema.get("x-kind") != "bdf" or not isinstance(value, str):
        return ""
    suggestion = suggest_bdf(value)
    return f"; write {suggestion}" if suggestion else ""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
