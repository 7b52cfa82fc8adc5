"""Bug reports in: import what people paste (``lspci`` text, hex dumps, trees) as device data.

The public API:

- :func:`parse_lspci` (``harness.capture.lspci_text``): a pasted ``lspci`` output, in any paste
  form, to an :class:`ImportedPaste` of :class:`ImportedDevice` records, each with a device
  description in the device library's vocabulary, its hex bytes when the paste had them, the
  assumptions made and the disagreements between text and hex.
- :func:`coverage` (``harness.capture.crosscheck``): which config-space bits the text showed.

This package reads text; it never imports ``fakesys`` (encoding a description into bytes is the
device library's job, ``fakesys.hw.describe.encode``).
"""

from __future__ import annotations

from harness.capture.crosscheck import coverage
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

__all__ = [
    "Assumption",
    "Disagreement",
    "Fact",
    "HexDump",
    "ImportedDevice",
    "ImportedPaste",
    "TreeNode",
    "UnparsedLine",
    "coverage",
    "parse_lspci",
]
