"""What each PCI sysfs attribute shows: the ``*_show`` functions of drivers/pci/pci-sysfs.c.

Formats follow 6.12.117 ``pci-sysfs.c`` (``vendor`` ``0x%04x``, ``class`` ``0x%06x``,
``resource`` ``0x%016llx 0x%016llx 0x%016llx`` per resource, ``modalias``
``pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X`` ...); visibility follows the ``is_visible``
callbacks (``reset``/``reset_method`` only with a reset method, link attributes only on PCIe
devices, ``rom`` only with a sized ROM BAR, ``label`` only with a firmware name).
"""

from __future__ import annotations

from dataclasses import dataclass

from fakesys.hw.model import Bar, BarKind
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import KernelProfile
from fakesys.kernel.vga import is_vga
from harness.pci import regs

READ_ONLY = 0o444
READ_WRITE = 0o644
WRITE_ONLY = 0o200
ROOT_ONLY = 0o600

# include/linux/ioport.h
IORESOURCE_IO = 0x100
IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_READONLY = 0x4000
IORESOURCE_SIZEALIGN = 0x40000
IORESOURCE_MEM_64 = 0x100000
IORESOURCE_ROM_ENABLE = 0x1

#: With CONFIG_PCI_IOV (every distribution kernel): 6 BARs, ROM, 6 IOV BARs; bridges add
#: their 4 window resources (resource_show prints DEVICE_COUNT_RESOURCE lines for them).
ENDPOINT_RESOURCE_LINES = 13

# pcie_link_speed names, drivers/pci/probe.c pci_speed_string (6.x "%s PCIe" form).
SPEED_NAMES = {
    1: "2.5 GT/s PCIe",
    2: "5.0 GT/s PCIe",
    3: "8.0 GT/s PCIe",
    4: "16.0 GT/s PCIe",
    5: "32.0 GT/s PCIe",
    6: "64.0 GT/s PCIe",
}


@dataclass(frozen=True)
class Attribute:
    content: bytes
    mode: int = READ_ONLY


def _text(value: str, mode: int = READ_ONLY) -> Attribute:
    return Attribute((value + "\n").encode(), mode)


def resource_lines(dev: PciDev) -> str:
    """resource_show: start, end and flags of each resource."""
    model = dev.device.model
    lines: list[tuple[int, int, int]] = []
    slots = 2 if dev.is_bridge else 6
    for index in range(6):
        bar = model.bar(index) if index < slots else None
        if bar is None:
            lines.append((0, 0, 0))
            continue
        if bar.address == 0 and bar.size is None:
            # A BAR that exists but got no address (nothing assigned it, its size unknown):
            # the resource keeps its type flags and no range, which lspci prints <unassigned>.
            lines.append((0, 0, _resource_flags(bar)))
            continue
        size = bar.effective_size
        lines.append((bar.address, bar.address + size - 1, _resource_flags(bar)))
    rom = model.rom
    if rom is not None:
        flags = IORESOURCE_MEM | IORESOURCE_PREFETCH | IORESOURCE_READONLY | IORESOURCE_SIZEALIGN
        if rom.enabled:
            flags |= IORESOURCE_ROM_ENABLE
        lines.append((rom.address, rom.address + rom.size - 1, flags))
    else:
        lines.append((0, 0, 0))
    lines.extend([(0, 0, 0)] * (ENDPOINT_RESOURCE_LINES - len(lines)))
    if dev.is_bridge:
        lines.extend(bridge_windows(bytes(model.config)))
    return "".join(f"0x{start:016x} 0x{end:016x} 0x{flags:016x}\n" for start, end, flags in lines)


def _resource_flags(bar: Bar) -> int:
    """The IORESOURCE_* flags of a BAR's resource (include/linux/ioport.h)."""
    if bar.kind is BarKind.IO:
        return IORESOURCE_IO | IORESOURCE_SIZEALIGN | regs.BAR_IO
    flags = IORESOURCE_MEM | IORESOURCE_SIZEALIGN | bar.flags
    if bar.bits == 64:
        flags |= IORESOURCE_MEM_64
    if bar.prefetchable:
        flags |= IORESOURCE_PREFETCH
    return flags


def bridge_windows(config: bytes) -> list[tuple[int, int, int]]:
    """The I/O, memory and prefetchable windows as pci_read_bridge_bases records them
    (drivers/pci/probe.c pci_read_bridge_io/mmio/mmio_pref); a closed window is all zeros."""
    windows: list[tuple[int, int, int]] = []
    io_base, io_limit = config[0x1C], config[0x1D]
    base = (io_base & 0xF0) << 8
    limit = (io_limit & 0xF0) << 8 | 0xFFF
    if io_base & 0x0F == 0x01:
        base |= regs.read_register(config, 0x30, 2) << 16
        limit |= regs.read_register(config, 0x32, 2) << 16
    windows.append((base, limit, IORESOURCE_IO | (io_base & 0x0F)) if base <= limit else (0, 0, 0))
    mem_base = regs.read_register(config, 0x20, 2)
    mem_limit = regs.read_register(config, 0x22, 2)
    base, limit = (mem_base & 0xFFF0) << 16, (mem_limit & 0xFFF0) << 16 | 0xFFFFF
    windows.append((base, limit, IORESOURCE_MEM) if base <= limit else (0, 0, 0))
    pref_base = regs.read_register(config, 0x24, 2)
    pref_limit = regs.read_register(config, 0x26, 2)
    base, limit = (pref_base & 0xFFF0) << 16, (pref_limit & 0xFFF0) << 16 | 0xFFFFF
    flags = IORESOURCE_MEM | IORESOURCE_PREFETCH | (pref_base & 0x0F)
    if pref_base & 0x0F == 0x01:
        base |= regs.read_register(config, 0x28, 4) << 32
        limit |= regs.read_register(config, 0x2C, 4) << 32
        flags |= IORESOURCE_MEM_64
    windows.append((base, limit, flags) if base <= limit else (0, 0, 0))
    windows.append((0, 0, 0))
    return windows


def link_attributes(dev: PciDev) -> dict[str, Attribute]:
    """current/max link speed and width, read live from the Express capability."""
    if not dev.pcie_cap:
        return {}
    device = dev.device
    base = dev.pcie_cap
    lnksta = device.read(base + 0x12, 2)
    lnkcap = device.read(base + 0x0C, 4)
    lnkcap2 = device.read(base + 0x2C, 4)
    # pcie_get_speed_cap: LnkCap2's supported-speeds vector when non-zero, else LnkCap.
    max_speed = ((lnkcap2 >> 1) & 0x7F).bit_length() if lnkcap2 & 0xFE else lnkcap & 0xF
    return {
        "current_link_speed": _text(SPEED_NAMES.get(lnksta & 0xF, "Unknown")),
        "current_link_width": _text(str((lnksta >> 4) & 0x3F)),
        "max_link_speed": _text(SPEED_NAMES.get(max_speed, "Unknown")),
        "max_link_width": _text(str((lnkcap >> 4) & 0x3F)),
    }


def device_attributes(
    dev: PciDev, profile: KernelProfile, cpus: int, unprivileged: bool = False
) -> dict[str, Attribute]:
    """Every regular file of a device directory, by name."""
    class_code = dev.class_code
    config = dev.device.read_block()
    if unprivileged:
        config = config[: regs.UNPRIVILEGED_CONFIG_SIZE]
    cpu_mask = f"{(1 << cpus) - 1:x}"
    modalias = (
        f"pci:v{dev.vendor:08X}d{dev.device_id:08X}sv{dev.subsystem_vendor:08X}sd{dev.subsystem_device:08X}"
        f"bc{class_code >> 16 & 0xFF:02X}sc{class_code >> 8 & 0xFF:02X}i{class_code & 0xFF:02X}"
    )
    uevent_lines = [f"DRIVER={dev.driver}"] if dev.driver else []
    uevent_lines += [
        f"PCI_CLASS={class_code:X}",
        f"PCI_ID={dev.vendor:04X}:{dev.device_id:04X}",
        f"PCI_SUBSYS_ID={dev.subsystem_vendor:04X}:{dev.subsystem_device:04X}",
        f"PCI_SLOT_NAME={dev.name}",
        f"MODALIAS={modalias}",
    ]
    uevent = "\n".join(uevent_lines)
    attributes: dict[str, Attribute] = {
        "config": Attribute(config, READ_WRITE),
        "vendor": _text(f"0x{dev.vendor:04x}"),
        "device": _text(f"0x{dev.device_id:04x}"),
        "subsystem_vendor": _text(f"0x{dev.subsystem_vendor:04x}"),
        "subsystem_device": _text(f"0x{dev.subsystem_device:04x}"),
        "class": _text(f"0x{class_code:06x}"),
        "revision": _text(f"0x{dev.revision:02x}"),
        "irq": _text(str(dev.irq)),
        "resource": Attribute(resource_lines(dev).encode()),
        "numa_node": _text(str(dev.spec.numa_node), READ_WRITE),
        "enable": _text(str(dev.enable_count), READ_WRITE),
        "power_state": _text(dev.current_state),
        "d3cold_allowed": _text("1" if dev.d3cold_allowed else "0", READ_WRITE),
        "driver_override": _text(dev.driver_override or "(null)", READ_WRITE),
        "local_cpus": _text(cpu_mask),
        "local_cpulist": _text(f"0-{cpus - 1}" if cpus > 1 else "0"),
        "modalias": _text(modalias),
        "msi_bus": _text("1", READ_WRITE),
        "broken_parity_status": _text("0", READ_WRITE),
        "dma_mask_bits": _text("64" if dev.driver else "32"),
        "consistent_dma_mask_bits": _text("64" if dev.driver else "32"),
        "ari_enabled": _text("0"),
        "uevent": _text(uevent, READ_WRITE),
        "remove": Attribute(b"", 0o220),
        "rescan": Attribute(b"", WRITE_ONLY),
        "power/control": _text("on" if dev.runtime_status == "active" and not dev.driver else "auto", READ_WRITE),
        "power/runtime_status": _text(dev.runtime_status),
    }
    if dev.spec.label:
        attributes["label"] = _text(dev.spec.label)
    if is_vga(dev):
        attributes["boot_vga"] = _text("1" if dev.boot_vga else "0")
    rom = dev.device.model.rom
    if rom is not None and rom.size:
        attributes["rom"] = Attribute(rom.image, ROOT_ONLY)
    if dev.reset_files:
        attributes["reset"] = Attribute(b"", WRITE_ONLY)
        if profile.has_reset_method:
            methods = " ".join(dev.reset_methods)
            attributes["reset_method"] = Attribute((methods + "\n" if methods else "").encode(), READ_WRITE)
    attributes.update(link_attributes(dev))
    if dev.is_bridge and dev.secondary_bus is not None:
        attributes["secondary_bus_number"] = _text(str(dev.secondary_bus))
        attributes["subordinate_bus_number"] = _text(str(dev.subordinate_bus))
    if dev.msi_irqs:
        kind = _text("msix" if dev.device.space().find(regs.CAP_MSIX) is not None else "msi")
        for irq in dev.msi_irqs:
            attributes[f"msi_irqs/{irq}"] = kind
    return attributes
