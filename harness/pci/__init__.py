"""PCI configuration-space knowledge shared by the whole project (harness.pci).

``regs`` is the one register layout; ``config`` decodes configuration space; ``address``
parses and prints PCI addresses. fakesys imports this package to encode the same layout.
"""

from __future__ import annotations

from harness.pci.address import Bdf
from harness.pci.config import Capability, CapabilityLoopError, CapabilityProblem, ConfigSpace

__all__ = ["Bdf", "Capability", "CapabilityLoopError", "CapabilityProblem", "ConfigSpace"]
