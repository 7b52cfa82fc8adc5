"""The validators generated ahead of time (harness.scenario.schemacode): current with their schema
files, and of the same verdict as jsonschema on every document we have and on mutations of valid
ones."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakesys.errors import SourceError
from fakesys.host import host_validator
from fakesys.host.loader import host_schema
from fakesys.source import load_yaml
from harness.scenario import scenario_validator, schemacode
from harness.scenario.schema import _validator as scenario_jsonschema

REPO = Path(__file__).resolve().parent.parent
Verdict = Callable[[Any], bool]


def _fast(validate: Callable[[Any], Any]) -> Verdict:
    def accepts(data: Any) -> bool:
        try:
            validate(data)
        except Exception:
            return False
        return True

    return accepts


ENGINES: dict[str, tuple[Verdict, Verdict]] = {
    "scenario": (_fast(scenario_validator.validate), scenario_jsonschema().is_valid),
    "host": (_fast(host_validator.validate), jsonschema.Draft202012Validator(host_schema()).is_valid),
}


def _documents() -> Iterator[tuple[str, Any]]:
    """Every YAML document in the package and the tests (scenarios, hosts, devices, the
    bad-input corpus), and each one's ``host:`` part; those that do not parse are left out."""
    paths = sorted(
        path
        for top in ("harness", "fakesys", "tests")
        for path in (REPO / top).rglob("*.yaml")
        if "__pycache__" not in path.parts
    )
    for path in paths:
        try:
            data = load_yaml(path).data
        except SourceError:
            continue
        name = str(path.relative_to(REPO))
        yield name, data
        if isinstance(data, dict) and "host" in data:
            yield f"{name} host:", data["host"]


DOCUMENTS = list(_documents())


def test_the_generated_modules_are_what_the_schemas_give() -> None:
    assert schemacode.main(["--check"]) == 0, "run python -m harness.scenario.schemacode"


def test_the_corpus_has_valid_and_invalid_documents_of_each_kind() -> None:
    # The agreement below means something only when both verdicts occur.
    for kind, (_, slow) in ENGINES.items():
        verdicts = {slow(data) for _, data in DOCUMENTS}
        assert verdicts == {True, False}, kind


@pytest.mark.parametrize("kind", sorted(ENGINES))
def test_both_engines_agree_on_every_document(kind: str) -> None:
    fast, slow = ENGINES[kind]
    disagree = [name for name, data in DOCUMENTS if fast(data) != slow(data)]
    assert not disagree, disagree[:10]


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 1.0, 0.5, -1, 255, 256, 65536, True, False]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "0000:03:00.0",
            "03:00.0",
            "03:00.0\n",
            "0000:03:00.0\n",
            "3:0.0",
            "/sys/bus/pci",
            "/sys/../x",
            "pass",
            "fail\n",
            "6.1",
            "6.1\n",
            "D3cold",
            "intel",
            "vfio-pci",
            "ok",
            "x" * 70,
        ]
    ),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(data: Any) -> Iterator[Any]:
    """``data`` and every value inside it."""
    yield data
    if isinstance(data, dict):
        for value in data.values():
            yield from _containers(value)
    elif isinstance(data, list):
        for value in data:
            yield from _containers(value)


VALID = {
    kind: [(name, data) for name, data in DOCUMENTS if slow(data) and isinstance(data, dict)]
    for kind, (_, slow) in ENGINES.items()
}


@st.composite
def _mutated(draw: st.DrawFn, kind: str) -> Any:
    """A valid document with one to three changes: a value replaced, a key or item removed, a
    key (often one the schema knows, under another parent) added."""
    _, original = draw(st.sampled_from(VALID[kind]))
    document = copy.deepcopy(original)
    known_keys = sorted({key for node in _containers(original) if isinstance(node, dict) for key in node}, key=str)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = list(_containers(document))
        node = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if isinstance(node, dict) and node and action in ("replace", "remove"):
            key = draw(st.sampled_from(sorted(node, key=str)))
            if action == "remove":
                del node[key]
            else:
                node[key] = draw(_VALUES)
        elif isinstance(node, list) and node and action in ("replace", "remove"):
            index = draw(st.integers(min_value=0, max_value=len(node) - 1))
            if action == "remove":
                del node[index]
            else:
                node[index] = draw(_VALUES)
        elif isinstance(node, dict):
            node[draw(st.one_of(st.sampled_from(known_keys), st.text(max_size=6)))] = draw(_VALUES)
        elif isinstance(node, list):
            node.append(draw(_VALUES))
    return document


@pytest.mark.parametrize("kind", sorted(ENGINES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_both_engines_agree_on_mutations_of_valid_documents(kind: str, data: st.DataObject) -> None:
    document = data.draw(_mutated(kind))
    fast, slow = ENGINES[kind]
    assert fast(document) == slow(document)


def test_a_dollar_in_a_pattern_keeps_its_python_meaning() -> None:
    # jsonschema searches with Python's re, whose $ also matches before a final newline.
    schema = schemacode.prepared({"type": "string", "pattern": "^(a|b$)$"})
    assert schema["pattern"] == f"^(a|b{schemacode.PYTHON_DOLLAR}){schemacode.PYTHON_DOLLAR}"
    for text in ("a", "a\n", "b", "b\n", "a\n\n", "ab", "\\$"):
        assert bool(jsonschema.Draft202012Validator({"pattern": "^(a|b$)$"}).is_valid(text)) == bool(
            jsonschema.Draft202012Validator(schema).is_valid(text)
        ), text


def test_const_becomes_a_one_value_enum_and_annotations_are_left_out() -> None:
    prepared = schemacode.prepared({"const": True, "description": "d", "x-expected": "e", "title": "t"})
    assert prepared == {"enum": [True]}


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"if": {"type": "string"}}, "keyword 'if'"),
        ({"properties": {"a": {"format": "date"}}}, "#/properties/a/format"),
        ({"items": [{"type": "string"}]}, "prefixItems"),
        ({"$ref": "#/$defs/a", "type": "string"}, "$ref beside other keywords"),
    ],
)
def test_a_keyword_the_generated_code_could_read_otherwise_is_refused(schema: dict[str, Any], complaint: str) -> None:
    with pytest.raises(schemacode.SchemaNotSupported, match=complaint.replace("$", r"\$").replace("[", r"\[")):
        schemacode.prepared(schema)


def test_the_generated_validators_import_neither_jsonschema_nor_fastjsonschema() -> None:
    code = (
        "import sys; import harness.scenario.scenario_validator, fakesys.host.host_validator; "
        "print(sorted(name for name in sys.modules "
        "if name.split('.')[0] in ('jsonschema', 'referencing', 'fastjsonschema')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def _copy_of_a_shipped_scenario(directory: Path, name: str = "copied") -> Path:
    """A shipped scenario under another name: data the validity record does not vouch for."""
    text = (REPO / "scenarios" / "slow-ready-after-bus-reset.yaml").read_text(encoding="utf-8")
    path = directory / f"{name}.yaml"
    path.write_text(text.replace("name: slow-ready-after-bus-reset", f"name: {name}", 1), encoding="utf-8")
    return path


def test_a_valid_scenario_outside_the_record_loads_without_importing_jsonschema(tmp_path: Path) -> None:
    path = _copy_of_a_shipped_scenario(tmp_path)
    code = (
        "import sys; from harness.scenario.loader import load_scenario; "
        f"load_scenario({str(path)!r}); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('jsonschema', 'referencing')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_what_the_generated_code_rejects_jsonschema_decides_and_explains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakesys import validity
    from harness.scenario.loader import forget_parsed_files, load_scenario

    valid = _copy_of_a_shipped_scenario(tmp_path)
    invalid = _copy_of_a_shipped_scenario(tmp_path, "broken")
    invalid.write_text(invalid.read_text(encoding="utf-8").replace("tags:", "tagz:", 1), encoding="utf-8")

    def messages() -> str:
        validity.forget()
        forget_parsed_files()
        load_scenario(str(valid))  # accepted
        with pytest.raises(SourceError) as raised:
            load_scenario(str(invalid))
        return str(raised.value)

    with_generated_code = messages()

    def rejects_everything(data: Any) -> Any:
        raise scenario_validator.JsonSchemaValueException("rejected")

    monkeypatch.setattr(scenario_validator, "validate", rejects_everything)
    assert messages() == with_generated_code
    assert "unknown key 'tagz'; did you mean 'tags'?" in with_generated_code
