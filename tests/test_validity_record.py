"""The record of packaged documents known to be valid (fakesys/validated.json): exactly what
validating every packaged scenario gives, consulted only for identical data under identical
schemas, so that a changed file is validated (with its usual one-line error) and a packaged
scenario loads without jsonschema."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fakesys import validity
from harness.scenario import ScenarioError, load_scenario
from harness.scenario.loader import packaged_scenario_dir
from harness.scenario.validity import main as record_main
from harness.scenario.validity import validated_digests
from tests.test_startup_imports import loaded_after

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}


def test_the_shipped_record_is_what_validating_the_packaged_scenarios_gives() -> None:
    fresh = validated_digests()
    assert fresh == validity.recorded(), "run python -m harness.scenario.validity and commit fakesys/validated.json"
    # Every packaged scenario (each has its own name), and the hosts and bases they hold.
    assert len(fresh) > len(list(packaged_scenario_dir().glob("*.yaml")))
    assert record_main(["--check"]) == 0


def test_the_digest_tells_types_order_and_schemas_apart() -> None:
    values = [{"a": 1}, {"a": "1"}, {"a": 1.0}, {"a": True}, {"a": None}, {"a": [1]}, {1: 1}, {"a": 1, "b": 2}]
    assert len({validity.digest((SCHEMA,), value) for value in values}) == len(values)
    assert validity.digest((SCHEMA,), {"a": 1, "b": 2}) != validity.digest((SCHEMA,), {"b": 2, "a": 1})
    other = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert validity.digest((SCHEMA,), {"a": 1}) != validity.digest((other,), {"a": 1})
    assert validity.digest((SCHEMA,), {"a": 1}) != validity.digest((SCHEMA, other), {"a": 1})


def test_a_packaged_scenario_loads_without_jsonschema() -> None:
    modules = loaded_after(
        "from harness.scenario import load_scenario\n"
        "from fakesys.host.model import Host\n"
        "assert isinstance(load_scenario('terramaster-f4-424-pro').host, Host)"
    )
    assert "harness.scenario.loader" in modules
    assert sorted(modules.intersection({"jsonschema", "referencing"})) == []


def test_an_edited_copy_of_a_packaged_scenario_is_validated(tmp_path: Path) -> None:
    packaged = packaged_scenario_dir() / "terramaster-f4-424-pro.yaml"
    text = packaged.read_text(encoding="utf-8")
    assert "\nsteps:" not in text
    copy = tmp_path / "terramaster-f4-424-pro.yaml"
    shutil.copyfile(packaged, copy)
    assert load_scenario(str(copy)).name == "terramaster-f4-424-pro"  # the same data: known valid
    lines = text.splitlines()
    copy.write_text(text + "stepz:\n  - wait: 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(str(copy))
    assert str(raised.value).startswith(f"{copy}:{len(lines) + 1}: stepz: unknown key 'stepz'; did you mean 'steps'?")


def test_an_edited_host_is_validated(tmp_path: Path) -> None:
    packaged = packaged_scenario_dir() / "terramaster-f4-424-pro.yaml"
    text = packaged.read_text(encoding="utf-8")
    assert "\nhost:\n" in text
    copy = tmp_path / "terramaster-f4-424-pro.yaml"
    copy.write_text(text.replace("\nhost:\n", "\nhost:\n  colour: blue\n", 1), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"unknown key 'colour'"):
        load_scenario(str(copy))


def test_a_document_validated_once_is_not_validated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from fakesys.errors import SourceError
    from fakesys.source import Document, validate

    data = {"a": 7, "note": "test_a_document_validated_once"}
    key = validity.digest((SCHEMA,), data)
    assert not validity.known_valid(key)
    validate(Document(data, "f.yaml"), SCHEMA)
    assert validity.known_valid(key)
    with pytest.raises(SourceError, match="expected integer"):
        validate(Document({"a": "7"}, "f.yaml"), SCHEMA)
    # The record is consulted only when switched on (the record writer switches it off).
    monkeypatch.setattr(validity, "use_record", False)
    recorded = next(iter(validity.recorded()))
    assert not validity.known_valid(recorded)
