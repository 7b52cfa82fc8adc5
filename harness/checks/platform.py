"""Platform check: CPU virtualisation (VT-x/AMD-V), the firmware's IOMMU table (VT-d/AMD-Vi),
whether the kernel turned the IOMMU on, and interrupt remapping; and whether the host is itself
a virtual machine (:mod:`harness.virt`), where the same gaps have other causes and other fixes
(nested virtualisation, a virtual IOMMU). A guest with a working virtual IOMMU is judged like a
physical host.

VT-x and VT-d are reported separately on purpose: users enable one in the firmware setup and
believe they enabled both (QubesOS/qubes-issues#6741 and ra1nstorm/passthrough-helper issues #43
and #89 show the two confused: a missing DMAR table explained as a missing kernel argument).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from harness.bootconfig import has_arg, intel_iommu_default, split_kernel_args
from harness.checks.base import CheckContext
from harness.findings import Evidence, Finding, Severity
from harness.kernellog import search
from harness.virt import Guest, detect_guest

#: Intel VT-d ECAP bit 3: Interrupt Remapping support (VT-d specification, 11.4.3).
ECAP_INTERRUPT_REMAPPING = 1 << 3
_IR_ENABLED = re.compile(r"DMAR-IR: Enabled IRQ remapping|AMD-Vi: Interrupt remapping enabled")
_IR_DISABLED_ARGS = ("intremap=off", "nointremap")
_FIRMWARE_TABLE = {"intel": "DMAR", "amd": "IVRS"}
_FIRMWARE_NAME = {"intel": "VT-d", "amd": "AMD-Vi (IOMMU)"}
_CPU_FLAG = {"intel": "vmx", "amd": "svm"}
_CPU_NAME = {"intel": "VT-x", "amd": "AMD-V (SVM)"}


#: What a guest needs to pass devices on, per VM manager (QEMU docs/devel/... intel-iommu options;
#: libvirt formatdomain "IOMMU devices"; qemu-server PVE/QemuServer/Machine.pm, machine viommu=).
_VIOMMU_HOWTO = (
    "give the VM a virtual IOMMU with interrupt remapping: QEMU `-machine q35,kernel-irqchip=split -device "
    "intel-iommu,intremap=on,caching-mode=on`; libvirt `<iommu model='intel'><driver intremap='on' "
    "caching_mode='on'/></iommu>` with `<ioapic driver='qemu'/>`; Proxmox VE 8.1 and later `machine: "
    "q35,viommu=intel`; then boot this VM with intel_iommu=on"
)
_NESTED_HOWTO = (
    "on the outer host, keep nested virtualisation on (kvm_intel/kvm_amd module parameter nested=1, the default "
    "since Linux 4.20) and give this VM the host's CPU model: Proxmox `cpu: host`, libvirt `<cpu "
    "mode='host-passthrough'/>`, QEMU `-cpu host`"
)


def check(ctx: CheckContext) -> Iterator[Finding]:
    guest = detect_guest(ctx.view)
    if guest is not None:
        yield _guest(ctx, guest)
    yield from _cpu_virtualisation(ctx, guest)
    yield from _iommu(ctx, guest)
    if ctx.view.iommu_active:
        yield from _interrupt_remapping(ctx, guest)


def _guest(ctx: CheckContext, guest: Guest) -> Finding:
    view = ctx.view
    capable = view.iommu_active and bool({"vmx", "svm"} & view.cpu.flags)
    judged = (
        "it has nested virtualisation and a virtual IOMMU, so it is judged like a physical host: the devices "
        "checked are the ones its hypervisor gives it"
        if capable
        else "passing devices on from a VM needs nested virtualisation and a virtual IOMMU in it; the findings "
        "below say which is missing"
    )
    return Finding(
        "platform.guest",
        Severity.INFO,
        f"this host is a virtual machine ({guest.name}); {judged}",
        "Inside a VM, VT-x/AMD-V comes from the outer hypervisor's nested virtualisation and the IOMMU from a "
        "virtual IOMMU device: the firmware settings a physical host needs are not the fix here.",
        "",
        list(guest.evidence),
    )


def _cpu_virtualisation(ctx: CheckContext, guest: Guest | None) -> Iterator[Finding]:
    cpu = ctx.view.cpu
    if cpu.vendor is None:
        return  # /proc/cpuinfo missing: recorded as unseen by the reader
    flag = _CPU_FLAG.get(cpu.vendor)
    present = sorted({"vmx", "svm"} & cpu.flags)
    if flag is None or present:
        return
    evidence = [ctx.evidence("proc/cpuinfo", f"vendor {cpu.vendor}; virtualisation flags: none")]
    name = _CPU_NAME[cpu.vendor]
    if guest is not None:
        yield Finding(
            "platform.guest-no-nested-virtualisation",
            Severity.FAIL,
            f"this VM's CPU does not expose {name} (no '{flag}' flag): it cannot run VMs of its own with KVM",
            f"A VM ({guest.name}) sees {name} only when the outer host nests virtualisation and passes the "
            "feature into the VM's CPU model. Without it, kvm does not load here and no nested VM can be started, "
            "with or without passed devices.",
            _NESTED_HOWTO[0].upper() + _NESTED_HOWTO[1:] + ".",
            evidence + guest.evidence,
            blocks_all=True,
        )
        return
    yield Finding(
        "platform.cpu-virtualisation-off",
        Severity.FAIL,
        f"{name} is off: /proc/cpuinfo has no '{flag}' flag, so KVM cannot run any VM",
        f"Passthrough needs a KVM guest. Without the '{flag}' CPU flag the kvm module does not load and "
        "Proxmox, libvirt and QEMU refuse to start accelerated VMs. This is the CPU feature, not the IOMMU "
        "(VT-d/AMD-Vi), which is checked separately.",
        f"Enable {name} ('Intel Virtualization Technology' / 'SVM Mode') in the firmware setup.",
        evidence,
        blocks_all=True,
    )


def _iommu(ctx: CheckContext, guest: Guest | None) -> Iterator[Finding]:
    view = ctx.view
    vendor = view.cpu.vendor or ""
    table = _FIRMWARE_TABLE.get(vendor)
    table_path = f"sys/firmware/acpi/tables/{table}" if table else "sys/firmware/acpi/tables"
    table_present = table in view.firmware_tables if table else bool(view.firmware_tables)
    groups_evidence = ctx.evidence("sys/kernel/iommu_groups", f"{len(view.groups)} groups")
    units_evidence = ctx.evidence("sys/class/iommu", " ".join(unit.name for unit in view.iommu_units) or "empty")
    if view.iommu_active:
        yield Finding(
            "platform.iommu-active",
            Severity.INFO,
            f"IOMMU active: {len(view.iommu_units)} unit(s), {len(view.groups)} IOMMU group(s)",
            "The kernel created IOMMU groups, so vfio-pci can isolate devices.",
            "",
            [groups_evidence, units_evidence],
        )
        return
    if guest is not None and not table_present:
        yield Finding(
            "platform.guest-no-viommu",
            Severity.FAIL,
            f"this VM has no virtual IOMMU (no ACPI {table or 'DMAR/IVRS'} table): nothing can be passed through "
            "from inside it",
            "vfio-pci inside a VM needs IOMMU groups, which come from a virtual IOMMU the hypervisor "
            f"({guest.name}) must give the VM. The physical host's VT-d/AMD-Vi setting does not reach a guest; "
            "QEMU's emulated Intel IOMMU also works on AMD hosts.",
            _VIOMMU_HOWTO[0].upper() + _VIOMMU_HOWTO[1:] + ".",
            [ctx.evidence(table_path, "does not exist"), groups_evidence, *guest.evidence],
            blocks_all=True,
        )
        return
    if table and not table_present and view.exists("sys/firmware/acpi/tables"):
        firmware = _FIRMWARE_NAME[vendor]
        yield Finding(
            "platform.iommu-firmware-off",
            Severity.FAIL,
            f"the firmware exposes no IOMMU: no ACPI {table} table ({firmware} disabled or unsupported)",
            f"The kernel finds the IOMMU through the ACPI {table} table. Without it there are no IOMMU groups "
            f"and no device can be passed through. This is {firmware}, separate from CPU virtualisation "
            f"({_CPU_NAME.get(vendor, 'VT-x/AMD-V')}), which "
            + ("is on." if {"vmx", "svm"} & view.cpu.flags else "is checked separately."),
            f"Enable {firmware} ('VT-d' / 'IOMMU' / 'AMD-Vi') in the firmware setup; if the setting is "
            "missing, the board does not support passthrough.",
            [ctx.evidence(table_path, "does not exist"), groups_evidence],
            blocks_all=True,
        )
        return
    booted = split_kernel_args(view.cmdline)
    missing_argument = (
        vendor == "intel"
        and not has_arg(booted, "intel_iommu", "on")
        and not intel_iommu_default(view, ctx.view.kernel_version).on
    )
    # The cmdline check owns the exact line to write, for the bootloader this host uses.
    fix = (
        "Boot with intel_iommu=on: see the cmdline.intel-iommu-missing finding for the line to write and where."
        if missing_argument
        else "Check the kernel log for DMAR/AMD-Vi errors; make sure the kernel is built with the IOMMU driver."
    )
    evidence = [groups_evidence, units_evidence]
    if view.cmdline is not None:
        evidence.append(ctx.evidence("proc/cmdline", view.cmdline))
    if table_present and table:
        evidence.append(ctx.evidence(table_path, "present"))
    yield Finding(
        "platform.iommu-off",
        Severity.FAIL,
        "the kernel has not enabled the IOMMU: no IOMMU groups",
        "vfio-pci needs IOMMU groups; with none, Proxmox says 'cannot prepare PCI pass-through, IOMMU not "
        "present' and libvirt cannot assign any device."
        + (f" The firmware does expose the {table} table, so the kernel side is missing." if table_present else ""),
        fix,
        evidence,
        blocks_all=True,
    )


def _interrupt_remapping(ctx: CheckContext, guest: Guest | None) -> Iterator[Finding]:
    view = ctx.view
    evidence: list[Evidence] = []
    supported: bool | None = None
    for unit in view.iommu_units:
        if unit.kind == "intel" and unit.ecap is not None:
            has_ir = bool(unit.ecap & ECAP_INTERRUPT_REMAPPING)
            evidence.append(
                ctx.evidence(
                    f"sys/class/iommu/{unit.name}/intel-iommu/ecap", f"{unit.ecap:x} (IR{'+' if has_ir else '-'})"
                )
            )
            supported = has_ir if supported is None else supported and has_ir
    enabled_lines = search(view.kernel_log or [], _IR_ENABLED)
    if enabled_lines and view.kernel_log_path:
        evidence.append(Evidence(f"{view.kernel_log_path}:{enabled_lines[0].number}", enabled_lines[0].text))
    disabled_by = [arg.raw for arg in split_kernel_args(view.cmdline) if arg.raw in _IR_DISABLED_ARGS]
    if disabled_by:
        evidence.append(ctx.evidence("proc/cmdline", view.cmdline))
    unsafe = view.module_params.get("vfio_iommu_type1", {}).get("allow_unsafe_interrupts")
    if unsafe is not None:
        evidence.append(ctx.evidence("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", unsafe))
    if supported is None and enabled_lines:
        supported = True
    remapping = bool(supported) and not disabled_by
    if remapping:
        yield Finding(
            "platform.interrupt-remapping",
            Severity.INFO,
            "interrupt remapping is available",
            "vfio_iommu_type1 attaches devices only with interrupt remapping (or allow_unsafe_interrupts).",
            "",
            evidence,
        )
        return
    if supported is None and not disabled_by:
        yield Finding(
            "platform.interrupt-remapping-unknown",
            Severity.INFO,
            "could not tell whether interrupt remapping is available",
            "Neither an Intel ecap register nor a kernel log line about interrupt remapping was readable.",
            "Look for 'DMAR-IR: Enabled IRQ remapping' or 'AMD-Vi: Interrupt remapping enabled' in dmesg.",
            evidence,
        )
        return
    reason = f"turned off by {' '.join(disabled_by)}" if disabled_by else "not supported by the IOMMU"
    if unsafe == "Y":
        yield Finding(
            "platform.unsafe-interrupts",
            Severity.WARN,
            f"interrupt remapping is {reason}; allow_unsafe_interrupts=Y lets vfio run without it",
            "Without interrupt remapping a guest can forge MSI writes and inject interrupts into the host; "
            "vfio_iommu_type1 only allows it because allow_unsafe_interrupts is set.",
            "Enable interrupt remapping (x2APIC / VT-d interrupt remapping in the firmware setup"
            + (f"; remove {' '.join(disabled_by)}" if disabled_by else "")
            + ") and drop allow_unsafe_interrupts.",
            evidence,
        )
        return
    yield Finding(
        "platform.no-interrupt-remapping",
        Severity.FAIL,
        f"interrupt remapping is {reason}; vfio will refuse to attach devices",
        "vfio_iommu_type1 refuses to attach a group without interrupt remapping and logs 'No interrupt "
        'remapping support.  Use the module param "allow_unsafe_interrupts" to enable VFIO IOMMU support '
        "on this platform' (drivers/vfio/vfio_iommu_type1.c vfio_iommu_type1_attach_group).",
        (f"Remove {' '.join(disabled_by)} from the kernel command line. " if disabled_by else "")
        + (
            f"This VM's virtual IOMMU has no interrupt remapping: {_VIOMMU_HOWTO} (intremap=on is the part that "
            "counts). "
            if guest is not None and not disabled_by
            else ""
        )
        + "If the hardware has no interrupt remapping, add 'options vfio_iommu_type1 allow_unsafe_interrupts=1' "
        "to /etc/modprobe.d/vfio.conf (accepting that a guest can inject interrupts).",
        evidence,
        blocks_all=True,
    )
