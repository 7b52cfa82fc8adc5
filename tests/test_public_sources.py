"""What vfiolab ships cites public sources only: no path outside the repository, no bare document
name that is not in the repository (a reader of a finding, a device description or the README
has the repository and the public web, nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("harness", "fakesys", "scenarios")
SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".txt"}
# A document named without a directory or site in front of it ("notes.md", "DESIGN.md").
BARE_DOCUMENT = re.compile(r"(?<![\w/.:-])([\w][\w.-]*\.md)\b")
# A path climbing out of the repository to a document (sysfs-style "../../sdc" links are data).
OUTSIDE = re.compile(r"\.\./(?:[\w.-]+/)*(?:shared\b|[\w.-]+\.md\b)")


def _shipped_files() -> list[Path]:
    files = [REPO / "README.md"]
    for top in SHIPPED:
        files += [path for path in sorted((REPO / top).rglob("*")) if path.suffix in SUFFIXES and path.is_file()]
    return files


def test_nothing_shipped_cites_a_file_outside_the_repository() -> None:
    in_repo = {path.name for path in REPO.rglob("*.md") if ".git" not in path.parts and ".tox" not in path.parts}
    offenders = []
    for path in _shipped_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{number}"
            if OUTSIDE.search(line):
                offenders.append(f"{where}: relative path leaving the repository: {line.strip()[:100]}")
            for name in BARE_DOCUMENT.findall(line):
                if name not in in_repo:
                    offenders.append(f"{where}: cites {name}, which is not in the repository")
    assert offenders == []


def test_the_checker_catches_a_planted_citation() -> None:
    line = "sources: [../shared/reference/live-qemu.md section 4]"
    assert OUTSIDE.search(line)
    assert BARE_DOCUMENT.findall(line) == []  # behind a directory: caught as a path leaving the repo
    assert not OUTSIDE.search('Evidence(path, f"-> ../../{item.disk.name}")')
    assert BARE_DOCUMENT.findall("see checker-and-generator.md §9") == ["checker-and-generator.md"]
    assert BARE_DOCUMENT.findall("github.com/owner/repo/docs/notes.md") == []
