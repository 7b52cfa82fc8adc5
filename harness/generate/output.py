"""What a generator target produces: files (with the path they belong at on the host), commands
to run, checks to make after a reboot, and notes; and how the command line prints it.

The output contract: without ``--out``, stdout carries exactly one document, usable as it comes
(``| virt-xml-validate -``, ``> /etc/modprobe.d/vfio.conf``, ``| sh``): the one file a target
produces, or a text of its own the target sets (the QEMU arguments, the kernel arguments, the
commands of a target whose output is commands). Everything for the reader (notes, warnings,
what stdout holds and where it goes, the next steps) goes to stderr (:meth:`GeneratedOutput.guidance`).
A target that produces several files has no stdout document: it needs ``--out DIR``, which
writes them mirroring the host's paths (:class:`NeedsOutDirectory` otherwise, a usage error).

Every command is built by its target with :func:`harness.paste.command` (each value one shell
word); notes and headings are printed as comments through :func:`harness.paste.comment`, so no
value from the host can end a comment line. Writing under ``--out`` stays inside DIR, replaces
each file atomically (a temporary file renamed over it), and turns every failure into an
:class:`~harness.errors.OutputError` (exit 73).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from harness import paste
from harness.errors import OutputError, UsageError


class OutputExistsError(OutputError):
    """A file under --out already exists and --overwrite was not given."""


class NeedsOutDirectory(UsageError):
    """The target produced several files and no ``--out DIR`` was given to write them into."""


@dataclass(frozen=True)
class GeneratedFile:
    #: Where it belongs on the host (absolute, e.g. /etc/modprobe.d/vfio.conf), or a bare name
    #: for output that is not a host file (a libvirt <hostdev> snippet).
    path: str
    content: str
    #: What to do with it: "create" (a new file), "append" (lines to add to an existing file),
    #: or "snippet" (to paste into a larger file, e.g. the VM's config).
    how: str = "create"
    mode: int = 0o644
    description: str = ""


@dataclass
class GeneratedOutput:
    target: str
    files: list[GeneratedFile] = field(default_factory=list)
    #: Shell commands, in order, with a comment each (printed as "# comment" then the command).
    commands: list[tuple[str, str]] = field(default_factory=list)
    #: For a command that rebuilds something from files (update-initramfs, update-grub...): the
    #: host paths among :attr:`files` it reads. ``apply.sh`` runs it only when one of them changed.
    reads: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Commands that confirm the result after a reboot (comment, command): printed, never run.
    after_reboot: list[tuple[str, str]] = field(default_factory=list)
    #: Sentences for the reader: assumptions made, what was refused and why.
    notes: list[str] = field(default_factory=list)
    #: The document stdout carries without --out (set by the target; see :meth:`stdout_text`).
    stdout: str | None = None
    #: What stdout holds and where it goes, for stderr.
    stdout_about: str = ""
    #: The output is its commands (``qm set -scsiN``, ``driverctl set-override``): stdout
    #: carries them, one per line, and stderr what each does.
    commands_on_stdout: bool = False
    #: How to get a single document instead, for the message when there are several files.
    single_hint: str = ""

    def show_file(self, item: GeneratedFile, about: str) -> None:
        """Add ``item`` and make its content the stdout document."""
        self.files.append(item)
        self.stdout = item.content
        self.stdout_about = about

    def stdout_text(self) -> str:
        """The one document for stdout, or :class:`NeedsOutDirectory` when there are several files."""
        if self.commands_on_stdout:
            return "".join(command + "\n" for _, command in self.commands)
        if self.stdout is None:
            paths = ", ".join(paste.printable(item.path) for item in self.files)
            raise NeedsOutDirectory(
                f"target {self.target} writes {len(self.files)} files ({paths}): give --out DIR to write them"
                + (f", or {self.single_hint}" if self.single_hint else "")
            )
        return self.stdout

    def guidance(self, written: bool = False) -> str:
        """What goes to stderr: the notes, what stdout holds (unless the files were ``written``
        under --out), and the next steps, as comments and commands to paste."""
        out = [paste.comment(note) for note in self.notes]
        on_stdout = self.commands_on_stdout and not written
        if not written and self.stdout_about:
            out.append(paste.comment(f"stdout: {self.stdout_about}"))
        for comment, command in self.commands:
            if on_stdout:
                out += [paste.comment(f"  {comment}")] if comment else []
                continue
            if comment:
                out.append(paste.comment(comment))
            out.append(command)
        for comment, command in self.after_reboot:
            out += [paste.comment(comment), command] if comment else [command]
        return "".join(line + "\n" for line in out)

    def redacted(self, redact: Callable[[str], str]) -> GeneratedOutput:
        """A copy with ``redact`` applied to every text it prints or writes (``--redact``)."""
        return replace(
            self,
            files=[
                replace(item, content=redact(item.content), description=redact(item.description)) for item in self.files
            ],
            commands=[(redact(comment), redact(command)) for comment, command in self.commands],
            after_reboot=[(redact(comment), redact(command)) for comment, command in self.after_reboot],
            notes=[redact(note) for note in self.notes],
            stdout=None if self.stdout is None else redact(self.stdout),
            stdout_about=redact(self.stdout_about),
        )

    def text(self, files: bool = True) -> str:
        """Everything as one text: notes as comments, each file under a header (unless ``files``
        is false), then the commands; what scenario expectations match lines in. The command
        line prints :meth:`stdout_text` and :meth:`guidance` instead."""
        out: list[str] = [paste.comment(note) for note in self.notes]
        for item in self.files if files else []:
            if out:
                out.append("")
            action = {"create": "file", "append": "add to", "snippet": "put into"}.get(item.how, item.how)
            out.append(paste.comment(f"{action} {item.path}" + (f": {item.description}" if item.description else "")))
            out.append(item.content.rstrip("\n"))
        for commands in (self.commands, self.after_reboot):
            if commands:
                if out:
                    out.append("")
                for comment, command in commands:
                    if comment:
                        out.append(paste.comment(comment))
                    out.append(command)
        return "\n".join(out) + "\n"

    def write(self, directory: Path, overwrite: bool = False) -> list[Path]:
        """Write each file under ``directory`` at its host path (``DIR/etc/modprobe.d/vfio.conf``);
        refuses to replace an existing file unless ``overwrite``. Returns the paths written."""
        base = _output_directory(directory)
        planned = [(item, base / _relative_path(item.path)) for item in self.files]
        existing = [str(path) for _, path in planned if os.path.lexists(path)]
        if existing and not overwrite:
            raise OutputExistsError(f"{', '.join(existing)}: already there; add --overwrite to replace")
        written = []
        for item, path in planned:
            _write_atomically(base, path, item.content, item.mode)
            written.append(path)
        return written


def _output_directory(directory: Path) -> Path:
    if os.path.lexists(directory) and not directory.is_dir():
        raise OutputError(f"--out {paste.printable(str(directory))}: exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        resolved = directory.resolve(strict=True)
    except OSError as error:
        raise OutputError(f"--out {paste.printable(str(directory))}: {error.strerror or error}") from None
    if not os.access(resolved, os.W_OK | os.X_OK):
        raise OutputError(f"--out {paste.printable(str(directory))}: not writable")
    return resolved


def _relative_path(path: str) -> PurePosixPath:
    """A generated file's host path as a path under DIR: no ``..``, no empty or control-character
    component (the paths come from the root's file names, e.g. a grub.d file)."""
    relative = PurePosixPath(path.lstrip("/"))
    parts = relative.parts
    if not parts or any(part in ("..", ".") or paste.printable(part) != part or "\0" in part for part in parts):
        raise OutputError(f"refusing to write {paste.printable(path)!r}: not a plain path under --out")
    return relative


def _write_atomically(base: Path, path: Path, content: str, mode: int) -> None:
    """Write into a temporary file beside ``path`` and rename it over ``path``: a reader sees the
    old file or the whole new one, and a symlink at ``path`` is replaced, not followed."""
    try:
        parent = path.parent
        parent.mkdir(parents=True, exist_ok=True)
        if base not in (parent.resolve(strict=True), *parent.resolve(strict=True).parents):
            raise OutputError(f"refusing to write {path}: {parent} leads outside {base}")
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".vfiolab-new", dir=parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(content)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
