"""Finding and loading scenario files into :class:`Scenario`: schema (via
:mod:`harness.scenario.schema`), the host with its ``extends:`` chain (fakesys's host loader), and
the references a schema cannot check (every PCI address a step or expectation names must be a
device of the host). Every problem is one line with file and line.

A scenario is named by its file stem (``terramaster-f4-424-pro``) or given as a path on the
command line. Names are looked up in the directories of ``$VFIOLAB_SCENARIOS`` (colon separated),
then ``./scenarios``, then the scenarios shipped inside the package. A name written in a file (a
host's ``extends:``) is only ever a name (:func:`fakesys.names.library_name`): it is looked up
beside the extending file, then in those directories, never opened as a path. A scenario's own
name (its file stem) follows the same rule, since it names directories (``--keep DIR/NAME``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fakesys import names
from fakesys.errors import SourceError, UnreadableFileError
from fakesys.host.loader import WHERE, host_data, load_host
from fakesys.host.model import Host
from fakesys.source import Document, JsonPath, load_yaml
from harness.codes import is_code, suggest
from harness.pci.address import Bdf
from harness.scenario.schema import describe_path, validate_scenario

DEFAULT_SCENARIO = "terramaster-f4-424-pro"
#: Step keys whose value names a device, and where in the value the address is.
_DEVICE_STEPS = {"bind": "device", "unbind": None, "driver_override": "device", "reset": None, "reset_method": "device"}
#: The expectation layers in the order the runner checks them; the guest's need a live run
#: (harness.live, with the scenario's ``guest:`` part).
LAYERS = ("kernel_log", "userspace", "sysfs", "checker", "generator", "guest_dmesg", "guest_sysfs")
LIVE_LAYERS = ("guest_dmesg", "guest_sysfs")


@dataclass
class Scenario:
    """A loaded scenario file: its host (``extends:`` resolved), steps and expectations, plus
    the parsed document so that every expectation can name its line."""

    name: str
    path: Path
    host: Host
    description: str = ""
    tags: list[str] = field(default_factory=list)
    document: Document | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)
    # The public bug report reproduced, with its outcome as stated (scenario.schema.json "report").
    report: dict[str, Any] = field(default_factory=dict)

    def line(self, *at: str | int) -> int:
        return self.document.line(at) if self.document is not None else 0

    @property
    def kernel_profile(self) -> str:
        return self.host.kernel.profile

    @property
    def layers(self) -> list[str]:
        """The expectation layers this scenario has, in checking order."""
        return [layer for layer in LAYERS if layer in self.expect]

    @property
    def live(self) -> bool:
        """Whether the scenario has a guest (a live run): a ``guest:`` part or guest expectations."""
        return self.guest is not None or any(layer in self.expect for layer in LIVE_LAYERS)

    @property
    def guest(self) -> dict[str, Any] | None:
        """The ``guest:`` part as written (harness.live reads it), or None."""
        data = self.document.data if self.document is not None else None
        guest = data.get("guest") if isinstance(data, dict) else None
        return guest if isinstance(guest, dict) else None

    def resolved_host(self) -> dict[str, Any]:
        """The host as plain data with its ``extends:`` chain merged (what ``scenario show``
        prints)."""
        if self.document is None:
            raise ValueError(f"scenario {self.name} was not loaded from a file")
        resolved: dict[str, Any] = _plain(host_data(self.document, ("host",), _resolve_base))
        return resolved


def scenario_dirs() -> list[Path]:
    dirs: list[Path] = []
    for entry in os.environ.get("VFIOLAB_SCENARIOS", "").split(os.pathsep):
        if entry:
            dirs.append(Path(entry))
    dirs.append(Path.cwd() / "scenarios")
    bundled = resources.files("harness") / "_scenarios"
    if bundled.is_dir():
        dirs.append(Path(str(bundled)))
    # A source checkout (editable install): the scenarios/ directory beside the package.
    checkout = _checkout_scenarios()
    if checkout.is_dir() and checkout not in dirs:
        dirs.append(checkout)
    return dirs


def _checkout_scenarios() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "scenarios"


def packaged_scenario_dir() -> Path:
    """The scenarios shipped with vfiolab: inside the installed package, or the source
    checkout's ``scenarios/`` under an editable install."""
    bundled = resources.files("harness") / "_scenarios"
    return Path(str(bundled)) if bundled.is_dir() else _checkout_scenarios()


def list_scenarios() -> dict[str, Path]:
    """Every scenario name reachable; the first directory holding a name wins. Files whose stem
    is not a valid scenario name are not listed."""
    found: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                if names.LIBRARY_NAME.fullmatch(path.stem):
                    found.setdefault(path.stem, path)
    return found


def find_scenario_by_name(name: str) -> Path:
    """The file of scenario ``name`` (a name, never a path) in the scenario directories."""
    try:
        names.library_name(name, "scenario name")
    except names.BadName as problem:
        raise SourceError(name, 0, str(problem)) from None
    known = list_scenarios()
    if name in known:
        return known[name]
    listed = ", ".join(sorted(known)) or "(none found)"
    raise SourceError(name, 0, f"no scenario of that name; known scenarios: {listed}")


def find_scenario(name_or_path: str) -> Path:
    """The file for a scenario name or a path typed on the command line; a clear error when
    there is none."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise UnreadableFileError(name_or_path, 0, "not a regular file; not read")
        raise UnreadableFileError(name_or_path, 0, "no such scenario file")
    return find_scenario_by_name(name_or_path)


@dataclass(frozen=True)
class _FileState:
    path: str
    mtime_ns: int
    size: int


_parsed: dict[_FileState, Document] = {}


def forget_parsed_files() -> None:
    """Drop the parsed-file cache (benchmarks measure a cold run with it)."""
    _parsed.clear()


def _document(path: Path) -> Document:
    """The parsed YAML of ``path``, parsed once per version of the file. A base scenario is
    parsed again for every scenario that extends it otherwise, and parsing dominates loading.
    Callers get their own copy: loaded hosts may share structure with the document."""
    try:
        stat = path.stat()
    except OSError:
        return load_yaml(path)  # load_yaml words the error
    state = _FileState(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if state not in _parsed:
        _parsed[state] = load_yaml(path)
    return copy.deepcopy(_parsed[state])


def _resolve_base(name: str, extending_file: str) -> tuple[Document, tuple[str, ...]]:
    """The scenario document a host ``extends:`` (a name, checked by the host loader): a
    sibling of the extending file first, then the scenario directories."""
    sibling = Path(extending_file).parent / f"{names.library_name(name, 'extends: name')}.yaml"
    return _document(sibling if sibling.is_file() else find_scenario_by_name(name)), ("host",)


def _plain(value: Any) -> Any:
    """Host data without the loader's source annotations."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != WHERE}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def load_scenario(name_or_path: str) -> Scenario:
    """Load and check a scenario file; every problem is a one-line :class:`SourceError` with
    file, line and what to write instead."""
    path = find_scenario(name_or_path)
    doc = _document(path)
    data: Any = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "expected a scenario (a mapping with host:)")
    validate_scenario(doc)
    try:
        names.library_name(path.stem, "scenario name")
    except names.BadName as problem:
        raise doc.error((), f"the file name gives the scenario name: {problem}") from None
    name = data.get("name", path.stem)
    if not isinstance(name, str) or name != path.stem:
        raise doc.error(("name",), f"name must match the file name {path.stem!r}, got {name!r}")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise doc.error(("tags",), "expected a list of strings")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise doc.error(("description",), "expected a string")
    host = load_host(doc, ("host",), _resolve_base)
    steps = list(data.get("steps", []))
    expect = dict(data.get("expect", {}))
    known = {spec.bdf for spec in host.functions}
    for at, text in _device_references(steps, expect):
        if Bdf.parse(text) not in known:
            raise doc.error(
                at,
                f"{describe_path(at)}: no device {text} in the host; its devices are "
                + ", ".join(str(bdf) for bdf in sorted(known)),
            )
    _check_step_drivers(doc, steps)
    _check_generator_expectations(doc, expect.get("generator", []))
    _check_finding_codes(doc, expect.get("checker", {}))
    report = dict(data.get("report", {}))
    for index, text in enumerate(report.get("devices", [])):
        if Bdf.parse(text) not in known:
            raise doc.error(("report", "devices", index), f"no device {text} in the host")
    return Scenario(name, path, host, description.strip(), list(tags), doc, steps, expect, report)


def _device_references(steps: list[dict[str, Any]], expect: dict[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    """Every PCI address the steps and expectations name, with where it is written."""
    for index, step in enumerate(steps):
        [(action, value)] = step.items()
        if action in _DEVICE_STEPS:
            field_name = _DEVICE_STEPS[action]
            yield ("steps", index, action), value[field_name] if field_name else value
    checker = expect.get("checker", {})
    for address in checker.get("devices", {}):
        yield ("expect", "checker", "devices", address), address
    for number, group in checker.get("groups", {}).items():
        for index, address in enumerate(group.get("devices", [])):
            yield ("expect", "checker", "groups", number, "devices", index), address
    for entry_index, entry in enumerate(expect.get("generator", [])):
        for index, address in enumerate(entry["devices"]):
            yield ("expect", "generator", entry_index, "devices", index), address


def _check_step_drivers(doc: Document, steps: list[dict[str, Any]]) -> None:
    """Driver names in steps follow the same rule as the host's (:func:`fakesys.names.driver_name`)."""
    for index, step in enumerate(steps):
        [(action, value)] = step.items()
        if action in ("bind", "driver_override") and isinstance(value.get("driver"), str) and value["driver"]:
            at = ("steps", index, action, "driver")
            try:
                names.driver_name(value["driver"])
            except names.BadName as problem:
                raise doc.error(at, f"{describe_path(at)}: {problem}") from None


def _finding_code_references(checker: dict[str, Any]) -> Iterator[tuple[JsonPath, str]]:
    """Every finding code the checker expectations name, with where it is written."""
    base: JsonPath = ("expect", "checker")
    for key in ("findings", "absent"):
        for index, code in enumerate(checker.get("host", {}).get(key, [])):
            yield (*base, "host", key, index), code
    for address, wanted in checker.get("devices", {}).items():
        for key in ("findings", "absent"):
            for index, code in enumerate(wanted.get(key, [])):
                yield (*base, "devices", address, key, index), code


def _check_finding_codes(doc: Document, checker: dict[str, Any]) -> None:
    """A code no check emits would be "absent" forever: refuse it, naming the closest real one
    (harness/codes.py is the registry)."""
    for at, code in _finding_code_references(checker):
        if not is_code(code):
            hint = suggest(code)
            raise doc.error(
                at,
                f"{describe_path(at)}: no check emits {code!r}"
                + (f"; did you mean {hint!r}?" if hint else "; vfiolab check --list-codes lists them"),
            )


def _check_generator_expectations(doc: Document, entries: list[dict[str, Any]]) -> None:
    for index, entry in enumerate(entries):
        if "reasons" in entry and not entry.get("refused", False):
            at = ("expect", "generator", index, "reasons")
            raise doc.error(at, f"{describe_path(at)}: reasons are only checked with refused: true; add it")
