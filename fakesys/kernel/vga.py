"""Display devices as the kernel sees them at boot: the boot VGA device, the firmware
framebuffer's place in ``/proc/iomem``, and the reset hook an out-of-tree module installs.

* **Boot VGA** (drivers/pci/vgaarb.c, 6.1-6.12): the arbiter takes as default the VGA-class
  device whose memory BAR holds the firmware framebuffer (``vga_is_firmware_default``, the
  screen_info base); without one, the first VGA device that decodes both I/O and memory
  (``vga_arb_select_default_device``); failing that, the first VGA device at all. sysfs shows it
  as ``boot_vga`` = 1 (drivers/pci/pci-sysfs.c ``boot_vga_show``, visible for VGA-class devices
  only).
* **/proc/iomem** (kernel/resource.c ``r_show``): each PCI memory BAR as ``start-end :
  0000:bb:dd.f``, and the framebuffer region nested in the BAR that contains it, named as the
  host says (``BOOTFB`` from drivers/firmware/sysfb_simplefb.c, ``efifb``, ``vesafb``), with the
  driver that requested it one level deeper (``simpledrm``).
* **vendor-reset** (github.com/gnif/vendor-reset; its device table is
  :data:`harness.pci.gpu_ids.VENDOR_RESET_DEVICES`): the module hooks the kernel's
  ``pci_dev_specific_reset`` through ftrace for the AMD GPUs in its table. A kernel probes
  reset methods when the device is added, before the module loads, so on 5.15 and later
  ``device_specific`` is not in ``reset_method`` until written there; writing it probes again
  and succeeds only with the hook installed (drivers/pci/pci.c ``reset_method_store``).
  Kernels before 5.15 try ``device_specific`` first on every reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.hw.model import Bar, BarKind
from harness.pci.gpu_ids import VENDOR_RESET_DEVICES

if TYPE_CHECKING:
    from fakesys.host.model import FramebufferSpec
    from fakesys.kernel.pcidev import PciDev

#: PCI_CLASS_DISPLAY_VGA << 8 and PCI_CLASS_NOT_DEFINED_VGA << 8 (include/linux/pci_ids.h),
#: compared with class >> 8 as pci_is_vga() does.
_VGA_CLASSES = (0x0300, 0x0001)
_COMMAND_IO_MEM = 0x0003
VENDOR_RESET_MODULE = "vendor_reset"


def is_vga(dev: PciDev) -> bool:
    return dev.class_code >> 8 in _VGA_CLASSES


def _assigned_memory_bars(dev: PciDev) -> list[tuple[int, Bar, int]]:
    """(index, BAR, last address) of each assigned memory BAR."""
    found = []
    model = dev.device.model
    for index in range(2 if dev.is_bridge else 6):
        bar = model.bar(index)
        if bar is None or bar.kind is BarKind.IO or bar.address == 0 or bar.size is None:
            continue
        found.append((index, bar, bar.address + bar.effective_size - 1))
    return found


def memory_bars(dev: PciDev) -> list[tuple[int, int]]:
    """The device's assigned memory BARs as (start, end)."""
    return [(bar.address, end) for _, bar, end in _assigned_memory_bars(dev)]


def _holds(dev: PciDev, framebuffer: FramebufferSpec) -> bool:
    return any(start <= framebuffer.base <= end for start, end in memory_bars(dev))


def unreservable_bars(dev: PciDev, framebuffer: FramebufferSpec | None) -> list[str]:
    """What ``pci_request_selected_regions`` refuses for each BAR the framebuffer region sits in,
    as drivers/pci/pci.c ``__pci_request_region`` logs it: ``BAR 0: can't reserve [mem
    0x2800000000-0x2fffffffff 64bit pref]``. A region registered inside the BAR (BOOTFB, efifb)
    is a child resource the whole-BAR request cannot be inserted around, busy or not
    (kernel/resource.c ``__request_region_locked``); ``%pR`` prints the range zero-padded to ten
    characters and the flags (lib/vsprintf.c ``resource_string``)."""
    if framebuffer is None:
        return []
    refused = []
    for index, bar, end in _assigned_memory_bars(dev):
        if not bar.address <= framebuffer.base <= end:
            continue
        flags = (" 64bit" if bar.bits == 64 else "") + (" pref" if bar.prefetchable else "")
        refused.append(f"BAR {index}: can't reserve [mem {bar.address:#010x}-{end:#010x}{flags}]")
    return refused


def select_boot_vga(devices: list[PciDev], framebuffer: FramebufferSpec | None) -> PciDev | None:
    """The arbiter's default VGA device (module docstring)."""
    vga = [dev for dev in devices if is_vga(dev) and dev.device.alive]
    if framebuffer is not None:
        for dev in vga:
            if _holds(dev, framebuffer):
                return dev
    for dev in vga:
        if dev.device.read(0x04, 2) & _COMMAND_IO_MEM == _COMMAND_IO_MEM:
            return dev
    return vga[0] if vga else None


def iomem_text(devices: list[PciDev], framebuffer: FramebufferSpec | None) -> str:
    """/proc/iomem as root reads it, for the PCI memory BARs and the framebuffer."""
    ranges: list[tuple[int, int, str]] = []
    for dev in devices:
        ranges.extend((start, end, dev.name) for start, end in memory_bars(dev))
    lines = []
    placed = False
    for start, end, name in sorted(ranges):
        lines.append(f"{start:08x}-{end:08x} : {name}")
        if framebuffer is not None and not placed and start <= framebuffer.base <= end:
            placed = True
            lines.extend(_framebuffer_lines(framebuffer, min(end, framebuffer.base + framebuffer.size - 1), "  "))
    if framebuffer is not None and not placed:
        lines.extend(_framebuffer_lines(framebuffer, framebuffer.base + framebuffer.size - 1, ""))
    return "".join(line + "\n" for line in lines)


def _framebuffer_lines(framebuffer: FramebufferSpec, end: int, indent: str) -> list[str]:
    span = f"{framebuffer.base:08x}-{end:08x}"
    lines = [f"{indent}{span} : {framebuffer.resource}"]
    if framebuffer.driver:
        lines.append(f"{indent}  {span} : {framebuffer.driver}")
    return lines


def hooked_by_vendor_reset(dev: PciDev, modules: dict[str, dict[str, str]]) -> bool:
    return VENDOR_RESET_MODULE in modules and (dev.vendor, dev.device_id) in VENDOR_RESET_DEVICES
