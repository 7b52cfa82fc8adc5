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

This package reads text; it never imports ``fakesys`` (encoding a description into bytes is the
device library's job, ``fakesys.hw.describe.encode``).
"""

from __future__ import annotations

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
