"""HostView: a root directory (a real ``/``, a rendered fake tree, a captured report) read into
plain typed records.

Everything is read-only and goes through one confined, bounded reader (:mod:`harness.rootfs`):
symlinks resolve inside the root, only regular files are read, each read is capped. A missing or
unreadable file becomes "unknown" (``None``) and is recorded in :attr:`HostView.unseen` with the
reason, never an exception. A ``config`` file shorter than 256 bytes (what a non-root reader
gets) is kept and flagged, so checks can say what they could not see and how to see it (run as
root). What the tree gets wrong (an empty ``class``, a ``driver`` link to itself, a config file of
a size the kernel never shows) is recorded per device in :attr:`PciFunction.problems` and never
read as a value; the integrity check (:mod:`harness.checks.integrity`) reports it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.kernellog import LogLine, parse
from harness.pci import regs
from harness.pci.address import Bdf
from harness.pci.config import ConfigSpace
from harness.rootfs import (
    ATTRIBUTE_LIMIT,
    CONFIG_SPACE_LIMIT,
    LOG_LIMIT,
    TEXT_LIMIT,
    Blob,
    Kind,
    NotFound,
    NotRegular,
    RootError,
    RootFS,
    open_root,
    split_path,
)

if TYPE_CHECKING:
    from harness.kernels import Kernel

_BDF_NAME = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
KERNEL_LOG_FILES = ("var/log/dmesg", "var/log/kern.log")
#: Where Proxmox VE keeps a node's VM configurations (pve-cluster's pmxcfs, /etc/pve/qemu-server).
PVE_VM_CONFIGS = "etc/pve/qemu-server"
#: Where the kernel lists PCI functions and drivers, relative to a root (every path harness reads
#: is relative to the root it was given; :func:`on_host` turns one into the path a user types).
PCI_BUS = "sys/bus/pci"
PCI_DEVICES = f"{PCI_BUS}/devices"
PCI_DRIVERS = f"{PCI_BUS}/drivers"


def device_file(address: str, attribute: str = "") -> str:
    """``sys/bus/pci/devices/<address>[/<attribute>]``, relative to a root."""
    return f"{PCI_DEVICES}/{address}/{attribute}" if attribute else f"{PCI_DEVICES}/{address}"


def driver_file(driver: str, attribute: str) -> str:
    """``sys/bus/pci/drivers/<driver>/<attribute>``, relative to a root."""
    return f"{PCI_DRIVERS}/{driver}/{attribute}"


def on_host(relative: str) -> str:
    """A root-relative path as the user knows it on the checked host (absolute)."""
    return "/" + relative.lstrip("/")


#: The world-readable /sys/class/dmi/id attributes (drivers/firmware/dmi-id.c) that name a machine.
DMI_ATTRIBUTES = ("sys_vendor", "product_name", "product_version", "board_vendor", "board_name", "bios_vendor")
#: The modules whose parameters checks read (a host has hundreds; some are root-only).
CHECKED_MODULES = ("vfio_pci", "vfio_iommu_type1")
#: Base class 08 (system peripheral), subclass 06: the IOMMU's own PCI function (AMD-Vi).
IOMMU_CLASS = 0x0806
#: Sizes of ``config`` the kernel shows: 64 (128 for CardBus) to a reader without
#: CAP_SYS_ADMIN, else 256 or 4096 (drivers/pci/pci-sysfs.c ``pci_read_config``).
CONFIG_SIZES = (64, 128, 256, 4096)


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
    #: ``d3cold_allowed`` as read (``1``/``0``), None when the root has no such file.
    d3cold_allowed: str | None = None
    #: Whether the function has an ACPI companion (``firmware_node``).
    has_firmware_node: bool = False
    label: str | None = None
    irq: int | None = None
    current_link_speed: str | None = None
    max_link_speed: str | None = None
    current_link_width: str | None = None
    max_link_width: str | None = None
    parent: Bdf | None = None
    secondary_bus: int | None = None
    has_rom: bool = False
    #: What the tree gets wrong, by attribute ("class": "empty", "driver": "symlink loop ...",
    #: "config": "0 bytes", "directory": ...): facts that could not be read and were not guessed.
    problems: dict[str, str] = field(default_factory=dict)

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
        return self.config is not None and self.config.dead

    def unreadable(self, *attributes: str) -> str | None:
        """Why one of ``attributes`` (or the device directory) could not be read, or None."""
        for attribute in ("directory", *attributes):
            if attribute in self.problems:
                return f"{attribute}: {self.problems[attribute]}"
        return None


@dataclass
class IommuGroup:
    number: int
    devices: list[Bdf] = field(default_factory=list)
    reserved_regions: list[str] = field(default_factory=list)
    type: str | None = None
    #: The group has a directory under /sys/kernel/iommu_groups (False: rebuilt from the devices'
    #: iommu_group links; its reserved regions and type are unknown).
    listed: bool = True
    #: Members whose iommu_group link names this group but that its directory does not list.
    unlisted: list[Bdf] = field(default_factory=list)


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
    #: The confined reader every read of the root goes through.
    fs: RootFS = field(repr=False)
    functions: dict[Bdf, PciFunction] = field(default_factory=dict)
    groups: dict[int, IommuGroup] = field(default_factory=dict)
    iommu_units: list[IommuUnit] = field(default_factory=list)
    firmware_tables: set[str] = field(default_factory=set)
    cpu: CpuInfo = field(default_factory=CpuInfo)
    #: /sys/class/dmi/id attributes that were readable (sys_vendor, product_name, bios_vendor ...).
    dmi: dict[str, str] = field(default_factory=dict)
    #: /sys/hypervisor/type (Xen guests and dom0 only).
    hypervisor_type: str | None = None
    cmdline: str | None = None
    kernel_release: str | None = None
    #: (major, minor, patch) of the running kernel (:func:`kernel_version`).
    kernel_version: tuple[int, ...] | None = None
    #: /proc/version as read (the distribution's package version and the build date).
    proc_version: str | None = None
    #: Set by ``vfiolab check --assume-kernel``: the kernel whose quirk tables the checks judge
    #: against instead of the running one (:attr:`judged_kernel`). Facts of the running kernel
    #: (sysfs layout, reset_method, the command line) stay as read.
    assumed_kernel: Kernel | None = None
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
    _noted: set[tuple[str, str]] = field(default_factory=set, repr=False)

    # --- Reading ------------------------------------------------------------------------------
    #
    # Every read of the root goes through :attr:`fs`, the confined and bounded reader
    # (:mod:`harness.rootfs`); what it refuses is recorded in :attr:`unseen` with the reason.

    def abs(self, relative: str) -> Path:
        """The path on this machine. Only for the one write the checker may make, on the live
        root (``echo 1 > rom``); reads go through :attr:`fs`."""
        return self.root / relative.lstrip("/")

    def show(self, relative: str) -> str:
        """A path as the user knows it (absolute on the checked host)."""
        return on_host(relative)

    def note(self, relative: str, reason: str) -> None:
        """Record that ``relative`` could not be read (or was read only in part), once."""
        entry = (self.show(relative), reason)
        if entry not in self._noted:
            self._noted.add(entry)
            self.unseen.append(entry)

    def _refused(self, relative: str, error: RootError, note_missing: bool) -> None:
        if isinstance(error, NotFound):
            if note_missing:
                self.note(relative, self._missing_reason(relative))
            return
        self.note(relative, error.reason)

    def _missing_reason(self, relative: str) -> str:
        """ "does not exist", or where a symlink pointed when its target is missing inside the
        root (an absolute target is re-rooted, a relative one cannot climb out)."""
        try:
            target = self.fs.readlink(relative)
        except RootError:
            return NotFound.reason
        depth = len(split_path(relative)) - 1
        climbs = 0
        for part in split_path(target):
            climbs = climbs + 1 if part == ".." else climbs - 1
            if climbs > depth:
                break
        if target.startswith("/") or climbs > depth:
            return f"symlink to {target}, which leaves the root: read inside the root, where it does not exist"
        return f"symlink to {target}, which does not exist"

    def read_checked(
        self, relative: str, note_missing: bool = False, limit: int = TEXT_LIMIT
    ) -> tuple[Blob | None, str | None]:
        """(the file's first ``limit`` bytes, None) or (None, why not). Refusals and partial
        reads are recorded in :attr:`unseen`; a missing file only with ``note_missing``."""
        relative = relative.lstrip("/")
        try:
            blob = self.fs.read(relative, limit)
        except RootError as error:
            return self._checked(relative, error, note_missing, limit)
        return self._checked(relative, blob, note_missing, limit)

    def _checked(
        self, relative: str, result: Blob | RootError, note_missing: bool, limit: int
    ) -> tuple[Blob | None, str | None]:
        if isinstance(result, RootError):
            self._refused(relative, result, note_missing)
            return None, result.reason
        if result.truncated:
            self.note(relative, f"larger than {limit} bytes: read the first {limit}")
        return result, None

    def read_directory(
        self, directory: str, wanted: Sequence[tuple[str, int]], note_missing: Container[str] = ()
    ) -> tuple[dict[str, tuple[Blob | None, str | None]], frozenset[str] | None]:
        """:meth:`read_checked` of each ``(name, limit)`` in ``directory``, in that order, through
        one :meth:`~harness.rootfs.RootFS.read_files`; and the directory's names when it was
        listed (None: ask :meth:`exists`)."""
        directory = directory.strip("/")
        found = self.fs.read_files(directory, wanted)
        results = {
            name: self._checked(f"{directory}/{name}", found.files[name], name in note_missing, limit)
            for name, limit in wanted
        }
        return results, found.names

    def read_checked_text(self, relative: str, limit: int = TEXT_LIMIT) -> tuple[str | None, str | None]:
        blob, reason = self.read_checked(relative, limit=limit)
        return (None, reason) if blob is None else (blob.data.decode("utf-8", errors="replace"), None)

    def read_bytes(self, relative: str, note_missing: bool = False, limit: int = TEXT_LIMIT) -> bytes | None:
        blob, _ = self.read_checked(relative, note_missing, limit)
        return None if blob is None else blob.data

    def read_text(self, relative: str, note_missing: bool = False, limit: int = TEXT_LIMIT) -> str | None:
        data = self.read_bytes(relative, note_missing, limit)
        return None if data is None else data.decode("utf-8", errors="replace")

    def readlink(self, relative: str) -> str | None:
        """The text of the symlink ``relative`` (not followed), or None when it is missing or
        not a symlink."""
        try:
            return self.fs.readlink(relative.lstrip("/"))
        except RootError:
            return None

    def readlink_name(self, relative: str) -> str | None:
        target = self.readlink(relative)
        return os.path.basename(target.rstrip("/")) if target else None

    def listdir(self, relative: str) -> list[str]:
        """Sorted names in a directory; [] when it is missing (other refusals are recorded)."""
        relative = relative.lstrip("/")
        try:
            listing = self.fs.listdir(relative)
        except RootError as error:
            self._refused(relative, error, note_missing=False)
            return []
        if listing.truncated:
            self.note(relative, f"more than {len(listing.names)} entries: read the first {len(listing.names)}")
        return listing.names

    def exists(self, relative: str) -> bool:
        """The path exists (a dangling symlink included), inside the root."""
        return self.fs.lexists(relative.lstrip("/"))

    def is_dir(self, relative: str) -> bool:
        return self.fs.is_dir(relative.lstrip("/"))

    def resolve(self, relative: str) -> str | None:
        """The canonical root-relative path (symlinks followed inside the root), or None with
        the reason recorded when it cannot be resolved."""
        relative = relative.lstrip("/")
        try:
            return self.fs.resolve(relative)
        except RootError as error:
            self._refused(relative, error, note_missing=True)
            return None

    def mtime(self, relative: str) -> float | None:
        try:
            return self.fs.mtime(relative.lstrip("/"))
        except RootError:
            return None

    def config_files(self, directory: str, pattern: str = "*") -> dict[str, str]:
        """Readable regular files of a configuration directory whose root-relative path below
        ``directory`` matches ``pattern`` (``*``, ``*.conf``, ``*/*``; as ``Path.glob``), by the
        path the user knows, in path order."""
        found: dict[str, str] = {}
        directory = directory.strip("/")
        if not self.is_dir(directory):
            return found
        candidates = [directory]
        parts = pattern.split("/")
        for level, part in enumerate(parts):
            last = level == len(parts) - 1
            matched = []
            for base in candidates:
                for name in self.listdir(base):
                    if not fnmatch.fnmatchcase(name, part):
                        continue
                    path = f"{base}/{name}"
                    if self.fs.is_file(path) if last else self.is_dir(path):
                        matched.append(path)
                    elif last:
                        self._note_not_regular(path)
            candidates = matched
        for relative in sorted(candidates, key=lambda path: path.split("/")):
            text = self.read_text(relative)
            if text is not None:
                found[self.show(relative)] = text
        return found

    def _note_not_regular(self, relative: str) -> None:
        """A configuration file that is a FIFO, a device or a socket is not read (what the
        program it configures would do with it is not ours to guess): say so in the report."""
        kind = self.fs.kind(relative)
        if kind is not None and kind is not Kind.FILE and kind is not Kind.DIRECTORY:
            self.note(relative, f"not a regular file ({kind.value}); not read")

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
        (class 0806). A function whose class could not be read is kept (and reported), not
        dropped."""
        return [
            item
            for item in self.functions.values()
            if not item.is_bridge
            and (item.class_code is None or (item.class_code >> 16 != 0x06 and item.class_code >> 8 != IOMMU_CLASS))
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
    def kernel(self) -> Kernel | None:
        """The running kernel: upstream version, distribution and build date (None when
        neither osrelease nor /proc/version could be read)."""
        if "kernel" not in self.derived:
            # Imported here: only the checks that judge kernel quirks need the version model.
            from harness.kernels import running_kernel

            self.derived["kernel"] = running_kernel(self.kernel_release, self.proc_version)
        return self.derived["kernel"]  # type: ignore[return-value]

    @property
    def judged_kernel(self) -> Kernel | None:
        """The kernel whose quirks decide the verdicts: the assumed one, else the running one."""
        return self.assumed_kernel if self.assumed_kernel is not None else self.kernel

    def assume_kernel(self, kernel: Kernel) -> None:
        """Judge kernel quirks as if ``kernel`` ran (``vfiolab check --assume-kernel``)."""
        self.assumed_kernel = kernel

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


def clip(text: str, length: int = 60) -> str:
    """``text`` shortened for a message, saying how long it was."""
    return text if len(text) <= length else f"{text[:length]}... ({len(text)} characters)"


#: The identity attributes: (name, hex digits in the kernel's ``0x%0Nx``, where config space
#: holds the same value, its width; drivers/pci/pci-sysfs.c and probe.c cache them at enumeration).
IDENTITY_ATTRIBUTES = (
    ("vendor", 4, 0x00, 2),
    ("device", 4, 0x02, 2),
    ("class", 6, 0x09, 3),
    ("revision", 2, 0x08, 1),
    ("subsystem_vendor", 4, 0x2C, 2),
    ("subsystem_device", 4, 0x2E, 2),
)
#: Without these lspci refuses the tree ("Cannot open .../vendor").
_REQUIRED_IDENTITY = ("vendor", "device", "class")
_HEX_ATTRIBUTE = re.compile(r"\s*(?:0[xX])?([0-9a-fA-F]{1,16})\s*")
_DRIVER_LINK = re.compile(r"(?:^|/)bus/pci/drivers/([A-Za-z0-9][A-Za-z0-9_.+:-]*)/?$")
_GROUP_LINK = re.compile(r"(?:^|/)kernel/iommu_groups/([0-9]{1,9})/?$")


def _parse_hex_attribute(text: str, digits: int) -> tuple[int | None, str | None]:
    """(value, None) or (None, what is wrong with the text)."""
    if not text.strip():
        return None, "empty"
    match = _HEX_ATTRIBUTE.fullmatch(text)
    if match is None:
        return None, f"not a hexadecimal number: {clip(text.strip())!r}"
    value = int(match.group(1), 16)
    if value >= 16**digits:
        return None, f"{text.strip()} does not fit in {digits} hexadecimal digits"
    return value, None


def _read_identity(view: HostView, function: PciFunction, files: dict[str, tuple[Blob | None, str | None]]) -> None:
    """vendor, device, class, revision and subsystem IDs from their sysfs files (read by
    :func:`_read_function`). A file that is missing, empty or malformed is recorded in
    :attr:`PciFunction.problems`, and the value is taken from config space when its header is
    there and answering (subsystem IDs only from a type 0 header)."""
    space = function.config
    usable = space is not None and space.header_complete and not space.dead
    for name, digits, offset, width in IDENTITY_ATTRIBUTES:
        blob, reason = files[name]
        text = None if blob is None else blob.data.decode("utf-8", errors="replace")
        value = None
        if text is not None:
            value, reason = _parse_hex_attribute(text, digits)
        elif reason == NotFound.reason and name not in _REQUIRED_IDENTITY:
            continue
        if reason is not None:
            subsystem = name.startswith("subsystem_")
            if space is not None and usable and not (subsystem and space.header_layout != regs.HEADER_LAYOUT_NORMAL):
                value = space.read(offset, width)
                reason += f"; config space gives 0x{value:0{digits}x}"
            function.problems[name] = reason
        setattr(function, "class_code" if name == "class" else name, value)


def _link_name(
    view: HostView, function: PciFunction, base: str, attribute: str, *, shape: re.Pattern[str], expected: str
) -> str | None:
    """The name a kernel link ends in (``driver`` → ``bus/pci/drivers/<name>``, ``iommu_group`` →
    ``kernel/iommu_groups/<n>``), or None. A link of another shape (one to itself, a loop, a
    regular file in its place) is recorded in :attr:`PciFunction.problems`, never read as a
    name."""
    try:
        target = view.fs.readlink(f"{base}/{attribute}")
    except NotFound:
        return None
    except NotRegular as error:
        function.problems[attribute] = f"a {error.kind.value}, not a symlink"
        return None
    except RootError as error:
        function.problems[attribute] = error.reason
        return None
    match = shape.search(target)
    if match is None:
        function.problems[attribute] = f"symlink to {clip(target)!r}, not to {expected}"
        return None
    return match.group(1)


#: The files of a device directory :func:`_read_function` reads, in the order it reads them
#: (which is the order of what could not be read in the report).
_FUNCTION_FILES = (
    ("config", CONFIG_SPACE_LIMIT),
    *((name, ATTRIBUTE_LIMIT) for name, _, _, _ in IDENTITY_ATTRIBUTES),
    *(
        (name, ATTRIBUTE_LIMIT)
        for name in (
            "driver_override",
            "reset_method",
            "power_state",
            "d3cold_allowed",
            "label",
            "irq",
            "current_link_speed",
            "max_link_speed",
            "current_link_width",
            "max_link_width",
            "secondary_bus_number",
        )
    ),
)


def _read_function(view: HostView, name: str) -> PciFunction:
    link = device_file(name)
    function = PciFunction(Bdf.parse(name), link)
    try:
        base = view.fs.resolve(link)
    except RootError as error:
        view.note(link, error.reason)
        function.problems["directory"] = error.reason
        return function
    function.path = base
    files, names = view.read_directory(base, _FUNCTION_FILES, note_missing=("config",))
    config, reason = files["config"]
    if config is not None:
        function.config = ConfigSpace(config.data)
        size = len(config.data)
        if config.truncated:
            function.problems["config"] = f"larger than {CONFIG_SPACE_LIMIT} bytes (the kernel never shows more)"
        elif size not in CONFIG_SIZES:
            function.problems["config"] = "empty (0 bytes)" if not size else f"{size} bytes"
    elif reason is not None:
        function.problems["config"] = reason
    _read_identity(view, function, files)

    def text(attribute: str) -> str | None:
        blob = files[attribute][0]
        return None if blob is None else blob.data.decode("utf-8", errors="replace")

    def exists(name: str) -> bool:
        return name in names if names is not None else view.exists(f"{base}/{name}")

    function.driver = _link_name(
        view, function, base, "driver", shape=_DRIVER_LINK, expected="../bus/pci/drivers/<name>"
    )
    override = _strip(text("driver_override"))
    function.driver_override = None if override in (None, "(null)") else override
    group = _link_name(
        view, function, base, "iommu_group", shape=_GROUP_LINK, expected="../kernel/iommu_groups/<number>"
    )
    function.iommu_group = _int(group)
    methods = text("reset_method")
    function.reset_method = methods.split() if methods is not None else None
    function.has_reset_file = exists("reset")
    function.power_state = _strip(text("power_state"))
    function.d3cold_allowed = _strip(text("d3cold_allowed"))
    function.has_firmware_node = exists("firmware_node")
    function.label = _strip(text("label"))
    function.irq = _int(text("irq"))
    function.current_link_speed = _strip(text("current_link_speed"))
    function.max_link_speed = _strip(text("max_link_speed"))
    function.current_link_width = _strip(text("current_link_width"))
    function.max_link_width = _strip(text("max_link_width"))
    function.secondary_bus = _int(text("secondary_bus_number"))
    function.has_rom = exists("rom")
    parent_name = base.rpartition("/")[0].rpartition("/")[2]
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


def _break_parent_loops(view: HostView) -> None:
    """A device's parent is the bridge whose directory holds its own. A crafted tree can nest
    two directories under each other's names; the walk up to the root would never end, so the
    link that closes the loop is cut and recorded."""
    for function in view.functions.values():
        seen = {function.bdf}
        current = function
        while current.parent is not None:
            if current.parent in seen:
                current.problems["parent"] = f"its directory nests under {current.parent}, which nests under it"
                current.parent = None
                break
            seen.add(current.parent)
            following = view.functions.get(current.parent)
            if following is None:
                break
            current = following


IOMMU_GROUPS = "sys/kernel/iommu_groups"


def _read_groups(view: HostView) -> None:
    """The IOMMU groups: each directory under /sys/kernel/iommu_groups, completed from the
    devices' own ``iommu_group`` links. A group the directory does not list (the directory is
    missing from a capture, or incomplete) is rebuilt from those links and marked
    ``listed=False``, so devices that share it are never each "alone"."""
    for name in view.listdir(IOMMU_GROUPS):
        number = _int(name)
        if number is None:
            continue
        base = f"{IOMMU_GROUPS}/{name}"
        group = IommuGroup(number)
        group.devices = [Bdf.parse(item) for item in view.listdir(f"{base}/devices") if _BDF_NAME.match(item)]
        regions = view.read_text(f"{base}/reserved_regions", limit=ATTRIBUTE_LIMIT)
        group.reserved_regions = [line.strip() for line in (regions or "").splitlines() if line.strip()]
        group.type = _strip(view.read_text(f"{base}/type", limit=ATTRIBUTE_LIMIT))
        view.groups[number] = group
    for function in view.functions.values():
        number = function.iommu_group
        if number is None:
            continue
        group = view.groups.get(number) or view.groups.setdefault(number, IommuGroup(number, listed=False))
        if function.bdf not in group.devices:
            group.devices.append(function.bdf)
            group.unlisted.append(function.bdf)


def read_host(root: Path | str, fs: RootFS | None = None) -> HostView:
    """Read everything the checks use from ``root`` (through ``fs``, by default a
    :class:`~harness.rootfs.DirectoryRoot` of it). Raises :class:`~harness.rootfs.RootError`
    when the root itself cannot be opened."""
    view = HostView(Path(root), fs if fs is not None else open_root(root))
    if not view.is_dir(PCI_DEVICES):
        view.note(PCI_DEVICES, "does not exist")
    for name in view.listdir(PCI_DEVICES):
        if _BDF_NAME.match(name):
            function = _read_function(view, name)
            view.functions[function.bdf] = function
    _break_parent_loops(view)
    _read_groups(view)
    for name in view.listdir("sys/class/iommu"):
        base = f"sys/class/iommu/{name}"
        if view.exists(f"{base}/intel-iommu"):
            ecap = view.read_text(f"{base}/intel-iommu/ecap", limit=ATTRIBUTE_LIMIT)
            view.iommu_units.append(IommuUnit(name, "intel", _hex(ecap)))
        elif view.exists(f"{base}/amd-iommu"):
            view.iommu_units.append(IommuUnit(name, "amd"))
        else:
            view.iommu_units.append(IommuUnit(name, "unknown"))
    view.firmware_tables = {
        name for name in ("DMAR", "IVRS", "IORT") if view.exists(f"sys/firmware/acpi/tables/{name}")
    }
    _read_cpu(view)
    for attribute in DMI_ATTRIBUTES:
        value = _strip(view.read_text(f"sys/class/dmi/id/{attribute}", limit=ATTRIBUTE_LIMIT))
        if value:
            view.dmi[attribute] = value
    view.hypervisor_type = _strip(view.read_text("sys/hypervisor/type", limit=ATTRIBUTE_LIMIT))
    view.cmdline = _strip(view.read_text("proc/cmdline", note_missing=True, limit=ATTRIBUTE_LIMIT))
    release = view.read_text("proc/sys/kernel/osrelease", note_missing=True, limit=ATTRIBUTE_LIMIT)
    view.kernel_release = _strip(release)
    view.proc_version = view.read_text("proc/version", limit=ATTRIBUTE_LIMIT)
    view.kernel_version = kernel_version(view.kernel_release, view.proc_version)
    for candidate in KERNEL_LOG_FILES:
        text = view.read_text(candidate, limit=LOG_LIMIT)
        if text is not None:
            view.kernel_log = parse(text.splitlines())
            view.kernel_log_path = view.show(candidate)
            break
    _read_storage(view)
    _read_net(view)
    for module in CHECKED_MODULES:
        for param in view.listdir(f"sys/module/{module}/parameters"):
            value = view.read_text(f"sys/module/{module}/parameters/{param}", limit=ATTRIBUTE_LIMIT)
            if value is not None:
                view.module_params.setdefault(module, {})[param] = value.strip()
    return view


def kernel_version(release: str | None, version_text: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of a kernel: the upstream version :func:`harness.kernels.running_kernel`
    finds (Debian's ABI names such as ``6.1.0-26-amd64`` hide it; /proc/version carries it)."""
    from harness.kernels import running_kernel

    kernel = running_kernel(release, version_text)
    return kernel.version if kernel is not None else None


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
        real = view.resolve(f"sys/class/block/{name}")
        if real is None:
            continue
        block = BlockDevice(name, real, _controller_of(real))
        block.slaves = view.listdir(f"{real}/slaves")
        dm_name = view.read_text(f"{real}/dm/name", limit=ATTRIBUTE_LIMIT)
        block.dm_name = _strip(dm_name)
        numbers = _strip(view.read_text(f"{real}/dev", limit=ATTRIBUTE_LIMIT))
        if numbers and re.fullmatch(r"[0-9]{1,10}:[0-9]{1,10}", numbers):
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
    text = view.read_text(relative, limit=ATTRIBUTE_LIMIT)
    for line in (text or "").splitlines():
        if line.startswith("E:ID_FS_TYPE="):
            block.fs_type = line.partition("=")[2].strip() or None
        elif line.startswith("E:ID_FS_LABEL="):
            block.fs_label = line.partition("=")[2].strip() or None


def _read_net(view: HostView) -> None:
    for name in view.listdir("sys/class/net"):
        real = view.resolve(f"sys/class/net/{name}")
        if real is None:
            continue
        master = view.readlink_name(f"sys/class/net/{name}/master")
        operstate = _strip(view.read_text(f"{real}/operstate", limit=ATTRIBUTE_LIMIT))
        view.net[name] = NetInterface(name, _controller_of(real), operstate, master)


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
