"""What a generator target produces: files (with the path they belong at on the host), commands
to run, checks to make after a reboot, and notes; printed to stdout or written under ``--out DIR``
mirroring the host's paths.

Every command is built by its target with :func:`harness.paste.command` (each value one shell
word); notes and headings are printed as comments through :func:`harness.paste.comment`, so no
value from the host can end a comment line. Writing under ``--out`` stays inside DIR, replaces
each file atomically (a temporary file renamed over it), and turns every failure into an
:class:`~harness.errors.OutputError` (exit 73).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness import paste
from harness.errors import OutputError


class OutputExistsError(OutputError):
    """A file under --out already exists and --overwrite was not given."""


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

    def text(self, files: bool = True) -> str:
        """Everything as one text for stdout: notes as comments, each file under a header (unless
        ``files`` is false: they were written elsewhere), then the commands."""
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
