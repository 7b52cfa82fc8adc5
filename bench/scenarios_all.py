"""Benchmark: every shipped scenario through the scenario runner, wall time per scenario and total.

Each scenario is loaded (its file and any ``extends:`` base parsed and checked) and run
(boot, steps, every expectation layer, the root rendered for the checker and generator), as
``vfiolab scenario run`` does. The first pass runs in a fresh process state and pays one-off
costs (imports, schema compilation) in its first scenario; later passes start from a cleared
file cache, so each pass parses every file once, like one ``vfiolab scenario run``. Printed:
the first pass, and per scenario the median of the later passes. Target: under 50 ms per
non-live scenario on a 2-core machine.

Those in-process figures keep the interpreter, its imports and compiled schemas warm. What a
user waits for is the cold command: the last table runs ``vfiolab scenario run NAME`` as a new
process per run (median, min and max of PASSES runs), so imports and start-up are counted.

    .venv/bin/python bench/scenarios_all.py [PASSES]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

TARGET_MS = 50.0


def one_pass() -> dict[str, tuple[float, float, bool, bool]]:
    """(load ms, run ms, passed, live) per scenario, in listing order."""
    from harness.scenario.loader import forget_parsed_files, list_scenarios, load_scenario
    from harness.scenario.runner import run_scenario

    forget_parsed_files()
    figures: dict[str, tuple[float, float, bool, bool]] = {}
    for name, path in list_scenarios().items():
        began = time.perf_counter()
        scenario = load_scenario(str(path))
        loaded = time.perf_counter()
        result = run_scenario(scenario, keep_failed=False)
        done = time.perf_counter()
        figures[name] = ((loaded - began) * 1000, (done - loaded) * 1000, result.passed, scenario.live)
    return figures


def main() -> int:
    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    began = time.perf_counter()
    first = one_pass()
    first_total = (time.perf_counter() - began) * 1000
    later: list[dict[str, tuple[float, float, bool, bool]]] = []
    totals: list[float] = []
    for _ in range(max(passes - 1, 1)):
        began = time.perf_counter()
        later.append(one_pass())
        totals.append((time.perf_counter() - began) * 1000)
    print(f"{len(first)} scenarios, {passes} passes, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'scenario':40s} {'first pass':>11s} {'load':>8s} {'run':>8s} {'total':>8s}  (median of later passes, ms)")
    over: list[str] = []
    for name, (load, run, passed, live) in first.items():
        load_median = statistics.median(figures[name][0] for figures in later)
        run_median = statistics.median(figures[name][1] for figures in later)
        total = load_median + run_median
        status = "" if passed else "  FAILED"
        if live:
            status += "  (live)"
        elif total >= TARGET_MS:
            over.append(name)
            status += "  over target"
        print(f"{name:40s} {load + run:9.1f}ms {load_median:6.1f}ms {run_median:6.1f}ms {total:6.1f}ms{status}")
    print(f"total: first pass {first_total:.0f} ms; later passes median {statistics.median(totals):.0f} ms")
    verdict = "met" if not over else f"missed by {', '.join(over)}"
    print(f"target under {TARGET_MS:.0f} ms per non-live scenario (in process, warm): {verdict}")
    print()
    heading = f"{'cold: vfiolab scenario run NAME':40s} {'median':>8s} {'min':>8s} {'max':>8s}"
    print(f"{heading}  (a new process per run, ms)")
    for name, (_, _, _, live) in first.items():
        if live:
            continue
        runs = [cold_run(name) for _ in range(passes)]
        print(f"{name:40s} {statistics.median(runs):6.0f}ms {min(runs):6.0f}ms {max(runs):6.0f}ms")
    return 0


def cold_run(name: str) -> float:
    """Wall time of ``vfiolab scenario run NAME`` in a new interpreter, output through a pipe."""
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "scenario", "run", name],
        capture_output=True,
        check=False,
    )
    return (time.perf_counter() - began) * 1000


if __name__ == "__main__":
    sys.exit(main())
