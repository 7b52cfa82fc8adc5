"""What the generator adds for GPUs (the checker's harness.checks.gpu findings), kept here so the
targets each call one function:

* **The framebuffer cmdline** (cmdline target): for a planned GPU whose BAR holds a firmware
  framebuffer region, the kernel arguments that keep it from being registered on this kernel
  (``initcall_blacklist=sysfb_init``; ``video=efifb:off`` / ``video=vesafb:off`` before 5.15),
  as :func:`harness.checks.gpu.framebuffer_arguments` decides them. That target writes the fix, so
  it is not refused for ``gpu.framebuffer-in-bar``.
* **vendor-reset set-up** (modprobe target, and the initramfs targets that install the same
  file): for a planned AMD GPU with the reset bug, ``softdep vfio_pci pre: vendor_reset`` (the
  module must be loaded before vfio-pci first resets the GPU: its README, "This module must be
  loaded EARLY"), and on kernels with ``reset_method`` (5.15+) a modprobe ``install`` line that
  writes ``device_specific`` to the GPU's ``reset_method`` right after the module loads (what
  the thread gnif/vendor-reset#46 found to be needed, and the project's udev rule does). That
  target writes the fix, so it is not refused for ``gpu.amd-reset-bug`` or
  ``gpu.vendor-reset-not-selected``.
* **Primary passthrough under SeaBIOS** (proxmox and qemu targets): a VGA-class GPU given to a
  SeaBIOS VM gets ``x-vga=1`` (Proxmox; qemu-server PCI.pm turns it into ``x-vga=on`` and sets
  ``vga: none``) or ``x-vga=on`` (QEMU hw/vfio/pci.c), so SeaBIOS runs its VGA BIOS. OVMF needs
  none (qemu-server omits x-vga=on with OVMF). libvirt has no attribute for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness import paste
from harness.checks.gpu import RESET_METHOD_SINCE, framebuffer_arguments, framebuffer_names
from harness.pci.gpu_ids import RESET_BUG_FAMILIES, VENDOR_RESET_DEVICES
from harness.sysfs import device_file, on_host

if TYPE_CHECKING:
    from harness.generate.plan import Plan, PlannedSlot

#: Checker failures a target's own output fixes: that target is not refused for them.
FIXED_BY_TARGET: dict[str, frozenset[str]] = {
    "cmdline": frozenset({"gpu.framebuffer-in-bar"}),
    "modprobe": frozenset({"gpu.amd-reset-bug", "gpu.vendor-reset-not-selected"}),
}
_VGA = 0x0300


def fixed_by(target: str) -> frozenset[str]:
    return FIXED_BY_TARGET.get(target, frozenset())


def framebuffer_cmdline(plan: Plan) -> tuple[list[str], list[str]]:
    """(kernel arguments to add, explanations) for the planned GPUs' framebuffers."""
    add: list[str] = []
    why: list[str] = []
    for item in plan.functions:
        names = framebuffer_names(plan.view, item.function)
        if not names:
            continue
        arguments, already = framebuffer_arguments(plan.view, names)
        if already:
            why.append(
                f"{item.address}: the firmware framebuffer ({', '.join(sorted(names))}) is in its BARs although "
                f"{already} is booted; no kernel argument vfiolab knows removes it (vfiolab check explains)"
            )
            continue
        for argument in arguments:
            if argument not in add:
                add.append(argument)
        why.append(
            f"{item.address}: the firmware framebuffer ({', '.join(sorted(names))}) sits in its BARs; "
            f"{' '.join(arguments)} keeps it from being registered, so vfio-pci can reserve the BARs"
        )
    return add, why


def _reset_bug_gpus(plan: Plan) -> list[tuple[str, str]]:
    found = []
    for item in plan.functions:
        function = item.function
        if function.vendor is None or function.device is None:
            continue
        family = VENDOR_RESET_DEVICES.get((function.vendor, function.device))
        if family in RESET_BUG_FAMILIES:
            found.append((item.address, family))
    return found


def vendor_reset_lines(plan: Plan) -> list[str]:
    """modprobe.d lines that load vendor-reset before vfio-pci and, from 5.15, select its reset."""
    gpus = _reset_bug_gpus(plan)
    if not gpus:
        return []
    listed = ", ".join(f"{address} (AMD {family})" for address, family in gpus)
    lines = [
        paste.comment(
            f"{listed}: AMD reset bug; gnif/vendor-reset (install it with DKMS) must be loaded before vfio-pci "
            "first resets the GPU."
        ),
        "softdep vfio_pci pre: vendor_reset",
    ]
    version = plan.view.kernel_version
    if version is None or tuple(version[:2]) >= RESET_METHOD_SINCE:
        writes = "; ".join(
            f"echo device_specific > {on_host(device_file(address, 'reset_method'))}" for address, _ in gpus
        )
        lines += [
            paste.comment("From kernel 5.15 its reset is used only when reset_method selects device_specific."),
            f"install vendor_reset /sbin/modprobe --ignore-install vendor_reset $CMDLINE_OPTS; {writes}",
        ]
    return lines


def x_vga(plan: Plan, slot: PlannedSlot) -> bool:
    """The slot's first function is a VGA device going to a SeaBIOS VM as its primary display."""
    class_code = slot.first.function.class_code
    return plan.vm.firmware == "seabios" and class_code is not None and class_code >> 8 == _VGA
