"""The registry of finding codes: every code a check can emit, with what it means.

Codes are the checker's stable interface: scripts match on them and scenario files expect them
(``expect: checker:``). This table is the one list of them, so that an expectation naming a code
no check emits (a typo that would pass forever in an ``absent:`` list) is a load error with a
suggestion, and a check cannot emit a code nobody documented (the checker refuses it, and a test
scans the check modules for code literals missing here). ``vfiolab check --list-codes`` prints it.
This module imports nothing, so the scenario loader can use it cheaply.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # checker: findings the checker itself makes about what it could read.
    "checker.config-unreadable": "config space beyond 64 bytes was not readable (not run as root)",
    # tree: a corrupt or incomplete root (harness/checks/integrity.py).
    "tree.device-unreadable": "the device's own sysfs link loops or is broken",
    "tree.config-unreadable": "the config file is missing, not a regular file or refused",
    "tree.config-size": "the config file is empty, short, odd-sized or larger than 4096 bytes",
    "tree.capability-list": "a capability pointer is out of range, unaligned, looping or reads ff",
    "tree.identity": "a vendor/device/class/revision/subsystem file is empty, malformed or missing",
    "tree.driver-link": "the driver link loops, is not a link or points outside the drivers",
    "tree.iommu-group-link": "the iommu_group link loops, is not a link or points elsewhere",
    "tree.iommu-group-unlisted": "a group rebuilt from device links because its directory is missing",
    "tree.port-config": "a bridge above the device has corrupt config space",
    "tree.topology": "bridge directories nest in a loop",
    "tree.iommu-groups-missing": "sys/kernel/iommu_groups is missing while devices exist",
    # platform: CPU virtualisation, the IOMMU, interrupt remapping, running inside a VM.
    "platform.cpu-virtualisation-off": "VT-x/AMD-V is off: KVM cannot run any VM",
    "platform.iommu-firmware-off": "no ACPI DMAR/IVRS table: VT-d/AMD-Vi off in the firmware",
    "platform.iommu-off": "the kernel has not enabled the IOMMU: no IOMMU groups",
    "platform.iommu-active": "the IOMMU is active with groups",
    "platform.interrupt-remapping": "interrupt remapping is available",
    "platform.interrupt-remapping-unknown": "could not tell whether interrupt remapping is available",
    "platform.unsafe-interrupts": "no interrupt remapping, allowed by allow_unsafe_interrupts",
    "platform.no-interrupt-remapping": "no interrupt remapping: vfio refuses to attach devices",
    "platform.guest": "this host is itself a virtual machine",
    "platform.guest-no-nested-virtualisation": "a VM whose CPU does not expose VT-x/AMD-V: no nested KVM",
    "platform.guest-no-viommu": "a VM without a virtual IOMMU: nothing can be passed through inside it",
    # cmdline: the kernel command line, booted and configured.
    "cmdline.unknown": "the kernel command line could not be read",
    "cmdline.iommu-disabled": "an argument turns the IOMMU off",
    "cmdline.intel-iommu-default": "this kernel enables the Intel IOMMU by default",
    "cmdline.intel-iommu-missing": "intel_iommu=on is needed and missing",
    "cmdline.amd-iommu-on": "amd_iommu=on is not a valid value (it is on by default)",
    "cmdline.iommu-pt": "iommu=pt: identity mappings for host devices (optional)",
    "cmdline.pcie-aspm-off": "pcie_aspm=off",
    "cmdline.acs-override": "pcie_acs_override: groups split by a patch that gives up isolation",
    "cmdline.vfio-ids": "vfio-pci.ids= on the command line",
    "cmdline.vfio-ids-invalid": "vfio-pci.ids= entries the kernel rejects",
    "cmdline.not-booted": "arguments configured in the bootloader but not booted yet",
    "cmdline.unused-file": "arguments in a file this host's bootloader does not read",
    # isolation: IOMMU groups, ACS, siblings, RMRR.
    "isolation.no-group": "the device has no IOMMU group",
    "isolation.own-group": "alone in its IOMMU group",
    "isolation.shared-group": "shares its IOMMU group with other endpoints",
    "isolation.siblings": "other functions of the same device share its group",
    "isolation.busy-siblings": "other functions sharing its group are in host use",
    "isolation.switch-without-acs": "behind a PCIe switch port without ACS",
    "isolation.acs-unseen": "ACS of a port above could not be read",
    "isolation.rmrr": "an RMRR (reserved region, direct) covers the device",
    "isolation.acs-quirk": "under the assumed kernel, a port above counts as isolating through its ACS quirk",
    "isolation.acs-quirk-absent": "under the assumed kernel, a port above lacks its ACS quirk: groups would merge",
    "isolation.dma-alias": "its DMA carries another function's requester ID; this kernel's quirk maps it",
    "isolation.dma-alias-missing": "its DMA carries another function's requester ID, which this kernel does not map",
    # host-use: what the host uses behind the device.
    "host-use.disks": "disks behind the device",
    "host-use.disks-unseen": "block devices could not be read",
    "host-use.root-disk": "it carries the host's root filesystem",
    "host-use.boot-disk": "it carries the host's boot filesystem",
    "host-use.disk-in-use": "it carries disks the host has mounted, swaps on or uses in LVM/md/ZFS",
    "host-use.volumes-active": "volumes on its disks are active",
    "host-use.network-up": "a network interface on it is up",
    "host-use.network-idle": "a network interface on it is down",
    # reset: which reset vfio-pci and QEMU will use, and whether the device survives it.
    "reset.flr": "resets with FLR",
    "reset.af-flr": "resets with an Advanced Features FLR",
    "reset.device-specific": "resets with a kernel device-specific method",
    "reset.acpi": "resets with the ACPI _RST method",
    "reset.pm": "resets with a PM reset (D3hot and back)",
    "reset.bus": "resets with a secondary bus reset of its port",
    "reset.cxl-bus": "resets with a CXL bus reset",
    "reset.other-method": "resets with a method this vfiolab does not know",
    "reset.none": "no reset method",
    "reset.none-integrated": "no reset method (integrated device on the root bus)",
    "reset.unknown": "could not tell which reset it gets",
    "reset.qemu-bus-reset": "QEMU will bus-reset it at VM start",
    "reset.bus-reset-breaks-device": "it will be bus-reset and is known not to survive that",
    "reset.known-device-no-bus-reset": "known not to survive a bus reset, but will not get one here",
    "reset.kernel-quirk-protects": "known not to survive a bus reset; this kernel's quirk prevents it",
    "reset.flr-breaks-device": "it will be reset with FLR, which the kernel's quirk_no_flr says it does not survive",
    "reset.kernel-quirk-avoids-flr": "its advertised FLR breaks it; this kernel's quirk_no_flr uses another reset",
    "reset.flr-without-delay": "it needs time after FLR, which this kernel does not give it (delay_250ms_after_flr)",
    "reset.kernel-quirk-delays-flr": "it needs time after FLR; this kernel's device-specific reset waits 250 ms",
    # power-link: config space, link and power state.
    "power-link.not-answering": "config space reads all-ones: the device does not answer",
    "power-link.link-down": "the link above it is down",
    "power-link.narrow-link": "the link is narrower than both ends support",
    "power-link.slow-link": "the link is slower than both ends support",
    "power-link.d3cold-wake": "known not to wake from D3cold, and vfio-pci may idle it there",
    "power-link.d3cold-idle": "vfio-pci will let it idle into D3cold (the platform can cut its power)",
    "power-link.d3cold-not-judged": "could not judge whether vfio-pci will let it idle into D3cold",
    # power-link and reset-observed, families 3 and 4 of issue 16 (helper H5).
    "reset.flr-failed-here": "the kernel log shows FLR never finishing for it on this host",
    "reset.bus-reset-failed-here": "the kernel log shows a bus reset it did not come back from on this host",
    "power-link.d3cold-wake-failed": "the kernel log shows it, or a port above it, not waking from D3cold",
    # binding: drivers and early binding.
    "binding.driver": "the driver that holds it now",
    "binding.none": "no early binding to vfio-pci is configured",
    "binding.configured": "early binding to vfio-pci is configured and will win",
    "binding.not-effective": "configured early binding will not win against the host driver",
    "binding.ids-collateral": "an ids= entry also takes other devices",
    "binding.no-early-loader": "no initramfs generator is known to load the binding early",
    "binding.initramfs-stale": "the initramfs is older than the binding configuration",
    "binding.initramfs-modules-late": "the initramfs loads the host driver before vfio-pci",
    "binding.modconf-missing": "mkinitcpio lacks the modconf hook",
    "binding.modprobe-ignored-file": "a modprobe.d file without .conf is ignored",
    "binding.driverctl-late": "driverctl binds after the host driver",
    "binding.package-script": "a package script rewrites the binding",
    "binding.script-unordered": "a binding script runs in no defined order",
    # rom: the option ROM.
    "rom.not-read": "the option ROM was not read",
    "rom.file-unreadable": "the given ROM file cannot be read",
    "rom.file-ambiguous": "a ROM file given for several devices",
    "rom.no-image": "no valid ROM image",
    "rom.parse-problem": "problems in the ROM image",
    "rom.id-mismatch": "the ROM's PCIR IDs do not match the device",
    "rom.x86-only-ovmf": "legacy x86 ROM only: OVMF will not run it",
    "rom.seabios-runs": "SeaBIOS will run the legacy ROM",
    "rom.not-needed": "the guest needs no option ROM for this device",
    "rom.seabios-data-rom": "SeaBIOS will run a storage/network controller's option ROM at POST",
    # gpu: the boot VGA device, the firmware framebuffer, the card's functions, the AMD reset bug.
    "gpu.boot-vga": "the host's boot VGA device: firmware and host console use it",
    "gpu.framebuffer-in-bar": "a firmware framebuffer region sits in a BAR: vfio-pci cannot reserve it",
    "gpu.framebuffer-unseen": "the boot VGA device's BARs in /proc/iomem could not be read",
    "gpu.companion-functions": "the card's other functions (HDMI/DP audio, USB-C) go with the GPU",
    "gpu.seabios-primary": "under SeaBIOS the GPU shows the boot screen only as primary VGA (x-vga)",
    "gpu.amd-reset-bug": "an AMD GPU with the reset bug and no vendor-reset: the second VM start fails",
    "gpu.vendor-reset-not-selected": "vendor-reset is loaded but reset_method does not select device_specific",
    "gpu.vendor-reset": "vendor-reset resets the AMD GPU",
    # kernel-log: known lines in the kernel log.
    "kernel-log.not-ready": "not ready after a reset",
    "kernel-log.link-retrain-failed": "failed link retraining",
    "kernel-log.link-inactive": "Data Link Layer Link Active not set",
    "kernel-log.inaccessible": "device inaccessible",
    "kernel-log.unknown-header": "unknown header type 7f",
    "kernel-log.dmar-fault": "DMAR faults",
    "kernel-log.no-interrupt-remapping": "no interrupt remapping in the log",
    "kernel-log.acpi-errors": "ACPI firmware errors",
}


def is_code(code: str) -> bool:
    return code in CODES


def suggest(code: str) -> str | None:
    """The registered code closest to ``code`` (for "did you mean")."""
    import difflib

    matches = difflib.get_close_matches(code, list(CODES), n=1, cutoff=0.6)
    return matches[0] if matches else None
