"""``vfiolab scenario import``: bug reports and captured hosts in, a scenario and its devices out.

Sources (their kind is told from their content, :mod:`~harness.scenario.importer.sources`):

- a capture bundle or a captured/rendered root directory: the whole host
  (:mod:`~harness.scenario.importer.root`);
- text: ``lspci`` output in any form and paste form, IOMMU group listings, kernel log excerpts,
  in any mix and any number of files (:mod:`~harness.scenario.importer.pasted`,
  :mod:`~harness.scenario.importer.groups`, :mod:`~harness.scenario.importer.dmesg`).

The result is ``NAME.yaml`` and ``devices/NAME-*.yaml`` in the output directory
(:mod:`~harness.scenario.importer.writer`), checked before they are written
(:mod:`~harness.scenario.importer.stage`): each device file encodes back to the bytes (or the
decoded values) it was made from, the scenario loads, and its host boots in the simulated kernel,
whose IOMMU groups are compared with the captured ones. Every value no source showed is an
:class:`~harness.scenario.importer.model.Assumption`, listed in the scenario's comments and
returned to the caller (the command prints them on stderr).

Public API: :func:`import_sources` -> :class:`ImportResult`; :func:`describe_paste` (what
``vfiolab fakesys describe`` prints).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fakesys import names
from fakesys.errors import FakesysError
from harness.errors import InputError, UsageError
from harness.scenario.importer import devices, writer
from harness.scenario.importer.model import Assumption, HostDraft, Note
from harness.scenario.importer.pasted import import_pastes
from harness.scenario.importer.sources import RootPath, TextSource, classify
from harness.scenario.importer.stage import StageError, stage

__all__ = ["Assumption", "HostDraft", "ImportResult", "Note", "StageError", "default_name", "import_sources"]

_NAME_CHARS = re.compile(r"[^A-Za-z0-9_+.-]+")
_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".txt", ".log", ".lspci", ".eml", ".mbox", ".md")


@dataclass
class ImportResult:
    """An import that was written: the scenario's name and file, the device files, the draft
    with every assumption and note, and the sources as they were understood."""

    name: str
    directory: Path
    scenario: Path
    written: list[Path] = field(default_factory=list)
    draft: HostDraft = field(default_factory=HostDraft)

    @property
    def assumptions(self) -> list[Assumption]:
        return self.draft.assumptions

    @property
    def notes(self) -> list[Note]:
        return self.draft.notes


def default_name(sources: Sequence[str]) -> str:
    """A scenario name from the first source's file name (a library name; never a path)."""
    stem = Path(sources[0].rstrip("/")).name if sources else ""
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = _NAME_CHARS.sub("-", stem).strip("-_.+")[:100]
    return stem if stem and names.LIBRARY_NAME.fullmatch(stem) else "imported"


def render_files(name: str, draft: HostDraft) -> dict[str, str]:
    """Every file of the import, by path relative to the output directory."""
    files = {f"{name}.yaml": writer.scenario_text(name, draft)}
    for device in draft.devices:
        files[f"devices/{device.name}.yaml"] = devices.file_text(device)
    return files


def _import_root(path: RootPath, name: str, draft: HostDraft) -> None:
    # Imported here: a root's import reads a root and runs the checker, whose modules a paste
    # never needs.
    from harness.rootfs import RootError, open_root
    from harness.scenario.importer.root import import_root

    try:
        fs = open_root(path.path)
    except RootError as error:
        kind = "capture bundle" if path.bundle else "root"
        raise InputError(f"{path.path}: cannot be read as a {kind}: {error.reason}") from None
    except OSError as error:
        raise InputError(f"{path.path}: cannot be read as a capture bundle: {error.strerror or error}") from None
    with fs:
        try:
            import_root(fs, path.path, name, draft)
        except (RootError, LookupError, ValueError) as error:
            raise InputError(str(error)) from None


def build_draft(sources: Sequence[str], name: str) -> HostDraft:
    """The host every source together describes (nothing written yet)."""
    draft = HostDraft()
    classified = [classify(source) for source in sources]
    roots = [item for item in classified if isinstance(item, RootPath)]
    texts = [item for item in classified if isinstance(item, TextSource)]
    if len(roots) > 1:
        raise UsageError(f"{roots[1].path}: one root or capture bundle per import (a scenario is one host)")
    for text in texts:
        if not (text.lspci or text.groups or text.log):
            raise InputError(
                f"{text.path}:1: neither lspci output, an IOMMU group listing nor kernel log lines found "
                "(expected lines like '03:00.0 SATA controller: ...', 'IOMMU Group 12: 03:00.0 ...' or "
                "'[    1.234567] pci 0000:03:00.0: ...')"
            )
    if roots:
        _import_root(roots[0], name, draft)
        for text in texts:
            if text.lspci or text.groups:
                draft.note(text.path, "its lspci output and group listing are not used: the root has the devices")
            if text.log is not None:
                draft.log.extend((text.path, entry) for entry in text.log.entries)
                draft.sources.append(f"{text.path}: kernel log ({len(text.log.entries)} lines)")
    else:
        import_pastes(texts, name, draft)
    return draft


def import_sources(
    sources: Sequence[str], name: str | None = None, out: Path | None = None, overwrite: bool = False
) -> ImportResult:
    """Import ``sources`` into ``out`` (default: a new directory named after the scenario).

    Raises :class:`harness.errors.VfiolabError` subclasses: usage (64), bad input with its
    file:line (65), a source that cannot be read (66), an output that exists or cannot be written
    (73); :class:`StageError` when the import's own files do not check out (a bug)."""
    if not sources:
        raise UsageError("give at least one source (a capture bundle, a root directory or a text file)")
    if name is None:
        name = default_name(sources)
    else:
        try:
            names.library_name(name, "scenario name")
        except names.BadName as problem:
            raise UsageError(f"--name: {problem}") from None
    directory = out if out is not None else Path.cwd() / name
    draft = build_draft(sources, name)
    expected_files = [f"{name}.yaml", *(f"devices/{device.name}.yaml" for device in draft.devices)]
    writer.check_output(directory, expected_files, overwrite)
    try:
        files = stage(draft, name, lambda current: render_files(name, current))
    except FakesysError as error:
        raise InputError(f"the imported host does not load: {_without_staging(str(error), name)}") from None
    written = writer.write_files(directory, files, overwrite)
    return ImportResult(name, directory, directory / f"{name}.yaml", written, draft)


def _without_staging(message: str, name: str) -> str:
    """An error about the staged copy names the file it will be (never the temporary place)."""
    return re.sub(r"/\S*?vfiolab-import-[^/\s]+/", "", message)
