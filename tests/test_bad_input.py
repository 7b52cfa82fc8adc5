"""The bad-input corpus (tests/data/bad-input, :mod:`tests.corpus`): every case's command in a
subprocess under a 1 GiB address-space limit and a timeout, all started together at the start of
the session, each test judging one case: the documented exit code, no traceback, the message,
nothing of the canary in the output, and nothing created or changed outside the intended output.

Marked ``badinput``: ``tox -e badinput`` runs these and the default ``py`` environment does not.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.canary import run_cli
from tests.conftest import tmpfs_directory
from tests.corpus import (
    CANARY_TEXT,
    Case,
    CaseError,
    Result,
    Workspace,
    case_names,
    check_case_file,
    load_case,
    run_all,
)
from tests.corpus import Bases as CorpusBases

pytestmark = pytest.mark.badinput

CLASSES = ("paths", "reader", "yaml", "paste", "apply", "exit-codes", "locks", "corrupt", "arguments")
ENTRIES = ("scenario", "description", "hexdump", "root", "cli", "journal", "apply", "rom", "domain")


def _make_root(scenario: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    outcome = run_cli("fakesys", "render", scenario, str(path))
    assert outcome.code == 0, outcome.stderr


def _make_plan(root: Path, devices: tuple[str, ...], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arguments = [part for device in devices for part in ("--device", device)]
    outcome = run_cli("generate", "all", "--root", str(root), *arguments, "--out", str(path))
    assert outcome.code == 0, outcome.stderr


def _selected(session: pytest.Session) -> list[str]:
    return [
        str(item.callspec.params["name"])
        for item in session.items
        if isinstance(item, pytest.Function) and item.originalname == "test_case" and hasattr(item, "callspec")
    ]


class CorpusResults:
    """Each case's result. Without pytest-xdist every selected case is run up front, several at a
    time; in an xdist worker (which cannot see what the other workers run) each case is run when
    its test asks for it, and xdist spreads the cases."""

    def __init__(self, directory: Path, names: list[str], workers: int) -> None:
        self.directory = directory / "cases"
        self.bases = CorpusBases(directory / "bases", _make_root, _make_plan)
        self.results = {
            result.case.name: result for result in run_all(_loadable(names), self.directory, self.bases, workers)
        }

    def __getitem__(self, name: str) -> Result:
        if name not in self.results:
            for result in run_all([load_case(name)], self.directory, self.bases, 1):
                self.results[name] = result
        return self.results[name]


def _loadable(names: list[str]) -> list[Case]:
    cases = []
    for name in names:
        # A malformed case is reported by its own test.
        with contextlib.suppress(Exception):
            cases.append(load_case(name))
    return cases


@pytest.fixture(scope="session")
def corpus_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusResults]:
    """The cases' results (one command per CPU, plus one, at a time)."""
    in_xdist_worker = hasattr(request.config, "workerinput")
    names = [] if in_xdist_worker else _selected(request.session)
    workers = len(os.sched_getaffinity(0)) + 1
    with tmpfs_directory(tmp_path_factory.mktemp("bad-input"), prefix="vfiolab-bad-input-") as directory:
        yield CorpusResults(directory, names, workers)


def _shown(result: Result) -> str:
    return f"\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


@pytest.mark.parametrize("name", case_names())
def test_case(name: str, corpus_results: CorpusResults, request: pytest.FixtureRequest) -> None:
    try:
        case = check_case_file(name)
    except CaseError as error:
        pytest.fail(f"malformed case: {error}", pytrace=False)
    if "known_bug" in case.spec:
        request.node.add_marker(pytest.mark.xfail(reason=case.spec["known_bug"], strict=True))
    result = corpus_results[name]
    if result.error:
        pytest.fail(f"the case could not be prepared: {result.error}", pytrace=False)
    timeout = case.spec.get("timeout", 30)
    assert result.code is not None, f"still running after {timeout} s: killed{_shown(result)}"
    both = result.stdout + result.stderr
    assert "Traceback" not in both, _shown(result)
    assert result.code == case.spec["exit"], f"exit {result.code}, expected {case.spec['exit']}{_shown(result)}"
    space = Workspace(result.top, case)
    stream = result.stdout if case.stream == "stdout" else result.stderr
    for fragment in case.messages:
        assert space.expand(fragment) in stream, f"{fragment!r} not on {case.stream}{_shown(result)}"
    for fragment in [CANARY_TEXT, *case.spec.get("absent", [])]:
        assert space.expand(fragment) not in both, f"{fragment!r} in the output{_shown(result)}"
    if case.one_line:
        assert len(result.stderr.strip().splitlines()) == 1, f"not a one-line error{_shown(result)}"
    assert not result.changed, "written outside the intended output:\n" + "\n".join(result.changed)
    assert not result.case_changed, "the case's own files changed:\n" + "\n".join(result.case_changed)
    assert not result.leftovers, f"left in TMPDIR: {result.leftovers}"


def test_the_corpus_covers_every_class_and_entry_point() -> None:
    names = case_names()
    assert len(names) >= 120
    cases = []
    for name in names:
        try:
            cases.append(load_case(name))
        except Exception as error:
            pytest.fail(f"{name}: {error}", pytrace=False)
    for key, values in (("class", CLASSES), ("entry", ENTRIES)):
        counts = {value: sum(1 for case in cases if case.spec[key] == value) for value in values}
        assert all(counts.values()), (key, counts)
