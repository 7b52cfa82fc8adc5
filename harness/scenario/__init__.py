"""Scenario files: a host, what happens to it, and what must come out (harness.scenario).

This package owns the whole scenario file; the ``host:`` part is fakesys's format and is
loaded through :mod:`fakesys.host`. A file that does not load raises :class:`ScenarioError`
(the simulated machine's input error, with file and line). :func:`use_device_dirs` adds the
``--device-dir`` directories to the device search path (:mod:`fakesys.hw.library`); the importer
(``vfiolab scenario import``) lives in :mod:`harness.scenario.importer`.
"""

from __future__ import annotations

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
