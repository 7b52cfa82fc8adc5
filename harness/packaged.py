"""Data files shipped inside the ``harness`` package (JSON tables, schemas), read beside the
modules that ship them.

``importlib.resources`` would do the same through its reader machinery, whose imports (zipfile,
tempfile, shutil, random, hashlib, bz2, lzma) cost a ``vfiolab check`` more start-up time than
all of its reading; vfiolab is installed as files (a wheel or an editable checkout), never run
from a zip archive, so the package directory is the place to read from.
"""

from __future__ import annotations

import sys
from pathlib import Path


def packaged_text(package: str, relative: str) -> str:
    """The UTF-8 text of ``relative`` (``data/quirks.json``) in the imported ``package``."""
    module = sys.modules.get(package)
    if module is None:
        import importlib

        module = importlib.import_module(package)
    location = getattr(module, "__file__", None)
    if location is None:
        raise FileNotFoundError(f"{package} is not a package on disk; cannot read {relative}")
    return (Path(location).parent / relative).read_text(encoding="utf-8")
