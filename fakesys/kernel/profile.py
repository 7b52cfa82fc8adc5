"""Kernel version profiles: what differs between the kernels vfiolab simulates.

A :class:`KernelProfile` answers version questions (does ``reset_method`` exist, which reset
methods are known, how link speeds are printed); the quirk tables in
:mod:`fakesys.kernel.quirks` carry their own per-profile applicability.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelProfile:
    name: str
    description: str
    #: ``reset_method`` appeared in 5.15 (drivers/pci/pci-sysfs.c, "PCI: Add reset_method").
    has_reset_method: bool
    #: ``cxl_bus`` is in 6.12.117's pci_reset_fn_methods[], not in 6.1.192 nor the 6.8-era pci.c.
    reset_method_names: tuple[str, ...]
    #: pci_device_remove() setting PCI_UNKNOWN for a device left in D0: present in upstream
    #: v6.8 and earlier, gone from Debian's 6.1.192 and 6.12.117 (drivers/pci/pci-driver.c),
    #: where only never-bound devices read ``unknown`` (probe.c pci_setup_device).
    unknown_after_remove: bool


_BASE_METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm", "bus")

PROFILES: dict[str, KernelProfile] = {
    "5.10": KernelProfile(
        "5.10",
        "Linux 5.10 (Debian 11): no reset_method file",
        has_reset_method=False,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=True,
    ),
    "6.1": KernelProfile(
        "6.1",
        "Debian 12 linux 6.1.192",
        has_reset_method=True,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=False,
    ),
    "6.8": KernelProfile(
        "6.8",
        "Proxmox VE 8 kernel 6.8 (before upstream 59100eb248c0)",
        has_reset_method=True,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=True,
    ),
    "6.12": KernelProfile(
        "6.12",
        "Debian 12 backports/security linux 6.12.117",
        has_reset_method=True,
        reset_method_names=_BASE_METHODS + ("cxl_bus",),
        unknown_after_remove=False,
    ),
}


def get_profile(name: str) -> KernelProfile:
    return PROFILES[name]
