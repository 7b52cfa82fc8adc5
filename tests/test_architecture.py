"""The house rules of DESIGN.md, checked on the source: who may import whom, docstrings."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAKESYS_ALLOWED_IN_HARNESS = ("harness/scenario/", "harness/pytest_plugin.py", "harness/live/proxy")


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(module, node, top-level?) for every import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found: list[tuple[str, ast.AST, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node, id(node) in top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, node, id(node) in top))
    return found


def test_fakesys_imports_only_harness_pci() -> None:
    offenders = [
        f"{path.relative_to(REPO)}: {module}"
        for path in _modules("fakesys")
        for module, _, _ in _imports(path)
        if module.startswith("harness") and not module.startswith("harness.pci")
    ]
    assert offenders == []


def test_harness_imports_fakesys_only_where_allowed() -> None:
    offenders = []
    for path in _modules("harness"):
        relative = str(path.relative_to(REPO))
        if relative.startswith(FAKESYS_ALLOWED_IN_HARNESS):
            continue
        for module, _, top_level in _imports(path):
            if not module.startswith("fakesys"):
                continue
            # The CLI may import fakesys, but only inside its fakesys subcommands.
            if relative == "harness/cli.py" and not top_level:
                continue
            offenders.append(f"{relative}: {module}")
    assert offenders == []


def test_every_module_starts_with_a_docstring_and_future_annotations() -> None:
    missing = []
    for package in ("fakesys", "harness", "tests", "bench"):
        for path in _modules(package):
            text = path.read_text()
            if package == "tests" and path.name == "__init__.py" and not text:
                continue
            tree = ast.parse(text)
            if ast.get_docstring(tree) is None:
                missing.append(f"{path.relative_to(REPO)}: no docstring")
            if "from __future__ import annotations" not in text:
                missing.append(f"{path.relative_to(REPO)}: no 'from __future__ import annotations'")
    assert missing == []
