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


# After the build number in /proc/version (UTS_VERSION): Debian's package version
# (``#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30)``) and Proxmox VE's
# (``#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)``); their ``uname -r`` is an ABI name
# (5.10.0-30-amd64) whose third number is not the upstream sublevel.
DEBIAN_BUILD = re.compile(r"\bDebian (\d+\.\d+\.\d+(?:-[^\s()]+)?)")
PROXMOX_BUILD = re.compile(r"\bPMX (\d+\.\d+\.\d+(?:-\d+)?)\b")


def running_release(release: str, proc_version: str) -> Release | None:
    """(major, minor, patch) of the kernel a host runs, from ``/proc/sys/kernel/osrelease`` and
    ``/proc/version``: the distribution's package version when the build names one, else the
    release's leading numbers."""
    build = proc_version.partition("#")[2]
    for pattern in (DEBIAN_BUILD, PROXMOX_BUILD):
        if (found := pattern.search(build)) is not None:
            return leading_release(found[1])
    return leading_release(release)
