"""The package list in pyproject.toml names every Python package in the source tree.

A package missing from that list is left out of the sdist and wheel: the checkout works, the
installed tool (tox, CI, a user's pip install) fails with ModuleNotFoundError.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), dict(config.get("package-dir", {}))


def _source_packages() -> set[str]:
    found: set[str] = set()
    for top in ("harness", "fakesys"):
        for init in (PROJECT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(PROJECT).parts))
    return found


def test_every_source_package_is_declared() -> None:
    declared, _ = _declared()
    missing = sorted(_source_packages() - declared)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_declared_package_exists() -> None:
    declared, package_dir = _declared()
    for name in sorted(declared):
        directory = PROJECT / package_dir.get(name, name.replace(".", "/"))
        assert directory.is_dir(), f"{name}: no directory {directory}"
