"""The ``vfiolab live`` subcommands (``assets``, ``cmdline``, ``run``, ``compare``) and ``vfiolab
scenario run --live``: argparse wiring and thin handlers over :mod:`harness.live`.

:func:`add_live_commands` and :func:`add_scenario_live_option` are what ``harness.cli`` calls
while building its parser; this module imports only argparse at the top so that the command
line starts fast, and the handlers import the rest.

Exit codes (:mod:`harness.exitcodes`): 0 every run passed; 1 some run failed an expectation
(this wins over infra-errors, so a real failure is never hidden); 3 some run could not be
carried out (infra-error: assets, QEMU, boot), or assets cannot be built; 64 usage; 65 a
scenario does not load; 73 ``--keep``/``--workdir`` not usable; 130 interrupted (QEMU is killed).
"""

from __future__ import annotations

import argparse
import textwrap

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any, TextIO

    from harness.live.runner import LiveResult
    from harness.live.spec import Proxy

KERNEL_CHOICES = ("6.1", "6.12")


def add_live_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``live`` and its subcommands to the ``vfiolab`` parser's subcommands."""
    live = commands.add_parser(
        "live",
        help="run scenarios in a real Linux guest under QEMU",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Live runs: a real Debian guest kernel (6.1 or 6.12) under QEMU (TCG unless KVM is
            probed to work), booted from assets built from Debian packages, driven over its serial
            console. A scenario's guest: part says which QEMU devices the guest has and which steps
            run in its shell; expect.guest_dmesg and expect.guest_sysfs, and each step's status and
            output, say what must come out. Each run is pass, fail or infra-error.

            Environment: VFIOLAB_LIVE_ACCEL=tcg|kvm|auto, VFIOLAB_LIVE_TIMEOUT_SCALE=N (all phase
            timeouts times N), XDG_CACHE_HOME (assets cache: $XDG_CACHE_HOME/vfiolab/live)."""
        ),
    )
    live_commands = live.add_subparsers(dest="live_command", metavar="SUBCOMMAND")
    live_commands.required = True

    assets = live_commands.add_parser(
        "assets",
        help="build (or find) the guest kernel and initramfs",
        description="Resolve the current Debian kernel of each series through its meta package (linux-image-amd64 "
        "for 6.1, linux-image-6.12-amd64 for 6.12), download it and busybox-static with apt-get download, "
        "and build the PVH vmlinux and the initramfs into the cache; print what is there. Needs apt's "
        "lists (apt-get update) and the network once; --offline only looks in the cache.",
        epilog="exit codes: 0 the assets are there; 3 they cannot be built (the reason in one line).",
    )
    assets.add_argument("--kernel", choices=(*KERNEL_CHOICES, "all"), default="all", help="which guest (default all)")
    assets.add_argument("--offline", action="store_true", help="use the cache only, never apt")
    assets.set_defaults(handler=cmd_live_assets)

    cmdline = live_commands.add_parser(
        "cmdline",
        help="print the QEMU command of a scenario's guest",
        description="Print the qemu-system-x86_64 command for the scenario's guest on stdout, quoted for a shell, "
        "and create the disk images it uses in --workdir (default: a new temporary directory, named on "
        "stderr). The guest's shell reads one command per line on the serial console (echo is off).",
    )
    cmdline.add_argument("scenario", metavar="SCENARIO", help="scenario name or path to a .yaml file")
    cmdline.add_argument("--kernel", choices=KERNEL_CHOICES, help="guest kernel (default: the scenario's first)")
    cmdline.add_argument("--workdir", metavar="DIR", help="new or empty directory for the disk images")
    cmdline.add_argument("--accel", choices=("tcg", "kvm"), default="tcg", help="accelerator (default tcg)")
    cmdline.add_argument("--offline", action="store_true", help="use cached guest assets only")
    cmdline.set_defaults(handler=cmd_live_cmdline)

    run = live_commands.add_parser(
        "run",
        help="run scenarios' guests and check their expectations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Run each scenario's guest on each of its kernels (or --kernel) and check its guest
            expectations. Every run prints PASS, FAIL or INFRA-ERROR; a run that did not pass
            reports each failed expectation with its file:line, what was expected and found, the
            console's last lines, and the directory holding its artifacts (console log, QEMU
            command and stderr, guest dmesg, guest sysfs snapshot, result.json)."""
        ),
        epilog="exit codes: 0 every run passed; 1 some run failed; 3 some run was an infra-error (and none "
        "failed); 65 a scenario does not load; 66 a scenario file cannot be read; 73 --keep is not usable; "
        "130 interrupted.",
    )
    run.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenario names or paths (default: every live scenario)"
    )
    run.add_argument(
        "--kernel",
        action="append",
        choices=KERNEL_CHOICES,
        help="run on this kernel (repeatable; default: the scenario's)",
    )
    run.add_argument("--keep", metavar="DIR", help="keep every run's artifacts in DIR/SCENARIO-KERNEL")
    run.add_argument("--offline", action="store_true", help="use cached guest assets only")
    run.add_argument("--timeout-scale", type=_timeout_scale, metavar="N", help="multiply every phase timeout by N")
    run.set_defaults(handler=cmd_live_run)

    compare = live_commands.add_parser(
        "compare",
        help="run a scenario's guest and its simulated counterpart and compare the two kernels",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Run the scenario's guest live (a real Debian kernel under QEMU, its proxied devices
            served by vfiolab's proxy) and the same topology and device models through the
            simulated kernel with the matching profile, then print, for the proxied devices and
            the ports above them: the kernel messages of both in order (messages of code the
            simulated kernel does not model are counted apart, with the reason), each gap
            between messages of the steps against the window the sleep schedule allows, each
            step's exit status, and sysfs values (reset_method, power_state, IOMMU group, link,
            driver, the proxied devices' config bytes)."""
        ),
        epilog="exit codes: 0 the kernels agree and the live run passed; 1 they disagree or the live run "
        "failed; 3 the live run could not be carried out, or the guest has no simulated counterpart; "
        "65 the scenario does not load; 66 the scenario file cannot be read; 73 --keep is not usable; "
        "130 interrupted.",
    )
    compare.add_argument("scenario", metavar="SCENARIO", help="scenario name or path to a .yaml file")
    compare.add_argument(
        "--kernel", action="append", choices=KERNEL_CHOICES, help="guest kernel (repeatable; default: the scenario's)"
    )
    compare.add_argument("--keep", metavar="DIR", help="keep the live run's artifacts in DIR/SCENARIO-KERNEL")
    compare.add_argument("--offline", action="store_true", help="use cached guest assets only")
    compare.add_argument("--json", action="store_true", help="print one JSON object per kernel instead of the table")
    compare.set_defaults(handler=cmd_live_compare)


def _timeout_scale(text: str) -> float:
    from harness.live.errors import LiveError
    from harness.live.session import Timeouts

    try:
        return Timeouts.checked_scale(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 2 or 0.5, got {text!r}") from None
    except LiveError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_scenario_live_option(scenario_run: argparse.ArgumentParser) -> None:
    """``vfiolab scenario run --live``."""
    scenario_run.add_argument(
        "--live",
        action="store_true",
        help="also run the guests of live scenarios (vfiolab live run) after the simulated runs",
    )


def cmd_live_assets(args: argparse.Namespace) -> int:
    from harness.live.assets import KERNELS, guest_assets

    names = list(KERNELS) if args.kernel == "all" else [args.kernel]
    for name in names:
        assets = guest_assets(name, offline=args.offline)
        built = f"{'built now' if assets.fresh else 'cached; built'} in {assets.build_seconds:.1f} s"
        print(f"{name}: {assets.describe()}, busybox {assets.busybox_version}")
        print(f"    {assets.directory} ({built}; key {assets.key})")
        print(
            f"    modules: {', '.join(assets.modules)}"
            + (f"; built in: {', '.join(assets.builtin)}" if assets.builtin else "")
        )
        if assets.note:
            print(f"    note: {assets.note}")
    return 0


def cmd_live_cmdline(args: argparse.Namespace) -> int:
    import os
    import sys
    import tempfile
    from pathlib import Path

    from harness.errors import OutputError
    from harness.live.assets import guest_assets
    from harness.live.qemu import build_launch, prepare_disks
    from harness.live.spec import GuestSpec
    from harness.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    spec = GuestSpec.from_scenario(scenario)
    # Checked before the assets are looked for (that may take minutes), created after.
    chosen = Path(args.workdir) if args.workdir is not None else None
    if chosen is not None and os.path.lexists(chosen):
        if not chosen.is_dir():
            raise OutputError(f"--workdir {chosen}: exists and is not a directory")
        if any(chosen.iterdir()):
            raise OutputError(f"--workdir {chosen} is not empty; choose a new or empty directory")
    assets = guest_assets(args.kernel or spec.kernels[0], offline=args.offline)
    if chosen is None:
        workdir = Path(tempfile.mkdtemp(prefix=f"vfiolab-cmdline-{scenario.name}-"))
    else:
        workdir = chosen
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"--workdir {workdir}: cannot create it: {error.strerror or error}") from None
    launch = build_launch(spec, assets, workdir, accel=args.accel)
    prepare_disks(launch)
    print(launch.quoted())
    print(f"vfiolab: {assets.describe()}; disk images in {workdir}", file=sys.stderr)
    if spec.proxies:
        devices = " ".join(
            f"--device {device.id}={_proxy_option(device.proxy)}" for device in spec.proxies if device.proxy is not None
        )
        print(
            f"vfiolab: fd=proxy:NAME stands for a proxied device's socket: start the command through the proxy, "
            f"python3 -m harness.live.proxy {devices} -- COMMAND",
            file=sys.stderr,
        )
    return 0


def _proxy_option(proxy: Proxy) -> str:
    """A proxied device as the wrapper's --device value (harness.live.proxy.wrapper)."""
    options = [proxy.model]
    if proxy.condition != "ok":
        options.append(f"condition={proxy.condition}")
    for entry in proxy.behaviours:
        parameters = "".join(f":{key}={value}" for key, value in entry.items() if key != "name")
        options.append(f"behaviour={entry.get('name')}{parameters}")
    return ",".join(options)


def _summary_line(results: Sequence[LiveResult], seconds: float) -> str:
    counts = {status: sum(result.status == status for result in results) for status in ("pass", "fail", "infra-error")}
    count = len(results)
    return (
        f"{count} live run{'s' if count != 1 else ''}: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['infra-error']} infra-error ({seconds:.1f} s)"
    )


def exit_code(results: Sequence[LiveResult]) -> int:
    """1 when some run failed, else 3 when some was an infra-error, else 0."""
    from harness import exitcodes

    if any(result.status == "fail" for result in results):
        return exitcodes.WARN
    if any(result.status == "infra-error" for result in results):
        return exitcodes.CANNOT_RUN
    return exitcodes.OK


def run_live_scenarios(
    names: Sequence[str],
    out: TextIO,
    *,
    kernels: Sequence[str] = (),
    keep: Path | None = None,
    offline: bool = False,
    timeout_scale: float | None = None,
) -> int:
    """Run the guests of the named scenarios (every live scenario when none is named); prints
    one line per run and the report of each that did not pass. Returns the exit code."""
    import signal
    import time

    from harness.live.runner import live_kernels, run_live
    from harness.live.session import Timeouts
    from harness.scenario import list_scenarios, load_scenario

    scenarios = [load_scenario(name) for name in names] if names else []
    if not names:
        scenarios = [scenario for path in list_scenarios().values() if (scenario := load_scenario(str(path))).live]
    timeouts = Timeouts.from_environment(timeout_scale)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the runs, which kill their QEMU

    previous = signal.signal(signal.SIGTERM, terminate)
    began = time.monotonic()
    results: list[LiveResult] = []
    try:
        for scenario in scenarios:
            if not scenario.live:
                print(f"SKIP {scenario.name}: no guest: part and no guest expectations", file=out)
                continue
            for kernel in live_kernels(scenario, kernels):
                result = run_live(scenario, kernel, keep=keep, timeouts=timeouts, offline=offline)
                results.append(result)
                print(result.summary(), file=out, flush=True)
                if not result.passed:
                    print(textwrap.indent(result.report(), "     "), file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(_summary_line(results, time.monotonic() - began), file=out)
    return exit_code(results)


def cmd_live_run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    return run_live_scenarios(
        args.scenarios,
        sys.stdout,
        kernels=args.kernel or (),
        keep=Path(args.keep) if args.keep else None,
        offline=args.offline,
        timeout_scale=args.timeout_scale,
    )


def cmd_live_compare(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from harness import exitcodes
    from harness.live.compare import run_comparison
    from harness.live.proxy.counterpart import NoCounterpart
    from harness.live.runner import live_kernels
    from harness.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    failed = infra = False
    for kernel in live_kernels(scenario, args.kernel or ()):
        try:
            comparison, live = run_comparison(
                scenario, kernel, keep=Path(args.keep) if args.keep else None, offline=args.offline
            )
        except NoCounterpart as error:
            print(f"vfiolab: {scenario.name} has no simulated counterpart: {error}", file=sys.stderr)
            return exitcodes.CANNOT_RUN
        if args.json:
            print(json.dumps(comparison.to_json()))
        else:
            print(comparison.table())
            if not live.passed:
                print(f"live run: {live.summary()}\n" + textwrap.indent(live.report(), "  "))
            print()
        infra = infra or live.status == "infra-error"
        failed = failed or (live.status != "infra-error" and not (comparison.agrees and live.passed))
    return exitcodes.WARN if failed else exitcodes.CANNOT_RUN if infra else exitcodes.OK


def scenario_run_live(names: Sequence[str], keep: Path | None, simulated_code: int, out: TextIO) -> int:
    """``vfiolab scenario run --live``: after the simulated runs (their exit code given), the
    live runs of the live scenarios among ``names`` (all when none); the worse code wins."""
    from harness import exitcodes
    from harness.scenario import list_scenarios, load_scenario

    if simulated_code == exitcodes.DATA:
        return simulated_code  # a scenario does not load: already reported
    wanted = list(names) or [str(path) for path in list_scenarios().values()]
    live = [name for name in wanted if load_scenario(name).live]
    if not live:
        print("no live scenarios among those run", file=out)
        return simulated_code
    code = run_live_scenarios(live, out, keep=keep)
    order = (exitcodes.OK, exitcodes.CANNOT_RUN, exitcodes.WARN)
    return max(simulated_code, code, key=lambda value: order.index(value) if value in order else len(order))
