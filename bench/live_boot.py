"""Benchmark: QEMU start to the guest's first marker, vfiolab's launcher against a bare QEMU.

Both boot the same command (the guest of a live scenario, default ``live-intel-ahci``, on
kernel 6.1) and wait for the same line, ``@@VFL-INIT`` from the initramfs's ``/init``:

- **bare**: ``subprocess.Popen`` of the command with stdio pipes, reading stdout until the
  marker;
- **vfiolab**: :class:`harness.live.session.GuestSession` (disk images, process group,
  ``PR_SET_PDEATHSIG``, the console's reader thread with its log, line-ending normalisation and
  crash watch, pexpect's search) up to :meth:`Console.expect` returning the marker.

Runs alternate (bare, vfiolab, ...) after one warm-up of each so page cache and machine load
hit both alike; the median of five each is compared. The goal is an overhead of at most 10 %.
Also printed: the CPU time per boot (QEMU's; for vfiolab plus the harness's own), which, unlike
wall time, does not depend on what else the machine is doing.

    python bench/live_boot.py [SCENARIO] [--kernel 6.1|6.12] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MARKER = b"@@VFL-INIT"
GOAL_PERCENT = 10.0
TIMEOUT_S = 120.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_boot(argv: list[str]) -> tuple[float, float]:
    """(seconds to the marker, QEMU CPU seconds) with nothing but Popen and os.read."""
    cpu = _children_cpu()
    began = time.monotonic()
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    seen = b""
    try:
        while MARKER not in seen:
            ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_S)
            data = os.read(process.stdout.fileno(), 65536) if ready else b""
            if not data:
                raise RuntimeError("bare QEMU: no marker (timeout or exit)")
            seen = seen[-len(MARKER) :] + data
        elapsed = time.monotonic() - began
    finally:
        process.kill()
        process.wait()
    return elapsed, _children_cpu() - cpu


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def vfiolab_boot(launch: object, workdir: Path) -> tuple[float, float]:
    """The same through vfiolab's session and console; the CPU time counts QEMU's and the
    harness's own (its reader thread, pexpect's search)."""
    from harness.live.qemu import Launch
    from harness.live.session import GuestSession, Timeouts

    assert isinstance(launch, Launch)
    cpu = _children_cpu() + _own_cpu()
    began = time.monotonic()
    session = GuestSession(launch, workdir, timeouts=Timeouts(kernel=TIMEOUT_S, init=TIMEOUT_S))
    try:
        session.start()
        session.console.expect([r"@@VFL-INIT \S+\n"], "init", TIMEOUT_S)
        elapsed = time.monotonic() - began
    finally:
        session.close()
    return elapsed, _children_cpu() + _own_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", default="live-intel-ahci")
    parser.add_argument("--kernel", default="6.1", choices=("6.1", "6.12"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from harness.live.assets import guest_assets
    from harness.live.qemu import build_launch, prepare_disks
    from harness.live.spec import GuestSpec
    from harness.scenario import load_scenario

    spec = GuestSpec.from_scenario(load_scenario(args.scenario))
    assets = guest_assets(args.kernel)
    with tempfile.TemporaryDirectory(prefix="vfiolab-bench-") as directory:
        workdir = Path(directory)
        launch = build_launch(spec, assets, workdir)
        prepare_disks(launch)
        argv = list(launch.argv)
        bare: list[tuple[float, float]] = []
        harness: list[tuple[float, float]] = []
        bare_boot(argv)  # warm-up: page cache of the kernel and initramfs
        vfiolab_boot(launch, workdir / "warm-up")
        for run in range(args.runs):
            bare.append(bare_boot(argv))
            harness.append(vfiolab_boot(launch, workdir / f"run-{run}"))
    bare_median = statistics.median(seconds for seconds, _ in bare)
    harness_median = statistics.median(seconds for seconds, _ in harness)
    overhead = (harness_median / bare_median - 1) * 100
    print(f"guest              {args.scenario} on {assets.describe()}, {len(argv)} QEMU arguments")
    print(f"bare QEMU          {' '.join(f'{s:.2f}' for s, _ in bare)} s; median {bare_median:.2f} s")
    print(f"vfiolab launcher   {' '.join(f'{s:.2f}' for s, _ in harness)} s; median {harness_median:.2f} s")
    bare_cpu = statistics.median(cpu for _, cpu in bare)
    harness_cpu = statistics.median(cpu for _, cpu in harness)
    print(
        f"CPU per boot       bare QEMU {bare_cpu:.2f} s, vfiolab (QEMU and harness) {harness_cpu:.2f} s: "
        f"{(harness_cpu / bare_cpu - 1) * 100:+.1f} % (medians; what a busy machine does not change)"
    )
    met = overhead <= GOAL_PERCENT
    print(f"overhead           {overhead:+.1f} % (goal at most {GOAL_PERCENT:.0f} %: {'met' if met else 'NOT met'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
