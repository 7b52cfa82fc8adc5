"""Benchmark: capturing this machine's ``/`` (issue 14: under 1 s) and the bundle's size.

It times, as the invoking user:

* ``capture()``: :func:`harness.capture.bundle.capture` of ``/`` in this process, redacted, with
  the commands it runs on this machine (``lspci -vvv -nn -k``, ``lspci -xxxx``, the kernel log);
  the figure the target is about;
* ``tree only``: the same without the commands (what reading the root costs alone);
* ``vfiolab capture``: the whole command in a fresh process (interpreter start and imports too),
  as a user runs it;
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from harness.capture.bundle import CaptureResult, capture, read_manifest
from harness.rootfs_bundle import BundleRoot

REPO = Path(__file__).resolve().parent.parent
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


def row(label: str, seconds: list[float]) -> str:
    low, high = min(seconds) * 1000, max(seconds) * 1000
    return f"  {label:<17} {statistics.median(seconds) * 1000:8.1f} ms  (min {low:.1f}, max {high:.1f})"


def _capture_from(root: Path, out: Path) -> None:
    capture(root, out)


def run_cli(out: Path) -> None:
    command = [sys.executable, "-m", "harness.cli", "capture", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(command, check=True, env=env, stderr=subprocess.DEVNULL)


def render_trees(directory: Path, functions: int) -> list[tuple[str, Path]]:
    """The default scenario after its steps and, when asked, a synthetic host, rendered."""
    from fakesys.host.loader import load_host
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.source import Document
    from fakesys.sysfs.render import render
    from harness.scenario import load_scenario
    from harness.scenario.runner import render_final_root

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from synthetic import synthetic_host

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
    with tempfile.TemporaryDirectory(prefix="vfiolab-bench-capture-") as temporary:
        directory = Path(temporary)
        whole = timed(options.runs, lambda out: capture("/", out), directory)
        tree = timed(options.runs, lambda out: capture("/", out, run_commands=False), directory)
        command = timed(options.runs, run_cli, directory)
        sample = directory / "sample.tar.gz"
        result: CaptureResult = capture("/", sample)
        manifest = read_manifest(BundleRoot(sample))
        others = []
        for label, root in render_trees(directory, options.functions):
            seconds = timed(options.runs, partial(_capture_from, root), directory)
            other = capture(root, directory / "other.tar.gz", overwrite=True)
            others.append((label, seconds, other))
    user = "root" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root: config space past 64 bytes unread)"
    print(f"capture of / on this machine, as {user}, {options.runs} runs each:")
    print(row("capture()", whole))
    print(row("tree only", tree))
    print(row("vfiolab capture", command))
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
    median = statistics.median(whole)
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"capture() median {median * 1000:.1f} ms: {verdict} the {TARGET_SECONDS} s target")
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
