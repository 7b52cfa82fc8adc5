"""The ``vfiolab lab`` subcommands (``run``, ``restore``, ``diff``): argparse wiring and thin
handlers over :mod:`harness.lab`. Only argparse is imported at the top (the command line starts
fast); the handlers import the rest.

Exit codes (:mod:`harness.exitcodes`), ``lab run``: 0 every device-step passed (prediction and
outcome agree), or a dry run found the plan matches the host; 1 a prediction disagrees with the
outcome (this wins over infra-errors, so a real disagreement is never hidden); 2 refused (the host
uses a planned device or a device in its IOMMU group, or ``--yes`` on ``/`` without root); 3
infra-error (a planned device is missing or has other IDs, VFIO could not be opened, a binding
could not be restored); 64 usage; 65 the plan is malformed; 66 the plan cannot be read; 73 an
output cannot be written; 75 another lab process holds the restore journal; 130 interrupted
(SIGTERM/SIGINT: the bindings were restored first). ``lab restore``: 0 everything restored, 3 not.
``lab diff``: 0 no change, 1 changes (printed), 65/66 a file is not a lab run's JSON.

Test-only: ``VFIOLAB_LAB_TEST_PAUSE=PHASE`` in the environment of ``lab run`` makes it wait at
PHASE (``bind``, ``open``, ``reset``, ``read-back``, ...) for a signal, so a test can stop it there
(:data:`harness.lab.runner.PAUSE_VARIABLE`); not for users, and inert unless set.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from harness.lab.kernel import HostKernel


def add_lab_commands(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``lab`` and its subcommands to the ``vfiolab`` parser's subcommands."""
    lab = commands.add_parser(
        "lab",
        help="hardware-lab runs: predict, exercise the real kernel, compare, restore",
        description="Lab runs on a real host, as root: for each device of a plan, the checker's prediction (the "
        "reset the kernel will use, QEMU's reset sequence, whether the device survives), then what a VM start "
        "does to it through the kernel's own interfaces (driver_override, vfio-pci, VFIO ioctls in QEMU's "
        "order, the sysfs reset), what came out (config space, kernel log), and whether the two agree. The "
        "original driver binding is journalled before each change and restored.",
    )
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="SUBCOMMAND")
    lab_commands.required = True

    run = lab_commands.add_parser(
        "run",
        help="run a lab plan (a dry run unless --yes)",
        description="Run PLAN.yaml on this host. Without --yes nothing is written: the plan and every action "
        "it would take are printed. The agreement table goes to stdout, progress to stderr.",
        epilog="exit codes: 0 all agree; 1 a disagreement; 2 refused; 3 infra-error; 65/66 bad or unreadable "
        "plan; 73 output not writable; 75 journal busy; 130 interrupted (bindings restored first).",
    )
    run.add_argument("plan", metavar="PLAN.yaml", help="the lab plan")
    run.add_argument("--yes", action="store_true", help="act: bind, reset and restore the planned devices")
    run.add_argument("--junit-xml", metavar="FILE", help="write a JUnit report (one case per device and step)")
    run.add_argument("--json", metavar="FILE", help="write the run as JSON (for lab diff)")
    run.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the run's artefacts in DIR: the run's JSON (lab-run.json), the checker's report of the host "
        "the prediction came from (check.json); with --scenario, the simulated host's root (root/)",
    )
    _add_host_options(run)
    run.set_defaults(handler=cmd_lab_run)

    restore = lab_commands.add_parser(
        "restore",
        help="put back the bindings a killed lab run left changed",
        description="Replay the restore journal: unbind each journalled device from the lab's driver, put its "
        "driver_override back and bind its original driver. What cannot be restored stays in the journal.",
        epilog="exit codes: 0 everything restored (or nothing to do); 3 something could not be restored; "
        "75 a lab run holds the journal.",
    )
    _add_host_options(restore)
    restore.set_defaults(handler=cmd_lab_restore)

    diff = lab_commands.add_parser(
        "diff",
        help="compare two lab runs' JSON",
        description="Print each device-step whose classification, agreement or outcome changed between two "
        "runs (lab run --json), and the ones that appeared or went.",
        epilog="exit codes: 0 no change; 1 changes; 65 a file is not a lab run; 66 a file cannot be read.",
    )
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.set_defaults(handler=cmd_lab_diff)


def _add_host_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", metavar="DIR", default=None, help="the host's root (default /)")
    parser.add_argument(
        "--journal",
        metavar="FILE",
        default=None,
        help="the restore journal (default /run/vfiolab/lab-restore.json on /; beside DIR otherwise)",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME|PATH",
        default=None,
        help="act on a simulated host (fakesys) instead: the scenario is rendered into --root DIR (run: "
        "--keep DIR/root or a temporary directory), and the simulated kernel answers",
    )


def _journal_path(args: argparse.Namespace, root: Path) -> Path:
    from pathlib import Path

    from harness.lab.journal import DEFAULT_JOURNAL

    if args.journal:
        return Path(args.journal)
    if str(root) == "/":
        return Path(DEFAULT_JOURNAL)
    return root.parent / f".{root.name}.vfiolab-lab-restore.json"


def _kernel(args: argparse.Namespace, root: Path, fresh: bool) -> HostKernel:
    from harness.lab.kernel import HostKernel

    if args.scenario is None:
        return HostKernel(root)
    from harness.scenario import load_scenario
    from harness.scenario.labkernel import SimulatedKernel

    scenario = load_scenario(args.scenario)
    return SimulatedKernel(scenario, root) if fresh else SimulatedKernel.attach(scenario, root)


def cmd_lab_run(args: argparse.Namespace) -> int:
    import json
    import os
    import tempfile
    from pathlib import Path

    from harness.errors import UsageError
    from harness.lab.journal import RestoreJournal
    from harness.lab.plan import load_plan
    from harness.lab.reports import table, write_json, write_junit
    from harness.lab.runner import PAUSE_VARIABLE, PHASES, LabRunner
    from harness.outputs import check_output_path

    for option, value in (("--junit-xml", args.junit_xml), ("--json", args.json)):
        if value:
            check_output_path(Path(value), option)
    pause_at = os.environ.get(PAUSE_VARIABLE) or None
    if pause_at is not None and pause_at not in PHASES:
        raise UsageError(f"{PAUSE_VARIABLE}={pause_at[:40]!r}: expected one of {', '.join(PHASES)}")
    plan = load_plan(args.plan)
    keep = Path(args.keep) if args.keep else None
    with tempfile.TemporaryDirectory(prefix="vfiolab-lab-") as scratch:
        if args.scenario is not None:
            if args.root is not None:
                raise UsageError("lab run --scenario renders its own root: use --keep DIR to keep it, not --root")
            root = (keep or Path(scratch)) / "root"
        else:
            root = Path(args.root or "/")
        kernel = _kernel(args, root, fresh=True)
        try:
            runner = LabRunner(
                plan,
                kernel,
                RestoreJournal(_journal_path(args, root)),
                act=args.yes,
                emit=lambda line: print(line, file=sys.stderr, flush=True),
                pause_at=pause_at,
            )
            run = runner.run()
        finally:
            kernel.close()
        publish = getattr(kernel, "publish", None)
        if keep is not None and publish is not None:
            publish()
    print(table(run))
    if args.junit_xml:
        write_junit(Path(args.junit_xml), run)
    if args.json:
        write_json(Path(args.json), run)
    if keep is not None:
        write_json(keep / "lab-run.json", run)
        if runner.report is not None:
            from harness.outputs import write_atomically
            from harness.report import to_json

            check = json.dumps(to_json(runner.report, f"lab plan {plan.name}"), indent=1) + "\n"
            write_atomically(keep / "check.json", check.encode(), "--keep")
    for line in run.not_restored:
        print(f"vfiolab: not restored: {line}", file=sys.stderr)
    return run.exit_code


def cmd_lab_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness import exitcodes
    from harness.errors import UsageError
    from harness.lab.journal import RestoreJournal

    if args.scenario is not None and args.root is None:
        raise UsageError("lab restore --scenario needs --root DIR: the simulated host's root the run left")
    root = Path(args.root or "/")
    kernel = _kernel(args, root, fresh=False)
    failed = 0
    try:
        journal = RestoreJournal(_journal_path(args, root))
        with journal.locked():
            if not journal.changes:
                print(f"lab restore: nothing to restore ({journal.path} is empty or absent)", file=sys.stderr)
            for result in journal.restore(kernel):
                print(f"lab restore: {'restored' if result.restored else 'NOT restored'}: {result.detail}")
                failed += not result.restored
    finally:
        kernel.close()
    return exitcodes.CANNOT_RUN if failed else exitcodes.OK


def cmd_lab_diff(args: argparse.Namespace) -> int:
    from harness import exitcodes
    from harness.lab.reports import diff
    from harness.lab.results import read_run

    lines = diff(read_run(args.old), read_run(args.new))
    for line in lines:
        print(line)
    return exitcodes.WARN if lines else exitcodes.OK
