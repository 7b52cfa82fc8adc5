"""Timing a ``vfiolab`` command as a user runs it: a new process each run, its output through a
pipe, wall clock and CPU time (user + system of the process and what it waited for), with the
machine's load average beside the figures (the benchmark machines are shared: CPU time is what
load does not inflate).

The bytecode caches are made by an untimed first run (``PYTHONDONTWRITEBYTECODE`` is dropped
from the environment), as they exist after a package installation.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages of ``/proc/loadavg``."""
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"


def environment() -> dict[str, str]:
    """This repository's code, with bytecode caches written."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    return env


def vfiolab(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *arguments]


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One run of ``command`` in a new process: (wall seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace")[-500:]
        raise SystemExit(f"{' '.join(command)} failed ({completed.returncode}): {message}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def timed(runs: int, command: Callable[[int], list[str]], env: dict[str, str]) -> tuple[list[float], list[float]]:
    """``runs`` timed runs after one untimed; ``command(index)`` gives each run's command line."""
    walls: list[float] = []
    cpus: list[float] = []
    for index in range(runs + 1):
        wall, cpu = run(command(index), env)
        if index:
            walls.append(wall)
            cpus.append(cpu)
    return walls, cpus


def row(label: str, seconds: list[float]) -> str:
    low, high = min(seconds) * 1000, max(seconds) * 1000
    return f"  {label:<17} {statistics.median(seconds) * 1000:7.0f} ms  (min {low:.0f}, max {high:.0f})"
