"""Start QEMU through the proxy server: ``python -m harness.live.proxy``, for tools that start QEMU
themselves and pass it no file descriptors (labgrid's QEMUDriver runs its configured QEMU binary
with its own arguments).

    python -m harness.live.proxy --device sata0=asmedia-asm1062 \\
        --device sata1=asmedia-asm1062,behaviour=link_dead_after_bus_reset \\
        --memfd-ram 512M -- qemu-system-x86_64 -machine q35 -m 512 ... \\
        -device pcie-root-port,id=rp1,chassis=1 \\
        -device x-pci-proxy-dev,id=sata0,bus=rp1,fd=proxy:sata0 ...

Each ``--device NAME=MODEL[,condition=dead][,behaviour=B[:PARAM=VALUE]...]...`` starts a server
for a library device (a behaviour's parameters are scalars: ``behaviour=ready_after_reset:ms=3000``);
``fd=proxy:NAME`` in QEMU's arguments becomes the descriptor of its socket (every device must be
named there once). ``--memfd-ram SIZE`` adds the shared memfd RAM the proxy needs to
hand guest RAM to its remote (without it QEMU logs "Unable to write to socket" at every memory
change and the device gets no RAM; QEMU 7.2 hw/remote/proxy-memory-listener.c). QEMU runs as
this process's child with the same standard input, output and error; SIGINT, SIGTERM and SIGHUP
are passed on to it; the exit status is QEMU's (128 + N when a signal N ended it). With
``--report-dir DIR`` each server writes ``DIR/proxy-NAME.json`` (messages, resets, what was cut
from the model) when QEMU exits. A server whose watchdog fired is named on standard error.

A wrapper script for labgrid (its ``tools: qemu:`` entry) is one line:
``exec python3 -m harness.live.proxy --device ... --memfd-ram 512M -- qemu-system-x86_64 "$@"``.

Exit codes: QEMU's; 64 usage (a bad ``--device``, a placeholder without a device or the other
way round); 65 a model the proxy cannot serve; 3 QEMU could not be started.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from harness import exitcodes
from harness.errors import VfiolabError
from harness.live.proxy.served import ServedDevice, ServingError
from harness.live.proxy.server import DEFAULT_WATCHDOG, ProxyServer
from harness.live.spec import PROXY_CONDITIONS, Proxy

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_PLACEHOLDER = re.compile(r"fd=proxy:([a-z][a-z0-9_-]{0,30})(?=,|$)")
_SIZE = re.compile(r"^[1-9][0-9]{0,6}[MG]$")


class UsageError(VfiolabError):
    """A command line the wrapper cannot act on (one line)."""

    exit_code = exitcodes.USAGE


def parse_device(text: str) -> tuple[str, Proxy]:
    """``NAME=MODEL[,condition=dead][,behaviour=B]...``."""
    name, equals, rest = text.partition("=")
    if not equals or not _NAME.fullmatch(name):
        raise UsageError(f"--device {text!r}: expected NAME=MODEL[,condition=dead][,behaviour=NAME]...")
    model, *options = rest.split(",")
    condition = "ok"
    behaviours: list[dict[str, object]] = []
    for option in options:
        key, _, value = option.partition("=")
        if key == "condition" and value in PROXY_CONDITIONS:
            condition = value
        elif key == "behaviour" and value:
            behaviour, *parameters = value.split(":")
            entry: dict[str, object] = {"name": behaviour}
            for parameter in parameters:
                field, equals, setting = parameter.partition("=")
                if not equals or not field:
                    raise UsageError(f"--device {text!r}: behaviour parameter {parameter!r} is not PARAM=VALUE")
                entry[field] = int(setting) if setting.isdigit() else setting
            behaviours.append(entry)
        else:
            raise UsageError(f"--device {text!r}: unknown option {option!r} (condition=dead, behaviour=NAME)")
    return name, Proxy(model, tuple(behaviours), condition)


def qemu_arguments(arguments: Sequence[str], fds: dict[str, int], memfd_ram: str | None) -> list[str]:
    """QEMU's arguments with every ``fd=proxy:NAME`` replaced and the memfd RAM added."""
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in fds:
            raise UsageError(f"fd=proxy:{name}: no --device {name}=MODEL")
        used.append(name)
        return f"fd={fds[name]}"

    result = [_PLACEHOLDER.sub(replace, argument) for argument in arguments]
    missing = sorted(set(fds) - set(used))
    if missing:
        raise UsageError(f"--device {missing[0]}: QEMU's arguments have no x-pci-proxy-dev with fd=proxy:{missing[0]}")
    twice = sorted({name for name in used if used.count(name) > 1})
    if twice:
        raise UsageError(f"fd=proxy:{twice[0]} appears more than once; one socket serves one device")
    if memfd_ram is not None:
        result += [
            "-object",
            f"memory-backend-memfd,id=vfiolab-ram,size={memfd_ram},share=on",
            "-machine",
            "memory-backend=vfiolab-ram",
        ]
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.live.proxy",
        description="Start QEMU with x-pci-proxy-dev devices served by vfiolab's proxy server.",
        epilog="exit codes: QEMU's; 64 usage; 65 a model that cannot be served; 3 QEMU could not be started.",
    )
    parser.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="NAME=MODEL[,condition=dead][,behaviour=B]",
        help="serve library device MODEL as the x-pci-proxy-dev whose argument has fd=proxy:NAME",
    )
    parser.add_argument("--memfd-ram", metavar="SIZE", help="add shared memfd guest RAM of SIZE (e.g. 512M)")
    parser.add_argument("--watchdog", type=float, default=DEFAULT_WATCHDOG, metavar="SECONDS", help="answer deadline")
    parser.add_argument("--report-dir", metavar="DIR", help="write DIR/proxy-NAME.json when QEMU exits")
    parser.add_argument("qemu", nargs=argparse.REMAINDER, help="-- then QEMU and its arguments")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = list(args.qemu)
    if command and command[0] == "--":
        command = command[1:]
    try:
        devices = [parse_device(text) for text in args.device]
        names = [name for name, _ in devices]
        if len(set(names)) != len(names):
            raise UsageError("a --device NAME is used twice")
        if args.memfd_ram is not None and not _SIZE.fullmatch(args.memfd_ram):
            raise UsageError(f"--memfd-ram {args.memfd_ram!r}: expected a size such as 512M or 2G")
        if not command:
            raise UsageError("no QEMU command after --")
    except UsageError as error:
        print(f"vfiolab proxy: {error}", file=sys.stderr)
        return error.exit_code
    servers: list[ProxyServer] = []
    try:
        try:
            for name, proxy in devices:
                servers.append(ProxyServer(name, ServedDevice(proxy), watchdog=args.watchdog))
            final = qemu_arguments(command, {server.name: server.qemu_fd for server in servers}, args.memfd_ram)
        except (ServingError, UsageError) as error:
            print(f"vfiolab proxy: {error}", file=sys.stderr)
            return error.exit_code
        return _run(final, servers, Path(args.report_dir) if args.report_dir else None)
    finally:
        for server in servers:
            server.close()


def _run(command: list[str], servers: list[ProxyServer], report_dir: Path | None) -> int:
    for server in servers:
        server.start()
    try:
        child = subprocess.Popen(command, pass_fds=[server.qemu_fd for server in servers])
    except OSError as error:
        print(f"vfiolab proxy: {command[0]} could not be started: {error.strerror}", file=sys.stderr)
        return exitcodes.CANNOT_RUN
    for server in servers:
        server.release_qemu_end()

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for server in servers:
        if server.failure:
            print(f"vfiolab proxy: {server.name}: {server.failure}", file=sys.stderr)
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            server.write_report(report_dir / f"proxy-{server.name}.json")
    return status if status >= 0 else 128 - status
