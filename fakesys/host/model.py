"""The typed form of a host description (what ``host:`` in a scenario file says).

These records are plain data: where a device sits, which driver the host booted with, what the
disks and mounts are. The simulated kernel (``fakesys.kernel``) turns them into the state a
real kernel would hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fakesys.hw.model import DeviceModel
from harness.pci.address import Bdf

DEFAULT_RELEASE = "6.8.12-4-pve"
DEFAULT_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-{release} root=/dev/mapper/pve-root ro quiet"


@dataclass
class KernelSpec:
    release: str = DEFAULT_RELEASE
    profile: str = "6.8"
    version: str = ""
    cmdline: str = ""
    log: list[str] = field(default_factory=list)


@dataclass
class CpuSpec:
    vendor: str = "intel"
    model: str = "Intel(R) N100"
    family: int = 6
    model_number: int = 190
    cores: int = 4
    flags: list[str] | None = None
    virtualization: bool = True


@dataclass
class IommuSpec:
    firmware_table: bool = True
    enabled: bool = True
    interrupt_remapping: bool = True
    default_domain: str = "DMA-FQ"
    reserved_regions: dict[Bdf, list[str]] = field(default_factory=dict)


@dataclass
class FunctionSpec:
    bdf: Bdf
    device_name: str
    model: DeviceModel
    source: str = ""
    line: int = 0
    behind: Bdf | None = None
    secondary_bus: int | None = None
    subordinate_bus: int | None = None
    label: str | None = None
    driver: str | None = None
    irq: int | None = None
    gsi: int | None = None
    numa_node: int = -1
    power: str | None = None
    #: The function's ACPI companion lists power resources for D0 and D3hot (_PR0, _PR3): the
    #: platform can cut its power (D3cold).
    acpi_power_resources: bool = False
    condition: str = "ok"
    iommu_group: int | None = None
    behaviours: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DiskSpec:
    name: str
    controller: Bdf
    model: str
    serial: str
    port: int = 0
    wwn: str | None = None
    size_bytes: int = 4_000_787_030_016
    rotational: bool = True
    bay: str | None = None
    partitions: list[int] = field(default_factory=list)


@dataclass
class DeviceMapperSpec:
    name: str
    slaves: list[str]


@dataclass
class MountSpec:
    source: str
    target: str
    fstype: str = "ext4"
    options: str = "rw,relatime"


@dataclass
class SwapSpec:
    source: str
    size_kib: int = 8388604


@dataclass
class NetSpec:
    name: str
    device: Bdf
    operstate: str = "up"
    mac: str = "00:00:00:00:00:00"
    master: str | None = None


@dataclass
class FramebufferSpec:
    """The firmware framebuffer the boot firmware left (screen_info: its base and size) and what
    the kernel registered on it, as /proc/iomem names them: ``resource`` is the region's name
    (``BOOTFB`` for sysfb's simple-framebuffer device, drivers/firmware/sysfb_simplefb.c;
    ``efifb`` or ``vesafb`` where those drivers request the region themselves,
    drivers/video/fbdev/efifb.c and vesafb.c), ``driver`` the name a driver requested inside it
    (``simpledrm``, ``simple-framebuffer``), if any."""

    base: int
    size: int
    resource: str = "BOOTFB"
    driver: str | None = None


@dataclass
class Host:
    """Everything a host description says, checked and typed."""

    source: str
    functions: list[FunctionSpec]
    name: str = ""
    dmi: str = ""
    #: /sys/class/dmi/id attributes (sys_vendor, product_name, bios_vendor ...).
    dmi_id: dict[str, str] = field(default_factory=dict)
    #: The hypervisor this host runs under when it is itself a VM ("KVM", "VMware" ...).
    hypervisor: str | None = None
    kernel: KernelSpec = field(default_factory=KernelSpec)
    cpu: CpuSpec = field(default_factory=CpuSpec)
    iommu: IommuSpec = field(default_factory=IommuSpec)
    disks: list[DiskSpec] = field(default_factory=list)
    device_mapper: list[DeviceMapperSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    swaps: list[SwapSpec] = field(default_factory=list)
    net: list[NetSpec] = field(default_factory=list)
    modules: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: The firmware framebuffer and who holds it (None: the firmware left none, or it is gone).
    framebuffer: FramebufferSpec | None = None

    def function(self, bdf: Bdf) -> FunctionSpec | None:
        for spec in self.functions:
            if spec.bdf == bdf:
                return spec
        return None
