"""The simulated Linux PCI core (fakesys.kernel).

Enumeration and topology, IOMMU groups, reset methods, driver state, sysfs attribute contents,
quirk tables and the kernel log, with the behaviour of the kernel versions in ``profile``.
"""

from __future__ import annotations
