"""A VFIO client in Python: what QEMU's vfio-pci does to a device, through ``fcntl.ioctl`` on
``/dev/vfio``, with nothing outside the standard library (it runs inside live guests through the
host's root, and on lab hosts).

The legacy container/group interface: open the container (``/dev/vfio/vfio``), check the API
version and the type1 IOMMU, open the device's group (``/dev/vfio/<group>``), attach it to the
container, set the IOMMU, get a device file descriptor, then read its region info and config
space and reset it (``VFIO_DEVICE_RESET``; ``VFIO_DEVICE_PCI_HOT_RESET`` after
``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO`` lists the devices a bus reset affects, with their groups).

ioctl numbers and struct layouts: ``include/uapi/linux/vfio.h`` of Linux 6.1 (the same numbers
and layouts in 6.12, whose ``vfio_pci_dependent_device`` makes ``group_id`` a union with a
``devid`` that the group interface does not use). Every VFIO ioctl is ``_IO(VFIO_TYPE,
VFIO_BASE + n)`` with ``VFIO_TYPE`` ``';'`` and ``VFIO_BASE`` 100: direction and size bits are
zero (``include/uapi/asm-generic/ioctl.h``), so the number is ``(';' << 8) | (100 + n)``.

Imports are kept to a few built-in modules (no dataclasses, argparse or pathlib): in a live guest
the interpreter reads every module through 9p under TCG, where each one costs tens of
milliseconds.

Run as a program in a guest (or on a host, as root, on a device bound to vfio-pci)::

    python -m harness.live.vfio 0000:01:00.0 [--config-bytes 64] [--reset] [--hot-reset] [--qemu-reset]

It prints one ``vfio: ...`` line per fact and exits 0, or 1 with ``vfio: error: ...`` when an
ioctl fails (a failed reset is an outcome a scenario may expect). ``--qemu-reset`` resets the
device the way QEMU's vfio-pci does at VM start (hw/vfio/pci.c ``vfio_pci_reset``, the same in
QEMU 7.2 through 9.2): power it to D0 through config space, then ``VFIO_DEVICE_RESET`` first only
when the device has FLR or no PM reset (No_Soft_Reset clear), else a hot reset of the device
alone, then ``VFIO_DEVICE_RESET`` when that failed and a PM reset exists; it prints each attempt
and exits 1 when none worked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import sys

from harness.sysfs import device_file

# Not typing.TYPE_CHECKING: importing typing costs more than the rest of this module in a guest
# (mypy treats any TYPE_CHECKING constant the same).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import TracebackType
    from typing import TypeVar

    _Self = TypeVar("_Self", bound="_FileDescriptor")

_VFIO_TYPE = ord(";")
_VFIO_BASE = 100


def _io(number: int) -> int:
    """``_IO(VFIO_TYPE, VFIO_BASE + number)``."""
    return (_VFIO_TYPE << 8) | (_VFIO_BASE + number)


VFIO_API_VERSION = 0
VFIO_TYPE1_IOMMU = 1
VFIO_TYPE1v2_IOMMU = 3
VFIO_GET_API_VERSION = _io(0)
VFIO_CHECK_EXTENSION = _io(1)
VFIO_SET_IOMMU = _io(2)
VFIO_GROUP_GET_STATUS = _io(3)
VFIO_GROUP_SET_CONTAINER = _io(4)
VFIO_GROUP_UNSET_CONTAINER = _io(5)
VFIO_GROUP_GET_DEVICE_FD = _io(6)
VFIO_DEVICE_GET_INFO = _io(7)
VFIO_DEVICE_GET_REGION_INFO = _io(8)
VFIO_DEVICE_RESET = _io(11)
VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = _io(12)
VFIO_DEVICE_PCI_HOT_RESET = _io(13)

VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1
VFIO_DEVICE_FLAGS_RESET = 1 << 0
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_REGION_INFO_FLAG_READ = 1 << 0
VFIO_REGION_INFO_FLAG_WRITE = 1 << 1
VFIO_REGION_INFO_FLAG_MMAP = 1 << 2
VFIO_PCI_CONFIG_REGION_INDEX = 7
VFIO_PCI_REGION_NAMES = ("BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "config", "VGA")

#: struct vfio_group_status {u32 argsz, flags}
_GROUP_STATUS = struct.Struct("=II")
#: struct vfio_device_info {u32 argsz, flags, num_regions, num_irqs, cap_offset}
_DEVICE_INFO = struct.Struct("=IIIII")
#: struct vfio_region_info {u32 argsz, flags, index, cap_offset; u64 size, offset}
_REGION_INFO = struct.Struct("=IIIIQQ")
#: struct vfio_pci_hot_reset_info {u32 argsz, flags, count} + devices[count]
_HOT_RESET_INFO = struct.Struct("=III")
#: struct vfio_pci_dependent_device {u32 group_id; u16 segment; u8 bus, devfn}
_DEPENDENT_DEVICE = struct.Struct("=IHBB")
#: struct vfio_pci_hot_reset {u32 argsz, flags, count} + s32 group_fds[count]
_HOT_RESET = struct.Struct("=III")

#: Where the VFIO character devices are, relative to a root.
VFIO_DIR = "dev/vfio"


class VfioError(Exception):
    """A VFIO call that failed: what was asked, and the errno's name and text."""

    def __init__(self, what: str, error: OSError | None = None, detail: str = "") -> None:
        self.what = what
        self.errno = error.errno if error is not None else None
        reason = detail
        if error is not None and error.errno is not None:
            reason = f"{errno.errorcode.get(error.errno, error.errno)} ({os.strerror(error.errno)})"
        super().__init__(f"{what}: {reason}" if reason else what)


def _ioctl(fd: int, request: int, argument: int | bytearray, what: str) -> int:
    """``fcntl.ioctl`` whose return value is the kernel's (a mutable buffer is filled in)."""
    try:
        return fcntl.ioctl(fd, request, argument)
    except OSError as error:
        raise VfioError(what, error) from None


def _open(path: str, what: str) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        raise VfioError(f"{what} {path}", error) from None


class DeviceInfo:
    """``struct vfio_device_info``: flags, how many regions and interrupt kinds."""

    __slots__ = ("flags", "num_irqs", "num_regions")

    def __init__(self, flags: int, num_regions: int, num_irqs: int) -> None:
        self.flags = flags
        self.num_regions = num_regions
        self.num_irqs = num_irqs

    @property
    def can_reset(self) -> bool:
        return bool(self.flags & VFIO_DEVICE_FLAGS_RESET)

    @property
    def is_pci(self) -> bool:
        return bool(self.flags & VFIO_DEVICE_FLAGS_PCI)


class RegionInfo:
    """``struct vfio_region_info``: a BAR, the ROM, config space or VGA, where it is in the
    device file and what it allows."""

    __slots__ = ("flags", "index", "offset", "size")

    def __init__(self, index: int, flags: int, size: int, offset: int) -> None:
        self.index = index
        self.flags = flags
        self.size = size
        self.offset = offset

    @property
    def name(self) -> str:
        return VFIO_PCI_REGION_NAMES[self.index] if self.index < len(VFIO_PCI_REGION_NAMES) else f"region {self.index}"


class DependentDevice:
    """A device a hot reset (bus reset) of the device affects, and its IOMMU group
    (``struct vfio_pci_dependent_device``)."""

    __slots__ = ("bus", "devfn", "group", "segment")

    def __init__(self, group: int, segment: int, bus: int, devfn: int) -> None:
        self.group = group
        self.segment = segment
        self.bus = bus
        self.devfn = devfn

    @property
    def address(self) -> str:
        return f"{self.segment:04x}:{self.bus:02x}:{self.devfn >> 3:02x}.{self.devfn & 7}"

    def __repr__(self) -> str:
        return f"DependentDevice({self.address}, group {self.group})"


def iommu_group(address: str, root: str = "/") -> int:
    """The IOMMU group number of a PCI device (its ``iommu_group`` link's name) on ``root``."""
    link = os.path.join(root, device_file(address, "iommu_group"))
    try:
        return int(os.readlink(link).rsplit("/", 1)[-1])
    except (OSError, ValueError) as error:
        raise VfioError(
            f"no IOMMU group for {address} ({link})", error if isinstance(error, OSError) else None
        ) from None


class _FileDescriptor:
    """Something VFIO hands out as a file descriptor: closed once, usable with ``with``."""

    fd = -1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Container(_FileDescriptor):
    """``/dev/vfio/vfio``: one IOMMU context for the groups attached to it."""

    def __init__(self, path: str = VFIO_DIR + "/vfio") -> None:
        self.fd = _open(path, "open container")
        self.iommu_set = False

    def api_version(self) -> int:
        return _ioctl(self.fd, VFIO_GET_API_VERSION, 0, "VFIO_GET_API_VERSION")

    def check_extension(self, extension: int) -> bool:
        return _ioctl(self.fd, VFIO_CHECK_EXTENSION, extension, "VFIO_CHECK_EXTENSION") > 0

    def set_iommu(self, kind: int = VFIO_TYPE1v2_IOMMU) -> None:
        _ioctl(self.fd, VFIO_SET_IOMMU, kind, "VFIO_SET_IOMMU")
        self.iommu_set = True


class Group(_FileDescriptor):
    """``/dev/vfio/<number>``: a group, viable when every device in it is bound to a VFIO
    driver (or to none)."""

    def __init__(self, number: int, directory: str = VFIO_DIR) -> None:
        self.number = number
        self.fd = _open(os.path.join(directory, str(number)), "open group")

    def status(self) -> int:
        buffer = bytearray(_GROUP_STATUS.pack(_GROUP_STATUS.size, 0))
        _ioctl(self.fd, VFIO_GROUP_GET_STATUS, buffer, f"VFIO_GROUP_GET_STATUS group {self.number}")
        flags: int = _GROUP_STATUS.unpack(buffer)[1]
        return flags

    @property
    def viable(self) -> bool:
        return bool(self.status() & VFIO_GROUP_FLAGS_VIABLE)

    def set_container(self, container: Container) -> None:
        argument = bytearray(struct.pack("=i", container.fd))
        _ioctl(self.fd, VFIO_GROUP_SET_CONTAINER, argument, f"VFIO_GROUP_SET_CONTAINER group {self.number}")

    def unset_container(self) -> None:
        _ioctl(self.fd, VFIO_GROUP_UNSET_CONTAINER, 0, f"VFIO_GROUP_UNSET_CONTAINER group {self.number}")

    def device(self, address: str) -> Device:
        argument = bytearray(address.encode() + b"\0")
        fd = _ioctl(self.fd, VFIO_GROUP_GET_DEVICE_FD, argument, f"VFIO_GROUP_GET_DEVICE_FD {address}")
        return Device(fd, address)


class Device(_FileDescriptor):
    """A device file descriptor from :meth:`Group.device`."""

    def __init__(self, fd: int, address: str) -> None:
        self.fd = fd
        self.address = address

    def info(self) -> DeviceInfo:
        buffer = bytearray(_DEVICE_INFO.pack(_DEVICE_INFO.size, 0, 0, 0, 0))
        _ioctl(self.fd, VFIO_DEVICE_GET_INFO, buffer, f"VFIO_DEVICE_GET_INFO {self.address}")
        _, flags, regions, irqs, _ = _DEVICE_INFO.unpack(buffer)
        return DeviceInfo(flags, regions, irqs)

    def region(self, index: int) -> RegionInfo:
        buffer = bytearray(_REGION_INFO.pack(_REGION_INFO.size, 0, index, 0, 0, 0))
        _ioctl(self.fd, VFIO_DEVICE_GET_REGION_INFO, buffer, f"VFIO_DEVICE_GET_REGION_INFO {self.address} {index}")
        _, flags, found, _, size, offset = _REGION_INFO.unpack(buffer)
        return RegionInfo(found, flags, size, offset)

    def read_config(self, offset: int = 0, length: int = 256) -> bytes:
        """Config space as vfio-pci shows it (some fields virtualised, as QEMU sees them)."""
        region = self.region(VFIO_PCI_CONFIG_REGION_INDEX)
        length = max(0, min(length, region.size - offset))
        try:
            return os.pread(self.fd, length, region.offset + offset)
        except OSError as error:
            raise VfioError(f"config read {self.address} at {offset:#x}", error) from None

    def write_config(self, offset: int, data: bytes) -> None:
        region = self.region(VFIO_PCI_CONFIG_REGION_INDEX)
        try:
            os.pwrite(self.fd, data, region.offset + offset)
        except OSError as error:
            raise VfioError(f"config write {self.address} at {offset:#x}", error) from None

    def reset(self) -> None:
        """``VFIO_DEVICE_RESET``: the kernel's function reset of the device (FLR, PM, or the
        bus when the device is alone on it), as QEMU uses at VM start and reset."""
        _ioctl(self.fd, VFIO_DEVICE_RESET, 0, f"VFIO_DEVICE_RESET {self.address}")

    def hot_reset_info(self) -> list[DependentDevice]:
        """``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``: the devices a bus reset would reset."""
        room = 8
        while True:
            buffer = bytearray(_HOT_RESET_INFO.size + room * _DEPENDENT_DEVICE.size)
            _HOT_RESET_INFO.pack_into(buffer, 0, len(buffer), 0, 0)
            try:
                fcntl.ioctl(self.fd, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buffer)
            except OSError as error:
                count = _HOT_RESET_INFO.unpack_from(buffer)[2]
                # ENOSPC: the buffer is too small; the kernel says how many there are.
                if error.errno == errno.ENOSPC and room < 4096:
                    room = count if count > room else room * 2
                    continue
                raise VfioError(f"VFIO_DEVICE_GET_PCI_HOT_RESET_INFO {self.address}", error) from None
            count = _HOT_RESET_INFO.unpack_from(buffer)[2]
            return [
                DependentDevice(
                    *_DEPENDENT_DEVICE.unpack_from(buffer, _HOT_RESET_INFO.size + index * _DEPENDENT_DEVICE.size)
                )
                for index in range(count)
            ]

    def hot_reset(self, groups: Sequence[Group]) -> None:
        """``VFIO_DEVICE_PCI_HOT_RESET``: a bus reset; ``groups`` must be every group
        :meth:`hot_reset_info` names, opened by this process."""
        fds = [group.fd for group in groups]
        buffer = bytearray(
            _HOT_RESET.pack(_HOT_RESET.size + 4 * len(fds), 0, len(fds)) + struct.pack(f"={len(fds)}i", *fds)
        )
        _ioctl(self.fd, VFIO_DEVICE_PCI_HOT_RESET, buffer, f"VFIO_DEVICE_PCI_HOT_RESET {self.address}")


class VfioSession:
    """A device opened the way QEMU opens it: container, its group attached, type1 IOMMU set,
    device fd. Groups of other devices (for a hot reset) are opened on demand and attached to
    the same container. Closing releases everything in reverse order."""

    def __init__(self, address: str, *, root: str = "/") -> None:
        """``root``: the host's ``/`` (a lab host, a guest), or the directory it is mounted at."""
        self.address = address
        self.root = root
        vfio_dir = os.path.join(root, VFIO_DIR)
        self.vfio_dir = vfio_dir
        self.container = Container(os.path.join(vfio_dir, "vfio"))
        self.groups: dict[int, Group] = {}
        self.device: Device | None = None
        try:
            version = self.container.api_version()
            if version != VFIO_API_VERSION:
                raise VfioError(f"VFIO API version {version}, expected {VFIO_API_VERSION}")
            if not self.container.check_extension(VFIO_TYPE1v2_IOMMU):
                raise VfioError("the container does not support the type1v2 IOMMU")
            self.group = self.open_group(iommu_group(address, root))
            self.device = self.group.device(address)
        except BaseException:
            self.close()
            raise

    def open_group(self, number: int) -> Group:
        """The group ``number``, opened and attached to the container (once)."""
        if number not in self.groups:
            group = Group(number, self.vfio_dir)
            self.groups[number] = group
            if not group.viable:
                raise VfioError(f"group {number} is not viable (some device in it is bound to a host driver)")
            group.set_container(self.container)
            if not self.container.iommu_set:
                self.container.set_iommu(VFIO_TYPE1v2_IOMMU)
        return self.groups[number]

    def hot_reset(self) -> list[DependentDevice]:
        """Bus-reset the device with every device that shares the reset; returns them."""
        assert self.device is not None
        affected = self.device.hot_reset_info()
        groups = [self.open_group(number) for number in sorted({item.group for item in affected})]
        self.device.hot_reset(groups)
        return affected

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
        for group in reversed(list(self.groups.values())):
            group.close()
        self.container.close()

    def __enter__(self) -> VfioSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _flags(flags: int, names: Sequence[tuple[int, str]]) -> str:
    return " ".join(name for bit, name in names if flags & bit) or "none"


def probe(
    address: str,
    *,
    config_bytes: int = 64,
    reset: bool = False,
    hot_reset: bool = False,
    qemu: bool = False,
    emit: Callable[[str], object] = print,
) -> bool:
    """What ``python -m harness.live.vfio`` prints for one device, one ``emit`` per line as it
    happens (so what worked is shown before a :class:`VfioError` ends it); False when QEMU's
    reset order (``qemu``) found no reset that worked."""
    with VfioSession(address) as session:
        assert session.device is not None
        device = session.device
        emit(f"vfio: group {session.group.number} viable, container type1v2")
        info = device.info()
        flags = _flags(info.flags, ((VFIO_DEVICE_FLAGS_RESET, "reset"), (VFIO_DEVICE_FLAGS_PCI, "pci")))
        emit(f"vfio: device {address} flags {flags} regions {info.num_regions} irqs {info.num_irqs}")
        for index in range(min(info.num_regions, len(VFIO_PCI_REGION_NAMES))):
            try:
                region = device.region(index)
            except VfioError as error:
                # vfio-pci answers EINVAL for the VGA region of a device that is not VGA.
                if error.errno == errno.EINVAL and index == VFIO_PCI_REGION_NAMES.index("VGA"):
                    continue
                raise
            if region.size:
                access = _flags(
                    region.flags,
                    (
                        (VFIO_REGION_INFO_FLAG_READ, "read"),
                        (VFIO_REGION_INFO_FLAG_WRITE, "write"),
                        (VFIO_REGION_INFO_FLAG_MMAP, "mmap"),
                    ),
                )
                emit(f"vfio: region {region.name} size {region.size:#x} {access}")
        config = device.read_config(0, config_bytes)
        vendor, device_id = struct.unpack_from("<HH", config) if len(config) >= 4 else (0xFFFF, 0xFFFF)
        emit(f"vfio: config vendor {vendor:04x} device {device_id:04x} ({len(config)} bytes read)")
        for start in range(0, len(config), 16):
            chunk = config[start : start + 16]
            emit(f"vfio: config {start:02x}: " + " ".join(f"{byte:02x}" for byte in chunk))
        if reset:
            device.reset()
            emit("vfio: VFIO_DEVICE_RESET ok")
        if hot_reset:
            affected = session.hot_reset()
            for item in affected:
                emit(f"vfio: hot reset affects {item.address} (group {item.group})")
            emit("vfio: VFIO_DEVICE_PCI_HOT_RESET ok")
        if qemu:
            return qemu_reset(session, bool(info.flags & VFIO_DEVICE_FLAGS_RESET), device.read_config(0, 256), emit)
    return True


#: PCI capability IDs and registers QEMU derives its reset order from (include/uapi/linux/pci_regs.h).
_CAP_PM = 0x01
_CAP_EXPRESS = 0x10
_CAP_AF = 0x13
_PM_CTRL = 4
_PM_NO_SOFT_RESET = 0x0008
_PM_STATE_MASK = 0x0003
_EXP_DEVCAP = 4
_EXP_DEVCAP_FLR = 1 << 28
_AF_CAP = 3
_AF_TP_FLR = 0x03


def _capability(config: bytes, cap_id: int) -> int:
    """Offset of capability ``cap_id`` in the config bytes (0 when absent); the walk stops at a
    pointer below 0x40, past the bytes read, or after 48 entries."""
    if len(config) < 0x40 or not struct.unpack_from("<H", config, 6)[0] & 0x10:
        return 0
    pointer = config[0x34] & 0xFC
    for _ in range(48):
        if pointer < 0x40 or pointer + 2 > len(config):
            return 0
        if config[pointer] == cap_id:
            return pointer
        pointer = config[pointer + 1] & 0xFC
    return 0


def qemu_reset(session: VfioSession, reset_works: bool, config: bytes, emit: Callable[[str], object] = print) -> bool:
    """QEMU's ``vfio_pci_reset`` order (see the module's description); True when a reset worked."""
    device = session.device
    assert device is not None
    express, pm, af = (_capability(config, cap) for cap in (_CAP_EXPRESS, _CAP_PM, _CAP_AF))
    has_flr = bool(express and len(config) >= express + 8 and _u32(config, express + _EXP_DEVCAP) & _EXP_DEVCAP_FLR)
    has_flr = has_flr or bool(af and config[af + _AF_CAP] & _AF_TP_FLR == _AF_TP_FLR)
    has_pm_reset = bool(pm and not _u16(config, pm + _PM_CTRL) & _PM_NO_SOFT_RESET)
    emit(f"vfio: qemu reset: flr {_yes(has_flr)}, pm reset {_yes(has_pm_reset)}, reset works {_yes(reset_works)}")
    if pm:
        # vfio_pci_pre_reset: back to D0 through the config region.
        state = device.read_config(pm + _PM_CTRL, 2)
        if len(state) == 2 and _u16(state, 0) & _PM_STATE_MASK:
            device.write_config(pm + _PM_CTRL, struct.pack("<H", _u16(state, 0) & ~_PM_STATE_MASK))
    attempts = []
    if reset_works and (has_flr or not has_pm_reset):
        attempts.append("device")
    attempts.append("hot")
    if reset_works and has_pm_reset:
        attempts.append("device")
    for attempt in attempts:
        try:
            if attempt == "device":
                device.reset()
                emit("vfio: qemu reset: VFIO_DEVICE_RESET ok")
            else:
                affected = device.hot_reset_info()
                others = [item.address for item in affected if item.address != device.address]
                if others:
                    emit(f"vfio: qemu reset: hot reset would also reset {', '.join(others)}; not tried")
                    continue
                device.hot_reset([session.group])
                emit("vfio: qemu reset: VFIO_DEVICE_PCI_HOT_RESET ok")
            return True
        except VfioError as error:
            emit(f"vfio: qemu reset: {error}")
    return False


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def _yes(value: bool) -> str:
    return "yes" if value else "no"


USAGE = """usage: python -m harness.live.vfio DEVICE [--config-bytes N] [--reset] [--hot-reset] [--qemu-reset]

Open DEVICE (a PCI address such as 0000:01:00.0, bound to vfio-pci) as QEMU does, print its VFIO
facts and config space, and reset it: --reset with VFIO_DEVICE_RESET, --hot-reset with
VFIO_DEVICE_PCI_HOT_RESET of its bus. Exit 0 when every call worked, 1 when one failed (printed as
vfio: error: ...), 64 for a usage error."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "-h" in arguments or "--help" in arguments:
        print(USAGE)
        return 0
    options = {"--reset": False, "--hot-reset": False, "--qemu-reset": False}
    config_bytes = 64
    devices = []
    while arguments:
        word = arguments.pop(0)
        if word in options:
            options[word] = True
        elif word == "--config-bytes" and arguments and arguments[0].isdigit():
            config_bytes = int(arguments.pop(0))
        elif not word.startswith("-"):
            devices.append(word)
        else:
            print(f"{USAGE}\n\nvfio: unknown option {word!r}", file=sys.stderr)
            return 64
    if len(devices) != 1:
        print(f"{USAGE}\n\nvfio: name exactly one device", file=sys.stderr)
        return 64
    try:
        worked = probe(
            devices[0],
            config_bytes=config_bytes,
            reset=options["--reset"],
            hot_reset=options["--hot-reset"],
            qemu=options["--qemu-reset"],
        )
    except VfioError as error:
        print(f"vfio: error: {error}", flush=True)
        return 1
    return 0 if worked else 1


if __name__ == "__main__":
    sys.exit(main())
