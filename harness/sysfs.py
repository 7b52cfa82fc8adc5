"""HostView: a root directory (a real ``/``, a rendered fake tree, a captured report) read into
plain typed records.

Everything is read-only: files are opened for reading only, nothing is loaded or enabled. A
missing or unreadable file becomes "unknown" (``None``) and is recorded in
:attr:`HostView.unseen` with the reason, never an exception. A ``config`` file shorter than 256
bytes (what a non-root reader gets) is kept and flagged, so checks can say what they could not
see and how to see it (run as root).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from harness.kernellog import LogLine, parse
from harness.pci import regs
from harness.pci.address import Bdf
from harness.pci.config import ConfigSpace

_BDF_NAME = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
KERNEL_LOG_FILES = ("var/log/dmesg", "var/log/kern.log")
#: Where the kernel lists PCI functions and drivers, relative to a root (every path harness reads
#: is relative to the root it was given; :func:`on_host` turns one into the path a user types).
PCI_DEVICES = "sys/bus/pci/devices"
PCI_DRIVERS = "sys/bus/pci/drivers"


def device_file(address: str, attribute: str = "") -> str:
    """``sys/bus/pci/devices/<address>[/<attribute>]``, relative to a root."""
    return f"{PCI_DEVICES}/{address}/{attribute}" if attribute else f"{PCI_DEVICES}/{address}"


def driver_file(driver: str, attribute: str) -> str:
    """``sys/bus/pci/drivers/<driver>/<attribute>``, relative to a root."""
    return f"{PCI_DRIVERS}/{driver}/{attribute}"


def on_host(relative: str) -> str:
    """A root-relative path as the user knows it on the checked host (absolute)."""
    return "/" + relative.lstrip("/")


#: The modules whose parameters checks read (a host has hundreds; some are root-only).
CHECKED_MODULES = ("vfio_pci", "vfio_iommu_type1")
#: Base class 08 (system peripheral), subclass 06: the IOMMU's own PCI function (AMD-Vi).
IOMMU_CLASS = 0x0806


@dataclass
class PciFunction:
    bdf: Bdf
    path: str  # the device directory, relative to the root
    vendor: int | None = None
    device: int | None = None
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    class_code: int | None = None
    revision: int | None = None
    config: ConfigSpace | None = None
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: int | None = None
    reset_method: list[str] | None = None  # None: the file does not exist
    has_reset_file: bool = False
    power_state: str | None = None
    label: str | None = None
    irq: int | None = None
    current_link_speed: str | None = None
    max_link_speed: str | None = None
    current_link_width: str | None = None
    max_link_width: str | None = None
    parent: Bdf | None = None
    secondary_bus: int | None = None
    has_rom: bool = False

    @property
    def name(self) -> str:
        return str(self.bdf)

    @property
    def id_text(self) -> str:
        if self.vendor is None or self.device is None:
            return "????:????"
        return f"{self.vendor:04x}:{self.device:04x}"

    @property
    def is_bridge(self) -> bool:
        if self.class_code is not None:
            return self.class_code >> 8 == 0x0604
        return self.secondary_bus is not None

    @property
    def config_truncated(self) -> bool:
        return self.config is not None and self.config.truncated

    @property
    def config_dead(self) -> bool:
        return self.config is not None and self.config.vendor_id == 0xFFFF


@dataclass
class IommuGroup:
    number: int
    devices: list[Bdf] = field(default_factory=list)
    reserved_regions: list[str] = field(default_factory=list)
    type: str | None = None


@dataclass
class IommuUnit:
    name: str
    kind: str  # "intel" or "amd"
    ecap: int | None = None


@dataclass
class BlockDevice:
    name: str
    path: str  # the sysfs device path it resolves to, relative to the root
    controller: Bdf | None = None
    by_id: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    slaves: list[str] = field(default_factory=list)
    dm_name: str | None = None
    #: From the udev database (run/udev/data/b<major>:<minor>): ID_FS_TYPE and ID_FS_LABEL.
    fs_type: str | None = None
    fs_label: str | None = None

    @property
    def preferred_id(self) -> str | None:
        """The ``/dev/disk/by-id`` name to hand to a VM config: the model-and-serial name
        (``ata-``, ``nvme-``, ``scsi-``) rather than ``wwn-`` or ``nvme-eui.``."""

        def rank(name: str) -> tuple[int, str]:
            for position, prefix in enumerate(("ata-", "nvme-", "scsi-", "usb-")):
                if name.startswith(prefix) and not name.startswith("nvme-eui."):
                    return position, name
            return 9, name

        return min(self.by_id, key=rank, default=None)

    @property
    def text(self) -> str:
        """``sdc (ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680)``."""
        return f"{self.name} ({self.preferred_id})" if self.preferred_id else self.name


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str


@dataclass
class NetInterface:
    name: str
    device: Bdf | None
    operstate: str | None
    master: str | None


@dataclass
class CpuInfo:
    vendor: str | None = None  # "intel" / "amd"
    model: str | None = None
    flags: set[str] = field(default_factory=set)


@dataclass
class HostView:
    root: Path
    functions: dict[Bdf, PciFunction] = field(default_factory=dict)
    groups: dict[int, IommuGroup] = field(default_factory=dict)
    iommu_units: list[IommuUnit] = field(default_factory=list)
    firmware_tables: set[str] = field(default_factory=set)
    cpu: CpuInfo = field(default_factory=CpuInfo)
    cmdline: str | None = None
    kernel_release: str | None = None
    #: (major, minor, patch) of the running kernel (:func:`kernel_version`).
    kernel_version: tuple[int, ...] | None = None
    kernel_log: list[LogLine] | None = None
    kernel_log_path: str | None = None
    mounts: list[Mount] = field(default_factory=list)
    swaps: list[str] = field(default_factory=list)
    blocks: dict[str, BlockDevice] = field(default_factory=dict)
    net: dict[str, NetInterface] = field(default_factory=dict)
    module_params: dict[str, dict[str, str]] = field(default_factory=dict)
    #: What could not be read: (path, reason).
    unseen: list[tuple[str, str]] = field(default_factory=list)
    _buses: dict[tuple[int, int, Bdf | None], list[PciFunction]] | None = field(default=None, repr=False)
    _endpoints: set[Bdf] | None = field(default=None, repr=False)
    #: Derived readings other modules make once per view (the boot configuration...), by name.
    derived: dict[str, object] = field(default_factory=dict, repr=False)

    # --- Reading ------------------------------------------------------------------------------

    def abs(self, relative: str) -> Path:
        return self.root / relative.lstrip("/")

    def _path(self, relative: str) -> str:
        # Plain string joins: HostView reads tens of thousands of files on a large host, and
        # building a Path for each costs more than the read.
        return f"{self._root_text}/{relative.lstrip('/')}"

    @property
    def _root_text(self) -> str:
        text = str(self.root)
        return "" if text == "/" else text.rstrip("/")

    def show(self, relative: str) -> str:
        """A path as the user knows it (absolute on the checked host)."""
        return on_host(relative)

    def read_text(self, relative: str, note_missing: bool = False) -> str | None:
        data = self.read_bytes(relative, note_missing)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_bytes(self, relative: str, note_missing: bool = False) -> bytes | None:
        """The file's bytes, or None (unreadable files are recorded in :attr:`unseen`; missing
        ones only with ``note_missing``)."""
        try:
            with open(self._path(relative), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            if note_missing:
                self.unseen.append((self.show(relative), "does not exist"))
            return None
        except OSError as error:
            self.unseen.append((self.show(relative), error.strerror or str(error)))
            return None

    def readlink_name(self, relative: str) -> str | None:
        try:
            return os.path.basename(os.readlink(self._path(relative)))
        except OSError:
            return None

    def listdir(self, relative: str) -> list[str]:
        try:
            return sorted(os.listdir(self._path(relative)))
        except OSError:
            return []

    def exists(self, relative: str) -> bool:
        return os.path.lexists(self._path(relative))

    def config_files(self, directory: str, pattern: str = "*") -> dict[str, str]:
        """Readable files of a configuration directory, by absolute path."""
        found: dict[str, str] = {}
        base = self.abs(directory)
        if not base.is_dir():
            return found
        for path in sorted(base.glob(pattern)):
            if path.is_file():
                relative = str(path.relative_to(self.root))
                text = self.read_text(relative)
                if text is not None:
                    found[self.show(relative)] = text
        return found

    # --- Questions ----------------------------------------------------------------------------

    def function(self, bdf: Bdf | str) -> PciFunction | None:
        key = bdf if isinstance(bdf, Bdf) else Bdf.parse(bdf)
        return self.functions.get(key)

    def children(self, bridge: Bdf) -> list[PciFunction]:
        return [item for item in self.functions.values() if item.parent == bridge]

    def on_same_bus(self, function: PciFunction) -> list[PciFunction]:
        """Every function on ``function``'s bus (itself included)."""
        if self._buses is None:
            self._buses = {}
            for item in self.functions.values():
                self._buses.setdefault((item.bdf.domain, item.bdf.bus, item.parent), []).append(item)
        return list(self._buses.get((function.bdf.domain, function.bdf.bus, function.parent), []))

    def endpoints(self) -> list[PciFunction]:
        """Functions that could be passed through: not bridges, not the IOMMU's own function
        (class 0806)."""
        return [
            item
            for item in self.functions.values()
            if not item.is_bridge
            and item.class_code is not None
            and item.class_code >> 16 != 0x06
            and item.class_code >> 8 != IOMMU_CLASS
        ]

    def group_peers(self, function: PciFunction) -> list[PciFunction]:
        """The other endpoints of ``function``'s IOMMU group (bridges and the IOMMU function,
        which are never passed through, left out)."""
        group = self.groups.get(function.iommu_group) if function.iommu_group is not None else None
        if group is None:
            return []
        if self._endpoints is None:
            self._endpoints = {item.bdf for item in self.endpoints()}
        return [self.functions[bdf] for bdf in group.devices if bdf != function.bdf and bdf in self._endpoints]

    @property
    def iommu_active(self) -> bool:
        return bool(self.groups) or bool(self.iommu_units)

    def disks_of(self, controller: Bdf) -> list[BlockDevice]:
        """Block devices (disks and partitions) behind a controller."""
        return [
            block
            for block in self.blocks.values()
            if block.controller == controller and not block.name.startswith("dm-")
        ]

    def whole_disks(self, controller: Bdf) -> list[BlockDevice]:
        """The disks (not partitions) behind a controller, in name order."""
        blocks = self.disks_of(controller)
        partitions = {name for block in blocks for name in block.partitions}
        return sorted((block for block in blocks if block.name not in partitions), key=lambda block: block.name)


def _hex(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def _strip(text: str | None) -> str | None:
    return None if text is None else text.strip()


def _read_function(view: HostView, name: str) -> PciFunction | None:
    link = device_file(name)
    try:
        real = os.path.realpath(view._path(link))
        relative = os.path.relpath(real, view.root)
    except OSError:
        relative = link
    bdf = Bdf.parse(name)
    function = PciFunction(bdf, relative)
    base = relative

    def text(attribute: str) -> str | None:
        return view.read_text(f"{base}/{attribute}")

    function.vendor = _hex(text("vendor"))
    function.device = _hex(text("device"))
    function.subsystem_vendor = _hex(text("subsystem_vendor"))
    function.subsystem_device = _hex(text("subsystem_device"))
    function.class_code = _hex(text("class"))
    function.revision = _hex(text("revision"))
    config = view.read_bytes(f"{base}/config", note_missing=True)
    if config is not None:
        function.config = ConfigSpace(config)
    function.driver = view.readlink_name(f"{base}/driver")
    override = _strip(text("driver_override"))
    function.driver_override = None if override in (None, "(null)") else override
    group = view.readlink_name(f"{base}/iommu_group")
    function.iommu_group = _int(group)
    if view.exists(f"{base}/reset_method"):
        methods = text("reset_method")
        function.reset_method = methods.split() if methods is not None else None
    function.has_reset_file = view.exists(f"{base}/reset")
    function.power_state = _strip(text("power_state"))
    function.label = _strip(text("label"))
    function.irq = _int(text("irq"))
    function.current_link_speed = _strip(text("current_link_speed"))
    function.max_link_speed = _strip(text("max_link_speed"))
    function.current_link_width = _strip(text("current_link_width"))
    function.max_link_width = _strip(text("max_link_width"))
    function.secondary_bus = _int(text("secondary_bus_number"))
    function.has_rom = view.exists(f"{base}/rom")
    parent_name = os.path.basename(os.path.dirname(relative))
    if _BDF_NAME.match(parent_name):
        function.parent = Bdf.parse(parent_name)
    space = function.config
    if (
        function.secondary_bus is None
        and space is not None
        and not space.truncated
        and not space.dead
        and space.header_layout == regs.HEADER_LAYOUT_BRIDGE
    ):
        function.secondary_bus = space.read(0x19, 1)
    return function


def _controller_of(real: str) -> Bdf | None:
    """The deepest PCI function in a sysfs device path (the disk's controller)."""
    found = None
    for part in real.split("/"):
        if _BDF_NAME.match(part):
            found = Bdf.parse(part)
    return found


def read_host(root: Path | str) -> HostView:
    """Read everything the checks use from ``root``."""
    view = HostView(Path(root))
    if not view.abs(PCI_DEVICES).is_dir():
        view.unseen.append((view.show(PCI_DEVICES), "does not exist"))
    for name in view.listdir(PCI_DEVICES):
        if _BDF_NAME.match(name):
            function = _read_function(view, name)
            if function is not None:
                view.functions[function.bdf] = function
    for name in view.listdir("sys/kernel/iommu_groups"):
        number = _int(name)
        if number is None:
            continue
        base = f"sys/kernel/iommu_groups/{name}"
        group = IommuGroup(number)
        group.devices = [Bdf.parse(item) for item in view.listdir(f"{base}/devices") if _BDF_NAME.match(item)]
        regions = view.read_text(f"{base}/reserved_regions")
        group.reserved_regions = [line.strip() for line in (regions or "").splitlines() if line.strip()]
        group.type = _strip(view.read_text(f"{base}/type"))
        view.groups[number] = group
    for name in view.listdir("sys/class/iommu"):
        base = f"sys/class/iommu/{name}"
        if view.exists(f"{base}/intel-iommu"):
            view.iommu_units.append(IommuUnit(name, "intel", _hex(view.read_text(f"{base}/intel-iommu/ecap"))))
        elif view.exists(f"{base}/amd-iommu"):
            view.iommu_units.append(IommuUnit(name, "amd"))
        else:
            view.iommu_units.append(IommuUnit(name, "unknown"))
    view.firmware_tables = {
        name for name in ("DMAR", "IVRS", "IORT") if view.exists(f"sys/firmware/acpi/tables/{name}")
    }
    _read_cpu(view)
    view.cmdline = _strip(view.read_text("proc/cmdline", note_missing=True))
    view.kernel_release = _strip(view.read_text("proc/sys/kernel/osrelease", note_missing=True))
    view.kernel_version = kernel_version(view.kernel_release, view.read_text("proc/version"))
    for candidate in KERNEL_LOG_FILES:
        text = view.read_text(candidate)
        if text is not None:
            view.kernel_log = parse(text.splitlines())
            view.kernel_log_path = view.show(candidate)
            break
    _read_storage(view)
    _read_net(view)
    for module in CHECKED_MODULES:
        for param in view.listdir(f"sys/module/{module}/parameters"):
            value = view.read_text(f"sys/module/{module}/parameters/{param}")
            if value is not None:
                view.module_params.setdefault(module, {})[param] = value.strip()
    return view


def kernel_version(release: str | None, version_text: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of a kernel. Debian's ABI names (``6.1.0-26-amd64``) hide the
    upstream version, which /proc/version carries after the build number (``#1 SMP
    PREEMPT_DYNAMIC Debian 6.1.112-1``; Proxmox: ``PMX 6.8.12-4``); the compiler's ``(Debian
    12.2.0-14)`` earlier on the line is not it."""
    build = (version_text or "").partition("#")[2]
    match = re.search(r"\b(?:Debian|PMX) (\d+)\.(\d+)\.(\d+)", build)
    if match is None:
        match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", release or "")
    if match is None:
        return None
    return tuple(int(part) if part else 0 for part in match.groups())


def version_text(version: tuple[int, ...] | None) -> str | None:
    """``6.12.117`` (None stays None)."""
    return ".".join(str(part) for part in version) if version else None


def _read_cpu(view: HostView) -> None:
    text = view.read_text("proc/cpuinfo", note_missing=True)
    if text is None:
        return
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and view.cpu.vendor is None:
            vendor = value.strip()
            view.cpu.vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(vendor, vendor)
        elif key == "model name" and view.cpu.model is None:
            view.cpu.model = value.strip()
        elif key == "flags" and not view.cpu.flags:
            view.cpu.flags = set(value.split())


def _read_storage(view: HostView) -> None:
    mounts = view.read_text("proc/mounts", note_missing=True) or ""
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            view.mounts.append(Mount(parts[0], parts[1].replace("\\040", " "), parts[2]))
    swaps = view.read_text("proc/swaps") or ""
    view.swaps = [line.split()[0] for line in swaps.splitlines()[1:] if line.split()]
    for name in view.listdir("sys/class/block"):
        try:
            real = os.path.relpath(os.path.realpath(view.abs(f"sys/class/block/{name}")), view.root)
        except OSError:
            continue
        block = BlockDevice(name, real, _controller_of(real))
        block.slaves = view.listdir(f"{real}/slaves")
        dm_name = view.read_text(f"{real}/dm/name")
        block.dm_name = _strip(dm_name)
        numbers = _strip(view.read_text(f"{real}/dev"))
        if numbers:
            _read_udev_properties(view, block, f"run/udev/data/b{numbers}")
        view.blocks[name] = block
    for block in view.blocks.values():
        prefix = block.path + "/"
        block.partitions = sorted(other.name for other in view.blocks.values() if other.path.startswith(prefix))
    for name in view.listdir("dev/disk/by-id"):
        target = view.readlink_name(f"dev/disk/by-id/{name}")
        if target in view.blocks:
            view.blocks[target].by_id.append(name)


def _read_udev_properties(view: HostView, block: BlockDevice, relative: str) -> None:
    text = view.read_text(relative)
    for line in (text or "").splitlines():
        if line.startswith("E:ID_FS_TYPE="):
            block.fs_type = line.partition("=")[2].strip() or None
        elif line.startswith("E:ID_FS_LABEL="):
            block.fs_label = line.partition("=")[2].strip() or None


def _read_net(view: HostView) -> None:
    for name in view.listdir("sys/class/net"):
        try:
            real = os.path.relpath(os.path.realpath(view.abs(f"sys/class/net/{name}")), view.root)
        except OSError:
            continue
        master = view.readlink_name(f"sys/class/net/{name}/master")
        view.net[name] = NetInterface(name, _controller_of(real), _strip(view.read_text(f"{real}/operstate")), master)


def shell_assignments(text: str) -> dict[str, str]:
    """``NAME="value"`` lines of a shell-style file (/etc/default/grub), unquoted."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        name, _, raw = stripped.partition("=")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            continue
        try:
            parts = shlex.split(raw, comments=True)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[name] = " ".join(parts)
    return values
