"""Benchmark: check a synthetic host with 1,024 PCI functions; print wall time and peak memory.

The host (bench/render_1024.py's synthetic host: root ports, ASM1184e-like switches, RTL8125
endpoints) is rendered once into tmpfs. Then, each in a fresh process so that its peak resident
memory (ru_maxrss) is its own:

* the library call ``check_root(root)`` (reading the root and running every check);
* the CLI end to end, ``vfiolab check --root ROOT --json`` (interpreter start included);
* the real ``lspci -vvv`` on the same tree, for comparison.

Targets (issue 4): library under 0.5 s, CLI under 1 s, peak under 150 MB.

    python bench/check_1024.py [--repeat N]
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
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render_1024 import synthetic_host


def render_root(directory: str) -> Path:
    from fakesys.host.loader import load_host
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.source import Document
    from fakesys.sysfs.render import render

    host = load_host(Document({"host": synthetic_host()}, "<synthetic>"), ("host",))
    root = Path(tempfile.mkdtemp(prefix="vfiolab-check-bench-", dir=directory)) / "root"
    render(FakeKernel(host), str(root))
    return root


def measure_library(root: str) -> dict[str, float]:
    from harness.checker import check_root

    start = time.perf_counter()
    report = check_root(root)
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "functions": len(report.view.functions),
        "devices": len(report.devices),
        "findings": sum(len(item.findings) for item in report.devices) + len(report.host_findings),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_figures(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak MB of the child, exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if completed.returncode > 3:
        sys.exit(f"{command[0]} failed: {completed.stderr.decode(errors='replace')}")
    # ru_maxrss of children is the largest so far; a fresh process per figure keeps it honest.
    return elapsed, max(peak, before) / 1024, completed.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is printed (default 3)")
    parser.add_argument("--library", help=argparse.SUPPRESS)
    parser.add_argument("--wrap", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library:
        print(json.dumps(measure_library(args.library)))
        return 0
    if args.wrap:
        # Measure one command's own peak memory: a fresh wrapper process per command.
        elapsed, peak, code = child_figures(args.wrap)
        print(json.dumps({"seconds": elapsed, "peak_mb": peak, "code": code}))
        return 0
    directory = "/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()
    root = render_root(directory)
    try:
        library = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--library", str(root)], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(args.repeat)
        ]
        cli_command = [sys.executable, "-m", "harness.cli", "check", "--root", str(root), "--json"]
        lspci = shutil.which("lspci")
        lspci_command = [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-vvv"] if lspci else None

        def wrapped(command: list[str]) -> dict[str, float]:
            completed = subprocess.run(
                [sys.executable, __file__, "--wrap", *command], capture_output=True, text=True, check=True
            )
            figures: dict[str, float] = json.loads(completed.stdout)
            return figures

        cli = [wrapped(cli_command) for _ in range(args.repeat)]
        listing = [wrapped(lspci_command) for _ in range(args.repeat)] if lspci_command else []
    finally:
        shutil.rmtree(root.parent)
    best_library = min(library, key=lambda item: item["seconds"])
    best_cli = min(cli, key=lambda item: item["seconds"])
    print(
        f"host: {best_library['functions']:.0f} functions, {best_library['devices']:.0f} endpoints checked, "
        f"{best_library['findings']:.0f} findings; root on {directory}; best of {args.repeat}"
    )
    print(f"{'measurement':<34} {'wall s':>8} {'peak MB':>8}  target")
    library_figures = f"{best_library['seconds']:>8.3f} {best_library['peak_mb']:>8.1f}"
    print(f"{'library check_root()':<34} {library_figures}  < 0.5 s, < 150 MB")
    print(f"{'CLI vfiolab check --json':<34} {best_cli['seconds']:>8.3f} {best_cli['peak_mb']:>8.1f}  < 1 s, < 150 MB")
    if listing:
        best_lspci = min(listing, key=lambda item: item["seconds"])
        print(f"{'real lspci -vvv':<34} {best_lspci['seconds']:>8.3f} {best_lspci['peak_mb']:>8.1f}")
        print(
            f"ratio library / lspci -vvv: {best_library['seconds'] / best_lspci['seconds']:.2f}; "
            f"CLI / lspci -vvv: {best_cli['seconds'] / best_lspci['seconds']:.2f}"
        )
    else:
        print("lspci not installed: no comparison (install pciutils)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
