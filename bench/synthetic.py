"""Synthetic hosts of any size for the benchmarks, and rendering them into a root directory.

A host is a chain of PCI domains of up to ``PER_DOMAIN`` functions each; every domain has a host
bridge, a SATA controller and root ports, each root port with an ASM1184e-like switch whose eight
downstream ports each lead to an eight-function RTL8125 endpoint (the shape of a large NIC test
bench). Domains beyond the first are numbered 0001, 0002 ... as on multi-segment servers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PER_DOMAIN = 1024


def _domain_functions(domain: int, count: int) -> list[dict[str, Any]]:
    prefix = f"{domain:04x}:"
    pci: list[dict[str, Any]] = [
        {"bdf": f"{prefix}00:00.0", "device": "intel-adln-host-bridge", "driver": "igen6_edac"},
        {"bdf": f"{prefix}00:17.0", "device": "intel-adln-sata", "driver": "ahci"},
    ]
    bus = 1
    slot = 0x01
    while len(pci) < count:
        port_bus = bus
        downstream = list(range(port_bus + 2, port_bus + 2 + 8))
        subordinate = downstream[-1]
        pci.append(
            {
                "bdf": f"{prefix}00:{slot:02x}.0",
                "device": "intel-adln-root-port-54ba",
                "driver": "pcieport",
                "bus": {"secondary": port_bus, "subordinate": subordinate},
            }
        )
        pci.append(
            {
                "bdf": f"{prefix}{port_bus:02x}:00.0",
                "device": "asmedia-asm1184e-upstream",
                "driver": "pcieport",
                "bus": {"secondary": port_bus + 1, "subordinate": subordinate},
            }
        )
        for index, secondary in enumerate(downstream):
            pci.append(
                {
                    "bdf": f"{prefix}{port_bus + 1:02x}:{index:02x}.0",
                    "device": "asmedia-asm1184e-downstream",
                    "driver": "pcieport",
                    "bus": {"secondary": secondary},
                }
            )
            for function in range(8):
                pci.append(
                    {"bdf": f"{prefix}{secondary:02x}:00.{function}", "device": "realtek-rtl8125", "driver": "r8169"}
                )
        bus = subordinate + 1
        slot += 1
    del pci[count:]
    return pci


def synthetic_host(count: int, per_domain: int = PER_DOMAIN) -> dict[str, Any]:
    """Host data with exactly ``count`` functions, ``per_domain`` per PCI domain."""
    pci: list[dict[str, Any]] = []
    domain = 0
    while len(pci) < count:
        pci += _domain_functions(domain, min(per_domain, count - len(pci)))
        domain += 1
    return {
        "name": f"synthetic {count}-function host",
        # A capable passthrough host, so that every check runs to the end instead of stopping at
        # "no IOMMU": the figures are the cost of a full check.
        "kernel": {
            "release": "6.8.12-4-pve",
            "cmdline": "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on",
        },
        "cpu": {"vendor": "intel", "model": "Intel(R) Core(TM) i3-N305", "family": 6, "model_number": 190, "cores": 8},
        "iommu": {"firmware_table": True, "enabled": True, "interrupt_remapping": True},
        "pci": pci,
    }


def render_synthetic(count: int, root: Path) -> int:
    """Render a ``count``-function host below ``root``; returns the number of functions."""
    from fakesys.host.loader import load_host
    from fakesys.kernel.kernel import FakeKernel
    from fakesys.source import Document
    from fakesys.sysfs.render import render

    host = load_host(Document({"host": synthetic_host(count)}, "<synthetic>"), ("host",))
    render(FakeKernel(host), str(root))
    return len(host.functions)
