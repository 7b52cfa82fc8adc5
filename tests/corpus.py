"""The bad-input corpus (``tests/data/bad-input``): its cases, the files each case prepares, and
running their commands as subprocesses, several at a time, under a memory limit and a timeout.

A case is data, never code: ``NAME/case.yaml`` (schema ``case.schema.json`` beside the cases,
validated with file:line errors so that a broken case is one clear test error) plus the small
files it names (``{case}/...``). Each case gets a workspace of its own::

    WORKSPACE/root     a copy of the base scenario's ``fakesys render`` ({root})
    WORKSPACE/plan     a copy of a ``generate all`` plan made from that root ({plan})
    WORKSPACE/work     an empty directory: setup files, and the command's working directory ({work})
    WORKSPACE/canary   a directory hostile input aims at ({canary}); never read into the output
    WORKSPACE/out      does not exist: the intended output ({out})

The workspace (minus what the case says may change) and the case's own directory are
snapshotted before and after the command: paths, kinds, modes, sizes, modification times and
link targets, so a write anywhere else shows up. The command's temporary directory (``TMPDIR``,
where an internal error would write its traceback) must be empty afterwards.

Each command runs under util-linux ``prlimit --as`` (the memory limit), is started with
``Popen`` into files, in its own session so a timeout kills everything it started, and is polled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from fakesys.errors import SourceError
from fakesys.source import load_yaml, validate
from tests.canary import make_canary

CORPUS = Path(__file__).resolve().parent / "data" / "bad-input"
SCHEMA = CORPUS / "case.schema.json"
CASE_FILE = "case.yaml"
#: Address space of each command: the issue's bound on what a tiny input may make vfiolab use.
MEMORY_LIMIT = 1 << 30
DEFAULT_TIMEOUT = 30.0
#: What the canary's file holds (tests/canary.py): it must never reach any output.
CANARY_TEXT = "do not read or replace me"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: vfiolab's one-line error codes: bad input, input unreadable, cannot create, busy.
ONE_LINE_CODES = (65, 66, 73, 75)

Entry = tuple[str, int, int, int, str]  # kind, mode, size, mtime_ns, link target
Snapshot = dict[str, Entry]


class CaseError(Exception):
    """A case that cannot be prepared: the case is wrong, not vfiolab."""


def case_names() -> list[str]:
    """Every case directory's name, sorted (collection does not parse them: a broken case fails
    its own test, not the collection)."""
    return sorted(path.name for path in CORPUS.iterdir() if path.is_dir())


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text())
    return loaded


@dataclass(frozen=True)
class Case:
    name: str
    directory: Path
    spec: Mapping[str, Any]

    @property
    def program(self) -> str:
        return str(self.spec.get("program", "vfiolab"))

    @property
    def stream(self) -> str:
        return str(self.spec.get("stream", "stderr"))

    @property
    def messages(self) -> list[str]:
        message = self.spec.get("message", [])
        return [message] if isinstance(message, str) else list(message)

    @property
    def one_line(self) -> bool:
        default = self.program != "apply.sh" and self.stream == "stderr" and self.spec["exit"] in ONE_LINE_CODES
        return bool(self.spec.get("one_line", default))


def load_case(name: str) -> Case:
    """The case ``name``, validated; a :class:`SourceError` (file:line) when it is malformed."""
    directory = CORPUS / name
    document = load_yaml(directory / CASE_FILE)
    validate(document, _schema())
    spec = document.data
    if "plan" in spec and "base" not in spec:
        raise document.error(("plan",), "plan: needs base: (the plan is made from the base root)")
    if spec.get("program") == "apply.sh" and "plan" not in spec:
        raise document.error(("program",), "program: apply.sh needs plan:")
    return Case(name, directory, spec)


# --- Snapshots -----------------------------------------------------------------------------------


def snapshot(top: Path, skip: tuple[Path, ...] = ()) -> Snapshot:
    """Every entry below ``top`` (links not followed) except those at or below ``skip``."""
    found: Snapshot = {}
    skipped = {str(path) for path in skip}
    for current, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            path = os.path.join(current, name)
            if path in skipped:
                if name in dirs:
                    dirs.remove(name)
                continue
            info = os.lstat(path)
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            found[os.path.relpath(path, top)] = (
                _kind(info.st_mode),
                stat.S_IMODE(info.st_mode),
                0 if stat.S_ISDIR(info.st_mode) else info.st_size,
                info.st_mtime_ns,
                target,
            )
    return found


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "link"), (stat.S_ISDIR, "dir"), (stat.S_ISREG, "file"), (stat.S_ISFIFO, "fifo")):
        if test(mode):
            return name
    return "other"


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed, one line per path (at most 20)."""
    lines = [f"created {path}" for path in sorted(set(after) - set(before))]
    lines += [f"removed {path}" for path in sorted(set(before) - set(after))]
    lines += [
        f"changed {path}: {before[path]} -> {after[path]}"
        for path in sorted(set(before) & set(after))
        if before[path] != after[path]
    ]
    return lines[:20]


# --- Workspaces and setup ------------------------------------------------------------------------


@dataclass
class Workspace:
    top: Path
    case: Case

    @property
    def places(self) -> dict[str, Path]:
        return {
            "root": self.top / "root",
            "out": self.top / "out",
            "work": self.top / "work",
            "plan": self.top / "plan",
            "canary": self.top / "canary",
            "case": self.case.directory,
        }

    def expand(self, text: str) -> str:
        for name, path in self.places.items():
            text = text.replace("{" + name + "}", str(path))
        return text

    def path(self, text: str) -> Path:
        """A setup path: expanded, its parent resolved, and inside the workspace (the final
        component is never followed)."""
        expanded = Path(os.path.normpath(self.expand(text)))
        resolved = Path(os.path.realpath(expanded.parent)) / expanded.name
        if not resolved.is_relative_to(self.top):
            raise CaseError(f"{text}: leads outside the case's workspace ({resolved})")
        return resolved


def _clear(path: Path) -> None:
    """Remove whatever is at ``path`` (a link itself, never its target)."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _regular(path: Path) -> Path:
    if path.is_symlink() or not path.is_file():
        raise CaseError(f"{path}: expected a regular file to edit")
    return path


def _op_write(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    if ("text" in spec) == ("hex" in spec):
        raise CaseError(f"write {spec['path']}: give text or hex")
    unit = space.expand(spec["text"]).encode() if "text" in spec else bytes.fromhex(spec["hex"])
    _clear(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:
        handle.write(space.expand(spec.get("head", "")).encode())
        for _ in range(spec.get("repeat", 1)):
            handle.write(unit)
        handle.write(space.expand(spec.get("tail", "")).encode())


def _op_append(space: Workspace, spec: Mapping[str, Any]) -> None:
    with open(_regular(space.path(spec["path"])), "ab") as handle:
        handle.write(space.expand(spec["text"]).encode())


def _op_replace(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = _regular(space.path(spec["path"]))
    text = path.read_text()
    old = space.expand(spec["old"])
    if old not in text:
        raise CaseError(f"replace: {old!r} is not in {path}")
    path.write_text(text.replace(old, space.expand(spec["new"])))


def _op_patch(space: Workspace, spec: Mapping[str, Any]) -> None:
    with open(_regular(space.path(spec["path"])), "r+b") as handle:
        handle.seek(spec["offset"])
        handle.write(bytes.fromhex(spec["hex"]))


def _op_symlink(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    _clear(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(space.expand(spec["target"]))


def _op_fifo(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    _clear(path)
    os.mkfifo(path)


def _op_socket(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    _clear(path)
    # Bound by its name from inside its directory: a socket's path is limited to 107 bytes.
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind(path.name)
    finally:
        os.chdir(here)


def _op_sparse(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    if path.is_symlink() or not path.is_file():
        _clear(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.truncate(spec["size"])


def _op_truncate(space: Workspace, spec: Mapping[str, Any]) -> None:
    with open(_regular(space.path(spec["path"])), "r+b") as handle:
        handle.truncate(spec["size"])


def _op_remove(space: Workspace, spec: Mapping[str, Any]) -> None:
    path = space.path(spec["path"])
    if not path.is_symlink() and not path.exists():
        raise CaseError(f"remove: {path} does not exist")
    _clear(path)


def _op_mkdir(space: Workspace, spec: Mapping[str, Any]) -> None:
    space.path(spec["path"]).mkdir(parents=True, exist_ok=True)


def _op_chmod(space: Workspace, spec: Mapping[str, Any]) -> None:
    os.chmod(space.path(spec["path"]), int(spec["mode"], 8), follow_symlinks=False)


def _op_copy(space: Workspace, spec: Mapping[str, Any]) -> None:
    source = Path(space.expand(spec["source"]))
    path = space.path(spec["path"])
    _clear(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, path, symlinks=True)
    else:
        shutil.copy2(source, path, follow_symlinks=False)


OPERATIONS: dict[str, Callable[[Workspace, Mapping[str, Any]], None]] = {
    "write": _op_write,
    "append": _op_append,
    "replace": _op_replace,
    "patch": _op_patch,
    "symlink": _op_symlink,
    "fifo": _op_fifo,
    "socket": _op_socket,
    "sparse": _op_sparse,
    "truncate": _op_truncate,
    "remove": _op_remove,
    "mkdir": _op_mkdir,
    "chmod": _op_chmod,
    "copy": _op_copy,
}


# --- Running -------------------------------------------------------------------------------------


@dataclass
class Result:
    """What a case's command did: exit code (None when it was killed at its timeout), both
    streams, and the snapshots."""

    case: Case
    top: Path = Path()  # the workspace
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    error: str = ""  # the case could not be prepared
    changed: list[str] = field(default_factory=list)
    case_changed: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


@dataclass
class _Started:
    result: Result
    space: Workspace
    process: subprocess.Popen[bytes]
    deadline: float
    started: float
    before: Snapshot
    case_before: Snapshot
    skip: tuple[Path, ...]
    streams: Path
    temporary: Path
    held: contextlib.ExitStack


class Bases:
    """Base roots (a scenario's ``fakesys render``) and apply.sh plans, each made once."""

    def __init__(self, directory: Path, make_root: Callable[[str, Path], None], make_plan: Callable[..., None]) -> None:
        self.directory = directory
        self._make_root = make_root
        self._make_plan = make_plan
        self._roots: dict[str, Path] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], Path] = {}

    def root(self, scenario: str) -> Path:
        if scenario not in self._roots:
            path = self.directory / "roots" / scenario
            self._make_root(scenario, path)
            self._roots[scenario] = path
        return self._roots[scenario]

    def plan(self, scenario: str, devices: tuple[str, ...]) -> Path:
        key = (scenario, devices)
        if key not in self._plans:
            path = self.directory / "plans" / f"{scenario}-{len(self._plans)}"
            self._make_plan(self.root(scenario), devices, path)
            self._plans[key] = path
        return self._plans[key]


def _copy_tree(source: Path, target: Path) -> None:
    # cp -a is several times faster than shutil.copytree on a root of a thousand entries.
    subprocess.run(["cp", "-a", "--", str(source), str(target)], check=True)


def prepare(case: Case, top: Path, bases: Bases) -> Workspace:
    """The case's workspace with its setup applied."""
    space = Workspace(top, case)
    places = space.places
    top.mkdir(parents=True)
    places["work"].mkdir()
    make_canary(places["canary"])
    spec = case.spec
    if "base" in spec:
        _copy_tree(bases.root(spec["base"]), places["root"])
    if "plan" in spec:
        _copy_tree(bases.plan(spec["base"], tuple(spec["plan"])), places["plan"])
    for operation in spec.get("setup", []):
        [(name, arguments)] = operation.items()
        try:
            OPERATIONS[name](space, arguments)
        except OSError as error:
            raise CaseError(f"setup {name} {arguments.get('path')}: {error}") from None
    return space


def _argv(space: Workspace) -> list[str]:
    """The case's command under util-linux ``prlimit`` (RLIMIT_AS): the limit is set before
    exec by a program of its own, so no ``preexec_fn`` runs in this (possibly threaded) process."""
    arguments = [space.expand(part) for part in space.case.spec["command"]]
    if space.case.program == "apply.sh":
        command = ["sh", str(space.places["plan"] / "apply.sh"), *arguments]
    elif space.case.program == "proxy":
        command = [sys.executable, "-m", "harness.live.proxy", *arguments]
    else:
        command = [sys.executable, "-m", "harness.cli", *arguments]
    return ["prlimit", f"--as={MEMORY_LIMIT}", "--", *command]


def _environment(space: Workspace, home: Path, temporary: Path) -> dict[str, str]:
    environment = {"PATH": PATH, "LC_ALL": "C.UTF-8", "HOME": str(home), "TMPDIR": str(temporary)}
    if space.case.program == "apply.sh":
        environment["VFIOLAB_ROOT"] = str(space.places["root"])
    for name, value in space.case.spec.get("env", {}).items():
        environment[name] = space.expand(value)
    return environment


def _uses_placeholder(case: Case, name: str) -> bool:
    return ("{" + name + "}") in json.dumps(case.spec)


def start(case: Case, directory: Path, bases: Bases) -> _Started:
    top = directory / case.name
    space = prepare(case, top, bases)
    for name, needs in (("root", "base"), ("plan", "plan")):
        if _uses_placeholder(case, name) and needs not in case.spec:
            raise CaseError(f"{{{name}}} is used but the case has no {needs}:")
    streams = directory / f"{case.name}.streams"
    temporary = directory / f"{case.name}.tmp"
    home = directory / f"{case.name}.home"
    for path in (streams, temporary, home):
        path.mkdir()
    skip = tuple(space.path(path) for path in case.spec.get("changes", []))
    held = contextlib.ExitStack()
    if "lock" in case.spec:
        lock_path = space.path(case.spec["lock"])
        handle = held.enter_context(open(lock_path, "a"))  # noqa: SIM115 - held until the command ends
        fcntl.flock(handle, fcntl.LOCK_EX)
    before = snapshot(top, skip)
    case_before = snapshot(case.directory)
    with open(streams / "stdout", "wb") as out, open(streams / "stderr", "wb") as err:
        process = subprocess.Popen(
            _argv(space),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=space.places["work"],
            env=_environment(space, home, temporary),
            start_new_session=True,
        )
    now = time.monotonic()
    timeout = float(case.spec.get("timeout", DEFAULT_TIMEOUT))
    return _Started(
        Result(case, top), space, process, now + timeout, now, before, case_before, skip, streams, temporary, held
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 9)
    process.wait()


def finish(started: _Started, timed_out: bool) -> Result:
    result = started.result
    if timed_out:
        _kill(started.process)
        result.code = None
    else:
        result.code = started.process.returncode
        # What the command started in its session must be gone too (apply.sh's children).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.process.pid, 9)
    result.seconds = time.monotonic() - started.started
    started.held.close()
    result.stdout = (started.streams / "stdout").read_bytes().decode(errors="replace")
    result.stderr = (started.streams / "stderr").read_bytes().decode(errors="replace")
    result.changed = differences(started.before, snapshot(started.space.top, started.skip))
    result.case_changed = differences(started.case_before, snapshot(started.result.case.directory))
    result.leftovers = sorted(os.listdir(started.temporary))
    return result


def run_all(cases: list[Case], directory: Path, bases: Bases, workers: int) -> Iterator[Result]:
    """Run every case, ``workers`` at a time; results in the order they finish."""
    pending = deque(cases)
    running: list[_Started] = []
    while pending or running:
        while pending and len(running) < workers:
            case = pending.popleft()
            try:
                running.append(start(case, directory, bases))
            except (CaseError, OSError) as error:
                yield Result(case, error=str(error))
        time.sleep(0.005)
        now = time.monotonic()
        for item in list(running):
            done = item.process.poll() is not None
            if done or now > item.deadline:
                running.remove(item)
                yield finish(item, timed_out=not done)


def check_case_file(name: str) -> Case:
    """:func:`load_case`, with a malformed case as :class:`CaseError`."""
    try:
        return load_case(name)
    except SourceError as error:
        raise CaseError(str(error)) from None
