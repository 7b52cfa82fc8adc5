"""Scenario files: a host, what happens to it, and what must come out (harness.scenario).

This package owns the whole scenario file; the ``host:`` part is fakesys's format and is
loaded through :mod:`fakesys.host`. A file that does not load raises :class:`ScenarioError`
(the simulated machine's input error, with file and line). :func:`use_device_dirs` adds the
``--device-dir`` directories to the device search path (:mod:`fakesys.hw.library`); the importer
(``vfiolab scenario import``) lives in :mod:`harness.scenario.importer`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakesys.errors import FakesysError as ScenarioError
    from fakesys.hw.library import set_device_dirs as use_device_dirs
    from harness.scenario.loader import (
        DEFAULT_SCENARIO,
        Scenario,
        find_scenario,
        list_scenarios,
        load_scenario,
        scenario_dirs,
    )

__all__ = [
    "DEFAULT_SCENARIO",
    "Scenario",
    "ScenarioError",
    "find_scenario",
    "list_scenarios",
    "load_scenario",
    "scenario_dirs",
    "use_device_dirs",
]

#: Where each public name lives, as (module, name there). Resolved on first use (PEP 562), so that
#: importing a submodule (``harness.scenario.documents``, ``.errors``) does not load the device
#: library, the host loader and jsonschema with it.
_LAZY = {
    "DEFAULT_SCENARIO": ("harness.scenario.loader", "DEFAULT_SCENARIO"),
    "Scenario": ("harness.scenario.loader", "Scenario"),
    "ScenarioError": ("fakesys.errors", "FakesysError"),
    "find_scenario": ("harness.scenario.loader", "find_scenario"),
    "list_scenarios": ("harness.scenario.loader", "list_scenarios"),
    "load_scenario": ("harness.scenario.loader", "load_scenario"),
    "scenario_dirs": ("harness.scenario.loader", "scenario_dirs"),
    "use_device_dirs": ("fakesys.hw.library", "set_device_dirs"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
