"""The ``vfiolab`` command line: thin subcommands over the library.

Exit codes are the one table in :mod:`harness.exitcodes`, shared by every subcommand. Errors a
user can cause are one line without a traceback (:mod:`harness.errors` maps each to its code);
an internal error writes its traceback to a file named in the message (``--debug`` prints it).
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness import __version__, exitcodes
from harness.errors import VfiolabError
from harness.usage import UsageParser as _Parser

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up

if TYPE_CHECKING:
    from typing import Any

    from harness.checker import CheckReport
    from harness.checks.base import CheckOptions
    from harness.generate import GenerateOptions, GenerateRefused

    _Commands = argparse._SubParsersAction[Any]

EXIT_OK = exitcodes.OK
EXIT_USAGE = exitcodes.USAGE
EXIT_DATA = exitcodes.DATA
EXIT_REFUSED = exitcodes.FAIL
EXIT_CANNOT_RUN = exitcodes.CANNOT_RUN
REPORT_HOW = "please report it with that output (README: Reporting a bug)"


class CliError(Exception):
    """A user-facing error with its exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def _simulated_machine_errors() -> Iterator[None]:
    """Errors of the simulated machine become the harness's (one line each): bad input 65, an
    unusable output directory 73, a directory another process is rendering into 75."""
    # Imported here: only the fakesys subcommands may use the simulated machine.
    from fakesys.errors import FakesysError
    from harness.scenario.errors import vfiolab_error

    try:
        yield
    except FakesysError as error:
        raise vfiolab_error(error) from None


def _render_scenario(scenario: str, directory: Path, unprivileged: bool, force: bool) -> None:
    """``fakesys render``: the scenario's host at boot, no steps, written atomically under the
    directory's lock, with the journal header ``sync`` checks."""
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.sysfs.render import render
    from fakesys.sysfs.rootdir import render_into
    from fakesys.userspace.sync import RenderRecord, start_journal
    from harness.scenario import load_scenario

    loaded = load_scenario(scenario)
    record = RenderRecord.of(loaded.name, loaded.path, steps=False, unprivileged=unprivileged)
    kernel = FakeKernel(loaded.host)

    def build(path: str) -> None:
        render(kernel, path, unprivileged=unprivileged)
        start_journal(path, record)

    _mention_leftovers(render_into(directory, build, replace=force))


def _mention_leftovers(leftovers: Sequence[Path]) -> None:
    for path in leftovers:
        print(
            f"vfiolab: note: could not remove the replaced tree {path} (still in use); delete it later", file=sys.stderr
        )


def cmd_fakesys_render(args: argparse.Namespace) -> int:
    with _simulated_machine_errors():
        _render_scenario(args.scenario, Path(args.directory), args.unprivileged, args.force)
    print(f"rendered {args.scenario} to {args.directory}", file=sys.stderr)
    return EXIT_OK


def cmd_fakesys_lspci(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    import tempfile

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


def cmd_fakesys_run(args: argparse.Namespace) -> int:
    from fakesys.sysfs.rootdir import render_into
    from fakesys.userspace.machine import render_machine
    from fakesys.userspace.sync import RenderRecord, start_journal
    from harness.scenario import load_scenario
    from harness.scenario.runner import run_steps

    directory = Path(args.directory)
    with _simulated_machine_errors():
        scenario = load_scenario(args.scenario)
        record = RenderRecord.of(scenario.name, scenario.path, steps=True)
        machine, start = run_steps(scenario)

        def build(path: str) -> None:
            render_machine(machine, path)
            start_journal(path, record)

        _mention_leftovers(render_into(directory, build, replace=args.force))
    records = machine.kernel.log.records if args.all else machine.kernel.log.records[start:]
    for entry in records:
        print(entry.format())
    print(f"steps of {scenario.name} applied; the tree is in {directory}", file=sys.stderr)
    return EXIT_OK


def cmd_fakesys_sync(args: argparse.Namespace) -> int:
    from fakesys.sysfs.rootdir import locked
    from fakesys.userspace.machine import Machine
    from fakesys.userspace.sync import RenderRecord, read_journal, sync_root
    from harness.scenario import load_scenario
    from harness.scenario.runner import run_steps

    with _simulated_machine_errors(), locked(Path(args.directory)) as directory:
        journal = read_journal(directory)
        scenario = load_scenario(args.scenario)
        rendered = journal.record
        record = RenderRecord.of(
            scenario.name,
            scenario.path,
            steps=rendered.steps if rendered is not None else True,
            unprivileged=rendered.unprivileged if rendered is not None else False,
        )
        if rendered is not None:
            rendered.refuse_other(record, directory)
        machine = run_steps(scenario)[0] if record.steps else Machine(scenario.host)
        before = len(machine.kernel.log.records)
        results = sync_root(machine, directory, record)
    for write, result in results:
        outcome = "ok" if result >= 0 else os.strerror(-result)
        print(f"{write.path} <- {write.value.rstrip()!r}: {outcome}", file=sys.stderr)
    for entry in machine.kernel.log.records[before:]:
        print(entry.format())
    return EXIT_OK


def cmd_fakesys_describe(args: argparse.Namespace) -> int:
    from harness.scenario.importer.describe import describe_file

    documents, remarks = describe_file(args.hexdump, args.device)
    for remark in remarks:
        print(f"vfiolab fakesys describe: {remark}", file=sys.stderr)
    sys.stdout.write("---\n".join(documents))
    if len(documents) > 1:
        print(
            f"vfiolab fakesys describe: {len(documents)} devices, as a YAML stream; a device file holds one "
            "(--device BDF picks it)",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_fakesys_devices(args: argparse.Namespace) -> int:
    from harness.scenario.library_listing import write_listing

    return write_listing(sys.stdout, args.scenario, verbose=args.verbose)


def cmd_scenario_import(args: argparse.Namespace) -> int:
    from harness.scenario.importer import import_sources
    from harness.scenario.importer.report import write_report

    result = import_sources(args.sources, args.name, Path(args.out) if args.out else None, args.overwrite)
    write_report(result, sys.stderr)
    print(result.scenario)
    return EXIT_OK


def _path(text: str) -> str:
    """A file or directory named on the command line: never empty (an unset shell variable in
    ``--root "$CAPTURE"`` would otherwise check this host, or write into the current directory)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return text


def _device_address(text: str) -> str:
    from harness.pci.address import Bdf

    try:
        return str(Bdf.parse(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _rom_argument(text: str) -> tuple[str, Path]:
    """``FILE`` (for the one --device) or ``BDF=FILE``."""
    address, separator, filename = text.partition("=")
    if separator and address and ":" in address:
        return _device_address(address), Path(filename)
    return "*", Path(text)


def _check_options(args: argparse.Namespace) -> CheckOptions:
    from harness.checks.base import CheckOptions

    return CheckOptions(
        devices=args.device or None,
        vm_firmware=args.vm_firmware,
        rom_files=dict(args.rom or []),
        read_rom=args.read_rom,
        assume_kernel=args.assume_kernel,
    )


def _announce_rom_reads(args: argparse.Namespace, root: Path) -> None:
    if not args.read_rom:
        return
    if root.resolve() != Path("/"):
        raise CliError(
            "--read-rom reads ROMs of the running host only; it cannot be combined with --root/--scenario",
            EXIT_USAGE,
        )
    if os.geteuid() != 0:
        raise CliError(
            "--read-rom needs root (it writes 1 and then 0 to each device's sysfs rom file)", EXIT_CANNOT_RUN
        )
    which = ", ".join(args.device) if args.device else "every checked device that has a rom file"
    print(
        f"vfiolab: --read-rom: for {which}, will write 1 to /sys/bus/pci/devices/<dev>/rom, read the ROM and "
        "write 0 back; controllers whose disks are mounted are skipped",
        file=sys.stderr,
    )


def _target_names() -> list[str]:
    from harness.generate import TARGETS

    return list(TARGETS)


def _qemu_formats() -> tuple[str, ...]:
    from harness.generate import QEMU_FORMATS

    return QEMU_FORMATS


def _unsafe_workarounds() -> tuple[str, ...]:
    from harness.generate import UNSAFE_WORKAROUNDS

    return UNSAFE_WORKAROUNDS


@contextmanager
def _checked_root(args: argparse.Namespace) -> Iterator[Path]:
    """The root to check: --root, a scenario rendered after its steps, or /."""
    if args.scenario is None:
        yield Path(args.root or "/")
        return
    # Scenario code is the one place harness reaches the simulated machine.
    from harness.scenario import ScenarioError, load_scenario
    from harness.scenario.errors import vfiolab_error
    from harness.scenario.runner import final_root_in_scratch

    try:
        with final_root_in_scratch(load_scenario(args.scenario)) as root:
            yield root
    except ScenarioError as error:
        raise vfiolab_error(error) from None


def _check_rom_arguments(args: argparse.Namespace) -> None:
    """--rom: one file per device, FILE alone only with exactly one --device, and a BDF= only for
    a device that is checked."""
    roms = args.rom or []
    if any(key == "*" for key, _ in roms) and len(args.device or []) != 1:
        raise CliError("--rom FILE needs exactly one --device; otherwise write --rom BDF=FILE", EXIT_USAGE)
    keys = [key if key != "*" else args.device[0] for key, _ in roms]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise CliError(f"--rom: more than one file for {twice[0]}", EXIT_USAGE)
    unchecked = [key for key in keys if args.device and key not in args.device]
    if unchecked:
        raise CliError(
            f"--rom {unchecked[0]}=...: that device is not checked (add --device {unchecked[0]})", EXIT_USAGE
        )


def _rom_devices_on_host(args: argparse.Namespace, report: CheckReport, root: Path) -> None:
    missing = [key for key, _ in args.rom or [] if key != "*" and report.view.function(key) is None]
    if missing:
        raise CliError(f"--rom {missing[0]}=...: no such PCI device under {root}", EXIT_USAGE)


def cmd_check(args: argparse.Namespace) -> int:
    if args.list_codes:
        from harness.codes import CODES

        sys.stdout.write("".join(f"{code:<42} {meaning}\n" for code, meaning in CODES.items()))
        return EXIT_OK
    from harness.checker import check_root
    from harness.errors import CheckerError
    from harness.report import write_human, write_json

    _check_rom_arguments(args)
    with _checked_root(args) as root:
        _announce_rom_reads(args, root)
        try:
            report = check_root(root, _check_options(args))
        except CheckerError as error:
            raise CliError(str(error), error.exit_code) from None
        _rom_devices_on_host(args, report, root)
        title = f"scenario {args.scenario}" if args.scenario else None
        if args.redact:
            _write_redacted_report(args, report, title)
        elif args.json:
            write_json(report, sys.stdout, title)
        else:
            colour = False if args.no_color else None
            write_human(report, sys.stdout, verbose=args.verbose, colour=colour, title=title)
    return report.exit_code


def _write_redacted_report(args: argparse.Namespace, report: CheckReport, title: str | None) -> None:
    """The report with serials, MACs, hostnames, UUIDs and IP addresses of the checked root
    replaced by pseudonyms (harness.capture.redact)."""
    import io
    import json

    from harness.capture.redact import Redactor
    from harness.report import to_json, use_colour, write_human

    redactor = Redactor()
    redactor.learn(report.view.fs)
    if args.json:
        sys.stdout.write(json.dumps(redactor.json(to_json(report, title)), indent=2) + "\n")
        return
    text = io.StringIO()
    colour = False if args.no_color else use_colour(sys.stdout)
    write_human(report, text, verbose=args.verbose, colour=colour, title=title)
    sys.stdout.write(redactor.text(text.getvalue()))


def _guest_address(text: str) -> str:
    bus, separator, slot = text.partition(":")
    try:
        valid = bool(separator) and 0 <= int(bus, 16) <= 0xFF and 0 <= int(slot, 16) <= 0x1F
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"expected BUS:SLOT in hex, e.g. 06:00, got {text!r}")
    return text


def _override_argument(text: str) -> tuple[str, str]:
    from harness.generate import OVERRIDE_PROPERTIES

    key, separator, value = text.partition("=")
    if not separator or key not in OVERRIDE_PROPERTIES:
        raise argparse.ArgumentTypeError(
            f"expected KEY=0xNNNN with KEY one of {', '.join(OVERRIDE_PROPERTIES)}, got {text!r}"
        )
    try:
        number = int(value, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: expected a 16-bit hex value like 0x1060, got {value!r}") from None
    if not value.lower().startswith("0x") or not 0 <= number <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{key}: expected a 16-bit hex value like 0x1060, got {value!r}")
    return key, f"0x{number:04x}"


def _vmid(text: str) -> int:
    from harness import paste

    if not paste.is_vmid(text):
        raise argparse.ArgumentTypeError(
            f"expected a Proxmox VM id, {paste.VMID_MIN} to {paste.VMID_MAX}, got {paste.printable(text)!r}"
        )
    return int(text)


def _node(text: str) -> str:
    from harness import paste

    if not paste.is_node_name(text):
        raise argparse.ArgumentTypeError(
            f"expected a Proxmox node name (letters, digits and '-', one DNS label), got {paste.printable(text)!r}"
        )
    return text


def _generate_options(args: argparse.Namespace) -> GenerateOptions:
    """The options, after the rules no argument type can check alone: an option the target does
    not use, --overwrite without --out; then the --domain file, read once the target takes it."""
    from harness.generate import GenerateOptions, check_target_options, options_given, read_domain_file

    options = GenerateOptions(
        vmid=args.vmid if args.vmid is not None else GenerateOptions.vmid,
        force=args.force,
        unsafe=tuple(dict.fromkeys(args.unsafe or ())),
        domain_xml=args.domain_xml,
        guest_address=args.guest_address,
        id_overrides=dict(args.override or []),
        node=args.node,
        qemu_format=args.format,
    )
    if args.overwrite and args.out is None:
        raise CliError("--overwrite only applies with --out DIR", EXIT_USAGE)
    given = options_given(options) | {
        name for name, value in (("--vmid", args.vmid), ("--domain", args.domain)) if value is not None
    }
    try:
        check_target_options(args.target, given)
        if args.domain is not None:
            options.domain = read_domain_file(args.domain)
    except VfiolabError as error:
        raise CliError(str(error), error.exit_code) from None
    return options


def _print_refusal(refused: GenerateRefused, redact: Callable[[str], str]) -> int:
    """A refusal: nothing on stdout (a pipe into a configuration file gets nothing), the reasons
    and the alternative on stderr."""
    from harness import paste

    print("vfiolab generate: refused; the checker fails:", file=sys.stderr)
    for reason in refused.reasons:
        print(f"  {redact(paste.printable(reason))}", file=sys.stderr)
    print("(vfiolab check --device ... explains; --force generates anyway)", file=sys.stderr)
    for offer in refused.offers:
        print(f"# Instead: {redact(paste.printable(offer))}", file=sys.stderr)
    if refused.alternative:
        print("# Instead, pass the disks (vfiolab generate proxmox-disks prints these on stdout):", file=sys.stderr)
        print(redact(refused.alternative), end="", file=sys.stderr)
    return EXIT_REFUSED


def _redaction(enabled: bool, root: Path) -> Callable[[str], str]:
    """--redact: a function that replaces what identifies ``root`` (serials, MACs, hostnames,
    UUIDs, IP addresses) by pseudonyms; without it, the identity."""
    if not enabled:
        return lambda text: text
    from harness.capture.redact import Redactor
    from harness.rootfs import RootError, open_root

    redactor = Redactor()
    try:
        with open_root(root) as fs:
            redactor.learn(fs)
    except RootError:
        pass  # generate itself reports the unreadable root
    return redactor.text


def cmd_generate(args: argparse.Namespace) -> int:
    """Without --out, stdout is one document (the target's file, arguments or commands) and
    stderr says what it is and what to do next; with --out, the files are written and stderr
    lists them and the next steps. With --redact, every text is redacted before it is printed
    or written."""
    from harness.generate import GenerateRefused, generate

    options = _generate_options(args)
    with _checked_root(args) as root:
        redact = _redaction(args.redact, root)
        try:
            output = generate(args.target, root, args.device, options)
            if args.redact:
                output = output.redacted(redact)
            document = output.stdout_text() if args.out is None else None
            written = output.write(Path(args.out), overwrite=args.overwrite) if args.out is not None else []
        except GenerateRefused as refused:
            return _print_refusal(refused, redact)
        except VfiolabError as error:
            raise CliError(str(error), error.exit_code) from None
    if document is not None:
        sys.stdout.write(document)
        sys.stdout.flush()
        sys.stderr.write(output.guidance())
        return EXIT_OK
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    if not written:
        print(f"nothing to write under {args.out}", file=sys.stderr)
    sys.stderr.write(output.guidance(written=True))
    return EXIT_OK


def cmd_capture(args: argparse.Namespace) -> int:
    from harness.capture.bundle import capture

    root = args.root or "/"
    result = capture(root, Path(args.out), redact=not args.no_redact, overwrite=args.overwrite)
    what = "redacted" if result.redacted else "NOT redacted (--no-redact): it identifies the host"
    print(
        f"vfiolab capture: wrote {args.out} ({result.compressed_bytes // 1024 + 1} KiB, {result.members} members, "
        f"{what}) in {result.seconds:.2f} s; {result.skipped} paths skipped, {result.partial} kept in part or "
        "by presence (vfiolab-capture.json lists them)",
        file=sys.stderr,
    )
    if not result.privileged:
        print(
            "vfiolab capture: not run as root: config space beyond 64 bytes and root-only files were not readable "
            "(sudo vfiolab capture ... captures them)",
            file=sys.stderr,
        )
    if result.checker_error:
        print(f"vfiolab capture: note: the checker failed on this root ({result.checker_error})", file=sys.stderr)
    return EXIT_OK


def cmd_scenario_run(args: argparse.Namespace) -> int:
    from harness.scenario.commands import run_command

    junit = Path(args.junit_xml) if args.junit_xml else None
    keep = Path(args.keep) if args.keep else None
    code = run_command(args.names, junit, keep, sys.stdout, live_follows=args.live)
    if args.live:
        from harness.live.cli import scenario_run_live

        code = scenario_run_live(args.names, keep, code, sys.stdout)
    return code


def cmd_scenario_list(args: argparse.Namespace) -> int:
    from harness.scenario.commands import list_command

    return list_command(sys.stdout)


def cmd_scenario_show(args: argparse.Namespace) -> int:
    from harness.scenario.commands import show_command

    return show_command(args.name, sys.stdout)


def cmd_rom(args: argparse.Namespace) -> int:
    from harness.pci.rom import run_rom_command

    return run_rom_command(args.file, sys.stdout, sys.stderr)


_RENDER_EXIT_CODES = (
    "exit codes: 0 written; 65 the scenario does not load (one line with file:line); 66 the scenario file "
    "cannot be read (missing, not a regular file, too large); 73 DIR cannot be used "
    "(a symbolic link, a file, a directory holding something else, an earlier render without --force, no room); "
    "75 another vfiolab process is writing DIR."
)


def _device_dir_option() -> _Parser:
    """``--device-dir DIR`` for every command that loads scenarios (one definition, applied once
    in :func:`main`)."""
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--device-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="also look up device descriptions in DIR (after the scenario's own devices/ and $VFIOLAB_DEVICE_PATH, "
        "before the packaged library); repeat for more",
    )
    return parent


def _use_device_dirs(args: argparse.Namespace) -> None:
    directories = getattr(args, "device_dir", None) or []
    for directory in directories:
        if not os.path.isdir(directory):
            raise CliError(f"--device-dir {directory}: no such directory", exitcodes.NO_INPUT)
    if directories:
        from harness.scenario import use_device_dirs

        use_device_dirs(directories)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``vfiolab`` parser. With ``command`` (the subcommand :func:`main` found on the command
    line, or "" for none), only that subcommand's arguments are built and the others are only
    named, with their help line: parsing needs no other subcommand, and building all of them
    costs more than the rest of start-up. Without it, the whole parser."""
    device_dirs = _device_dir_option()
    parser = _Parser(
        prog="vfiolab",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Simulated PCI passthrough hardware, and a passthrough checker for real and simulated hosts.",
        epilog=(
            "exit codes (every subcommand):\n"
            + exitcodes.table_text()
            + "\n\nScenarios are named by file stem (see vfiolab scenario list) or given as a path."
        ),
    )
    parser.add_argument("--version", action="version", version=f"vfiolab {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an internal error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name, add in _COMMANDS.items():
        if command is None or command == name or name not in _HELP:
            add(commands, device_dirs)
        else:
            # Named with its one-line help, for vfiolab --help and "invalid choice" errors.
            commands.add_parser(name, help=_HELP[name])
    return parser


def _command_in(arguments: Sequence[str]) -> str | None:
    """The subcommand a command line names: its first word that is not an option (the top-level
    options take no value), when that is a subcommand."""
    first = next((argument for argument in arguments if not argument.startswith("-")), None)
    return first if first in _COMMANDS else None


def _add_check(commands: _Commands, device_dirs: _Parser) -> None:
    check = commands.add_parser(
        "check",
        parents=[device_dirs],
        help=_HELP["check"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Check a host for PCI passthrough, read-only: the platform (VT-x, VT-d/AMD-Vi, interrupt
            remapping), the kernel command line, each device's IOMMU group and ACS path, whether the
            host uses the device or a group peer (mounted disks, swap, network links that are up),
            which reset the kernel and QEMU will use and whether it is known to break the device,
            power and link state, driver binding and early-binding configuration, the option ROM,
            and known kernel log lines. Nothing is written and no module is loaded; option ROMs are
            only enabled with --read-rom.

            Without --device every endpoint is checked. A device's verdict is its worst finding;
            host findings that make passthrough impossible (no IOMMU) fail every device."""
        ),
        epilog=textwrap.dedent(
            """\
            exit codes:
              0  every checked device passes
              1  the worst verdict is warn
              2  some device fails
              3  the checker could not run (no such root, nothing readable)
             64  usage error (a typo in an option, bad arguments)
             65  a scenario or root that is malformed
             66  the scenario file cannot be read (missing, not a regular file, too large)
             (vfiolab --help lists every code)

            examples:
              vfiolab check                                  this host (run as root to see everything)
              vfiolab check --scenario terramaster-f4-424-pro --device 03:00.0
              vfiolab check --root /path/to/captured-root --json
              vfiolab check --scenario terramaster-f4-424-pro --assume-kernel 6.12.117-1~deb12u1"""
        ),
    )
    where = check.add_mutually_exclusive_group()
    where.add_argument(
        "--root",
        metavar="DIR",
        type=_path,
        help="root directory or capture bundle (.tar.gz) to check (default: /, this host)",
    )
    where.add_argument(
        "--scenario",
        metavar="NAME|PATH",
        help="render a scenario's host after its steps to a temporary root and check that",
    )
    check.add_argument(
        "--device",
        metavar="BDF",
        action="append",
        type=_device_address,
        help="check only this device (e.g. 03:00.0 or 0000:03:00.0); repeat for more",
    )
    check.add_argument(
        "--vm-firmware",
        choices=("ovmf", "seabios"),
        default="ovmf",
        help="the VM's firmware, for the option ROM check (default: ovmf, UEFI)",
    )
    check.add_argument(
        "--json", action="store_true", help="print the report as JSON (schema: harness/check.schema.json)"
    )
    check.add_argument(
        "--rom",
        metavar="[BDF=]FILE",
        action="append",
        type=_rom_argument,
        help="an option ROM image to judge, for the one --device or for BDF",
    )
    check.add_argument(
        "--read-rom",
        action="store_true",
        help="as root on this host: enable each device's ROM (echo 1 > rom), read it, disable it again",
    )
    check.add_argument(
        "--assume-kernel",
        metavar="VERSION",
        help="judge kernel quirks as if this kernel ran (upgrade planning): 6.12.117 (upstream), 6.8.12-4-pve "
        "(Proxmox VE) or 6.12.117-1~deb12u1 (Debian), optionally @YYYY-MM-DD (its build date); where vfiolab "
        "has no knowledge of that kernel the finding says it could not judge",
    )
    check.add_argument("--verbose", "-v", action="store_true", help="show why, evidence and fix for information too")
    check.add_argument(
        "--list-codes",
        action="store_true",
        help="print every finding code a check can emit, with its meaning, and exit (scenario expectations use them)",
    )
    check.add_argument("--no-color", action="store_true", help="no colour even on a terminal (NO_COLOR works too)")
    check.add_argument(
        "--redact",
        action="store_true",
        help="replace serial numbers, MACs, hostnames, UUIDs and IP addresses by pseudonyms (for a bug report)",
    )
    check.set_defaults(handler=cmd_check)


def _add_generate(commands: _Commands, device_dirs: _Parser) -> None:
    generate_targets = ", ".join(_target_names())
    generate = commands.add_parser(
        "generate",
        parents=[device_dirs],
        help=_HELP["generate"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            f"""\
            Generate configuration for passing --device(s) through, from the same root the checker
            reads (default /, this host; --root DIR; --scenario NAME). stdout is one document, usable
            as it comes: the target's one file (vfio.conf, a <hostdev>, a domain, hostpciN lines), the
            QEMU or kernel arguments, or the commands of proxmox-disks and driverctl; what it is, the
            notes and the next steps go to stderr. Targets that write several files (all, the
            initramfs ones) need --out DIR: files mirroring the host's paths (DIR/etc/...).

            The VM's configuration is read and respected: /etc/pve/qemu-server/<vmid>.conf on the
            root, or a libvirt domain with --domain FILE (virsh dumpxml; - reads stdin): free hostpciN
            and scsiN indices, its memory, vCPUs, machine type and firmware, and a warning for a
            device it already passes that the checker fails.

            Targets: {generate_targets}.

            The checker runs first: a device it fails is refused, with its reasons and, for a storage
            controller, the proxmox-disks alternative; --force generates anyway and every output says
            so. Devices sharing an IOMMU group are passed together and listed. Workarounds that give up
            a protection (pcie_acs_override, allow_unsafe_interrupts) are only written with --unsafe."""
        ),
        epilog=textwrap.dedent(
            """\
            exit codes:
              0  generated
              2  refused: the checker fails a device (or a group peer); see stderr
              3  could not run (the root is unreadable)
             64  usage error: bad arguments, an option the target does not use (--guest-address
                 for proxmox), a VM id outside 100-999999999, a device the host does not have,
                 a guest address that is taken, several files without --out DIR
             65  a scenario, root or --domain file that is malformed (a host name that is no
                 node name, a document that is not a libvirt domain...)
             66  the --domain or scenario file cannot be read (missing, not a regular file,
                 too large)
             73  output files that exist (add --overwrite), or --out that cannot be written

            examples:
              vfiolab generate proxmox --scenario terramaster-f4-424-pro --device 0000:00:17.0 --vmid 100
              vfiolab generate modprobe --device 0000:00:17.0 > /etc/modprobe.d/vfio.conf
              virsh dumpxml truenas | vfiolab generate libvirt --device 0000:00:17.0 --domain - \\
                  --domain-xml | virsh define /dev/stdin
              vfiolab generate all --device 0000:00:17.0 --out vfio-plan && vfio-plan/apply.sh --dry-run"""
        ),
    )
    generate.add_argument("target", metavar="TARGET", choices=_target_names(), help="what to generate (see above)")
    generate_where = generate.add_mutually_exclusive_group()
    generate_where.add_argument(
        "--root", metavar="DIR", type=_path, help="root directory or capture bundle to read (default: /, this host)"
    )
    generate_where.add_argument("--scenario", metavar="NAME|PATH", help="a scenario's host after its steps")
    generate.add_argument(
        "--device",
        metavar="BDF",
        action="append",
        type=_device_address,
        required=True,
        help="device to pass; repeat for more",
    )
    generate.add_argument(
        "--vmid",
        type=_vmid,
        help="the Proxmox VM, 100-999999999 (default 100); its config gives what it passes, disks, memory, "
        "vCPUs, machine and firmware",
    )
    generate.add_argument("--out", metavar="DIR", type=_path, help="write files under DIR instead of printing them")
    generate.add_argument("--overwrite", action="store_true", help="with --out: replace files that already exist")
    generate.add_argument("--force", action="store_true", help="generate even for devices the checker fails")
    generate.add_argument(
        "--domain",
        metavar="FILE",
        help="libvirt: the VM's domain XML (virsh dumpxml NAME; - for stdin) instead of a Proxmox VM",
    )
    generate.add_argument(
        "--domain-xml",
        action="store_true",
        help="libvirt: a whole domain (--domain's with the devices added, else a minimal one), not a <hostdev>",
    )
    generate.add_argument(
        "--guest-address",
        metavar="BUS:SLOT",
        type=_guest_address,
        help="guest PCI address for libvirt/QEMU, e.g. 06:00 (Proxmox cannot place a device)",
    )
    generate.add_argument(
        "--format",
        choices=_qemu_formats(),
        help="qemu: the arguments one per line (lines, the default) or as one shell-quoted line (shell)",
    )
    generate.add_argument(
        "--override",
        metavar="KEY=0xNNNN",
        action="append",
        type=_override_argument,
        help="ID the guest sees: vendor-id, device-id, sub-vendor-id or sub-device-id",
    )
    generate.add_argument(
        "--node",
        type=_node,
        help="proxmox: node name for the resource mapping (default: the root's hostname, without its domain)",
    )
    generate.add_argument(
        "--unsafe",
        metavar="WORKAROUND",
        action="append",
        choices=_unsafe_workarounds(),
        help="also write a workaround that gives up a protection: acs-override or unsafe-interrupts",
    )
    generate.add_argument(
        "--redact",
        action="store_true",
        help="replace serial numbers, MACs, hostnames, UUIDs and IP addresses by pseudonyms in the output",
    )
    generate.set_defaults(handler=cmd_generate)


def _add_capture(commands: _Commands, device_dirs: _Parser) -> None:
    del device_dirs  # capture reads a root, no scenario
    capture = commands.add_parser(
        "capture",
        help=_HELP["capture"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Read-only snapshot of a host (default /, this machine) or any root into one file, a
            gzip-compressed tar that vfiolab check --root FILE and vfiolab scenario import read:
            what the checker reads (PCI functions with their config space, links, drivers and IOMMU
            groups, the kernel command line, version and log, modprobe.d, initramfs and bootloader
            configuration, block devices down to their controllers, mounts, swaps, ZFS pools,
            network interfaces, VM configurations), DMI names, ACPI table headers and, on this
            machine, the output of lspci -vvv -nn -k, lspci -xxxx and dmesg (or journalctl -k).
            vfiolab-capture.json inside lists what was read, kept in part and skipped, and why.

            Serial numbers, MACs, hostnames, UUIDs and IP addresses are replaced by pseudonyms of
            the same shape (the same value gets the same pseudonym throughout); --no-redact keeps
            them. Run as root for the full config space; as a user the capture says what it could
            not read. At most 64 MiB of file content is captured."""
        ),
        epilog=textwrap.dedent(
            """\
            exit codes:
              0  written
              3  the root cannot be read
             64  usage error
             65  --root is a bundle that is malformed or hostile
             73  --out exists (add --overwrite) or cannot be written

            examples:
              sudo vfiolab capture --out host.tar.gz
              vfiolab check --root host.tar.gz"""
        ),
    )
    capture.add_argument("--root", metavar="DIR", help="root directory to capture (default: /, this host)")
    capture.add_argument("--out", metavar="FILE.tar.gz", required=True, help="the bundle to write")
    capture.add_argument("--no-redact", action="store_true", help="keep serials, MACs, hostnames, UUIDs and IPs")
    capture.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    capture.set_defaults(handler=cmd_capture)


def _add_scenario(commands: _Commands, device_dirs: _Parser) -> None:
    scenario = commands.add_parser(
        "scenario", help=_HELP["scenario"], description="Scenarios as tests (harness.scenario)."
    )
    scenario_commands = scenario.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND")
    scenario_commands.required = True
    scenario_run = scenario_commands.add_parser(
        "run",
        parents=[device_dirs],
        help="run scenarios and check their expectations",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Run scenarios: boot each host in the simulated kernel, apply its steps and check every
            expectation it has (kernel log, userspace messages, sysfs values, checker verdicts,
            generator output). Without names, every scenario found is run. A failure names the
            expectation's file:line, what was expected, what was found and the lines around it; a
            failed scenario's root is kept in a temporary directory named in the report."""
        ),
        epilog="exit codes: 0 every scenario passed; 1 some scenario failed an expectation; "
        "65 a scenario file does not load (one line with file:line); 66 the only scenarios that did not load "
        "could not be read (missing, not a regular file, too large); 64 usage error; 73 --junit-xml or --keep "
        "cannot be written; 75 another vfiolab process is writing a --keep directory.",
    )
    scenario_run.add_argument(
        "names", nargs="*", metavar="NAME|PATH", help="scenario name or path to a .yaml file (default: all)"
    )
    scenario_run.add_argument(
        "--junit-xml",
        metavar="FILE",
        type=_path,
        help="write JUnit XML, one test case per scenario, with its kernel profile and failure report",
    )
    scenario_run.add_argument("--keep", metavar="DIR", type=_path, help="leave each scenario's final root in DIR/NAME")
    from harness.live.cli import add_scenario_live_option

    add_scenario_live_option(scenario_run)
    scenario_run.set_defaults(handler=cmd_scenario_run)
    scenario_list = scenario_commands.add_parser(
        "list",
        help="list the scenarios found",
        description="List the scenarios found: name, the expectation layers it checks, tags and a one-line "
        "description.",
    )
    scenario_list.set_defaults(handler=cmd_scenario_list)
    scenario_show = scenario_commands.add_parser(
        "show",
        parents=[device_dirs],
        help="print a scenario's resolved host and steps",
        description="Print a scenario's host, with its extends: chain merged, and its steps, as YAML.",
    )
    scenario_show.add_argument("name", metavar="NAME|PATH", help="scenario name or path")
    scenario_show.set_defaults(handler=cmd_scenario_show)
    scenario_import = scenario_commands.add_parser(
        "import",
        parents=[device_dirs],
        help="turn a bug report or a captured host into a scenario and device descriptions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Import SOURCE(s) as a scenario: NAME.yaml and devices/NAME-*.yaml in --out DIR (default: a new
            directory NAME). Each source's kind is told from its content:

              a capture bundle or a captured/rendered root directory: the whole host (PCI functions with
                their config space, drivers, bus ranges, IOMMU groups; kernel, CPU, IOMMU; disks, mounts,
                network interfaces; modprobe.d, initramfs, bootloader and VM configuration files);
              text: lspci -v/-vv/-vvv output (with -nn, -k), lspci -x/-xxx/-xxxx hex dumps, lspci -tv trees,
                IOMMU group listings ("IOMMU Group 12: 03:00.0 ..."), kernel log lines (dmesg, journalctl
                -k), in any mix, as pasted into mail or forums (quoted, wrapped, with headers or fences).

            Every device file is encoded again and must give back the bytes (or the decoded values) it was
            made from; the scenario is loaded and booted in the simulated kernel, whose IOMMU groups are
            compared with the captured ones. Every value no source showed is an assumption, listed in the
            scenario's comments and on stderr. stdout is the scenario file's path."""
        ),
        epilog=textwrap.dedent(
            """\
            exit codes: 0 written; 64 usage error (no source, a bad --name, two roots); 65 a source that cannot
            be imported (file:line and why); 66 a source that does not exist or cannot be read; 73 an output
            file that exists (add --overwrite) or cannot be written.

            examples:
              vfiolab scenario import report.txt --name f4-424-asm1062
              vfiolab scenario import capture.tar.gz --out my-scenarios
              vfiolab check --scenario f4-424-asm1062/f4-424-asm1062.yaml"""
        ),
    )
    scenario_import.add_argument("sources", nargs="+", metavar="SOURCE", help="bundle, root directory or text file")
    scenario_import.add_argument("--name", metavar="NAME", help="scenario name (default: from the first source)")
    scenario_import.add_argument("--out", metavar="DIR", help="output directory (default: ./NAME)")
    scenario_import.add_argument("--overwrite", action="store_true", help="replace files an earlier import wrote")
    scenario_import.set_defaults(handler=cmd_scenario_import)


def _add_rom(commands: _Commands, device_dirs: _Parser) -> None:
    del device_dirs
    rom = commands.add_parser(
        "rom",
        help=_HELP["rom"],
        description="Parse a PCI option ROM image (e.g. saved with echo 1 > rom; cat rom > FILE; echo 0 > rom) and "
        "print its images like awilliam/rom-parser, then any problems found. Exit 0 valid, 1 problems, 66 unreadable.",
    )
    rom.add_argument("file", metavar="FILE", help="ROM image file")
    rom.set_defaults(handler=cmd_rom)


def _add_live(commands: _Commands, device_dirs: _Parser) -> None:
    del device_dirs
    from harness.live.cli import add_live_commands

    add_live_commands(commands)


def _add_lab(commands: _Commands, device_dirs: _Parser) -> None:
    del device_dirs
    from harness.lab.cli import add_lab_commands

    add_lab_commands(commands)


def _add_fakesys(commands: _Commands, device_dirs: _Parser) -> None:
    fakesys = commands.add_parser("fakesys", help=_HELP["fakesys"], description="Work with simulated hosts (fakesys).")
    fakesys_commands = fakesys.add_subparsers(dest="fakesys_command", metavar="SUBCOMMAND")
    fakesys_commands.required = True

    render = fakesys_commands.add_parser(
        "render",
        parents=[device_dirs],
        help="write a scenario's host as a root directory",
        description="Write the scenario's host as a root directory: DIR/sys, DIR/proc, DIR/dev, DIR/etc, "
        "DIR/var/log/dmesg. Real tools read it, e.g. lspci -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci. "
        "DIR is locked while it is written (.DIR.vfiolab-lock beside it); the tree is built beside DIR and "
        "moved into place, so DIR never holds half a render.",
        epilog=_RENDER_EXIT_CODES,
    )
    render.add_argument(
        "scenario", metavar="SCENARIO", help="scenario name (e.g. terramaster-f4-424-pro) or path to a .yaml file"
    )
    render.add_argument("directory", metavar="DIR", type=_path, help="new or empty directory to write into")
    render.add_argument(
        "--unprivileged", action="store_true", help="write the 64-byte config files a non-root reader sees"
    )
    render.add_argument("--force", action="store_true", help="replace DIR when it holds an earlier vfiolab render")
    render.set_defaults(handler=cmd_fakesys_render)

    lspci = fakesys_commands.add_parser(
        "lspci",
        parents=[device_dirs],
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
        parents=[device_dirs],
        help="apply a scenario's steps and leave the final tree in DIR",
        description="Boot the scenario's host, apply its steps (sysfs writes, VM starts and stops, waits, reboots), "
        "write the final root to DIR and print the kernel log the steps produced. Exit 0 when the steps ran; "
        "a VM that fails to start is a result (see DIR/var/log/vfiolab/userspace.log), not an error. "
        "DIR is written as by fakesys render (locked, moved into place).",
        epilog=_RENDER_EXIT_CODES,
    )
    run.add_argument("scenario", metavar="SCENARIO", help="scenario name or path")
    run.add_argument("directory", metavar="DIR", type=_path, help="new or empty directory to write into")
    run.add_argument("--all", action="store_true", help="print the whole kernel log since boot")
    run.add_argument("--force", action="store_true", help="replace DIR when it holds an earlier vfiolab render")
    run.set_defaults(handler=cmd_fakesys_run)

    sync = fakesys_commands.add_parser(
        "sync",
        parents=[device_dirs],
        help="apply writes real processes made to a rendered root",
        description="Rebuild the scenario's state (its steps, then the writes earlier syncs applied, kept in "
        "DIR/.vfiolab-writes), apply the writes processes made to DIR's control files since (e.g. echo vfio-pci > "
        "DIR/sys/bus/pci/devices/0000:03:00.0/driver_override), re-render DIR and print the kernel messages "
        "they caused. The journal records which scenario DIR was rendered from; another scenario is refused. "
        "Only the last value written to a file between two syncs is seen; symlinks in DIR are not followed.",
        epilog="exit codes: 0 synced; 65 the scenario does not load, DIR is not a vfiolab render, DIR was "
        "rendered from another scenario (or this one changed since), the journal is damaged; 66 the scenario "
        "file cannot be read; 73 DIR cannot be "
        "rewritten; 75 another vfiolab process is writing DIR.",
    )
    sync.add_argument("scenario", metavar="SCENARIO", help="the scenario DIR was rendered from (fakesys render or run)")
    sync.add_argument("directory", metavar="DIR", type=_path, help="the rendered root")
    sync.set_defaults(handler=cmd_fakesys_sync)

    describe = fakesys_commands.add_parser(
        "describe",
        help="turn lspci output (hex dumps, decoded text) into device descriptions",
        description="Print a device description (YAML in the fakesys/devices format, numbers in hex) for each "
        "device of DUMP: lspci -x/-xxx/-xxxx hex (64, 256 or 4096 bytes per device) and/or lspci -v/-vv/-vvv text, "
        "in any paste form (mail quoting, wrapping, headers). A whole dump is described exactly (encoding the "
        "description gives back its bytes); a 64-byte -x dump alone gives the header, with decoded text the "
        "capabilities too. BAR sizes come from the text's [size=...]; a dump alone has none. Each description "
        "cites DUMP and the device. Save one as devices/NAME.yaml beside a scenario to use it as device: NAME.",
        epilog="exit codes: 0 printed; 64 --device names no device of DUMP; 65 DUMP holds no lspci output, or "
        "is a plain hex dump with a malformed row (file:line and why); 66 DUMP cannot be read (missing, not a "
        "regular file, larger than 16 MiB).",
    )
    describe.add_argument("hexdump", metavar="DUMP", help="file with lspci output (hex and/or decoded text)")
    describe.add_argument("--device", metavar="BDF", type=_device_address, help="only this device (e.g. 03:00.0)")
    describe.set_defaults(handler=cmd_fakesys_describe)

    devices = fakesys_commands.add_parser(
        "devices",
        parents=[device_dirs],
        help="list every device description and behaviour, with where it comes from",
        description="List every device a scenario's device: can name, in search order: the devices/ directory "
        "beside --scenario, the directories of $VFIOLAB_DEVICE_PATH, --device-dir, the packaged library. The first "
        "file of a name is used; --verbose also shows the search path, each device's title and behaviours, and the "
        "files it shadows. Then the behaviours (built in).",
        epilog="exit codes: 0 listed; 65 --scenario does not load; 66 a --device-dir that does not exist.",
    )
    devices.add_argument("--scenario", metavar="NAME|PATH", help="include the devices/ directory beside this scenario")
    devices.add_argument("--verbose", "-v", action="store_true", help="search path, titles, shadowed files")
    devices.set_defaults(handler=cmd_fakesys_devices)


#: The one-line help of the subcommands defined here (live and lab define theirs).
_HELP = {
    "check": "predict what will break when passing devices through, and how to fix it",
    "generate": "write the configuration that passes devices through (Proxmox, libvirt, QEMU, boot files)",
    "capture": "snapshot this host (or a root) into a bundle for a bug report, redacted",
    "scenario": "run, list and show scenarios",
    "rom": "print what rom-parser prints for an option ROM image",
    "fakesys": "render and inspect simulated hosts",
}
#: Every subcommand and what adds it to the parser, in the order ``vfiolab --help`` lists them.
_COMMANDS: dict[str, Callable[[_Commands, _Parser], None]] = {
    "check": _add_check,
    "generate": _add_generate,
    "capture": _add_capture,
    "scenario": _add_scenario,
    "rom": _add_rom,
    "live": _add_live,
    "lab": _add_lab,
    "fakesys": _add_fakesys,
}


def _internal_error(error: BaseException, debug: bool) -> int:
    """A bug: one line naming where the traceback went (or the traceback itself with --debug)."""
    import traceback

    text = "".join(traceback.format_exception(error))
    if debug:
        sys.stderr.write(text)
        print(f"vfiolab: internal error; {REPORT_HOW}", file=sys.stderr)
        return exitcodes.INTERNAL
    try:
        import tempfile

        handle, name = tempfile.mkstemp(prefix="vfiolab-crash-", suffix=".txt")
        with os.fdopen(handle, "w") as crash:
            crash.write(f"vfiolab {__version__}\nargv: {sys.argv!r}\n\n{text}")
        where = f"the traceback is in {name}"
    except OSError:
        where = "run again with --debug to see the traceback"
    print(
        f"vfiolab: internal error ({type(error).__name__}: {error}); {where}; {REPORT_HOW}",
        file=sys.stderr,
    )
    return exitcodes.INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first "--" goes to the wrapped tool untouched (argparse would
    # otherwise eat the "--" at the top-level parser).
    passthrough: list[str] = []
    if "--" in arguments:
        split = arguments.index("--")
        arguments, passthrough = arguments[:split], arguments[split + 1 :]
    parser = build_parser(_command_in(arguments) or "")
    args = parser.parse_args(arguments)
    if passthrough:
        if not hasattr(args, "lspci_args"):
            parser.error(f"{' '.join(passthrough)}: this command takes no arguments after --")
        args.lspci_args = [*args.lspci_args, *passthrough]
    from fakesys.errors import FakesysError

    try:
        _use_device_dirs(args)
        code: int = args.handler(args)
    except CliError as error:
        print(f"vfiolab: error: {error}", file=sys.stderr)
        return error.code
    except VfiolabError as error:
        print(f"vfiolab: error: {error}", file=sys.stderr)
        return error.exit_code
    except FakesysError as error:
        from harness.scenario.errors import vfiolab_error

        print(f"vfiolab: error: {error}", file=sys.stderr)
        return vfiolab_error(error).exit_code
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (vfiolab check | head): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as error:
        return _internal_error(error, args.debug)
    return code


if __name__ == "__main__":
    sys.exit(main())
