"""Benchmark: ``vfiolab scenario import`` of a whole machine's paste (issues 14 and 15: under 0.5 s).

The figure is the whole command as a user runs it: a new ``vfiolab scenario import FILE --out DIR``
process each run (interpreter start, imports, parsing, device files, the staging that loads and
boots the imported host and compares its IOMMU groups, writing the files), its output through a
pipe. Each input is run once untimed first, so that Python's bytecode caches exist as after a
package installation (``PYTHONDONTWRITEBYTECODE`` is dropped for the runs); every timed run is a
new process. Printed per input: the median of ``--runs`` runs (default 7, at least 5) with min and
max, wall clock and the process's CPU time (user + system: the machine is shared, and CPU time is
what load does not inflate), and ``/proc/loadavg`` before and after.

Inputs, public reports from tests/data/import (their SOURCE.md cites them), each as printed and
as a mail reply (headers, wrapped at 72 columns, quoted with "> "):

* ``probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt``: a B550 desktop, ``lspci -vvnn``, 41 functions
  (decoded text with numbers: issue 15's case, the main figure);
* ``13-ax210-switch/lspci-vv.txt``: Kaby Lake with twelve AX210 behind a switch, ``lspci -vv``
  without ``-nn``, 44 functions (every ID is looked up by name in pci.ids);
* a 40-function ``lspci -nnxxxx`` hex dump (issue 14's case), the titles and 4096-byte hex rows of
  the first 40 functions of ``17-x99-bd4-navi23/lspci-nnvvvxxxx.txt``.

    .venv/bin/python bench/import_text.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold import REPO, environment, loadavg, row, timed, vfiolab

DATA = REPO / "tests" / "data" / "import"
TARGET_SECONDS = 0.5
_TITLE = re.compile(r"^(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ")
_HEX_ROW = re.compile(r"^[0-9a-f]{2,3}: ")


def mail(text: str) -> str:
    """The paste as a mail reply: headers, prose, wrapped at 72 columns and quoted."""
    wrapped: list[str] = []
    for line in text.expandtabs(8).splitlines():
        while len(line) > 72:
            cut = line.rfind(" ", 0, 72)
            if cut <= 0:
                break
            wrapped.append(line[:cut])
            line = line[cut + 1 :]
        wrapped.append(line)
    body = "\n".join("> " + line for line in wrapped)
    return "From: reporter@example.org\nSubject: Re: lspci\n\nOn Monday you wrote:\n" + body + "\n\nThanks\n"


def hex_dump(text: str, functions: int) -> str:
    """The titles and hex rows of the first ``functions`` devices (what ``lspci -nnxxxx`` prints)."""
    kept: list[str] = []
    seen = 0
    for line in text.splitlines():
        if _TITLE.match(line):
            seen += 1
            if seen > functions:
                break
            kept.append(line)
        elif _HEX_ROW.match(line):
            kept.append(line)
        elif not line.strip() and kept and kept[-1]:
            kept.append("")
    return "\n".join(kept) + "\n"


def inputs() -> list[tuple[str, str]]:
    b550 = (DATA / "probe-b550-aorus-elite-ax-v2" / "lspci-vvnn.txt").read_text(encoding="utf-8")
    ax210 = (DATA / "13-ax210-switch" / "lspci-vv.txt").read_text(encoding="utf-8")
    x99 = (DATA / "17-x99-bd4-navi23" / "lspci-nnvvvxxxx.txt").read_text(encoding="utf-8")
    return [
        ("B550 desktop, lspci -vvnn, 41 functions", b550),
        ("B550 desktop, lspci -vvnn, as a mail reply", mail(b550)),
        ("Kaby Lake + 12x AX210, lspci -vv (names only), 44 functions", ax210),
        ("Kaby Lake + 12x AX210, lspci -vv, as a mail reply", mail(ax210)),
        ("X99, lspci -nnxxxx hex dump, 40 functions", hex_dump(x99, 40)),
    ]


def _import_command(source: Path, runs_in: Path) -> Callable[[int], list[str]]:
    """The command of timed run ``index``: each run writes to a directory of its own."""

    def command(index: int) -> list[str]:
        return vfiolab("scenario", "import", str(source), "--out", f"{runs_in}/{index}")

    return command


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per input (at least 5)")
    parser.add_argument("--quick", action="store_true", help="only the first input (the main figure)")
    options = parser.parse_args()
    runs = max(options.runs, 5)
    env = environment()
    chosen = inputs()[:1] if options.quick else inputs()
    worst = worst_cpu = 0.0
    print(f"vfiolab scenario import, a new process per run, {runs} timed runs per input (median, min, max)")
    with tempfile.TemporaryDirectory(prefix="vfiolab-bench-import-") as temporary:
        directory = Path(temporary)
        for number, (title, text) in enumerate(chosen):
            source = directory / f"report-{number}.txt"
            source.write_text(text, encoding="utf-8")
            before = loadavg()
            runs_in = directory / f"runs-{number}"
            walls, cpus = timed(runs, _import_command(source, runs_in), env)
            print(f"{title} ({len(text.splitlines())} lines); load average {before} -> {loadavg()}")
            print(row("wall", walls))
            print(row("CPU", cpus))
            worst = max(worst, statistics.median(walls))
            worst_cpu = max(worst_cpu, statistics.median(cpus))
    verdict = "meets" if worst < TARGET_SECONDS else "MISSES"
    print(f"slowest median (wall): {worst * 1000:.0f} ms; {verdict} the {TARGET_SECONDS} s target")
    print(f"slowest median (CPU, user + system): {worst_cpu * 1000:.0f} ms")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
