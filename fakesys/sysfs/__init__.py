"""Rendering the simulated kernel's view as a root directory (fakesys.sysfs)."""

from __future__ import annotations
