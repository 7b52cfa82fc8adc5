"""Benchmark: vfiolab side by side with its references, on the same trees, in one run.

For synthetic hosts of 64, 256, 1,024, 4,096 and 16,384 PCI functions (bench/synthetic.py; 1,024
per PCI domain) rendered once into tmpfs, and for the built-in default scenario, it times cold
runs of the command line as a user runs it (a fresh process each time, output read through a
pipe by this script) and prints, per row, vfiolab's median, the reference's median and their
ratio:

* ``vfiolab check --root T`` against ``lspci -vvv`` on T (``-A linux-sysfs -O sysfs.path=``);
* ``vfiolab check --root T --json`` against the same;
* ``vfiolab check --root S`` on the rendered default scenario against ``python3 -c pass``
  (the interpreter's own start-up: the target is a difference, not a ratio) and ``lspci -vvv``;
* ``vfiolab check --scenario terramaster-f4-424-pro`` (render and check, end to end);
* ``vfiolab --help`` against ``python3 -c pass``.

Every figure is the median of ``--runs`` runs (default 5) with min and max; peak memory is the
measured process's own ``ru_maxrss``, taken by GNU time (Debian package ``time``) from
``wait4()`` on that very process (not from this script, whose own peak a child would inherit).
Per-function cost is (median - the smallest host's median) divided by the extra functions, so
start-up is not counted as per-function work. Each row also gives vfiolab's median CPU seconds
(user + system, from the same GNU time) and their ratio to the reference's, which a machine shared
with other work disturbs much less than wall time, and the 1-minute load average after its runs.

    .venv/bin/python bench/compare.py [--runs N] [--sizes 64,256,1024] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import render_synthetic

REPO = Path(__file__).resolve().parent.parent
SIZES = (64, 256, 1024, 4096, 16384)
DEFAULT_SCENARIO = "terramaster-f4-424-pro"


@dataclass
class Figures:
    """Wall seconds and peak MiB of repeated runs of one command."""

    seconds: list[float]
    peak_mib: list[float]
    exit_codes: set[int]
    #: User plus system CPU seconds of the process (GNU time): on a shared machine the wall time
    #: includes waiting for a CPU, the CPU time much less so.
    cpu_seconds: list[float] = field(default_factory=list)
    #: The 1-minute load average when the runs ended (/proc/loadavg).
    load: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def text(self) -> str:
        return f"{self.median:7.3f} s [{min(self.seconds):.3f}-{max(self.seconds):.3f}]"

    @property
    def peak(self) -> float:
        return statistics.median(self.peak_mib)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_seconds) if self.cpu_seconds else float("nan")


GNU_TIME = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)


def run_once(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, float]:
    """(wall seconds, the process's own peak MiB, exit code, its CPU seconds); stdout drained
    through a pipe.

    The peak comes from GNU time's ``%M`` (``wait4()`` on the command, forked from a 1 MiB
    process): a child forked from this Python process would report this process's peak as its
    own floor, because Linux keeps the larger of the old and new mm's high-water mark at exec."""
    with tempfile.NamedTemporaryFile("r") as report:
        wrapped = [GNU_TIME, "-f", "%M %U %S", "-o", report.name, *command] if GNU_TIME else command
        start = time.perf_counter()
        process = subprocess.Popen(wrapped, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        assert process.stdout is not None
        while process.stdout.read(1 << 16):
            pass
        code = process.wait()
        elapsed = time.perf_counter() - start
        lines = report.read().split()
    try:
        peak_kib, user, system = (float(item) for item in lines[-3:])
    except ValueError:
        peak_kib = user = system = float("nan")
    return elapsed, peak_kib / 1024, code, user + system


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def measure(command: list[str], runs: int, env: dict[str, str] | None = None) -> Figures:
    run_once(command, env)  # warm the page cache: every run then starts equally cold in Python terms
    results = [run_once(command, env) for _ in range(runs)]
    return Figures(
        [item[0] for item in results],
        [item[1] for item in results],
        {item[2] for item in results},
        [item[3] for item in results],
        load_average(),
    )


def vfiolab_command() -> list[str]:
    """The installed entry point next to this interpreter, as a user runs it."""
    script = Path(sys.executable).parent / "vfiolab"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def lspci_command(root: Path) -> list[str] | None:
    lspci = shutil.which("lspci") or next(
        (path for path in ("/usr/bin/lspci", "/usr/sbin/lspci") if os.path.exists(path)), None
    )
    if lspci is None:
        return None
    return [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-vvv"]


def row(what: str, ours: Figures, reference: Figures | None, note: str = "") -> None:
    ratio = f"{ours.median / reference.median:6.2f}" if reference else "     -"
    # GNU time counts CPU in hundredths of a second: a reference that ran in less reads 0.
    cpu_ratio = f"{ours.cpu / reference.cpu:6.2f}" if reference and reference.cpu else "     -"
    theirs = reference.text if reference else " " * 27
    their_peak = f"{reference.peak:6.1f}" if reference else "     -"
    print(
        f"{what:<44} {ours.text}  {ours.peak:6.1f}  {theirs}  {their_peak}  {ratio}  "
        f"{ours.cpu:6.3f} {cpu_ratio}  {ours.load:5.2f}  {note}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median, min, max; default 5)")
    parser.add_argument(
        "--sizes", default=",".join(str(size) for size in SIZES), help="function counts (default %(default)s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the rendered trees (their path is printed)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    scratch = Path(tempfile.mkdtemp(prefix="vfiolab-compare-", dir=base))
    vfiolab = vfiolab_command()
    python = [sys.executable, "-c", "pass"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # Byte-compiled first, as an installation is (pip compiles at install time): with
    # PYTHONDONTWRITEBYTECODE every run would otherwise compile each module edited since the
    # last run that could write its cache, and measure the compiler.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "harness"), str(REPO / "fakesys")],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    print(f"trees in {scratch}; {args.runs} runs per figure; median [min-max]; peak MiB of each process")
    print(
        "cpu s: median user+system seconds of vfiolab and its ratio to the reference's (steadier than wall"
        " time on a shared machine); load: 1-minute load average after the row's runs"
    )
    if GNU_TIME is None:
        print("GNU time is not installed (apt-get install time): no peak memory figures")
    print(f"vfiolab: {' '.join(vfiolab)}")
    header = (
        f"{'what':<44} {'vfiolab':<27}  {'MiB':>6}  {'reference':<27}  {'MiB':>6}  {'ratio':>6}  "
        f"{'cpu s':>6} {'ratio':>6}  {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    try:
        by_size: dict[int, Figures] = {}
        for size in sizes:
            root = scratch / f"host-{size}" / "root"
            functions = render_synthetic(size, root)
            lspci = lspci_command(root)
            reference = measure(lspci, args.runs) if lspci else None
            ours = measure([*vfiolab, "check", "--root", str(root)], args.runs, env)
            by_size[functions] = ours
            row(f"{functions} functions: check --root", ours, reference, "vs lspci -vvv")
            as_json = measure([*vfiolab, "check", "--root", str(root), "--json"], args.runs, env)
            row(f"{functions} functions: check --root --json", as_json, reference, "vs lspci -vvv")
            if not args.keep:
                shutil.rmtree(root.parent)
        scenario_root = scratch / "default" / "root"
        subprocess.run(
            [*vfiolab, "fakesys", "render", DEFAULT_SCENARIO, str(scenario_root)],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        bare = measure(python, args.runs)
        rendered = measure([*vfiolab, "check", "--root", str(scenario_root)], args.runs, env)
        lspci = lspci_command(scenario_root)
        if lspci:
            row("default scenario rendered: check --root", rendered, measure(lspci, args.runs), "vs lspci -vvv")
        row(
            "default scenario rendered: check --root",
            rendered,
            bare,
            f"vs python3 -c pass: +{rendered.median - bare.median:.3f} s (target +0.05 s)",
        )
        end_to_end = measure([*vfiolab, "check", "--scenario", DEFAULT_SCENARIO], args.runs, env)
        row("check --scenario (render + check)", end_to_end, None, "target 0.25 s")
        helped = measure([*vfiolab, "--help"], args.runs, env)
        row(
            "vfiolab --help", helped, bare, f"vs python3 -c pass: +{helped.median - bare.median:.3f} s (target +0.06 s)"
        )
        if len(by_size) > 1:
            print()
            print("per-function cost of check --root, start-up excluded (flat means linear):")
            smallest = min(by_size)
            for functions, figures in sorted(by_size.items()):
                if functions == smallest:
                    continue
                extra = (figures.median - by_size[smallest].median) / (functions - smallest) * 1e6
                print(f"  {functions:>6} functions: {extra:7.1f} us per function")
    finally:
        if args.keep:
            print(f"trees kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
