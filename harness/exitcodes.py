"""The one exit-code table of every ``vfiolab`` subcommand.

The verdict codes (0-3) are the checker's and are shared by every command that judges something;
everything else follows ``sysexits.h`` so that a typo on a command line never reads as a verdict
in CI. The table is printed by ``vfiolab --help`` and in the README (a test keeps the two equal).
This module imports nothing, so every entry point can use it without start-up cost.
"""

from __future__ import annotations


class ExitCode:
    """One row of the table. A plain class: ``typing`` (for a NamedTuple) would cost every
    ``vfiolab --help`` several milliseconds of start-up."""

    __slots__ = ("code", "meaning", "name")

    def __init__(self, code: int, name: str, meaning: str) -> None:
        self.code = code
        self.name = name
        self.meaning = meaning

    def __repr__(self) -> str:
        return f"ExitCode({self.code}, {self.name!r}, {self.meaning!r})"


OK = 0
WARN = 1
FAIL = 2
CANNOT_RUN = 3
USAGE = 64
DATA = 65
NO_INPUT = 66
INTERNAL = 70
CANNOT_CREATE = 73
BUSY = 75
INTERRUPTED = 130

TABLE: tuple[ExitCode, ...] = (
    ExitCode(OK, "ok", "success: every checked device passes, every scenario passed, the files were written"),
    ExitCode(
        WARN,
        "warn",
        "the command ran and found a problem: the worst verdict is warn (check), a scenario or live "
        "run failed an expectation (scenario run, live run), a ROM has problems (rom), a prediction "
        "disagrees with the outcome (lab run), two lab runs differ (lab diff)",
    ),
    ExitCode(
        FAIL,
        "fail",
        "a device fails (check), or the request was refused because it fails (generate) or because acting "
        "could harm the host (lab run: the host uses a planned device or a device in its IOMMU group; --yes "
        "on / without root)",
    ),
    ExitCode(
        CANNOT_RUN,
        "cannot-run",
        "could not run: the root is unreadable, a required tool is missing, an infrastructure error "
        "(QEMU did not start, guest assets missing, the planned device is not on this host or has other IDs, "
        "VFIO could not open a device, a binding could not be restored)",
    ),
    ExitCode(USAGE, "usage", "usage error: unknown option, bad or conflicting arguments (sysexits EX_USAGE)"),
    ExitCode(
        DATA,
        "bad-input",
        "bad input data: a scenario, device description, hex dump, journal or root that is malformed; "
        "the message names the file and line (sysexits EX_DATAERR)",
    ),
    ExitCode(
        NO_INPUT,
        "no-input",
        "an input file named on the command line does not exist or cannot be read (sysexits EX_NOINPUT)",
    ),
    ExitCode(
        INTERNAL,
        "internal",
        "internal error, a bug in vfiolab: the message names the file holding the traceback "
        "(--debug prints it) and where to report it (sysexits EX_SOFTWARE)",
    ),
    ExitCode(
        CANNOT_CREATE,
        "cannot-create",
        "an output file or directory cannot be created or would be overwritten (sysexits EX_CANTCREAT)",
    ),
    ExitCode(
        BUSY,
        "busy",
        "another vfiolab process holds the lock on the directory or the lab's restore journal; try again "
        "(sysexits EX_TEMPFAIL)",
    ),
    ExitCode(
        INTERRUPTED,
        "interrupted",
        "interrupted (Ctrl-C or SIGTERM); what was done is reported (lab run restores the bindings first)",
    ),
)


def table_text(indent: str = "  ", width: int = 100) -> str:
    """The table as ``--help`` prints it: each code with its meaning wrapped under it."""
    import textwrap

    lines = []
    for entry in TABLE:
        lines += textwrap.wrap(
            entry.meaning,
            width=width,
            initial_indent=f"{indent}{entry.code:>3}  ",
            subsequent_indent=indent + " " * 5,
        )
    return "\n".join(lines)


def markdown_table() -> str:
    """The table as the README shows it."""
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {entry.code} | {entry.name} | {entry.meaning} |" for entry in TABLE]
    return "\n".join(rows)
