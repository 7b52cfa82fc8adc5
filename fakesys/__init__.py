"""fakesys: the simulated machine.

Devices as configuration-space bytes (``fakesys.hw``, library in ``fakesys/devices``), the host
description format (``fakesys.host``), a simulated Linux PCI core (``fakesys.kernel``) and its
rendering as a root directory real tools read (``fakesys.sysfs``). fakesys knows nothing about
passthrough policy and imports nothing from harness except ``harness.pci``, the shared register
layout.
"""

from __future__ import annotations
