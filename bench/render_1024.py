"""Benchmark: render a synthetic host with 1,024 PCI functions and print time and peak memory.

The host has root ports, each with an ASM1184e-like switch whose downstream ports each lead to
a multifunction endpoint, plus a few integrated functions: 1,024 functions in all. It is loaded,
booted (enumeration, IOMMU groups, reset methods) and rendered once into tmpfs (/dev/shm) and
once onto the ordinary disk (the system temporary directory). Each measurement runs in a fresh
process so that its peak resident memory (ru_maxrss) is its own.

    python bench/render_1024.py            # both targets
    python bench/render_1024.py --target /dev/shm
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_host

FUNCTIONS = 1024
TARGETS = {"tmpfs": "/dev/shm", "disk": tempfile.gettempdir()}


def measure(directory: str) -> dict[str, float]:
    from fakesys.host.loader import load_host
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.source import Document
    from fakesys.sysfs.render import render

    data = synthetic_host(FUNCTIONS)
    start = time.perf_counter()
    host = load_host(Document({"host": data}, "<synthetic>"), ("host",))
    loaded = time.perf_counter()
    kernel = FakeKernel(host)
    booted = time.perf_counter()
    root = tempfile.mkdtemp(prefix="vfiolab-bench-", dir=directory)
    try:
        render(kernel, root)
        rendered = time.perf_counter()
        files = sum(1 for _ in Path(root).rglob("*"))
    finally:
        shutil.rmtree(root)
    return {
        "functions": len(host.functions),
        "load_s": loaded - start,
        "boot_s": booted - loaded,
        "render_s": rendered - booted,
        "total_s": rendered - start,
        "paths": files,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", help="render into this directory only (default: tmpfs and disk)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return 0
    targets = {"custom": args.target} if args.target else TARGETS
    columns = ("functions", "load s", "boot s", "render s", "total s", "paths", "peak MB")
    print(f"{'target':<8} " + " ".join(f"{column:>9}" for column in columns))
    for label, directory in targets.items():
        if not Path(directory).is_dir():
            print(f"{label:<8} {directory} does not exist; skipped")
            continue
        completed = subprocess.run(
            [sys.executable, __file__, "--one", directory], capture_output=True, text=True, check=True
        )
        figures = json.loads(completed.stdout)
        values = [f"{figures['functions']:>9}"]
        values += [f"{figures[key]:>9.3f}" for key in ("load_s", "boot_s", "render_s", "total_s")]
        values += [f"{figures['paths']:>9}", f"{figures['peak_rss_mb']:>9.1f}"]
        print(f"{label:<8} " + " ".join(values))
    print("targets: total under 1 s and peak under 150 MB on a 2-core machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
