"""What ``vfiolab scenario import`` tells its user on stderr: what was written, from which
sources, every assumption and note, how the IOMMU groups compare, and the command to try next."""

from __future__ import annotations

import shlex
from typing import TextIO

from harness.scenario.importer import ImportResult
from harness.scenario.importer.writer import printable


def write_report(result: ImportResult, stream: TextIO) -> None:
    draft = result.draft
    devices = len(draft.devices)
    stream.write(
        f"vfiolab scenario import: wrote {result.scenario} and {devices} device file(s) in "
        f"{result.directory / 'devices'}\n"
    )
    sections = (
        ("sources", draft.sources),
        ("assumptions (values no source showed; the import chose them)", [str(item) for item in draft.assumptions]),
        ("notes", [str(item) for item in draft.notes]),
        ("IOMMU groups", draft.group_summary),
    )
    for title, items in sections:
        if not items:
            continue
        stream.write(f"{title} ({len(items)}):\n")
        for item in items:
            stream.write(f"  - {printable(str(item))}\n")
    if draft.expected_lines:
        stream.write(
            f"{len(draft.expected_lines)} kernel log line(s) worth an expectation are listed, commented, at the end "
            "of the scenario\n"
        )
    stream.write(f"next: vfiolab check --scenario {shlex.quote(str(result.scenario))}\n")
