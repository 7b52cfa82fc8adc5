"""What the config generator's targets are and which options each takes: plain data, importable
without the generator itself, so that building the command line stays cheap.

The generator (:mod:`harness.generate`) maps each name to the module that writes it; the command
line reads the names, descriptions and option rules from here.
"""

from __future__ import annotations

#: Each target: the module under harness/generate that writes it, and what it writes.
TARGET_MODULES: dict[str, tuple[str, str]] = {
    "proxmox": ("proxmox", "hostpciN lines, qm set commands and a /etc/pve/mapping/pci.cfg entry"),
    "proxmox-disks": ("proxmox_disks", "pass the disks behind a controller instead (qm set -scsiN by-id)"),
    "libvirt": ("libvirt", "a <hostdev> element for virsh attach-device (--domain-xml: a whole domain)"),
    "qemu": ("qemu", "-device vfio-pci arguments, one per line, with pcie-root-port on q35"),
    "modprobe": ("modprobe", "/etc/modprobe.d/vfio.conf: ids= and softdep"),
    "initramfs-tools": ("initramfs_tools", "early binding for Debian/Proxmox initramfs-tools"),
    "dracut": ("dracut", "early binding for dracut"),
    "mkinitcpio": ("mkinitcpio", "early binding for mkinitcpio"),
    "driverctl": ("driverctl", "per-address overrides with driverctl"),
    "cmdline": ("cmdline", "kernel arguments, in the bootloader this host uses"),
    "all": ("everything", "everything relevant, as a tree with apply.sh (use --out DIR)"),
}
UNSAFE_WORKAROUNDS = ("acs-override", "unsafe-interrupts")
#: Guest-visible ID overrides (Proxmox's keys) -> QEMU vfio-pci properties.
OVERRIDE_PROPERTIES = {
    "vendor-id": "x-pci-vendor-id",
    "device-id": "x-pci-device-id",
    "sub-vendor-id": "x-pci-sub-vendor-id",
    "sub-device-id": "x-pci-sub-device-id",
}
QEMU_FORMATS = ("lines", "shell")
#: Targets that do not pass the devices themselves, so a device the checker fails is not refused.
NOT_PASSING = ("proxmox-disks",)
_EARLY_BINDING = frozenset({"--force", "--unsafe unsafe-interrupts"})
#: The options each target uses (as the command line spells them); giving another is a usage
#: error, so that an option never silently does nothing.
TARGET_OPTIONS: dict[str, frozenset[str]] = {
    "proxmox": frozenset({"--vmid", "--node", "--override", "--force"}),
    "proxmox-disks": frozenset({"--vmid"}),
    "libvirt": frozenset({"--vmid", "--domain", "--domain-xml", "--guest-address", "--override", "--force"}),
    "qemu": frozenset({"--vmid", "--format", "--guest-address", "--override", "--force"}),
    "modprobe": _EARLY_BINDING,
    "initramfs-tools": _EARLY_BINDING,
    "dracut": _EARLY_BINDING,
    "mkinitcpio": _EARLY_BINDING,
    "driverctl": frozenset({"--force"}),
    "cmdline": frozenset({"--force", "--unsafe acs-override"}),
    "all": frozenset({"--vmid", "--override", "--force", "--unsafe acs-override", "--unsafe unsafe-interrupts"}),
}
#: Why a target cannot express an option a user may expect it to (added to the usage error).
CANNOT_EXPRESS: dict[tuple[str, str], str] = {
    ("proxmox", "--guest-address"): (
        "qemu-server places hostpciN devices itself (on q35 behind its own ich9-pcie-port-N root ports) and "
        "has no key for a guest address"
    ),
    ("all", "--guest-address"): "its VM part is Proxmox's hostpciN lines, which cannot place a device",
    ("proxmox", "--domain"): "it reads the VM from /etc/pve/qemu-server/<vmid>.conf on the root",
}
