"""The VM the generated configuration is for, as it is configured today: machine type, firmware,
memory, vCPUs, the host devices it already passes through, its disks and (for a libvirt domain)
the guest PCI addresses and controllers it uses.

Two sources: the Proxmox configuration on the root (``/etc/pve/qemu-server/<vmid>.conf``, read
here) and a libvirt domain XML given with ``--domain FILE``
(:mod:`harness.generate.libvirt_domain`). Without either, the VM is assumed (q35, OVMF) and every
output says so.

Only the current Proxmox configuration counts: qemu-server writes snapshots as ``[name]``
sections after it, and pending changes as ``[PENDING]``. Missing keys take qemu-server's
defaults (``PVE/QemuServer.pm`` confdesc: ``memory`` 512 MiB, ``cores`` 1, ``sockets`` 1,
``machine`` i440fx, ``bios`` SeaBIOS). Values come from another person's root: every one is
parsed against its format and what does not parse is reported, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness import paste
from harness.errors import VfiolabError
from harness.pci.address import Bdf
from harness.sysfs import HostView

_INDEXED_KEY = re.compile(r"^(hostpci|scsi|sata|virtio|ide)(\d+)$")
DISK_BUSES = ("scsi", "sata", "virtio", "ide")
#: qemu-server's hostpci host ID (``PCI.pm`` ``$PCIRE``), read case-insensitively; the domain is
#: bounded so no value turns into a huge number.
_HOST_ID = re.compile(
    r"(?:(?P<domain>[0-9a-f]{4,8}):)?(?P<bus>[0-9a-f]{2}):(?P<slot>[0-9a-f]{2})(?:\.(?P<function>[0-7]))?", re.I
)
#: A Proxmox machine type: the QEMU machine plus qemu-server's own suffixes (``+pveN`` pins its
#: machine version, ``.pxe`` its iPXE ROMs), which QEMU itself does not know.
_MACHINE = re.compile(r"(?P<machine>[a-z0-9][a-z0-9._-]{0,63}?)(?:\+pve\d+)?(?:\.pxe)?", re.I)
#: pve-common's ``pve-configid`` (a resource mapping's name).
_CONFIG_ID = re.compile(r"[a-z][a-z0-9_-]+", re.I)
MAPPING_FILE = "etc/pve/mapping/pci.cfg"
#: qemu-server's defaults for an unset key.
PROXMOX_MEMORY_MIB = 512
#: What an assumed VM (no configuration on the root) is given.
ASSUMED_MEMORY_MIB = 2048
ASSUMED_CORES = 2
#: A count no VM has; a larger value in a configuration is malformed.
_MAX_COUNT = 4096


@dataclass(frozen=True)
class PassedDevice:
    """A host device the VM's configuration already passes through."""

    #: Where: ``hostpci0`` (Proxmox) or ``<hostdev> 1`` (the first one in a libvirt domain).
    key: str
    #: As configured, printable (for messages).
    value: str
    #: Host addresses as configured; a Proxmox slot without function (``0000:08:00``) means
    #: every function of it.
    hosts: tuple[str, ...] = ()
    #: A Proxmox resource mapping (``hostpciN: mapping=NAME``) instead of host addresses.
    mapping: str | None = None


@dataclass
class VmInfo:
    vmid: int
    machine: str = "q35"
    firmware: str = "ovmf"
    #: Where the configuration came from: the config path, the domain file, or "assumed".
    source: str = "assumed"
    #: "proxmox", "libvirt" or "assumed".
    kind: str = "assumed"
    #: The VM's name when it is usable in commands and XML (Proxmox: a DNS name).
    name: str | None = None
    used: dict[str, set[int]] = field(default_factory=dict)
    #: A name that is not usable (a corrupt or hostile configuration), left unused.
    rejected_name: str | None = None
    #: Every ``key: value`` of the current Proxmox configuration (no snapshots, no pending changes).
    settings: dict[str, str] = field(default_factory=dict)
    memory_mib: int = ASSUMED_MEMORY_MIB
    sockets: int = 1
    cores: int = ASSUMED_CORES
    #: vCPUs online at start when fewer than sockets x cores (Proxmox ``vcpus``, libvirt ``current``).
    current_vcpus: int | None = None
    #: libvirt: the domain's ``<memory>`` element as written (value, unit), taken over unchanged.
    memory_element: tuple[str, str] | None = None
    passed: list[PassedDevice] = field(default_factory=list)
    #: Disk key (``scsi1``) -> its volume or path as configured.
    disks: dict[str, str] = field(default_factory=dict)
    #: libvirt: guest PCI addresses in use -> what uses them (``<disk>``, ``<hostdev>`` ...).
    guest_addresses: dict[Bdf, str] = field(default_factory=dict)
    #: libvirt: PCI controller index -> model (``pcie-root-port`` ...).
    pci_controllers: dict[int, str] = field(default_factory=dict)
    #: The Proxmox configuration has snapshot or pending sections after the current one.
    has_sections: bool = False
    #: Sentences about values that were not configured and took a default.
    defaults: list[str] = field(default_factory=list)

    @property
    def q35(self) -> bool:
        return "q35" in self.machine

    @property
    def vcpus(self) -> int:
        return self.sockets * self.cores

    @property
    def label(self) -> str:
        """How messages name the VM: ``VM 100`` or ``domain truenas``."""
        if self.kind == "libvirt":
            return f"domain {paste.printable(self.name)}" if self.name else "the domain"
        return f"VM {self.vmid}"

    def free_index(self, bus: str, taken: set[int] | None = None, limit: int = 16) -> int:
        """The lowest ``hostpciN``/``scsiN`` index the VM does not use yet."""
        busy = self.used.get(bus, set()) | (taken or set())
        for index in range(limit):
            if index not in busy:
                return index
        raise VfiolabError(f"{self.label} has no free {bus} slot (0-{limit - 1} are all used)")


def _count(values: dict[str, str], key: str, default: int, defaults: list[str], what: str) -> int:
    text = values.get(key)
    if text is None:
        defaults.append(f"{key} is not set: qemu-server's default, {default} {what}")
        return default
    if not text.isdigit() or not 0 < int(text) <= _MAX_COUNT:
        defaults.append(f"{key}: {paste.printable(text)!r} is not a count: qemu-server's default, {default} {what}")
        return default
    return int(text)


def _memory(values: dict[str, str], defaults: list[str]) -> int:
    """``memory: 16384`` or (qemu-server 8.1 and later) ``memory: current=16384,...``, in MiB."""
    text = values.get("memory")
    if text is None:
        defaults.append(f"memory is not set: qemu-server's default, {PROXMOX_MEMORY_MIB} MiB")
        return PROXMOX_MEMORY_MIB
    first = text.split(",")[0].removeprefix("current=")
    if not first.isdigit() or not 16 <= int(first) <= 1 << 30:
        defaults.append(f"memory: {paste.printable(text)!r} is not a size in MiB: taking {PROXMOX_MEMORY_MIB} MiB")
        return PROXMOX_MEMORY_MIB
    return int(first)


def proxmox_machine(value: str | None) -> str:
    """The QEMU machine type of a Proxmox ``machine:`` value (``pc`` when unset or malformed)."""
    if value is None:
        return "pc"
    first = value.split(",")[0].removeprefix("type=")
    match = _MACHINE.fullmatch(first)
    return match["machine"] if match else "pc"


def parse_hostpci(key: str, value: str) -> PassedDevice:
    """One ``hostpciN`` value: ``[host=]ID[;ID...][,options]`` or ``mapping=NAME[,options]``."""
    hosts: list[str] = []
    mapping = None
    for position, item in enumerate(value.split(",")):
        name, separator, text = item.partition("=")
        if not separator and position == 0:
            name, text = "host", item
        if name == "host":
            hosts += [part.strip() for part in text.split(";") if part.strip()]
        elif name == "mapping":
            mapping = text.strip()
    return PassedDevice(key, paste.printable(value), tuple(hosts), mapping)


def host_functions(view: HostView, device: PassedDevice, node: str | None) -> tuple[list[Bdf], list[str]]:
    """(the host functions ``device`` passes, problems naming what could not be resolved)."""
    problems: list[str] = []
    hosts = list(device.hosts)
    if device.mapping is not None:
        mapped, problem = _mapping_paths(view, device.mapping, node)
        hosts += mapped
        if problem:
            problems.append(problem)
    found: list[Bdf] = []
    for text in hosts:
        match = _HOST_ID.fullmatch(text)
        if match is None:
            problems.append(f"{paste.printable(text)!r} is not a PCI address")
            continue
        slot = (int(match["domain"] or "0", 16), int(match["bus"], 16), int(match["slot"], 16))
        if slot[2] > 0x1F:
            problems.append(f"{paste.printable(text)!r} is not a PCI address")
            continue
        if match["function"] is not None:
            wanted = [Bdf(*slot, int(match["function"]))]
        else:
            wanted = sorted(function.bdf for function in view.functions.values() if function.bdf.slot == slot)
        missing = [bdf for bdf in wanted if view.function(bdf) is None]
        if not wanted or missing:
            problems.append(f"{paste.printable(text)} is not on this host")
        found += [bdf for bdf in wanted if bdf not in missing and bdf not in found]
    return found, problems


def _mapping_paths(view: HostView, name: str, node: str | None) -> tuple[list[str], str]:
    """The ``path`` entries of resource mapping ``name`` for ``node`` in pci.cfg (all of them:
    several ``map`` lines for one node are alternatives Proxmox picks from at start)."""
    if _CONFIG_ID.fullmatch(name) is None:
        return [], f"mapping {paste.printable(name)!r} is not a mapping name"
    text = view.read_text(MAPPING_FILE)
    if text is None:
        return [], f"mapping {name}: {view.show(MAPPING_FILE)} is missing"
    section: str | None = None
    paths: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            section = line.strip()
            continue
        key, _, value = line.strip().partition(" ")
        if section != name or key != "map":
            continue
        entry = dict(item.partition("=")[::2] for item in value.strip().split(","))
        if node is None or entry.get("node") == node:
            paths += [part for part in entry.get("path", "").split(";") if part]
    if not paths:
        return [], f"mapping {name} has no entry for node {node or '(unknown)'} in {view.show(MAPPING_FILE)}"
    return paths, ""


def _disk_path(value: str) -> str:
    return value.split(",", maxsplit=1)[0].removeprefix("file=")


def read_vm(view: HostView, vmid: int) -> VmInfo:
    relative = f"etc/pve/qemu-server/{vmid}.conf"
    text = view.read_text(relative)
    if text is None:
        return VmInfo(vmid, memory_mib=ASSUMED_MEMORY_MIB, cores=ASSUMED_CORES)
    values: dict[str, str] = {}
    used: dict[str, set[int]] = {}
    has_sections = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            has_sections = True
            break
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        values[key.strip()] = value.strip()
        indexed = _INDEXED_KEY.match(key.strip())
        if indexed:
            used.setdefault(indexed[1], set()).add(int(indexed[2]))
    defaults: list[str] = []
    firmware = "ovmf" if values.get("bios") == "ovmf" else "seabios"
    name = values.get("name")
    rejected = name if name is not None and not paste.is_hostname(name) else None
    vcpus_text = values.get("vcpus", "")
    vm = VmInfo(
        vmid,
        proxmox_machine(values.get("machine")),
        firmware,
        view.show(relative),
        "proxmox",
        None if rejected else name,
        used,
        rejected,
        values,
        memory_mib=_memory(values, defaults),
        sockets=_count(values, "sockets", 1, defaults, "socket"),
        cores=_count(values, "cores", 1, defaults, "core"),
        has_sections=has_sections,
        defaults=defaults,
    )
    if vcpus_text.isdigit() and 0 < int(vcpus_text) < vm.vcpus:
        vm.current_vcpus = int(vcpus_text)
    for key in sorted(values, key=_key_order):
        indexed = _INDEXED_KEY.match(key)
        if indexed is None:
            continue
        if indexed[1] == "hostpci":
            vm.passed.append(parse_hostpci(key, values[key]))
        else:
            vm.disks[key] = _disk_path(values[key])
    return vm


def _key_order(key: str) -> tuple[str, int]:
    indexed = _INDEXED_KEY.match(key)
    return (indexed[1], int(indexed[2])) if indexed else (key, 0)
