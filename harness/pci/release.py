"""Kernel release numbers (harness.pci.release): the (major, minor, patch) a release name starts
with, shared by the simulated kernel's quirk tables (fakesys) and the checker's kernel model
(:mod:`harness.kernels`), which both decide by it which kernel carries a quirk."""

from __future__ import annotations

import re

Release = tuple[int, int, int]

# ``6.12.117``, ``5.6.13-300.fc32.x86_64``, ``6.8.12-4-pve``, ``6.5``: the kernel's own
# UTS_RELEASE is VERSION.PATCHLEVEL.SUBLEVEL then EXTRAVERSION and LOCALVERSION (Makefile).
_LEADING = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def leading_release(name: str) -> Release | None:
    """(major, minor, patch) that ``name`` starts with (patch 0 when absent), or None."""
    match = _LEADING.match(name)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)
