"""What a capture reads from a root, and the in-memory copy it makes of it.

Every read goes through the confined reader (:mod:`harness.rootfs`): a :class:`RecordingRoot`
wraps the root's reader and keeps a copy of each entry any reader looks at through it (the
directories on the way, each symlink with its own target, the bytes of each file read, the names
of each directory listed) in a :class:`~harness.rootfs_bundle.MemoryRoot`, which is what the
bundle holds.

What to read is defined once, by the code that uses it:

1. **What the checker reads.** The checker itself (:func:`harness.sysfs.read_host` and every
   check, boot configuration and storage included) runs over the recording reader, so the bundle
   holds exactly the files, links and listings the checker looked at on this root, whatever they
   were; ``check --root BUNDLE`` then reads the same things and reaches the same verdicts.
2. **What a scenario needs beyond that** (:func:`read_extras`): every PCI attribute ``lspci``
   and fakesys use, driver, slot and IOMMU unit directories, ACPI table headers (the first
   :data:`ACPI_HEADER` bytes: signature, length, OEM and revision; the tables themselves are not
   copied), the DMI attributes any user can read (not the serials or the UUID), block devices
   down to their controllers with their udev records and ``/dev/disk`` links, network
   interfaces, modules' vfio parameters, boot loader entries, and the VM configurations of
   Proxmox and libvirt.

Files whose reading reaches the device (``rom``, ``resource<N>``, ``vpd``) or that are write-only
(``reset``, ``remove``, ``bind`` ...) are never read: only their presence is kept. A file the
host refused (permission denied) is kept with the reason, so that reading it from the bundle
fails as it did on the host. Sizes are capped per file (the reader's limits) and in all
(:data:`~harness.rootfs_bundle.CONTENT_LIMIT`); what did not fit is listed with its reason.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.bootconfig import (
    GRUB_DIR,
    GRUB_FILE,
    INITRAMFS_TOOLS_MODULES,
    KERNEL_CMDLINE_FILE,
    LOCAL_SCRIPTS,
    MODPROBE_DIRS,
    PACKAGE_SCRIPTS,
    PROXMOX_BOOT_UUIDS,
)
from harness.d3cold import POWER_RESOURCE_LISTS
from harness.rootfs import (
    ATTRIBUTE_LIMIT,
    CONFIG_SPACE_LIMIT,
    LISTING_LIMIT,
    LOG_LIMIT,
    Blob,
    Entry,
    Kind,
    Listing,
    RootError,
    RootFS,
    Unreadable,
)
from harness.rootfs_bundle import CONTENT_LIMIT, Member, MemoryRoot, link_target_problem
from harness.sysfs import (
    CHECKED_MODULES,
    DMI_ATTRIBUTES,
    IDENTITY_ATTRIBUTES,
    IOMMU_GROUPS,
    KERNEL_LOG_FILES,
    PCI_DEVICES,
    PCI_DRIVERS,
    PVE_VM_CONFIGS,
    HostView,
)

#: The ACPI system description table header (ACPI 6.5, 5.2.6): what is kept of each table.
ACPI_HEADER = 36
ACPI_TABLES = "sys/firmware/acpi/tables"
PCI_SLOTS = "sys/bus/pci/slots"

#: A PCI function's text attributes (drivers/pci/pci-sysfs.c; what lspci, fakesys and the checker
#: read), after the identity ones the checker parses.
PCI_ATTRIBUTES = (
    *(name for name, *_ in IDENTITY_ATTRIBUTES),
    "irq",
    "resource",
    "numa_node",
    "local_cpulist",
    "local_cpus",
    "enable",
    "power_state",
    "d3cold_allowed",
    "reset_method",
    "driver_override",
    "label",
    "index",
    "acpi_index",
    "current_link_speed",
    "max_link_speed",
    "current_link_width",
    "max_link_width",
    "secondary_bus_number",
    "subordinate_bus_number",
    "modalias",
    "msi_bus",
    "broken_parity_status",
    "consistent_dma_mask_bits",
    "dma_mask_bits",
    "ari_enabled",
    "boot_vga",
    "sriov_totalvfs",
    "sriov_numvfs",
    "sriov_offset",
    "sriov_stride",
    "sriov_vf_device",
    "sriov_drivers_autoprobe",
    "uevent",
    "power/control",
    "power/runtime_status",
    "power/runtime_enabled",
    "power/wakeup",
)
#: Attributes of a function's ACPI companion (drivers/acpi/device_sysfs.c): its address on the
#: parent bus and its power states (with power resources, the one they show).
ACPI_COMPANION_ATTRIBUTES = ("adr", "path", "power_state", "real_power_state")
#: Symlinks of a PCI function directory.
PCI_LINKS = ("driver", "iommu_group", "iommu", "physfn", "subsystem")
#: Files of a PCI function kept by presence (the checker asks whether ``reset`` and ``rom`` exist).
PCI_PRESENCE = ("reset", "remove", "rescan", "rom", "vpd")
IOMMU_ATTRIBUTES = (
    "intel-iommu/cap",
    "intel-iommu/ecap",
    "intel-iommu/version",
    "amd-iommu/cap",
    "amd-iommu/features",
)
#: Files of a PCI function whose presence is kept but that are never read, and why.
NOT_READ = {
    "reset": "write-only",
    "remove": "write-only",
    "rescan": "write-only",
    "bind": "write-only",
    "unbind": "write-only",
    "new_id": "write-only",
    "remove_id": "write-only",
    "rom": "not read: reading it enables the device's ROM BAR",
    "vpd": "not read: reading it reaches the device (and holds its serial number)",
    **{f"resource{index}": "not read: reading it reaches the device's BAR" for index in range(6)},
    **{f"resource{index}_wc": "not read: reading it reaches the device's BAR" for index in range(6)},
}
PRESENCE = "only its presence was captured"
#: DMI attributes anybody can read (drivers/firmware/dmi-id.c: the serials, asset tags and
#: product_uuid are root-only and identify the machine; they are not captured).
DMI_EXTRA = (
    "bios_date",
    "bios_release",
    "bios_version",
    "board_version",
    "chassis_type",
    "chassis_vendor",
    "chassis_version",
    "ec_firmware_release",
    "product_family",
    "product_sku",
)
BLOCK_ATTRIBUTES = (
    "dev",
    "size",
    "removable",
    "ro",
    "partition",
    "start",
    "dm/name",
    "dm/uuid",
    "md/level",
    "md/uuid",
    "queue/rotational",
    "device/model",
    "device/vendor",
    "device/rev",
    "device/serial",
    "device/wwid",
    "device/state",
    "wwid",
    "uevent",
)
NET_ATTRIBUTES = ("address", "operstate", "type", "carrier", "mtu", "uevent")
DISK_LINK_DIRS = ("dev/disk/by-id", "dev/disk/by-uuid", "dev/disk/by-partuuid", "dev/disk/by-path", "dev/mapper")
UDEV_DATA = "run/udev/data"
#: Configuration read whole, by directory and pattern (as HostView.config_files takes them).
CONFIG_FILES: tuple[tuple[str, str], ...] = (
    *((directory, "*") for directory in MODPROBE_DIRS),
    ("etc/modules-load.d", "*.conf"),
    ("etc/initramfs-tools", "*"),
    ("etc/initramfs-tools/conf.d", "*"),
    (LOCAL_SCRIPTS, "*/*"),
    (PACKAGE_SCRIPTS, "*/*"),
    ("etc/dracut.conf.d", "*.conf"),
    ("etc/mkinitcpio.conf.d", "*.conf"),
    (GRUB_DIR.lstrip("/"), "*.cfg"),
    ("etc/driverctl.d", "*"),
    ("boot/loader/entries", "*.conf"),
    ("boot/efi/loader/entries", "*.conf"),
    ("efi/loader/entries", "*.conf"),
    ("etc/network/interfaces.d", "*"),
    (PVE_VM_CONFIGS, "*.conf"),
    ("etc/pve/mapping", "*.cfg"),
    ("etc/libvirt/qemu", "*.xml"),
)
SINGLE_FILES = (
    "proc/cmdline",
    "proc/version",
    "proc/sys/kernel/osrelease",
    "proc/sys/kernel/hostname",
    "proc/cpuinfo",
    "proc/mounts",
    "proc/swaps",
    # The firmware framebuffer's place among the BARs (harness.checks.gpu).
    "proc/iomem",
    "sys/hypervisor/type",
    "etc/hostname",
    "etc/modules",
    INITRAMFS_TOOLS_MODULES.lstrip("/"),
    "etc/dracut.conf",
    "etc/mkinitcpio.conf",
    GRUB_FILE.lstrip("/"),
    KERNEL_CMDLINE_FILE.lstrip("/"),
    PROXMOX_BOOT_UUIDS.lstrip("/"),
    "boot/grub/grub.cfg",
    "etc/network/interfaces",
    "etc/os-release",
    "usr/lib/os-release",
)
#: Paths outside these keep the capture's time as their mtime (sysfs and procfs times are the
#: boot's, and mean nothing); elsewhere the file's own mtime is kept (the checker compares them).
_VOLATILE = ("sys/", "proc/", "dev/", "run/")


@dataclass
class Recorded:
    """What a :class:`RecordingRoot` saw, as a tree plus the manifest's lists."""

    tree: MemoryRoot
    read: list[str]
    #: (path, bytes kept, reason): files kept in part (truncated) or by presence only.
    partial: list[tuple[str, int, str]]
    skipped: dict[str, str]


@dataclass
class _File:
    blob: Blob | None = None
    unread: str | None = None
    mtime: float = 0.0


class RecordingRoot(RootFS):
    """A reader over ``inner`` that keeps a copy of everything looked at through it, within
    ``content_limit`` bytes of file content."""

    def __init__(self, inner: RootFS, content_limit: int = CONTENT_LIMIT) -> None:
        self.inner = inner
        self.content_limit = content_limit
        self.stamp = time.time()
        self.description = inner.description
        self._tree = MemoryRoot(self.inner.description)
        self._noted: set[str] = set()
        self._files: dict[str, _File] = {}
        self._skipped: dict[str, str] = {}
        self._directories: dict[str, str] = {}
        #: Each entry looked up, once: the root does not change under a capture (and if it
        #: does, the capture shows it as it was first seen).
        self._entries: dict[str, Entry] = {}
        self._content = 0

    # --- Recording ----------------------------------------------------------------------------

    def _mtime(self, path: str) -> float:
        if path.startswith(_VOLATILE):
            return float(int(self.stamp))
        try:
            return self.inner._mtime_canonical(path)
        except RootError:
            return float(int(self.stamp))

    def _note(self, path: str, entry: Entry) -> None:
        if path in self._noted:
            return
        self._noted.add(path)
        if entry.kind is Kind.DIRECTORY:
            self._add(path, Member(Kind.DIRECTORY, mtime=self._mtime(path), mode=0o755))
        elif entry.kind is Kind.SYMLINK:
            target = entry.target or ""
            problem = link_target_problem(path, target)
            if problem is not None:
                self._skipped[path] = f"not captured: {problem}"
            else:
                self._add(path, Member(Kind.SYMLINK, target=target, mtime=self._mtime(path), mode=0o777))
        elif entry.kind is Kind.FILE:
            self._files.setdefault(path, _File(mtime=self._mtime(path)))
        else:
            self._skipped[path] = f"not captured: a {entry.kind.value}"

    def _add(self, path: str, member: Member) -> None:
        try:
            self._tree.add(path, member)
        except ValueError as error:
            self._skipped[path] = f"not captured: {error}"

    def _keep(self, path: str, blob: Blob) -> None:
        record = self._files.setdefault(path, _File(mtime=self._mtime(path)))
        old = len(record.blob.data) if record.blob is not None else 0
        if record.blob is not None and (old > len(blob.data) or (old == len(blob.data) and not blob.truncated)):
            return
        if self._content + len(blob.data) - old > self.content_limit:
            self._skipped.setdefault(
                path, f"not captured: the bundle's {self.content_limit // (1024 * 1024)} MiB size cap was reached"
            )
            return
        self._content += len(blob.data) - old
        record.blob = blob
        record.unread = None

    def note_unread(self, path: str, reason: str) -> None:
        """Keep ``path`` (a file seen) as present but unread, with why."""
        record = self._files.get(path)
        if record is not None and record.blob is None:
            record.unread = record.unread or reason

    @property
    def content_size(self) -> int:
        return self._content

    # --- RootFS ---------------------------------------------------------------------------------

    def resolve(self, path: str, follow_last: bool = True) -> str:
        """As :meth:`RootFS.resolve`, with each directory resolved once: a device's attributes are
        looked up in its canonical directory without walking every link on the way again (the
        entries of that walk were recorded the first time)."""
        parent, _, name = path.strip("/").rpartition("/")
        if name in ("", ".", "..") or "\x00" in path or path.endswith("/"):
            return super().resolve(path, follow_last)
        base = self._directories.get(parent)
        if base is None:
            base = super().resolve(parent) if parent else ""
            self._directories[parent] = base
        entry = self._entry(base, name)
        if entry.kind is Kind.SYMLINK and follow_last:
            return super().resolve(f"{base}/{name}" if base else name)
        return f"{base}/{name}" if base else name

    def _entry(self, parent: str, name: str) -> Entry:
        path = f"{parent}/{name}" if parent else name
        entry = self._entries.get(path)
        if entry is None:
            entry = self.inner._entry(parent, name)
            self._entries[path] = entry
            self._note(path, entry)
        return entry

    def _read_canonical(self, path: str, limit: int) -> Blob:
        try:
            blob = self.inner._read_canonical(path, limit)
        except Unreadable as error:
            self.note_unread(path, error.reason)
            raise
        self._keep(path, blob)
        return blob

    def _list_canonical(self, path: str, limit: int = LISTING_LIMIT) -> Listing:
        try:
            listing = self.inner._list_canonical(path, limit)
        except Unreadable as error:
            member = self._tree.member(path)
            if member is not None and member.kind is Kind.DIRECTORY and path:
                self._tree.set_member(path, Member(Kind.DIRECTORY, mtime=member.mtime, mode=0o755, unread=error.reason))
            raise
        for name in listing.names:
            child = f"{path}/{name}" if path else name
            if child in self._noted:
                continue
            try:
                self._entry(path, name)
            except RootError:
                continue  # gone since the listing
        if listing.truncated:
            self._skipped[path] = f"more than {limit} entries: the first {limit} were captured"
        return listing

    def _mtime_canonical(self, path: str) -> float:
        return self.inner._mtime_canonical(path)

    def close(self) -> None:
        """The inner reader belongs to the caller, who closes it."""

    # --- The result -----------------------------------------------------------------------------

    def recorded(self) -> Recorded:
        """The tree with every file added (read ones with their bytes, the others by presence),
        and the manifest's lists."""
        read: list[str] = []
        partial: list[tuple[str, int, str]] = []
        for path in sorted(self._files):
            record = self._files[path]
            name = path.rsplit("/", 1)[-1]
            if record.blob is not None:
                member = Member(Kind.FILE, record.blob.data, mtime=record.mtime, truncated=record.blob.truncated)
                read.append(path)
                if record.blob.truncated:
                    partial.append((path, len(record.blob.data), f"larger: the first {len(record.blob.data)} bytes"))
            else:
                reason = (
                    self._skipped.get(path)
                    or record.unread
                    or (f"{NOT_READ[name]}: {PRESENCE}" if name in NOT_READ else f"not read: {PRESENCE}")
                )
                mode = 0o200 if NOT_READ.get(name) == "write-only" else 0o444
                member = Member(Kind.FILE, b"", mtime=record.mtime, mode=mode, unread=reason)
                partial.append((path, 0, reason))
            self._add(path, member)
        return Recorded(self._tree, read, partial, dict(sorted(self._skipped.items())))


# --- What a scenario needs beyond the checker -----------------------------------------------------
#
# Read through a HostView over the recording reader: its helpers turn every refusal into an
# "unseen" note (recorded by the reader too) and the capture goes on.


def read_extras(view: HostView) -> None:
    """Read, through ``view`` (over a :class:`RecordingRoot`), what a scenario and the importer
    need beyond what the checker read. The order is the priority when the size cap is reached."""
    _read_pci(view)
    _read_platform(view)
    for path in SINGLE_FILES:
        view.read_bytes(path)
    for path in KERNEL_LOG_FILES:
        view.read_bytes(path, limit=LOG_LIMIT)
    release = view.read_text("proc/sys/kernel/osrelease", limit=ATTRIBUTE_LIMIT)
    release = release.strip() if release else None
    if release and "/" not in release:
        view.read_bytes(f"boot/config-{release}")
        for base in ("lib", "usr/lib"):
            view.read_bytes(f"{base}/modules/{release}/modules.builtin")
        for image in (f"boot/initrd.img-{release}", f"boot/initramfs-{release}.img"):
            view.exists(image)
    for directory, pattern in CONFIG_FILES:
        view.config_files(directory, pattern)
    _read_storage(view)
    _read_net(view)
    _read_modules(view)


def _attribute(view: HostView, path: str) -> str | None:
    text = view.read_text(path, limit=ATTRIBUTE_LIMIT)
    return None if text is None else text.strip()


def _read_pci(view: HostView) -> None:
    for name in view.listdir(PCI_DEVICES):
        base = view.resolve(f"{PCI_DEVICES}/{name}")
        if base is None:
            continue
        view.read_bytes(f"{base}/config", limit=CONFIG_SPACE_LIMIT)
        for attribute in PCI_ATTRIBUTES:
            view.read_bytes(f"{base}/{attribute}", limit=ATTRIBUTE_LIMIT)
        for link in (*PCI_LINKS, *PCI_PRESENCE):
            view.exists(f"{base}/{link}")
        numvfs = _attribute(view, f"{base}/sriov_numvfs")
        for index in range(min(int(numvfs), 4096) if numvfs and numvfs.isdigit() else 0):
            view.exists(f"{base}/virtfn{index}")
        for irq in view.listdir(f"{base}/msi_irqs"):
            view.read_bytes(f"{base}/msi_irqs/{irq}", limit=ATTRIBUTE_LIMIT)
        _read_acpi_companion(view, f"{base}/firmware_node")
    for driver in view.listdir(PCI_DRIVERS):
        view.listdir(f"{PCI_DRIVERS}/{driver}")
    for slot in view.listdir(PCI_SLOTS):
        view.listdir(f"{PCI_SLOTS}/{slot}")
        for attribute in ("address", "max_bus_speed", "cur_bus_speed"):
            view.read_bytes(f"{PCI_SLOTS}/{slot}/{attribute}", limit=ATTRIBUTE_LIMIT)


def _read_acpi_companion(view: HostView, node: str) -> None:
    """A function's ACPI companion: what the D3cold prediction reads (harness.d3cold) and the
    import turns back into the function's power resources."""
    if not view.exists(node):
        return
    for attribute in ACPI_COMPANION_ATTRIBUTES:
        view.read_bytes(f"{node}/{attribute}", limit=ATTRIBUTE_LIMIT)
    for listing in POWER_RESOURCE_LISTS:
        for resource in view.listdir(f"{node}/{listing}"):
            view.read_bytes(f"{node}/{listing}/{resource}/resource_in_use", limit=ATTRIBUTE_LIMIT)


def _read_platform(view: HostView) -> None:
    for group in view.listdir(IOMMU_GROUPS):
        view.listdir(f"{IOMMU_GROUPS}/{group}/devices")
        for attribute in ("type", "reserved_regions"):
            view.read_bytes(f"{IOMMU_GROUPS}/{group}/{attribute}", limit=ATTRIBUTE_LIMIT)
    for unit in view.listdir("sys/class/iommu"):
        for attribute in IOMMU_ATTRIBUTES:
            view.read_bytes(f"sys/class/iommu/{unit}/{attribute}", limit=ATTRIBUTE_LIMIT)
        view.listdir(f"sys/class/iommu/{unit}/devices")
    for table in view.listdir(ACPI_TABLES):
        if view.fs.is_file(f"{ACPI_TABLES}/{table}"):
            view.read_bytes(f"{ACPI_TABLES}/{table}", limit=ACPI_HEADER)
    for attribute in (*DMI_ATTRIBUTES, *DMI_EXTRA):
        view.read_bytes(f"sys/class/dmi/id/{attribute}", limit=ATTRIBUTE_LIMIT)
    for pool in view.listdir("proc/spl/kstat/zfs"):
        view.read_bytes(f"proc/spl/kstat/zfs/{pool}/state", limit=ATTRIBUTE_LIMIT)


def _read_storage(view: HostView) -> None:
    numbers = []
    for name in view.listdir("sys/class/block"):
        real = view.resolve(f"sys/class/block/{name}")
        if real is None:
            continue
        for attribute in BLOCK_ATTRIBUTES:
            view.read_bytes(f"{real}/{attribute}", limit=ATTRIBUTE_LIMIT)
        for links in ("slaves", "holders"):
            view.listdir(f"{real}/{links}")
        view.exists(f"{real}/device")
        number = _attribute(view, f"{real}/dev")
        if number and re.fullmatch(r"[0-9]{1,10}:[0-9]{1,10}", number):
            numbers.append(number)
    view.listdir("sys/block")
    for directory in DISK_LINK_DIRS:
        view.listdir(directory)
    for number in numbers:
        view.read_bytes(f"{UDEV_DATA}/b{number}", limit=ATTRIBUTE_LIMIT)


def _read_net(view: HostView) -> None:
    for name in view.listdir("sys/class/net"):
        real = view.resolve(f"sys/class/net/{name}")
        if real is None:
            continue
        for attribute in NET_ATTRIBUTES:
            view.read_bytes(f"{real}/{attribute}", limit=ATTRIBUTE_LIMIT)
        for link in ("master", "device"):
            view.exists(f"{real}/{link}")
        view.listdir(f"{real}/brif")


def _read_modules(view: HostView) -> None:
    # vendor-reset has no parameters: its loaded state is the directory (harness.checks.gpu).
    view.read_bytes("sys/module/vendor_reset/initstate", limit=ATTRIBUTE_LIMIT)
    for module in view.listdir("sys/module"):
        if module.startswith("vfio") or module in CHECKED_MODULES:
            for parameter in view.listdir(f"sys/module/{module}/parameters"):
                view.read_bytes(f"sys/module/{module}/parameters/{parameter}", limit=ATTRIBUTE_LIMIT)


# --- The whole snapshot ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    recorded: Recorded
    #: Why the checker's pass did not complete (a bug in the checker on this root), or None.
    checker_error: str | None
    seconds: float


def take_snapshot(root: str | Path, fs: RootFS, content_limit: int = CONTENT_LIMIT) -> Snapshot:
    """Copy of ``root`` (read through ``fs``): what the checker reads, then :func:`read_extras`."""
    from harness.checker import run_checks
    from harness.sysfs import read_host

    started = time.monotonic()
    recorder = RecordingRoot(fs, content_limit)
    checker_error = None
    try:
        run_checks(read_host(Path(root), recorder))
    except Exception as error:  # a checker bug must not cost the user the capture
        checker_error = f"{type(error).__name__}: {error}"
    read_extras(HostView(Path(root), recorder))
    return Snapshot(recorder.recorded(), checker_error, time.monotonic() - started)
