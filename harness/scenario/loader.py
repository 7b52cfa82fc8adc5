"""Finding and loading scenario files.

A scenario is named by its file stem (``terramaster-f4-424-pro``) or given as a path. Names are
looked up in the directories of ``$VFIOLAB_SCENARIOS`` (colon separated), then ``./scenarios``,
then the scenarios shipped inside the package.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fakesys.errors import SourceError
from fakesys.host.loader import load_host
from fakesys.host.model import Host
from fakesys.source import Document, load_yaml, validate
from harness.pci.address import Bdf

DEFAULT_SCENARIO = "terramaster-f4-424-pro"
#: Step keys whose value names a device, and where in the value the address is.
_DEVICE_STEPS = {"bind": "device", "unbind": None, "driver_override": "device", "reset": None, "reset_method": "device"}


@cache
def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a whole scenario file (the host part has its own schema)."""
    text = resources.files("harness.scenario").joinpath("scenario.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass
class Scenario:
    name: str
    path: Path
    host: Host
    description: str = ""
    tags: list[str] = field(default_factory=list)
    document: Document | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    expect: dict[str, Any] = field(default_factory=dict)

    def line(self, *at: str | int) -> int:
        return self.document.line(at) if self.document is not None else 0


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
    checkout = Path(__file__).resolve().parent.parent.parent / "scenarios"
    if checkout.is_dir() and checkout not in dirs:
        dirs.append(checkout)
    return dirs


def list_scenarios() -> dict[str, Path]:
    """Every scenario name reachable; the first directory holding a name wins."""
    found: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def find_scenario(name_or_path: str) -> Path:
    """The file for a scenario name or path; a clear error when there is none."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if candidate.is_file():
            return candidate
        raise SourceError(name_or_path, 0, "no such scenario file")
    known = list_scenarios()
    if name_or_path in known:
        return known[name_or_path]
    names = ", ".join(sorted(known)) or "(none found)"
    raise SourceError(name_or_path, 0, f"no scenario of that name; known scenarios: {names}")


def _resolve_base(name: str, extending_file: str) -> tuple[Document, tuple[str, ...]]:
    """The scenario document a host ``extends:``: a sibling of the extending file first, then
    the scenario directories."""
    sibling = Path(extending_file).parent / f"{name}.yaml"
    return load_yaml(sibling if sibling.is_file() else find_scenario(name)), ("host",)


def load_scenario(name_or_path: str) -> Scenario:
    path = find_scenario(name_or_path)
    doc = load_yaml(path)
    data: Any = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "expected a scenario (a mapping with host:)")
    validate(doc, scenario_schema())
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
    known = {spec.bdf for spec in host.functions}
    for index, step in enumerate(steps):
        [(action, value)] = step.items()
        if action not in _DEVICE_STEPS:
            continue
        field_name = _DEVICE_STEPS[action]
        text = value[field_name] if field_name else value
        if Bdf.parse(text) not in known:
            raise doc.error(
                ("steps", index, action),
                f"steps[{index}].{action}: no device {text} in the host; its devices are "
                + ", ".join(str(bdf) for bdf in sorted(known)),
            )
    return Scenario(name, path, host, description.strip(), list(tags), doc, steps, dict(data.get("expect", {})))
