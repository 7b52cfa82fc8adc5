"""The kernel quirk tables and the known-devices table as shipped: the JSON the checker loads is
what the YAML sources compile to, every quirk entry has the format its id, tree and change
references promise, every known device is found by lookup with a public source, and each
entry's version knowledge agrees with the trees it was read in."""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import pytest

from harness import datatables
from harness.kernels import Flavour, Kernel, Presence, parse_kernel
from harness.known_devices import PROBLEM_KINDS, known_devices, lookup
from harness.quirks import KINDS, QuirkTables, tables


@cache
def shipped_quirks() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(datatables.QUIRKS_JSON.read_text(encoding="utf-8"))
    return document


@cache
def shipped_known() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(datatables.KNOWN_JSON.read_text(encoding="utf-8"))
    return document


def entry_ids() -> list[str]:
    return [item["id"] for item in shipped_quirks()["entries"]]


def device_ids() -> list[str]:
    return [item["id"] for item in shipped_known()["devices"]]


def debian_kernel(package: str) -> Kernel:
    kernel = parse_kernel(package)
    assert kernel.flavour is Flavour.DEBIAN
    return kernel


def test_the_shipped_json_is_what_the_yaml_sources_compile_to() -> None:
    outputs = datatables.compiled()
    for path, text in outputs.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run python -m harness.datatables"
    assert datatables.main(["--check"]) == 0


def test_the_tables_are_large_enough_for_the_issue() -> None:
    assert len(entry_ids()) >= 500
    assert len(device_ids()) >= 60
    kinds = {tables().get(name).kind for name in entry_ids()}  # type: ignore[union-attr]
    assert kinds == set(KINDS)


@pytest.mark.parametrize("entry_id", entry_ids())
def test_each_quirk_entry_has_its_format(entry_id: str) -> None:
    quirks = tables()
    item = next(item for item in shipped_quirks()["entries"] if item["id"] == entry_id)
    assert entry_id == datatables._expected_id(item)
    assert len(item["vendor"]) == 4 and int(item["vendor"], 16) >= 0
    entry = quirks.get(entry_id)
    assert entry is not None
    assert entry.function.name == item["function"] and entry.kind in KINDS
    labels = {tree.label for tree in quirks.trees}
    assert set(entry.lines) <= labels
    for where in entry.lines.values():
        path, _, line = where.rpartition(":")
        assert path.endswith((".c", ".h")) and int(line) > 0
    assert entry.change.never_released or entry.lines, "a released change is carried by some tree read"
    assert datatables.PUBLIC_SOURCE.search(entry.cite()) or entry.change.commit_id is None


@pytest.mark.parametrize("entry_id", entry_ids())
def test_each_entry_is_present_exactly_in_the_trees_that_carry_it(entry_id: str) -> None:
    """Rule 1 of harness.kernels: a Debian kernel whose tree was read answers from that tree."""
    entry = tables().get(entry_id)
    assert entry is not None
    for tree in entry.trees:
        answer = entry.carried_by(debian_kernel(tree.package))
        expected = Presence.PRESENT if tree.label in entry.lines else Presence.ABSENT
        assert answer.presence is expected, (tree.label, answer.reason)


def test_an_entry_matches_its_device_and_no_neighbour() -> None:
    quirks = tables()
    found = quirks.for_device(0x1B21, 0x1164, kinds=("no_bus_reset",))
    assert [entry.id for entry in found] == ["quirk_no_bus_reset:1b21:1164"]
    assert quirks.for_device(0x1B21, 0x1165, kinds=("no_bus_reset",)) == []
    assert quirks.for_device(None, 0x1164) == []


def quirk_sources() -> tuple[dict[str, Any], list[tuple[str, str, dict[str, Any]]]]:
    document = copy.deepcopy(shipped_quirks())
    kind_of = {name: item["kind"] for name, item in document["functions"].items()}
    entries = [(f"{kind_of[item['function']]}.yaml", kind_of[item["function"]], item) for item in document["entries"]]
    return document, entries


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda item, doc: item.update(id=item["id"] + "0"), "the id should be"),
        (lambda item, doc: item["lines"].update({"debian:9.9.9-1": "drivers/pci/quirks.c:1"}), "trees.yaml does not"),
        (lambda item, doc: item.update(change="no-such-change"), "not in changes.yaml"),
        (
            lambda item, doc: item.update(function="quirk_no_flr_typo", id=item["id"].replace("flr", "flr_typo", 1)),
            "not in functions.yaml",
        ),
        (lambda item, doc: item.update(lines={}), "no tree read carries it"),
    ],
)
def test_the_loader_check_refuses_a_malformed_entry(damage: Any, message: str) -> None:
    document, entries = quirk_sources()
    target = next(item for _, kind, item in entries if kind == "no_flr")
    damage(target, document)
    with pytest.raises(datatables.TableError, match=message):
        datatables._check_quirks(document, entries)


def test_the_loader_check_refuses_a_first_release_without_evidence() -> None:
    document, entries = quirk_sources()
    name, change = next((name, item) for name, item in document["changes"].items() if item["first_release"])
    change["evidence"] = []
    with pytest.raises(datatables.TableError, match=f"{name}: first_release"):
        datatables._check_quirks(document, entries)


def test_the_schema_refuses_an_entry_without_its_vendor() -> None:
    document = copy.deepcopy(shipped_quirks())
    del document["entries"][0]["vendor"]
    with pytest.raises(datatables.TableError, match="vendor"):
        datatables._validate(document, datatables.QUIRKS_SCHEMA, "quirks")


@pytest.mark.parametrize("device_id", device_ids())
def test_each_known_device_is_found_with_public_sources_and_its_quirks(device_id: str) -> None:
    vendor, device = (int(part, 16) for part in device_id.split(":"))
    known = lookup(vendor, device)
    assert known is not None and known.id_text == device_id and known.name
    assert known.problems
    for problem in known.problems:
        assert problem.kind in PROBLEM_KINDS and problem.detail
        assert problem.sources and all(datatables.PUBLIC_SOURCE.search(text) for text in problem.sources)
        for entry in problem.quirks():
            assert (entry.vendor, entry.device) == (vendor, device)
            assert entry.kind in PROBLEM_KINDS[problem.kind]
        assert len(problem.quirks()) == len(problem.quirk_ids)


def test_known_devices_cover_reset_flr_d3_alias_and_acs() -> None:
    kinds = {problem.kind for known in known_devices().values() for problem in known.problems}
    assert {
        "link_dead_after_bus_reset",
        "flr_breaks_device",
        "not_ready_after_flr",
        "d3_breaks_device",
        "dma_alias",
        "acs_by_quirk",
    } <= kinds


def test_a_problem_whose_quirk_names_another_device_is_refused() -> None:
    quirks = QuirkTables(shipped_quirks())
    problem = {"kind": "flr_breaks_device", "quirks": ["quirk_no_flr:1022:1487"]}
    with pytest.raises(datatables.TableError, match="names another device"):
        datatables._compile_problem("known-devices.yaml: 1022:148c", 0x1022, 0x148C, problem, quirks)


def test_a_problem_without_a_public_source_is_refused() -> None:
    quirks = QuirkTables(shipped_quirks())
    problem = {"kind": "link_dead_after_bus_reset", "detail": "dies", "sources": ["a forum post I remember"]}
    with pytest.raises(datatables.TableError, match="a source must be"):
        datatables._compile_problem("known-devices.yaml: 1b21:0612", 0x1B21, 0x0612, problem, quirks)


def test_lookup_indexes_every_device_line_of_the_shipped_json() -> None:
    """known_devices parses only the lines it is asked for: the line layout must hold every entry."""
    assert sorted(known.id_text for known in known_devices().values()) == sorted(device_ids())
