"""The VM the generated configuration is for: its machine type and firmware, read from its
Proxmox configuration (``/etc/pve/qemu-server/<vmid>.conf``) on the root when there is one, and
which ``hostpciN``/``scsiN`` slots it already uses.

Only the current configuration counts: qemu-server writes snapshots as ``[name]`` sections after
it, and pending changes as ``[PENDING]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness import paste
from harness.errors import VfiolabError
from harness.sysfs import HostView

_INDEXED_KEY = re.compile(r"^(hostpci|scsi|sata|virtio|ide)(\d+)$")


@dataclass
class VmInfo:
    vmid: int
    machine: str = "q35"
    firmware: str = "ovmf"
    #: Where machine and firmware came from: the config path, or "assumed".
    source: str = "assumed"
    #: The VM's name when it is a DNS name, as Proxmox requires (it goes into commands and XML).
    name: str | None = None
    used: dict[str, set[int]] = field(default_factory=dict)
    #: A ``name:`` that is not a DNS name (a corrupt or hostile configuration), left unused.
    rejected_name: str | None = None
    #: Every ``key: value`` of the current configuration (no snapshots, no pending changes).
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def q35(self) -> bool:
        return "q35" in self.machine

    def free_index(self, bus: str, taken: set[int] | None = None, limit: int = 16) -> int:
        """The lowest ``hostpciN``/``scsiN`` index the VM does not use yet."""
        busy = self.used.get(bus, set()) | (taken or set())
        for index in range(limit):
            if index not in busy:
                return index
        raise VfiolabError(f"VM {self.vmid} has no free {bus} slot (0-{limit - 1} are all used)")


def read_vm(view: HostView, vmid: int) -> VmInfo:
    relative = f"etc/pve/qemu-server/{vmid}.conf"
    text = view.read_text(relative)
    if text is None:
        return VmInfo(vmid)
    values: dict[str, str] = {}
    used: dict[str, set[int]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            break
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        values[key.strip()] = value.strip()
        indexed = _INDEXED_KEY.match(key.strip())
        if indexed:
            used.setdefault(indexed[1], set()).add(int(indexed[2]))
    # qemu-server's defaults: i440fx ("pc") and SeaBIOS when the keys are absent.
    machine = values.get("machine", "pc")
    firmware = "ovmf" if values.get("bios") == "ovmf" else "seabios"
    name = values.get("name")
    rejected = name if name is not None and not paste.is_hostname(name) else None
    return VmInfo(vmid, machine, firmware, view.show(relative), None if rejected else name, used, rejected, values)
