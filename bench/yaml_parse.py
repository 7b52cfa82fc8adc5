"""Benchmark: parsing every shipped scenario and device description (fakesys.source.parse_yaml).

For each parser available (libyaml's C parser and PyYAML's pure-Python one, both under vfiolab's
bounded builder) the whole set of files is parsed RUNS times from text already in memory, so
only parsing is measured; printed are the median, minimum and maximum per pass and the ratio
between the parsers. ``--baseline MODULE_FILE`` also times another ``parse_yaml(text, path)``
(e.g. an older fakesys/source.py saved aside) for a before/after comparison.

    python bench/yaml_parse.py [--runs N] [--baseline PATH]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _files() -> list[tuple[str, str]]:
    paths = sorted([*REPO.glob("scenarios/*.yaml"), *REPO.glob("fakesys/devices/*.yaml")])
    return [(str(path), path.read_text(encoding="utf-8")) for path in paths]


def _time(parse: Callable[[str, str], object], files: list[tuple[str, str]], runs: int) -> list[float]:
    passes = []
    for _ in range(runs):
        began = time.perf_counter()
        for name, text in files:
            parse(text, name)
        passes.append(time.perf_counter() - began)
    return passes


def _baseline(path: str) -> Callable[[str, str], object]:
    spec = importlib.util.spec_from_file_location("baseline_source", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_source"] = module
    spec.loader.exec_module(module)
    parse: Callable[[str, str], object] = module.parse_yaml
    return parse


def _parse_with(loader: str, text: str, path: str) -> object:
    from fakesys.source import parse_yaml

    return parse_yaml(text, path, loader)


def main() -> None:
    sys.path.insert(0, str(REPO))
    from fakesys.source import LOADERS

    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--runs", type=int, default=21)
    options.add_argument("--baseline", metavar="PATH", help="a source.py whose parse_yaml to time as 'baseline'")
    args = options.parse_args()
    files = _files()
    size = sum(len(text.encode()) for _, text in files)
    print(f"{len(files)} files, {size} bytes; {args.runs} passes each (ms per pass: median [min-max])")
    candidates: dict[str, Callable[[str, str], object]] = {}
    if args.baseline:
        candidates["baseline"] = _baseline(args.baseline)
    for name in LOADERS:
        candidates[name] = functools.partial(_parse_with, name)
    medians: dict[str, float] = {}
    for name, parse in candidates.items():
        passes = _time(parse, files, args.runs)
        medians[name] = statistics.median(passes)
        print(
            f"  {name:<9} {medians[name] * 1000:7.1f} ms  [{min(passes) * 1000:.1f}-{max(passes) * 1000:.1f}]"
            f"  {size / medians[name] / 1e6:5.2f} MB/s"
        )
    reference = medians.get("baseline", medians.get("python"))
    for name, median in medians.items():
        if reference is not None and name != "baseline" and median:
            print(
                f"  {name}: {reference / median:.1f}x faster than {'baseline' if 'baseline' in medians else 'python'}"
            )


if __name__ == "__main__":
    main()
