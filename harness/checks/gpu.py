"""GPU checks (harness.checks.gpu): the boot VGA device, the firmware framebuffer in its BARs,
the functions that go with a GPU, primary passthrough under SeaBIOS, and AMD GPUs with the reset
bug (vendor-reset).

Rules, each from the source named:

* **Boot VGA** (``boot_vga`` = 1; drivers/pci/vgaarb.c ``vga_arb_select_default_device`` /
  ``vga_is_firmware_default``, shown by drivers/pci/pci-sysfs.c ``boot_vga_show``): the device
  the firmware initialised and the host console runs on; its sysfs ``rom`` is the shadow copy
  at 0xC0000 the firmware may have modified (arch/x86/pci/fixup.c ``pci_fixup_video`` sets
  IORESOURCE_ROM_SHADOW). **warn**.
* **Framebuffer in a BAR** (``/proc/iomem``, kernel/resource.c): a firmware framebuffer region
  (``BOOTFB`` from drivers/firmware/sysfb.c / sysfb_simplefb.c, ``efifb`` from
  drivers/video/fbdev/efifb.c, ``vesafb``, with ``simpledrm`` or ``simple-framebuffer`` inside)
  nested in one of the device's BARs makes vfio-pci's request of that BAR fail
  (``pci_request_selected_regions`` from ``vfio_pci_core_setup_barmap``/``vfio_pci_core_mmap``;
  drivers/pci/pci.c ``__pci_request_region`` logs ``BAR N: can't reserve``): **fail**. The fix
  depends on who registered the region and on the kernel: sysfb (``BOOTFB``; drivers/firmware/
  sysfb.c from 5.15, arch/x86/kernel/sysfb.c before) is stopped by
  ``initcall_blacklist=sysfb_init``; an ``efifb`` or ``vesafb`` region by ``video=efifb:off`` /
  ``video=vesafb:off`` (efifb.c/vesafb.c probe: ``fb_get_options`` returns non-zero for "off").
  A region still there although the matching argument is on the command line is said so.
* **Functions that go with it**: the other functions of a GPU's slot (HDMI/DP audio 0x0403,
  NVIDIA's USB-C 0x0c03 and UCSI 0x0c80) are one card; passed apart, the guest driver finds half
  a device (and where they share the IOMMU group, QEMU refuses the group: hw/vfio/container.c /
  common.c "group N is not viable"). **info**, listing them.
* **SeaBIOS primary display** (QEMU hw/vfio/pci.c ``x-vga``, ``vfio_populate_vga``; Proxmox
  qemu-server PCI.pm ``x-vga``): SeaBIOS runs a VGA BIOS only for the VM's VGA device; a GPU
  passed as the primary display needs ``x-vga=on`` (Proxmox ``x-vga=1``), which needs the host's
  vfio-pci VGA region (CONFIG_VFIO_PCI_VGA). **info** under ``--vm-firmware seabios``.
* **AMD reset bug** (the Polaris, Vega and Navi 10/12/14 GPUs of vendor-reset's device table,
  harness.pci.gpu_ids.RESET_BUG_FAMILIES; gnif/vendor-reset):
  no FLR, and the bus reset the kernel and QEMU use leaves the GPU's firmware running, so the
  guest driver fails on the second start. vendor-reset hooks ``pci_dev_specific_reset``; kernels
  before 5.15 try ``device_specific`` first on every reset, 5.15 and later only when
  ``reset_method`` lists it (drivers/pci/pci.c ``pci_reset_fn_methods``, ``reset_method_store``:
  "Unsupported reset method" when no hook answers). Module not loaded: **fail**; loaded, 5.15+
  and ``device_specific`` not first in ``reset_method``: **fail**; in use: **info**.

Codes: ``gpu.boot-vga``, ``gpu.framebuffer-in-bar``, ``gpu.framebuffer-unseen``,
``gpu.companion-functions``, ``gpu.seabios-primary``, ``gpu.amd-reset-bug``,
``gpu.vendor-reset-not-selected``, ``gpu.vendor-reset``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from harness.checks.base import CheckContext, device_label
from harness.findings import Evidence, Finding, Severity
from harness.kernellog import describe_group, group_similar
from harness.pci.gpu_ids import RESET_BUG_FAMILIES, VENDOR_RESET_DEVICES
from harness.sysfs import HostView, PciFunction, device_file, on_host

CLASS_DISPLAY = 0x03
#: Functions that ride on a GPU's card: HDMI/DP audio, USB-C (xHCI) and UCSI (serial bus).
COMPANION_CLASSES = {0x0403: "HDMI/DP audio", 0x0C03: "USB controller", 0x0C80: "serial bus (USB-C UCSI)"}
IOMEM = "proc/iomem"
VENDOR_RESET_MODULE = "vendor_reset"
#: reset_method exists from 5.15 (drivers/pci/pci-sysfs.c, commit d88f521da3ef "PCI: Allow
#: userspace to query and set device reset mechanism").
RESET_METHOD_SINCE = (5, 15)
#: Region names a firmware framebuffer leaves in /proc/iomem, and who registers each.
SYSFB_REGIONS = {"BOOTFB", "simple-framebuffer", "efi-framebuffer", "vesa-framebuffer"}
DRIVER_REGIONS = {"efifb": "efifb", "vesafb": "vesafb"}
FRAMEBUFFER_NAMES = SYSFB_REGIONS | set(DRIVER_REGIONS) | {"simpledrm", "simplefb"}
SYSFB_ARGUMENT = "initcall_blacklist=sysfb_init"
_IOMEM_LINE = re.compile(r"^(?P<indent> *)(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) : (?P<name>.+)$")


@dataclass
class _Region:
    depth: int
    start: int
    end: int
    name: str
    line: int


def _iomem(view: HostView) -> list[_Region] | None:
    cached = view.derived.get("gpu-iomem")
    if cached is not None or "gpu-iomem" in view.derived:
        return cached  # type: ignore[return-value]
    text = view.read_text(IOMEM)
    regions: list[_Region] | None = None
    if text is not None:
        regions = []
        for number, raw in enumerate(text.splitlines(), start=1):
            match = _IOMEM_LINE.match(raw)
            if match is not None:
                depth = len(match["indent"]) // 2
                regions.append(_Region(depth, int(match["start"], 16), int(match["end"], 16), match["name"], number))
    view.derived["gpu-iomem"] = regions
    return regions


def firmware_framebuffer(view: HostView) -> tuple[int, int, str, str | None] | None:
    """(start, end, region name, driver inside it) of the firmware framebuffer /proc/iomem shows,
    or None."""
    regions = _iomem(view) or []
    for index, region in enumerate(regions):
        if region.name in SYSFB_REGIONS or region.name in DRIVER_REGIONS:
            inner = regions[index + 1] if index + 1 < len(regions) else None
            nested = inner is not None and inner.depth > region.depth and inner.name in FRAMEBUFFER_NAMES
            driver = inner.name if inner is not None and nested else None
            return region.start, region.end, region.name, driver
    return None


def _inside_bars(regions: list[_Region], function: PciFunction) -> list[tuple[_Region, list[_Region]]]:
    """Each of the device's BARs in /proc/iomem with the regions nested in it."""
    found = []
    for index, region in enumerate(regions):
        if region.name != function.name:
            continue
        nested = []
        for inner in regions[index + 1 :]:
            if inner.depth <= region.depth:
                break
            nested.append(inner)
        found.append((region, nested))
    return found


def _is_display(function: PciFunction) -> bool:
    return function.class_code is not None and function.class_code >> 16 == CLASS_DISPLAY


def _cmdline_has(view: HostView, argument: str) -> bool:
    return argument in (view.cmdline or "").split()


def _sysfb_blacklisted(view: HostView) -> bool:
    for word in (view.cmdline or "").split():
        if word.startswith("initcall_blacklist=") and "sysfb_init" in word.partition("=")[2].split(","):
            return True
    return False


def check(ctx: CheckContext) -> Iterator[Finding]:
    for function in ctx.selected():
        if not _is_display(function):
            continue
        yield from _framebuffer(ctx, function)
        yield from _companions(ctx, function)
        if ctx.options.vm_firmware.lower() == "seabios":
            yield _seabios_primary(ctx, function)
        yield from _reset_bug(ctx, function)


# --- The boot VGA device and the firmware framebuffer ------------------------------------------


def _framebuffer(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    name = function.name
    boot_vga = (view.read_text(device_file(name, "boot_vga")) or "").strip()
    boot_evidence = ctx.device_evidence(function, "boot_vga", boot_vga) if boot_vga else None
    regions = _iomem(view)
    held: list[tuple[_Region, list[_Region]]] = []
    if regions is not None:
        held = [
            (bar, [inner for inner in nested if inner.name in FRAMEBUFFER_NAMES])
            for bar, nested in _inside_bars(regions, function)
        ]
        held = [(bar, nested) for bar, nested in held if nested]
    if held:
        yield _framebuffer_in_bar(ctx, function, held, boot_evidence)
    elif boot_vga == "1":
        if regions is None:
            unseen = f"{view.show(IOMEM)} could not be read"
        elif all(region.end == 0 for region in regions):
            unseen = f"{view.show(IOMEM)} shows no addresses (it does so to root only: kernel/resource.c r_show)"
        elif not _inside_bars(regions, function):
            unseen = f"{view.show(IOMEM)} lists none of its BARs"
        else:
            unseen = ""
        if unseen:
            yield Finding(
                "gpu.framebuffer-unseen",
                Severity.WARN,
                f"{name} is the boot VGA device and {unseen}: whether a firmware framebuffer holds one of its BARs "
                "is unknown",
                "A framebuffer region inside a BAR of the boot GPU makes vfio-pci's request of that BAR fail "
                "(drivers/pci/pci.c __pci_request_region: 'BAR N: can't reserve'); only /proc/iomem, read as root, "
                "shows where the firmware framebuffer is.",
                "Rerun the check as root on the host (`sudo vfiolab check`), or capture /proc/iomem as root.",
                [boot_evidence] if boot_evidence else [],
                device=name,
                could_not_judge=True,
            )
        yield _boot_vga(ctx, function, boot_evidence)


def _framebuffer_in_bar(
    ctx: CheckContext,
    function: PciFunction,
    held: list[tuple[_Region, list[_Region]]],
    boot_evidence: Evidence | None,
) -> Finding:
    view = ctx.view
    name = function.name
    evidence = [boot_evidence] if boot_evidence else []
    for bar, nested in held:
        evidence.append(ctx.evidence(IOMEM, f"{bar.start:x}-{bar.end:x} : {bar.name}"))
        for inner in nested:
            evidence.append(
                Evidence(f"{view.show(IOMEM)}:{inner.line}", f"{inner.start:x}-{inner.end:x} : {inner.name}")
            )
    evidence.extend(_log_evidence(view, function, re.compile(r"BAR \d+: can't reserve")))
    names = {inner.name for _, nested in held for inner in nested}
    first = held[0][1][0]
    fix, already = _framebuffer_fix(view, names)
    why = (
        f"/proc/iomem shows the firmware framebuffer ({', '.join(sorted(names))}) inside a BAR of {name}. vfio-pci "
        "requests each BAR when QEMU maps it (vfio_pci_core_mmap / vfio_pci_core_setup_barmap: "
        "pci_request_selected_regions), and the kernel cannot reserve a BAR with another region nested in it "
        "(kernel/resource.c __request_region); it logs 'BAR N: can't reserve [mem ...]' (drivers/pci/pci.c "
        "__pci_request_region) and the guest's driver cannot use that BAR."
    )
    if already:
        why += (
            f" {already} is on the command line ({view.show('proc/cmdline')}), yet the region is still there: on this "
            "kernel something else registers the framebuffer, and vfiolab knows no argument that removes it."
        )
    return Finding(
        "gpu.framebuffer-in-bar",
        Severity.FAIL,
        f"the firmware framebuffer ({first.name}) holds BAR memory of {name}: vfio-pci cannot reserve that BAR",
        why,
        fix,
        evidence,
        device=name,
    )


def framebuffer_names(view: HostView, function: PciFunction) -> set[str]:
    """The firmware framebuffer regions /proc/iomem shows nested in ``function``'s BARs."""
    regions = _iomem(view)
    if regions is None:
        return set()
    return {inner.name for _, nested in _inside_bars(regions, function) for inner in nested} & FRAMEBUFFER_NAMES


def framebuffer_arguments(view: HostView, names: set[str]) -> tuple[list[str], str]:
    """(the kernel arguments that keep these framebuffer regions from being registered on this
    kernel, the one of them already on the command line although the region is there, or "")."""
    version = view.kernel_version
    drivers = sorted(DRIVER_REGIONS[item] for item in names if item in DRIVER_REGIONS)
    by_sysfb = bool(names & (SYSFB_REGIONS | {"simpledrm", "simplefb"}))
    arguments: list[str] = []
    if by_sysfb or (version is not None and version[:2] >= RESET_METHOD_SINCE):
        # From 5.15 drivers/firmware/sysfb.c registers the efi/vesa/simple framebuffer device
        # every one of these drivers binds, so blacklisting its initcall covers them all.
        arguments.append(SYSFB_ARGUMENT)
    for driver in drivers:
        if not by_sysfb and (version is None or version[:2] < RESET_METHOD_SINCE):
            arguments.append(f"video={driver}:off")
    if not arguments:
        arguments.append(SYSFB_ARGUMENT)
    if SYSFB_ARGUMENT in arguments and _sysfb_blacklisted(view):
        return arguments, SYSFB_ARGUMENT
    already = next((word for word in arguments if word.startswith("video=") and _cmdline_has(view, word)), "")
    return arguments, already


def _framebuffer_fix(view: HostView, names: set[str]) -> tuple[str, str]:
    """(the fix, the argument already on the command line that did not help, or "")."""
    arguments, already = framebuffer_arguments(view, names)
    kernel = f"kernel {view.kernel_release}" if view.kernel_release else "this kernel"
    if already:
        fix = (
            "Give the VM a GPU that is not the boot display: set another GPU (or the integrated one) as the "
            "primary display in the firmware setup, or boot the host headless, so the firmware leaves no "
            "framebuffer in this GPU's BARs."
        )
    else:
        fix = (
            f"For {kernel}: add `{' '.join(arguments)}` to the kernel command line (`vfiolab generate cmdline` "
            "writes it for this host's bootloader) and reboot, so the firmware framebuffer is not registered and "
            "the BAR stays free; the host then has no console on this GPU after boot."
        )
    return fix, already


def _boot_vga(ctx: CheckContext, function: PciFunction, boot_evidence: Evidence | None) -> Finding:
    name = function.name
    rom = on_host(device_file(name, "rom"))
    return Finding(
        "gpu.boot-vga",
        Severity.WARN,
        f"{name} is the host's boot VGA device (boot_vga 1): the firmware and the host console use it",
        "The VGA arbiter chose it as the default device (drivers/pci/vgaarb.c), the one the firmware "
        "initialised and the host's console (efifb, simpledrm, or its own driver) runs on until it is handed "
        "over. Its sysfs ROM is the shadow copy the firmware left at 0xC0000 (arch/x86/pci/fixup.c "
        "pci_fixup_video), which may not be the card's own image, and the host loses its display when the VM "
        "takes the GPU.",
        f"Keep the host off this GPU: no framebuffer on it (check /proc/iomem as root), no host driver bound "
        f"(bind it to vfio-pci early). If the guest needs the GPU's ROM, give QEMU an image of the card's own "
        f"ROM (Proxmox `romfile=FILE` under /usr/share/kvm/, libvirt `<rom file='/abs/FILE'/>`) dumped while it "
        f"was not the boot GPU or taken from the vendor, rather than {rom}.",
        [boot_evidence] if boot_evidence else [],
        device=name,
    )


# --- The card's other functions and primary passthrough ----------------------------------------


def _companions(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    view = ctx.view
    slot = function.bdf[:3]
    others = [
        item
        for item in view.functions.values()
        if item.bdf[:3] == slot and item.bdf != function.bdf and item.class_code is not None
    ]
    companions = [item for item in others if item.class_code is not None and item.class_code >> 8 in COMPANION_CLASSES]
    if not companions:
        return
    same_group = [item for item in companions if item.iommu_group == function.iommu_group is not None]
    parts = []
    for item in companions:
        kind = COMPANION_CLASSES[(item.class_code or 0) >> 8]
        group = f"group {item.iommu_group}" if item.iommu_group is not None else "no group"
        parts.append(f"{item.name} ({kind}, {group}, driver {item.driver or 'none'})")
    held = [item for item in same_group if item.driver not in (None, "vfio-pci")]
    why = (
        "A GPU card's functions are one device to the guest driver (the GPU driver expects the card's HDMI/DP "
        "audio at function 1 of the same slot; NVIDIA's Turing cards add USB-C and UCSI functions); passed "
        "apart, the guest sees half a card."
    )
    if held:
        why += (
            " Functions in the GPU's IOMMU group that a host driver holds make QEMU refuse the whole group ('group "
            "N is not viable' / 'Please ensure all devices within the iommu_group are bound to their vfio bus "
            "driver.', QEMU hw/vfio)."
        )
    slot_text = function.name.rsplit(".", 1)[0]
    yield Finding(
        "gpu.companion-functions",
        Severity.INFO,
        f"{function.name} goes with {', '.join(parts)}: pass them together",
        why,
        f"Pass the whole slot: Proxmox `hostpciN: {slot_text},pcie=1` (all functions), libvirt one <hostdev> per "
        "function with the guest's multifunction address, QEMU one -device vfio-pci per function on one slot "
        "(multifunction=on on function 0); bind every one of them to vfio-pci.",
        [ctx.device_evidence(item, "class", f"0x{item.class_code:06x}") for item in companions],
        device=function.name,
    )


def _seabios_primary(ctx: CheckContext, function: PciFunction) -> Finding:
    name = function.name
    return Finding(
        "gpu.seabios-primary",
        Severity.INFO,
        f"under SeaBIOS, {name} shows the VM's boot screen only as its primary VGA device (x-vga)",
        "SeaBIOS runs the VGA BIOS of the VM's VGA device only; for a passed-through GPU to be that device QEMU "
        "must give it the legacy VGA I/O and memory ranges (hw/vfio/pci.c x-vga, vfio_populate_vga), which needs "
        "vfio-pci's VGA region on the host (CONFIG_VFIO_PCI_VGA) and the VM's emulated VGA turned off. Without it "
        "the GPU works once the guest OS driver loads, with no picture before.",
        f"Proxmox: `hostpciN: {name},x-vga=1` (qemu-server sets vga: none); QEMU: `-vga none -device "
        f"vfio-pci,host={name},x-vga=on`. With OVMF none of this is needed (the GPU's UEFI GOP driver draws).",
        [ctx.device_evidence(function, "class", f"0x{function.class_code:06x}")],
        device=name,
    )


# --- AMD GPUs with the reset bug ---------------------------------------------------------------


def _log_evidence(view: HostView, function: PciFunction, pattern: re.Pattern[str]) -> list[Evidence]:
    if not view.kernel_log or view.kernel_log_path is None:
        return []
    found = [line for line in view.kernel_log if pattern.search(line.text) and line.names(function.name)]
    return [Evidence(*describe_group(view.kernel_log_path, group)) for group in group_similar(found)]


def _reset_bug(ctx: CheckContext, function: PciFunction) -> Iterator[Finding]:
    if function.vendor is None or function.device is None:
        return
    family = VENDOR_RESET_DEVICES.get((function.vendor, function.device))
    if family is None or family not in RESET_BUG_FAMILIES:
        return
    view = ctx.view
    name = function.name
    module_path = f"sys/module/{VENDOR_RESET_MODULE}"
    loaded = view.is_dir(module_path)
    evidence = [ctx.evidence(module_path, "loaded" if loaded else "absent: vendor-reset is not loaded")]
    methods = function.reset_method
    version = view.kernel_version
    has_reset_method = methods is not None or (version is not None and tuple(version[:2]) >= RESET_METHOD_SINCE)
    method_path = device_file(name, "reset_method")
    if methods is not None:
        evidence.append(ctx.evidence(method_path, " ".join(methods) or "(empty)"))
    evidence.extend(_log_evidence(view, function, re.compile(r"Unsupported reset method")))
    label = device_label(function)
    bug = (
        f"{label} is an AMD {family} GPU, one of the GPUs gnif/vendor-reset exists for (its src/device-db.h): it "
        "has no FLR, and the bus reset the kernel and QEMU fall back to leaves the GPU's own firmware running, so "
        "the guest driver fails to start it again after a VM reboot or a second VM start, until the host reboots."
    )
    write = f"echo device_specific > {shlex.quote(on_host(method_path))}"
    if loaded and has_reset_method and (not methods or methods[0] != "device_specific"):
        absent = (
            " Here reset_method does not exist at all: the kernel found no reset method when the device was added "
            "(it shows reset and reset_method only then, drivers/pci/pci-sysfs.c pci_dev_reset_attr_is_visible), "
            "so there is nothing to write device_specific to until the device is added again with the module loaded."
            if methods is None
            else ""
        )
        yield Finding(
            "gpu.vendor-reset-not-selected",
            Severity.FAIL,
            f"vendor-reset is loaded but {name}'s reset_method does not start with device_specific: its reset is "
            "not used",
            bug + " From kernel 5.15 the reset methods are the ordered list in reset_method, fixed when the device "
            "was added (before the module loaded); the module's hook answers pci_dev_specific_reset only when "
            "device_specific is selected (drivers/pci/pci.c pci_reset_fn_methods, reset_method_store)." + absent,
            f"After the module is loaded and before the GPU is first used: `{write}`; make it permanent with a "
            "modprobe.d install line that writes it when vendor-reset loads (`vfiolab generate modprobe` writes "
            "it for this device).",
            evidence,
            device=name,
        )
    elif loaded:
        how = (
            "reset_method starts with device_specific, so the kernel resets it with vendor-reset's method"
            if has_reset_method
            else "kernels before 5.15 try the device-specific reset first on every reset, which vendor-reset hooks"
        )
        yield Finding(
            "gpu.vendor-reset",
            Severity.INFO,
            f"vendor-reset resets {name} (AMD {family})",
            f"{bug} vendor-reset is loaded and {how} (drivers/pci/pci.c __pci_reset_function_locked / "
            "pci_reset_fn_methods). Whether the loaded version of the module knows how to reset this family is "
            "not visible in sysfs: its device table has grown over time.",
            "Nothing, if VM restarts work; otherwise update vendor-reset.",
            evidence,
            device=name,
        )
    else:
        setup = "load it at boot (`vendor-reset` in /etc/modules-load.d/vendor-reset.conf)"
        if has_reset_method:
            setup += f" and, once it is loaded, select its reset: `{write}`"
        yield Finding(
            "gpu.amd-reset-bug",
            Severity.FAIL,
            f"{name} is an AMD GPU that vendor-reset's table lists with its {family} reset (the reset bug) and "
            "vendor-reset is not loaded: the VM's second start fails",
            bug
            + (
                " Writing device_specific to reset_method is refused ('Unsupported reset method') while no "
                "hook answers for it."
                if has_reset_method
                else ""
            ),
            f"Install gnif/vendor-reset (DKMS), {setup}; the project's udev/99-vendor-reset.rules does both "
            "(`vfiolab generate modprobe` writes the set-up for this device).",
            evidence,
            device=name,
        )
