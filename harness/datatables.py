"""Compile the YAML tables under ``harness/data`` into the JSON the checker loads, and check them.

The sources, edited by hand and reviewed in diffs:

* ``harness/data/quirks/``: the kernel's PCI quirk tables (``trees.yaml``, ``functions.yaml``,
  ``changes.yaml`` and one file of entries per kind);
* ``harness/data/known-devices.yaml``: devices known to break, with the quirks that address them.

The outputs, ``harness/data/quirks.json`` and ``harness/data/known-devices.json``, are what
:mod:`harness.quirks` and :mod:`harness.known_devices` load at run time: libyaml's C parser needs
about 0.4 s for the quirk tables, ``json`` about a hundredth of that, and ``vfiolab check`` loads
them on every run. Compiling validates each document against its JSON Schema and cross-checks
what a schema cannot (ids that match their fields, references between files, evidence for every
version fact, a public source for every problem)::

    python -m harness.datatables           rewrite the JSON from the YAML
    python -m harness.datatables --check   exit 1 when the shipped JSON is not what the YAML gives

``tests/test_quirk_tables.py`` runs the check, so the two never drift apart.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness.known_devices import PROBLEM_KINDS
from harness.quirks import KINDS, QuirkTables

DATA = Path(__file__).resolve().parent / "data"
QUIRKS_DIR = DATA / "quirks"
QUIRKS_SCHEMA = QUIRKS_DIR / "quirks.schema.json"
QUIRKS_JSON = DATA / "quirks.json"
KNOWN_SOURCE = DATA / "known-devices.yaml"
KNOWN_SCHEMA = DATA / "known-devices.schema.json"
KNOWN_JSON = DATA / "known-devices.json"

#: A source a reader can follow: a URL, a kernel source file, or a commit id.
PUBLIC_SOURCE = re.compile(r"https?://\S|\b(?:drivers|arch|include)/[\w/.-]+\.[ch]\b|\bcommit [0-9a-f]{12}")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TableError(ValueError):
    """A table that does not hold together (the message names the file and the entry)."""


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)


def _validate(document: Any, schema_path: Path, what: str) -> None:
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda error: error.path)
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path)
        raise TableError(f"{what}: at {where or 'top level'}: {first.message}")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


# --- Quirk tables -----------------------------------------------------------------------------


def quirk_document() -> dict[str, Any]:
    """The quirk tables as one document, from the YAML sources, checked."""
    entries = []
    for kind in KINDS:
        path = QUIRKS_DIR / f"{kind}.yaml"
        for item in _load_yaml(path) or []:
            entries.append((path.name, kind, item))
    document = {
        "format": 1,
        "trees": _load_yaml(QUIRKS_DIR / "trees.yaml"),
        "functions": _load_yaml(QUIRKS_DIR / "functions.yaml"),
        "changes": _load_yaml(QUIRKS_DIR / "changes.yaml"),
        "entries": [item for _, _, item in entries],
    }
    _validate(document, QUIRKS_SCHEMA, "harness/data/quirks")
    _check_quirks(document, entries)
    return document


def _expected_id(item: dict[str, Any]) -> str:
    device = "-".join(item["device_range"]) if "device_range" in item else item["device"]
    parts = [item["function"], item["vendor"], device]
    if "class" in item:
        parts.append(item["class"]["macro"])
    return ":".join(parts)


def _check_quirks(document: dict[str, Any], entries: list[tuple[str, str, dict[str, Any]]]) -> None:
    labels = [tree["label"] for tree in document["trees"]]
    for tree in document["trees"]:
        if tree["version"].split("-")[0] != tree["upstream"] or tree["label"] != f"debian:{tree['version']}":
            raise TableError(f"trees.yaml: {tree['label']}: label, version and upstream disagree")
        date.fromisoformat(tree["date"])
    functions, changes = document["functions"], document["changes"]
    tables = {item["table"] for _, _, item in entries}
    seen: set[str] = set()
    used_changes: set[str] = set()
    for filename, kind, item in entries:
        where = f"quirks/{filename}: {item['id']}"
        if item["id"] in seen:
            raise TableError(f"{where}: the id appears twice")
        seen.add(item["id"])
        if item["id"] != _expected_id(item):
            raise TableError(f"{where}: the id should be {_expected_id(item)} (function:vendor:device[:class])")
        function = functions.get(item["function"])
        if function is None:
            raise TableError(f"{where}: function {item['function']} is not in functions.yaml")
        if function["kind"] != kind:
            raise TableError(f"{where}: {item['function']} is of kind {function['kind']}, not {kind}")
        change = changes.get(item["change"])
        if change is None:
            raise TableError(f"{where}: change {item['change']} is not in changes.yaml")
        used_changes.add(item["change"])
        unknown = [label for label in item["lines"] if label not in labels]
        if unknown:
            raise TableError(f"{where}: lines name trees that trees.yaml does not list: {', '.join(unknown)}")
        if change["never_released"] and item["lines"]:
            raise TableError(f"{where}: its change was never released, yet a tree carries it")
        if not item["lines"] and not change["never_released"]:
            raise TableError(f"{where}: no tree read carries it and its change is not marked never_released")
        if "device_range" in item and item["device_range"][0] > item["device_range"][1]:
            raise TableError(f"{where}: device_range is reversed")
        if (item.get("device_mask") or item.get("match_via")) and item.get("device") != "any":
            raise TableError(f"{where}: device_mask and match_via narrow a PCI_ANY_ID entry only")
        if item.get("match_via") and item["match_via"] not in tables:
            raise TableError(f"{where}: match_via names {item['match_via']}, which no entry's table is")
    for name, change in changes.items():
        if name not in used_changes:
            raise TableError(f"changes.yaml: {name}: no entry names it")
        _check_change(name, change)


def _check_change(name: str, change: dict[str, Any]) -> None:
    where = f"changes.yaml: {name}"
    if change["first_release"] is not None and not change["evidence"]:
        raise TableError(f"{where}: first_release {change['first_release']} needs its evidence")
    if change["never_released"] and change["first_release"] is not None:
        raise TableError(f"{where}: never_released contradicts first_release {change['first_release']}")
    for branch, events in change["backports"].items():
        versions = [_version(event["version"]) for event in events]
        if any(version[:2] != _version(branch) for version in versions):
            raise TableError(f"{where}: backports to {branch} list a release of another branch")
        if versions != sorted(versions):
            raise TableError(f"{where}: backports to {branch} are not in release order")
    if change["not_before"] is not None:
        date.fromisoformat(change["not_before"]["date"])


# --- Known devices ----------------------------------------------------------------------------


def known_document(quirks: QuirkTables) -> dict[str, Any]:
    """known-devices.yaml compiled: every problem's detail and sources filled in, checked."""
    source = _load_yaml(KNOWN_SOURCE) or []
    _validate(source, KNOWN_SCHEMA, "known-devices.yaml")
    devices = []
    seen: set[str] = set()
    for entry in source:
        where = f"known-devices.yaml: {entry['id']}"
        if entry["id"] in seen:
            raise TableError(f"{where}: the id appears twice")
        seen.add(entry["id"])
        vendor, device = (int(part, 16) for part in entry["id"].split(":"))
        problems = []
        for problem in entry["problems"]:
            problems.append(_compile_problem(where, vendor, device, problem, quirks))
        devices.append({"id": entry["id"], "name": entry["name"], "problems": problems})
    document = {"format": 1, "devices": devices}
    _validate(document, KNOWN_SCHEMA, "known-devices.json")
    return document


def _compile_problem(
    where: str, vendor: int, device: int, problem: dict[str, Any], quirks: QuirkTables
) -> dict[str, Any]:
    kind = problem["kind"]
    entries = []
    for name in problem.get("quirks", []):
        entry = quirks.get(name)
        if entry is None:
            raise TableError(f"{where}: {kind}: quirk {name} is not in harness/data/quirks")
        if entry.vendor != vendor or entry.device != device:
            raise TableError(f"{where}: {kind}: quirk {name} names another device")
        if entry.kind not in PROBLEM_KINDS[kind]:
            raise TableError(f"{where}: {kind}: quirk {name} is of kind {entry.kind}, which does not address it")
        entries.append(entry)
    detail = problem.get("detail")
    if detail is None:
        first = entries[0]
        condition = f" Only for {first.function.condition}." if first.function.condition else ""
        detail = f"the kernel's {first.function.name} names it ({first.change.describe()}): {first.function.effect}"
        detail += condition
    sources = list(problem.get("sources", [])) + [entry.cite() for entry in entries]
    private = [text for text in sources if PUBLIC_SOURCE.search(text) is None]
    if private:
        raise TableError(f"{where}: {kind}: a source must be a URL, a kernel file or a commit: {private[0]!r}")
    # Findings write "<detail>. <more>": the detail carries no final full stop of its own.
    compiled: dict[str, Any] = {"kind": kind, "detail": " ".join(detail.split()).rstrip("."), "sources": sources}
    if entries:
        compiled["quirks"] = [entry.id for entry in entries]
    return compiled


# --- Writing ----------------------------------------------------------------------------------


def render(document: dict[str, Any]) -> str:
    """The JSON text as shipped: compact (it parses about twice as fast as indented JSON), with
    one item of each top-level list or mapping per line, so a change to one entry is a one-line
    diff."""

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)

    parts = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            inner = ",\n".join(compact(item) for item in value)
            parts.append(f"{compact(key)}:[\n{inner}\n]")
        elif isinstance(value, dict) and value:
            inner = ",\n".join(f"{compact(name)}:{compact(item)}" for name, item in value.items())
            parts.append(f"{compact(key)}:{{\n{inner}\n}}")
        else:
            parts.append(f"{compact(key)}:{compact(value)}")
    return "{" + ",\n".join(parts) + "}\n"


def compiled() -> dict[Path, str]:
    """Each output file and the text the sources give it."""
    quirks = quirk_document()
    known = known_document(QuirkTables(quirks))
    return {QUIRKS_JSON: render(quirks), KNOWN_JSON: render(known)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.datatables", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare the shipped JSON with the sources")
    args = parser.parse_args(argv)
    try:
        outputs = compiled()
    except (TableError, yaml.YAMLError, OSError, ValueError) as error:
        print(f"harness.datatables: {error}", file=sys.stderr)
        return 1
    stale = [path for path, text in outputs.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"harness.datatables: {path.name} is not what the sources give; run python -m harness.datatables")
        return 1 if stale else 0
    for path in stale:
        path.write_text(outputs[path], encoding="utf-8")
        print(f"wrote {path.relative_to(DATA.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
