"""Scenario files: a host, what happens to it, and what must come out (harness.scenario).

This package owns the whole scenario file; the ``host:`` part is fakesys's format and is
loaded through :mod:`fakesys.host`.
"""

from __future__ import annotations

from harness.scenario.loader import Scenario, find_scenario, list_scenarios, load_scenario, scenario_dirs

__all__ = ["Scenario", "find_scenario", "list_scenarios", "load_scenario", "scenario_dirs"]
