"""Benchmark: importing a whole machine's pasted ``lspci`` text (issues 14 and 15: under 0.5 s).

For public reports of whole machines from tests/data/import, as they are and in paste forms (a
mail wrapped at 72 columns with headers and "> " quoting), it times in this process:

* ``parse``: :func:`harness.capture.parse_lspci` (cleaning, re-joining, decoding, cross-check);
* ``encode``: every decoded device's description encoded by fakesys (``fakesys.hw.describe``);
* ``total``: both, the figure the target is about;
* ``import``: for whole machines (30-50 functions), ``vfiolab scenario import`` of the paste in
  this process (:func:`harness.scenario.importer.import_sources`: parsing, device files, the
  staging that loads and boots the imported host in the simulated kernel, writing the files to a
  temporary directory), the figure the target is about;
* ``pci.ids``: reading the system ``pci.ids`` once (reports without ``-nn`` need it; it is read
  once per process and then reused, so it is shown apart from the per-paste figures).

Every figure is the median of ``--runs`` runs (default 9; ``--import-runs``, default 5, for the
whole import) with min and max.

    .venv/bin/python bench/import_text.py [--runs N] [--import-runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from fakesys.hw.describe import encode
from fakesys.source import Document
from harness.capture import ImportedPaste, parse_lspci
from harness.capture.pciids import SYSTEM_PATHS, load_ids
from harness.scenario.importer import import_sources

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "import"
TARGET_SECONDS = 0.5
REPORTS = (
    ("B550 desktop, -vvnn (41 functions)", "probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt"),
    ("Kaby Lake + 12x AX210, -vv, names only (44)", "13-ax210-switch/lspci-vv.txt"),
    ("Renoir laptop, -vvv, indentation lost (37)", "12-renoir-laptop/lspci-vvv-flattened.txt"),
    ("X99 + Navi 23, -nnvvvxxxx with 4096-byte hex (87)", "17-x99-bd4-navi23/lspci-nnvvvxxxx.txt"),
    ("Skylake-SP server with SR-IOV, -vvv (310)", "16-hpe-connectx5-sriov/lspci-vvv.txt"),
)


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


def timed(runs: int, action: Callable[[], object]) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def encode_all(paste: ImportedPaste) -> None:
    for device in paste.devices:
        if device.decoded:
            encode(Document(device.description, device.bdf))


def import_paste(text: str) -> None:
    """``vfiolab scenario import`` of ``text`` (as a file), written to a temporary directory."""
    directory = Path(tempfile.mkdtemp(prefix="vfiolab-bench-"))
    try:
        source = directory / "report.eml"
        source.write_text(text, encoding="utf-8")
        import_sources([str(source)], "bench", directory / "out")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def row(label: str, seconds: list[float]) -> str:
    low, high = min(seconds) * 1000, max(seconds) * 1000
    return f"    {label:<7} {statistics.median(seconds) * 1000:8.1f} ms  (min {low:.1f}, max {high:.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--import-runs", type=int, default=5)
    options = parser.parse_args()
    ids_path = next((path for path in SYSTEM_PATHS if Path(path).is_file()), None)
    if ids_path is not None:
        load_ids.cache_clear()
        started = time.perf_counter()
        load_ids(ids_path)
        print(f"pci.ids ({ids_path}) read once per process: {(time.perf_counter() - started) * 1000:.1f} ms\n")
    worst = 0.0
    for title, name in REPORTS:
        text = (DATA / name).read_text(encoding="utf-8")
        for form, pasted in (("as printed", text), ("mail, wrapped at 72, quoted", mail(text))):
            paste = parse_lspci(pasted, name)
            parse = timed(options.runs, partial(parse_lspci, pasted, name))
            encoding = timed(options.runs, partial(encode_all, paste))
            total = [first + second for first, second in zip(parse, encoding, strict=True)]
            devices = len(paste.devices)
            print(f"{title}, {form}: {devices} devices, {len(pasted.splitlines())} lines")
            print(row("parse", parse))
            print(row("encode", encoding))
            print(row("total", total))
            print(f"    per device {statistics.median(total) / devices * 1000:.2f} ms")
            if 30 <= devices <= 50:
                whole = timed(options.import_runs, partial(import_paste, pasted))
                print(row("import", whole))
                worst = max(worst, statistics.median(whole))
            print()
    verdict = "meets" if worst < TARGET_SECONDS else "MISSES"
    summary = f"whole machine (30-50 functions), slowest median import: {worst * 1000:.1f} ms"
    print(f"{summary}; {verdict} the {TARGET_SECONDS} s target")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
