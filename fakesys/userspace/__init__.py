"""Userspace above the simulated kernel (fakesys.userspace).

Proxmox VE's qemu-server and pve-common, and QEMU's vfio-pci, as far as they touch a passed-
through device. They act only through the kernel's interfaces, like the real programs: sysfs
reads and writes, and the vfio device calls. Their messages go to a log of their own, apart from
the kernel log.
"""

from __future__ import annotations
