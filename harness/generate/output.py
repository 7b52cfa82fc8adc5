"""What a generator target produces: files (with the path they belong at on the host), commands
to run, and notes; printed to stdout or written under ``--out DIR`` mirroring the host's paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import OutputError


class OutputExistsError(OutputError):
    """A file under --out already exists and --force was not given."""


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
    #: Sentences for the reader: assumptions made, what was refused and why.
    notes: list[str] = field(default_factory=list)

    def text(self, files: bool = True) -> str:
        """Everything as one text for stdout: notes as comments, each file under a header (unless
        ``files`` is false: they were written elsewhere), then the commands."""
        out: list[str] = [f"# {note}" for note in self.notes]
        for item in self.files if files else []:
            if out:
                out.append("")
            action = {"create": "file", "append": "add to", "snippet": "put into"}.get(item.how, item.how)
            heading = f"# {action} {item.path}" + (f": {item.description}" if item.description else "")
            out.append(heading)
            out.append(item.content.rstrip("\n"))
        if self.commands:
            if out:
                out.append("")
            for comment, command in self.commands:
                if comment:
                    out.append(f"# {comment}")
                out.append(command)
        return "\n".join(out) + "\n"

    def write(self, directory: Path, overwrite: bool = False) -> list[Path]:
        """Write each file under ``directory`` at its host path (``DIR/etc/modprobe.d/vfio.conf``);
        refuses to replace an existing file unless ``overwrite``. Returns the paths written."""
        planned = [(item, directory / item.path.lstrip("/")) for item in self.files]
        existing = [str(path) for _, path in planned if path.exists()]
        if existing and not overwrite:
            raise OutputExistsError(f"{', '.join(existing)}: already there; add --overwrite to replace")
        written = []
        for item, path in planned:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.content)
            os.chmod(path, item.mode)
            written.append(path)
        return written
