"""Is the checked host itself a virtual machine, and under which hypervisor?

A guest is told apart the way the kernel and systemd-detect-virt do it, from what a root shows:
the ``hypervisor`` CPU flag (CPUID.1:ECX bit 31, set by every x86 hypervisor: Linux names it in
arch/x86/include/asm/cpufeatures.h), the kernel's ``Hypervisor detected: NAME`` line
(arch/x86/kernel/cpu/hypervisor.c init_hypervisor_platform), the firmware's DMI strings matched
by prefix against systemd's vendor table (src/basic/virt.c detect_vm_dmi_vendor: product_name
first, so KVM wins over QEMU), and ``/sys/hypervisor/type`` (Xen). What passthrough inside a
guest needs is nested virtualisation and a virtual IOMMU; the platform check says which is
missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.findings import Evidence
from harness.sysfs import HostView

#: systemd src/basic/virt.c dmi_vendor_table: a DMI string starting with the key names the VM.
DMI_VENDORS = (
    ("KVM", "KVM"),
    ("OpenStack", "KVM"),
    ("KubeVirt", "KVM"),
    ("Amazon EC2", "Amazon EC2"),
    ("QEMU", "QEMU"),
    ("VMware", "VMware"),
    ("VMW", "VMware"),
    ("innotek GmbH", "VirtualBox"),
    ("VirtualBox", "VirtualBox"),
    ("Oracle Corporation", "VirtualBox"),
    ("Xen", "Xen"),
    ("Bochs", "Bochs"),
    ("Parallels", "Parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "Hyper-V"),
    ("Apple Virtualization", "Apple Virtualization"),
    ("Google Compute Engine", "Google Compute Engine"),
)
#: The DMI attributes systemd reads, in its order.
DMI_ORDER = ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version")
_DETECTED = re.compile(r"Hypervisor detected: (.+?)\s*$")


@dataclass
class Guest:
    """The evidence that the host is a VM, and the hypervisor's name where it shows."""

    hypervisor: str | None
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.hypervisor or "hypervisor not named"


def detect_guest(view: HostView) -> Guest | None:
    """A :class:`Guest` when anything in the root says the host is a VM, else None."""
    guest = Guest(None)
    if "hypervisor" in view.cpu.flags:
        guest.evidence.append(Evidence(view.show("proc/cpuinfo"), "flags include 'hypervisor'"))
    for line in view.kernel_log or []:
        match = _DETECTED.search(line.text)
        if match:
            guest.hypervisor = match[1]
            guest.evidence.append(Evidence(f"{view.kernel_log_path}:{line.number}", line.text.strip()))
            break
    for attribute in DMI_ORDER:
        value = view.dmi.get(attribute)
        if value is None:
            continue
        named = next((name for prefix, name in DMI_VENDORS if value.startswith(prefix)), None)
        if named is not None:
            guest.hypervisor = guest.hypervisor or named
            guest.evidence.append(Evidence(view.show(f"sys/class/dmi/id/{attribute}"), value))
            break
    if view.hypervisor_type:
        guest.hypervisor = guest.hypervisor or view.hypervisor_type.capitalize()
        guest.evidence.append(Evidence(view.show("sys/hypervisor/type"), view.hypervisor_type))
    return guest if guest.evidence else None
