"""Live runs: a real Linux guest under QEMU (see the modules)."""

from __future__ import annotations
