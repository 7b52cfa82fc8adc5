"""Writing an import: the scenario file with its comments, and the device files beside it.

The scenario (``NAME.yaml``) starts with comments that cite every source, list every assumption
and every note, and say how the IOMMU groups compare; the host follows in the shipped scenarios'
style (one line per PCI function, files as literal blocks). Device files go to ``devices/`` next to
it, which is the first place the device search path looks (:mod:`fakesys.hw.library`).

Output rules (exit 73, :class:`harness.errors.OutputError`): an existing file is never replaced
without ``overwrite``; the output directory and its ``devices/`` must be directories, not symbolic
links; each file is written to a temporary name in its directory and renamed into place, so a
reader never sees half a file. Comment text from the sources is reduced to printable characters.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fakesys.hw.description_yaml import Flow, FlowList, comment_lines, dump_yaml
from harness.errors import OutputError
from harness.scenario.importer.model import HostDraft

#: Host sections whose entries are written one per line.
_FLOW_LISTS = ("pci", "disks", "device_mapper", "mounts", "swaps", "net")
_MAX_COMMENT_ITEMS = 400
#: Host keys in the order shipped scenarios write them.
_HOST_ORDER = (
    "name",
    "dmi",
    "dmi_id",
    "hypervisor",
    "kernel",
    "cpu",
    "iommu",
    "pci",
    "disks",
    "device_mapper",
    "mounts",
    "swaps",
    "net",
    "modules",
    "files",
)


def printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else "?" for char in text)


def _section(title: str, items: Iterable[object]) -> str:
    listed = [printable(str(item)) for item in items]
    if not listed:
        return ""
    shown = listed[:_MAX_COMMENT_ITEMS]
    lines = [title, *(f"  - {item}" for item in shown)]
    if len(listed) > len(shown):
        lines.append(f"  ... and {len(listed) - len(shown)} more (the command's output lists them all)")
    return "\n".join(lines) + "\n\n"


def _host_data(host: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    ordered = [key for key in _HOST_ORDER if key in host] + [key for key in host if key not in _HOST_ORDER]
    for key in ordered:
        value = host[key]
        if key in _FLOW_LISTS and isinstance(value, list):
            data[key] = [_flow_entry(item) for item in value]
        elif key == "iommu" and isinstance(value, Mapping):
            data[key] = Flow(value) if "reserved_regions" not in value else dict(value)
        elif key == "cpu" and isinstance(value, Mapping):
            data[key] = {name: FlowList(item) if name == "flags" else item for name, item in value.items()}
        else:
            data[key] = value
    return data


def _flow_entry(item: object) -> object:
    if not isinstance(item, Mapping):
        return item
    return Flow({key: Flow(value) if isinstance(value, Mapping) else value for key, value in item.items()})


def scenario_text(name: str, draft: HostDraft) -> str:
    """The text of ``NAME.yaml``."""
    assumptions, notes, groups, expected = draft.assumptions, draft.notes, draft.group_summary, draft.expected_lines
    header = (
        "Imported by vfiolab scenario import. Every value below comes from the sources, except the assumptions\n"
        "listed here; the device descriptions are in devices/ beside this file.\n\n"
    )
    header += _section("Sources:", draft.sources)
    header += _section("Assumptions (values no source showed; the import chose them):", assumptions)
    header += _section("Notes (left out, or different in the simulation):", notes)
    header += _section("IOMMU groups:", groups)
    if draft.checker:
        header += (
            "expect.checker holds the verdicts the checker gave the capture itself: vfiolab scenario run\n"
            "says whether the simulated host is judged the same.\n"
        )
    functions = len(draft.host.get("pci", []))
    origins = "; ".join(source.partition(": ")[0] for source in draft.sources)
    description = f"Imported from {printable(origins)} by vfiolab scenario import: {functions} PCI functions."
    document: dict[str, Any] = {
        "name": name,
        "description": description,
        "tags": ["imported"],
        "host": _host_data(draft.host),
    }
    if draft.checker:
        document["expect"] = {
            "checker": {
                "devices": {
                    bdf: Flow({"verdict": verdict, "findings": codes})
                    for bdf, (verdict, codes) in sorted(draft.checker.items())
                }
            }
        }
    text = comment_lines(header.rstrip("\n")) + dump_yaml(document)
    if expected:
        lines = [
            "",
            "Kernel log lines worth an expectation (the captured log holds them, so this host's boot log does",
            "too; once steps reproduce what led to them, expect them from the steps instead of the boot):",
            "expect:",
            "  kernel_log:",
            "    lines:",
        ]
        for item in expected[:_MAX_COMMENT_ITEMS]:
            lines.append(
                f"      - {dump_yaml([item.text]).strip()[2:]}  # {printable(item.why)} ({printable(item.where)})"
            )
        text += comment_lines("\n".join(printable(line) for line in lines))
    return text


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise OutputError(f"{path}: a symbolic link; not written through (give a real directory)")


def check_output(directory: Path, files: Iterable[str], overwrite: bool) -> None:
    """Refuse before anything is written: an output that exists (without ``overwrite``), a
    directory that is a link or a file."""
    _refuse_link(directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError(f"{directory}: exists and is not a directory")
    _refuse_link(directory / "devices")
    if (directory / "devices").exists() and not (directory / "devices").is_dir():
        raise OutputError(f"{directory / 'devices'}: exists and is not a directory")
    if overwrite:
        return
    existing = [relative for relative in files if os.path.lexists(directory / relative)]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise OutputError(f"{directory / existing[0]}: exists{more}; give --overwrite to replace it")


def write_files(directory: Path, files: Mapping[str, str], overwrite: bool) -> list[Path]:
    """Write ``files`` (relative name -> text) under ``directory``, each atomically."""
    check_output(directory, files, overwrite)
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            target = directory / relative
            target.parent.mkdir(exist_ok=True)
            _refuse_link(target.parent)
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            written.append(target)
    except OSError as error:
        raise OutputError(f"{error.filename or directory}: cannot write: {error.strerror or error}") from None
    return written
