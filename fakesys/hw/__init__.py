"""Device models (fakesys.hw): configuration space, BARs, ROMs, hex dumps, links.

Everything here acts at the register level and knows nothing of sysfs or the kernel, so the same
models can be served to a real guest kernel as well as to the simulated one.
"""

from __future__ import annotations
