"""QEMU's command line for a guest: q35, the PVH kernel and initramfs, the serial console on
stdio, the emulated devices of the scenario's ``guest:`` part, an Intel IOMMU when asked, and
the host's root exported read-only over 9p when a step needs it.

Every value that comes from a scenario file has passed the guest schema's patterns (ids,
addresses, integers, a closed list of device types) before it gets here, so none can add an
option of its own (a ``,`` would); file names on the command line are the assets' and the run's
own. Extra arguments (``-device x-pci-proxy-dev,...,fd=N``) and file descriptors to pass are the
caller's, for devices served from outside QEMU.

Base command: ``live-qemu`` practice, verified on QEMU 7.2: ``-nodefaults`` (no VGA, no NIC
with an option ROM), ``-no-reboot`` with the guest's ``panic=-1`` so a dead guest ends QEMU
instead of hanging, ``-smp 1`` (faster than 2 under TCG), NICs with ``romfile=`` (SeaBIOS would
run their iPXE ROMs).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.live.assets import GuestAssets
from harness.live.errors import LaunchError
from harness.live.spec import BRIDGES, PORTS, PROXY, Device, GuestSpec

QEMU = "qemu-system-x86_64"
#: The 9p export of the host's root, its fixed slot (so it never takes a slot a scenario's
#: devices would get, nor shifts their IOMMU group numbers), and where the guest mounts it.
HOST_ROOT_TAG = "hostroot"
HOST_ROOT_SLOT = 0x1E
HOST_ROOT_MOUNT = "/host"
#: How a command names the socket of a proxied device whose descriptor is not known yet (the
#: proxy wrapper, ``python -m harness.live.proxy``, puts the number there).
PROXY_FD_PLACEHOLDER = "proxy:{id}"
#: Kernel arguments of every guest: console on the first serial port, panic ends QEMU.
KERNEL_ARGS = ("console=ttyS0", "panic=-1")
_NICS = ("e1000", "e1000e", "virtio-net-pci")


def qemu_binary() -> str:
    found = shutil.which(QEMU)
    if found is None:
        raise LaunchError(f"{QEMU} not found; install qemu-system-x86 (ci/install-system-packages.sh)")
    return found


@dataclass(frozen=True)
class Launch:
    """How to start QEMU for one run: the argv and the files it uses."""

    argv: tuple[str, ...]
    #: Disk images the command refers to, made by :func:`prepare_disks` (path, size, marker).
    disks: tuple[tuple[Path, int, str], ...] = ()

    def quoted(self) -> str:
        """The command as a shell line to paste (every word quoted as needed)."""
        return shlex.join(self.argv)


def disk_path(workdir: Path, device: Device) -> Path:
    return workdir / f"{device.id}.img"


def _device_args(device: Device, ordinal: int, workdir: Path, proxy_fds: Mapping[str, int]) -> list[str]:
    options = [device.type, f"id={device.id}"]
    if device.bus is not None:
        options.append(f"bus={device.bus}")
    if device.addr is not None:
        options.append(f"addr={device.addr}")
    if device.multifunction is not None:
        options.append(f"multifunction={'on' if device.multifunction else 'off'}")
    if device.type in PORTS:
        options += [f"chassis={device.chassis if device.chassis is not None else ordinal}", f"slot={device.slot or 0}"]
        if device.speed is not None:
            options.append(f"x-speed={device.speed}")
        if device.width is not None:
            options.append(f"x-width={device.width}")
    elif device.type in BRIDGES:
        options.append(f"chassis_nr={device.chassis if device.chassis is not None else ordinal}")
    if device.type in _NICS:
        options.append("romfile=")
    if device.type == PROXY:
        fd = proxy_fds.get(device.id)
        options.append(f"fd={fd if fd is not None else PROXY_FD_PLACEHOLDER.format(id=device.id)}")
    args: list[str] = []
    if device.disk is not None:
        drive = f"{device.id}-disk"
        # A comma in a QEMU option value is written twice (QemuOpts); the run's directory may hold one.
        image = str(disk_path(workdir, device)).replace(",", ",,")
        args += ["-drive", f"if=none,id={drive},file={image},format=raw"]
        if device.type == "nvme":
            options += [f"serial={device.id}", f"drive={drive}"]
            return [*args, "-device", ",".join(options)]
        return [*args, "-device", ",".join(options), "-device", f"ide-hd,drive={drive},bus={device.id}.0"]
    return ["-device", ",".join(options)]


def build_launch(
    spec: GuestSpec,
    assets: GuestAssets,
    workdir: Path,
    *,
    accel: str = "tcg",
    extra_args: Sequence[str] = (),
    kernel_args: Sequence[str] = (),
    memfd_ram: bool = False,
    proxy_fds: Mapping[str, int] | None = None,
    qemu: str | None = None,
) -> Launch:
    """The QEMU command for ``spec`` booting ``assets``; disk images go in ``workdir``.

    Args:
        accel: ``tcg`` or ``kvm`` (:mod:`harness.live.accel` decides).
        extra_args: appended as given (e.g. ``-device x-pci-proxy-dev,id=...,fd=N``).
        kernel_args: appended to the guest's kernel command line.
        memfd_ram: guest RAM in a shared memfd, which ``x-pci-proxy-dev`` needs to hand RAM to
            its remote process (always on when the guest has proxied devices).
        proxy_fds: the socket descriptor QEMU inherits for each proxied device (by id); a device
            without one gets ``fd=proxy:ID`` for the proxy wrapper to fill in.
    """
    intremap = spec.iommu is not None and spec.iommu.intremap
    machine = "q35,kernel-irqchip=split" if intremap else "q35"
    append = [*KERNEL_ARGS]
    if intremap:
        # Under TCG on a busy host the guest's early check that the timer interrupt arrives
        # through the interrupt-remapped IO-APIC can miss its window and panic ("timer doesn't
        # work through Interrupt-remapped IO-APIC": check_timer() in
        # arch/x86/kernel/apic/io_apic.c); no_timer_check skips that probe only.
        append.append("no_timer_check")
    argv = [
        qemu or qemu_binary(),
        "-machine",
        machine,
        "-accel",
        accel,
        "-m",
        str(spec.memory_mib),
        "-smp",
        "1",
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-kernel",
        str(assets.vmlinux),
        "-initrd",
        str(assets.initramfs),
    ]
    if memfd_ram or spec.proxies:
        argv += [
            "-object",
            f"memory-backend-memfd,id=ram0,size={spec.memory_mib}M,share=on",
            "-machine",
            "memory-backend=ram0",
        ]
    if spec.iommu is not None:
        # intel-iommu goes before the PCI devices it translates for.
        iommu = ["intel-iommu", f"intremap={'on' if spec.iommu.intremap else 'off'}"]
        if spec.iommu.caching_mode:
            iommu.append("caching-mode=on")
        argv += ["-device", ",".join(iommu)]
        append.append("intel_iommu=on")
    disks = []
    for ordinal, device in enumerate(spec.devices, start=1):
        argv += _device_args(device, ordinal, workdir, proxy_fds or {})
        if device.disk is not None:
            disks.append((disk_path(workdir, device), device.disk.size_mib, device.disk.marker))
    if spec.needs_host_root:
        argv += [
            "-fsdev",
            f"local,id={HOST_ROOT_TAG},path=/,security_model=none,readonly=on,multidevs=remap",
            "-device",
            f"virtio-9p-pci,fsdev={HOST_ROOT_TAG},mount_tag={HOST_ROOT_TAG},bus=pcie.0,addr={HOST_ROOT_SLOT:02x}.0",
        ]
    argv += list(extra_args)
    argv += ["-append", " ".join([*append, *spec.kernel_args, *kernel_args])]
    return Launch(tuple(argv), tuple(disks))


def prepare_disks(launch: Launch) -> None:
    """Create the disk images of ``launch`` (sparse, the marker at the start)."""
    for path, size_mib, marker in launch.disks:
        with path.open("wb") as image:
            image.write(marker.encode("ascii"))
            image.truncate(size_mib << 20)
