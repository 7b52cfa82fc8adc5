"""The checks, registered in one table, in the order their findings are reported.

Each entry is ``(name, check)``; a check is ``(CheckContext) -> Iterable[Finding]`` and lives in
its own module. Adding a check means writing the module and adding one line here.
"""

from __future__ import annotations

from harness.checks import (
    acs_quirks,
    binding,
    cmdline,
    dma_alias,
    gpu,
    host_use,
    integrity,
    isolation,
    kernel_log,
    platform,
    power_link,
    reset,
    reset_observed,
    rom,
)
from harness.checks.base import Check, CheckContext, CheckOptions

CHECKS: tuple[tuple[str, Check], ...] = (
    ("integrity", integrity.check),
    ("platform", platform.check),
    ("cmdline", cmdline.check),
    ("isolation", isolation.check),
    ("dma-alias", dma_alias.check),
    ("acs-quirks", acs_quirks.check),
    ("host-use", host_use.check),
    ("reset", reset.check),
    ("reset-observed", reset_observed.check),
    ("power-link", power_link.check),
    ("binding", binding.check),
    ("rom", rom.check),
    ("gpu", gpu.check),
    ("kernel-log", kernel_log.check),
)

__all__ = ["CHECKS", "Check", "CheckContext", "CheckOptions"]
