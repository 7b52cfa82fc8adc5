"""Benchmark: capturing this machine's ``/`` (issue 14: under 1 s) and the bundle's size.

It times, as the invoking user:

* ``vfiolab capture``: the whole command as a user runs it, the figure the target is about: a new
  process each run (interpreter start, imports, reading the root, the commands it runs on this
  machine: ``lspci -vvv -nn -k``, ``lspci -xxxx``, the kernel log; redaction, compression), its
  output through a pipe, wall clock and CPU time, with the load average (bench/cold.py);
* ``capture()``: :func:`harness.capture.bundle.capture` of ``/`` in this process (no start-up);
* ``tree only``: the same without the commands (what reading the root costs alone);
* for comparison with larger hosts, rendered trees (no commands run on a tree): the default
  scenario and, with ``--functions N``, a synthetic host of N PCI functions (bench/synthetic.py).

Each figure is the median of ``--runs`` runs (default 5) with min and max; then the bundle's
size (compressed and decompressed content), its members and what the manifest lists.

    .venv/bin/python bench/capture.py [--runs N] [--functions 1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cold
from cold import REPO, row

from harness.capture.bundle import CaptureResult, capture, read_manifest
from harness.rootfs_bundle import BundleRoot

TARGET_SECONDS = 1.0


def timed(runs: int, action: Callable[[Path], object], directory: Path) -> list[float]:
    seconds = []
    for index in range(runs):
        out = directory / f"run-{time.monotonic_ns()}-{index}.tar.gz"
        started = time.perf_counter()
        action(out)
        seconds.append(time.perf_counter() - started)
        out.unlink()
    return seconds


def _capture_from(root: Path, out: Path) -> None:
    capture(root, out)


def render_trees(directory: Path, functions: int) -> list[tuple[str, Path]]:
    """The default scenario after its steps and, when asked, a synthetic host, rendered."""
    from synthetic import synthetic_host

    from fakesys.host.loader import load_host
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.source import Document
    from fakesys.sysfs.render import render
    from harness.scenario import load_scenario
    from harness.scenario.runner import render_final_root

    trees = []
    scenario = directory / "scenario"
    render_final_root(load_scenario(str(REPO / "scenarios" / "terramaster-f4-424-pro.yaml")), scenario)
    trees.append(("terramaster-f4-424-pro (rendered)", scenario))
    if functions:
        synthetic = directory / "synthetic"
        host = load_host(Document({"host": synthetic_host(functions)}, "<synthetic>"), ("host",))
        render(FakeKernel(host), str(synthetic))
        trees.append((f"synthetic, {len(host.functions)} functions (rendered)", synthetic))
    return trees


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", type=int, default=0, help="also a synthetic host of N functions")
    options = parser.parse_args()
    runs = max(options.runs, 5)
    with tempfile.TemporaryDirectory(prefix="vfiolab-bench-capture-") as temporary:
        directory = Path(temporary)
        load_before = cold.loadavg()
        walls, cpus = cold.timed(
            runs,
            lambda index: cold.vfiolab("capture", "--out", str(directory / f"cli-{index}.tar.gz")),
            cold.environment(),
        )
        load_after = cold.loadavg()
        whole = timed(runs, lambda out: capture("/", out), directory)
        tree = timed(runs, lambda out: capture("/", out, run_commands=False), directory)
        sample = directory / "sample.tar.gz"
        result: CaptureResult = capture("/", sample)
        manifest = read_manifest(BundleRoot(sample))
        others = []
        for label, root in render_trees(directory, options.functions):
            seconds = timed(runs, partial(_capture_from, root), directory)
            other = capture(root, directory / "other.tar.gz", overwrite=True)
            others.append((label, seconds, other))
    user = "root" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root: config space past 64 bytes unread)"
    print(f"capture of / on this machine, as {user}, {runs} runs each (median, min, max):")
    print(f"  vfiolab capture, a new process per run; load average {load_before} -> {load_after}")
    print(row("wall", walls))
    print(row("CPU", cpus))
    print(row("capture()", whole))
    print(row("tree only", tree))
    commands = ", ".join(" ".join(item["argv"]) for item in manifest["commands"]) or "none"
    print(
        f"bundle: {result.compressed_bytes / 1024:.1f} KiB compressed, {result.content_bytes / 1024:.1f} KiB of "
        f"content, {result.members} members; {len(manifest['read'])} files read, {len(manifest['partial'])} kept "
        f"in part or by presence, {len(manifest['skipped'])} skipped; commands: {commands}"
    )
    for label, seconds, other in others:
        print(f"{label}:")
        print(row("capture()", seconds))
        print(
            f"  bundle: {other.compressed_bytes / 1024:.1f} KiB compressed, {other.content_bytes / 1024:.1f} KiB of "
            f"content, {other.members} members"
        )
    median = statistics.median(walls)
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"vfiolab capture median {median * 1000:.0f} ms (wall): {verdict} the {TARGET_SECONDS} s target")
    print(f"vfiolab capture median {statistics.median(cpus) * 1000:.0f} ms (CPU)")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
