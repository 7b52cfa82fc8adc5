"""Bug reports in: import what people paste (``lspci`` text, hex dumps, trees) as device data.

The public API:

- :func:`parse_lspci` (``harness.capture.lspci_text``): a pasted ``lspci`` output, in any paste
  form, to an :class:`ImportedPaste` of :class:`ImportedDevice` records, each with a device
  description in the device library's vocabulary, its hex bytes when the paste had them, the
  assumptions made and the disagreements between text and hex.
- :func:`coverage` (``harness.capture.crosscheck``): which config-space bits the text showed.
- :func:`compact_description` (``harness.capture.compact``): the same description without the
  fields that encode to zero, as the device library's files are written.
- :func:`combined_description` (``harness.capture.crosscheck``): a description with a hex dump's
  bytes laid over it (a 64-byte ``lspci -x`` dump plus ``-vv`` text make a full device).

Capture (``vfiolab capture``): :func:`harness.capture.bundle.capture` snapshots a root into a
bundle (the format is in :mod:`harness.capture.bundle`, what is read in
:mod:`harness.capture.snapshot`), :class:`harness.capture.redact.Redactor` replaces what
identifies a host by pseudonyms, and :func:`harness.capture.bundle.read_manifest` reads a
bundle's manifest; bundles are read as roots by :mod:`harness.rootfs_bundle`.

This package reads text and roots; it never imports ``fakesys`` (encoding a description into
bytes is the device library's job, ``fakesys.hw.describe.encode``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.capture.compact import compact_description
    from harness.capture.crosscheck import combined_description, coverage
    from harness.capture.lspci_text import parse_lspci
    from harness.capture.model import (
        Assumption,
        Disagreement,
        Fact,
        HexDump,
        ImportedDevice,
        ImportedPaste,
        TreeNode,
        UnparsedLine,
    )

#: Where each public name lives. They are imported on first use, so that ``vfiolab capture`` and
#: ``check --redact``, which use only the capture and redaction modules, do not pay for the lspci
#: text importer's tables.
_PUBLIC = {
    "Assumption": "harness.capture.model",
    "Disagreement": "harness.capture.model",
    "Fact": "harness.capture.model",
    "HexDump": "harness.capture.model",
    "ImportedDevice": "harness.capture.model",
    "ImportedPaste": "harness.capture.model",
    "TreeNode": "harness.capture.model",
    "UnparsedLine": "harness.capture.model",
    "combined_description": "harness.capture.crosscheck",
    "compact_description": "harness.capture.compact",
    "coverage": "harness.capture.crosscheck",
    "parse_lspci": "harness.capture.lspci_text",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.capture' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Assumption",
    "Disagreement",
    "Fact",
    "HexDump",
    "ImportedDevice",
    "ImportedPaste",
    "TreeNode",
    "UnparsedLine",
    "combined_description",
    "compact_description",
    "coverage",
    "parse_lspci",
]
