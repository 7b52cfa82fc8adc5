"""Benchmark: a Proxmox VM start on a 256-function host, in memory, with 16 failing devices.

The host has 64 root ports (8 multifunction slots), one endpoint behind each, and 128
integrated functions. Sixteen of the endpoints are ASM1062s whose link never comes back after a
bus reset; VM 100 passes all sixteen through. The benchmark boots the host, runs ``qm start
100`` (qemu-server binds and resets, QEMU realizes and hot-resets every device: each reset waits
out the kernel's 60 s readiness timeout in virtual time) and ``qm stop 100``, with no rendering,
and prints wall time and virtual time.

    python bench/vm_start_256.py
"""

from __future__ import annotations

import sys
import time
from typing import Any

FAILING = 16
TARGET_WALL_S = 0.5


def synthetic_host() -> dict[str, Any]:
    pci: list[dict[str, Any]] = []
    bus = 1
    failing: list[str] = []
    for slot in range(0x08, 0x10):
        for function in range(8):
            pci.append(
                {
                    "bdf": f"00:{slot:02x}.{function}",
                    "device": "intel-adln-root-port-54be",
                    "driver": "pcieport",
                    "bus": {"secondary": bus},
                }
            )
            endpoint: dict[str, Any] = {"bdf": f"{bus:02x}:00.0", "device": "realtek-rtl8125", "driver": "r8169"}
            if len(failing) < FAILING and bus % 4 == 1:
                endpoint = {
                    "bdf": f"{bus:02x}:00.0",
                    "device": "asmedia-asm1062",
                    "driver": "ahci",
                    "behaviours": [{"name": "link_dead_after_bus_reset"}],
                }
                failing.append(f"0000:{bus:02x}:00.0")
            pci.append(endpoint)
            bus += 1
    for slot in range(0x10, 0x20):
        for function in range(8):
            pci.append({"bdf": f"00:{slot:02x}.{function}", "device": "intel-adln-xhci", "driver": "xhci_hcd"})
    config = "machine: q35\n" + "".join(f"hostpci{i}: {bdf},pcie=1\n" for i, bdf in enumerate(failing))
    return {"name": "synthetic 256-function host", "pci": pci, "files": {"/etc/pve/qemu-server/100.conf": config}}


def main() -> int:
    from fakesys.host.loader import load_host
    from fakesys.source import Document
    from fakesys.userspace.machine import Machine

    data = synthetic_host()
    host = load_host(Document({"host": data}, "<synthetic>"), ("host",))
    booted = time.perf_counter()
    machine = Machine(host)
    start_virtual = machine.kernel.clock.now_us
    begin = time.perf_counter()
    started = machine.vm_start(100)
    machine.vm_stop(100)
    end = time.perf_counter()
    virtual_s = (machine.kernel.clock.now_us - start_virtual) / 1_000_000
    dead = sum(1 for dev in machine.kernel.devices if not dev.device.responding)
    print(f"functions          {len(host.functions)}")
    print(f"root ports         {sum(1 for spec in host.functions if spec.model.is_bridge)}")
    print(f"failing devices    {dead} (VM started: {started})")
    print(f"kernel log lines   {len(machine.kernel.log.records)}")
    print(f"boot wall s        {begin - booted:.3f}")
    print(f"vm_start+stop wall {end - begin:.3f} s (target under {TARGET_WALL_S} s)")
    print(f"virtual time       {virtual_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
