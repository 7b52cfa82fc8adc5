"""The ``vfiolab`` command line: thin subcommands over the library.

Exit codes (all subcommands): 0 success; 1 the command ran and found a problem (documented per
subcommand); 2 bad input or usage (a file that does not load, a missing argument); 3 the
command could not run (a required tool is missing). Errors are one line, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import __version__

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CANNOT_RUN = 3


class CliError(Exception):
    """A user-facing error with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def _simulated_machine_errors() -> Iterator[None]:
    """Bad input to a fakesys subcommand becomes a CliError (exit 2, one line)."""
    # Imported here: only the fakesys subcommands may use the simulated machine.
    from fakesys.errors import FakesysError

    try:
        yield
    except FakesysError as error:
        raise CliError(str(error)) from None


def _render_scenario(scenario: str, directory: Path, unprivileged: bool, force: bool) -> None:
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.sysfs.render import render
    from harness.scenario import load_scenario

    loaded = load_scenario(scenario)
    _prepare_directory(directory, force)
    render(FakeKernel(loaded.host), str(directory), unprivileged=unprivileged)


def cmd_fakesys_render(args: argparse.Namespace) -> int:
    with _simulated_machine_errors():
        _render_scenario(args.scenario, Path(args.directory), args.unprivileged, args.force)
    print(f"rendered {args.scenario} to {args.directory}", file=sys.stderr)
    return EXIT_OK


def cmd_fakesys_lspci(args: argparse.Namespace) -> int:
    lspci = shutil.which("lspci") or next(
        (p for p in ("/usr/bin/lspci", "/usr/sbin/lspci", "/sbin/lspci") if os.path.exists(p)), None
    )
    if lspci is None:
        raise CliError("lspci not found; install pciutils (sudo ci/install-system-packages.sh)", EXIT_CANNOT_RUN)
    lspci_args = list(args.lspci_args)
    with tempfile.TemporaryDirectory(prefix="vfiolab-root-") as temporary:
        root = Path(temporary) / "root"
        with _simulated_machine_errors():
            _render_scenario(args.scenario, root, args.unprivileged, force=False)
        command = [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", *lspci_args]
        completed = subprocess.run(command, check=False)
    return completed.returncode


def _prepare_directory(directory: Path, force: bool) -> None:
    from fakesys.sysfs.tree import MARKER

    if directory.exists() and any(directory.iterdir()):
        if not (directory / MARKER).exists():
            raise CliError(f"{directory} is not empty and was not written by vfiolab; choose an empty or new directory")
        if not force:
            raise CliError(f"{directory} holds an earlier render; add --force to replace it")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


def cmd_fakesys_run(args: argparse.Namespace) -> int:
    from fakesys.userspace.machine import render_machine
    from harness.scenario import load_scenario
    from harness.scenario.runner import run_steps

    with _simulated_machine_errors():
        scenario = load_scenario(args.scenario)
        directory = Path(args.directory)
        _prepare_directory(directory, args.force)
        machine, start = run_steps(scenario)
        render_machine(machine, str(directory))
    records = machine.kernel.log.records if args.all else machine.kernel.log.records[start:]
    for record in records:
        print(record.format())
    print(f"steps of {scenario.name} applied; the tree is in {directory}", file=sys.stderr)
    return EXIT_OK


def cmd_fakesys_sync(args: argparse.Namespace) -> int:
    from fakesys.userspace.sync import sync_root
    from harness.scenario import load_scenario
    from harness.scenario.runner import run_steps

    with _simulated_machine_errors():
        scenario = load_scenario(args.scenario)
        machine, _ = run_steps(scenario)
        before = len(machine.kernel.log.records)
        try:
            results = sync_root(machine, Path(args.directory))
        except FileNotFoundError as error:
            raise CliError(str(error)) from None
    for write, result in results:
        outcome = "ok" if result >= 0 else os.strerror(-result)
        print(f"{write.path} <- {write.value.rstrip()!r}: {outcome}", file=sys.stderr)
    for record in machine.kernel.log.records[before:]:
        print(record.format())
    return EXIT_OK


def cmd_fakesys_describe(args: argparse.Namespace) -> int:
    import yaml

    from fakesys.hw.describe import describe
    from fakesys.hw.hexdump import read_hexdump
    from fakesys.hw.model import DeviceModel

    with _simulated_machine_errors():
        dumped = read_hexdump(args.hexdump)
    selected = [item for item in dumped if args.device is None or item.bdf.endswith(args.device)]
    if not selected:
        raise CliError(f"{args.hexdump}: no device {args.device} in the dump")
    documents = []
    for item in selected:
        model = DeviceModel(name=item.bdf.replace(":", "-"), config=bytearray(item.config), title=item.title)
        model.sources.append(f"lspci hex dump {args.hexdump}, device {item.bdf} (line {item.line})")
        with _simulated_machine_errors():
            documents.append(describe(model))
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False, width=100)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfiolab",
        description="Simulated PCI passthrough hardware, and a passthrough checker for real and simulated hosts.",
        epilog=(
            "exit codes: 0 success; 2 bad input or usage (the message names the file and line); "
            "3 a required tool is missing. Scenarios are named by file stem (see scenarios/) or given as a path."
        ),
    )
    parser.add_argument("--version", action="version", version=f"vfiolab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    fakesys = commands.add_parser(
        "fakesys", help="render and inspect simulated hosts", description="Work with simulated hosts (fakesys)."
    )
    fakesys_commands = fakesys.add_subparsers(dest="fakesys_command", metavar="SUBCOMMAND")
    fakesys_commands.required = True

    render = fakesys_commands.add_parser(
        "render",
        help="write a scenario's host as a root directory",
        description="Write the scenario's host as a root directory: DIR/sys, DIR/proc, DIR/dev, DIR/etc, "
        "DIR/var/log/dmesg. Real tools read it, e.g. lspci -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci.",
    )
    render.add_argument(
        "scenario", metavar="SCENARIO", help="scenario name (e.g. terramaster-f4-424-pro) or path to a .yaml file"
    )
    render.add_argument("directory", metavar="DIR", help="new or empty directory to write into")
    render.add_argument(
        "--unprivileged", action="store_true", help="write the 64-byte config files a non-root reader sees"
    )
    render.add_argument("--force", action="store_true", help="replace DIR when it holds an earlier vfiolab render")
    render.set_defaults(handler=cmd_fakesys_render)

    lspci = fakesys_commands.add_parser(
        "lspci",
        help="run the real lspci on a scenario's host",
        description="Render the scenario to a temporary root and run the real lspci on it "
        "(lspci -A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci LSPCI_ARGS). Exit code is lspci's.",
    )
    lspci.add_argument("scenario", metavar="SCENARIO", help="scenario name or path")
    lspci.add_argument("--unprivileged", action="store_true", help="show what a non-root reader sees")
    lspci.add_argument(
        "lspci_args",
        nargs="*",
        metavar="LSPCI_ARGS",
        help="arguments for lspci; put them after -- (e.g. -- -nnvv -s 03:00.0)",
    )
    lspci.set_defaults(handler=cmd_fakesys_lspci)

    run = fakesys_commands.add_parser(
        "run",
        help="apply a scenario's steps and leave the final tree in DIR",
        description="Boot the scenario's host, apply its steps (sysfs writes, VM starts and stops, waits, reboots), "
        "write the final root to DIR and print the kernel log the steps produced. Exit 0 when the steps ran; "
        "a VM that fails to start is a result (see DIR/var/log/vfiolab/userspace.log), not an error.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="scenario name or path")
    run.add_argument("directory", metavar="DIR", help="new or empty directory to write into")
    run.add_argument("--all", action="store_true", help="print the whole kernel log since boot")
    run.add_argument("--force", action="store_true", help="replace DIR when it holds an earlier vfiolab render")
    run.set_defaults(handler=cmd_fakesys_run)

    sync = fakesys_commands.add_parser(
        "sync",
        help="apply writes real processes made to a rendered root",
        description="Rebuild the scenario's state (its steps, then the writes earlier syncs applied, kept in "
        "DIR/.vfiolab-writes), apply the writes processes made to DIR's control files since (e.g. echo vfio-pci > "
        "DIR/sys/bus/pci/devices/0000:03:00.0/driver_override), re-render DIR and print the kernel messages "
        "they caused.",
    )
    sync.add_argument("scenario", metavar="SCENARIO", help="the scenario DIR was rendered from (fakesys render or run)")
    sync.add_argument("directory", metavar="DIR", help="the rendered root")
    sync.set_defaults(handler=cmd_fakesys_sync)

    describe = fakesys_commands.add_parser(
        "describe",
        help="turn an lspci -xxxx hex dump into device descriptions",
        description="Print a device description (YAML, the fakesys/devices format) for each device of an "
        "lspci -x/-xxx/-xxxx dump; encoding it gives back the same bytes. "
        "BAR sizes are not in a dump: add size: to each BAR.",
    )
    describe.add_argument("hexdump", metavar="DUMP", help="file with lspci -xxxx output")
    describe.add_argument("--device", metavar="BDF", help="only this device (e.g. 03:00.0)")
    describe.set_defaults(handler=cmd_fakesys_describe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" goes to the wrapped tool untouched (argparse would
    # otherwise eat the "--" at the top-level parser).
    passthrough: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, passthrough = arguments[:split], arguments[split + 1 :]
    args = parser.parse_args(arguments)
    if passthrough:
        if not hasattr(args, "lspci_args"):
            parser.error(f"{' '.join(passthrough)}: this command takes no arguments after --")
        args.lspci_args = [*args.lspci_args, *passthrough]
    try:
        code: int = args.handler(args)
    except CliError as error:
        print(f"vfiolab: error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
