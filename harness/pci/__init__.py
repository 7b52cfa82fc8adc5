"""PCI configuration-space knowledge shared by the whole project (harness.pci).

``regs`` is the one register layout; ``config`` decodes configuration space; ``address``
parses and prints PCI addresses. fakesys imports this package to encode the same layout.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.pci.address import Bdf
    from harness.pci.config import Capability, CapabilityLoopError, CapabilityProblem, ConfigSpace

__all__ = ["Bdf", "Capability", "CapabilityLoopError", "CapabilityProblem", "ConfigSpace"]

#: The module each public name lives in. Resolved on first use (PEP 562), so that importing
#: ``harness.pci.address`` alone does not build the whole register layout (``regs``).
_LAZY = {
    "Bdf": "harness.pci.address",
    "Capability": "harness.pci.config",
    "CapabilityLoopError": "harness.pci.config",
    "CapabilityProblem": "harness.pci.config",
    "ConfigSpace": "harness.pci.config",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
