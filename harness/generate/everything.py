"""The ``all`` target: every relevant target's files as one tree mirroring the host's paths,
plus ``apply.sh`` that puts them in place (:mod:`harness.generate.apply_script`).

What is relevant: early binding (modprobe.d and the host's initramfs generator: initramfs-tools,
dracut or mkinitcpio, whichever the root has), the kernel command line when it lacks something,
and the VM configuration (``qm set``) on a Proxmox host.

The plan records what ``apply.sh`` must find on the host: each planned device's IDs and IOMMU
group, every device each ``ids=`` entry matches, the sha256 of each file it replaces (or its
absence) and of each file it writes, and the VM settings the ``hostpciN`` lines depend on.
"""

from __future__ import annotations

from harness.bootconfig import PCI_ANY_ID, PciIdMatch
from harness.generate import cmdline, dracut, initramfs_tools, mkinitcpio, proxmox
from harness.generate.apply_script import ApplyPlan, IdCapture, PlannedFile, VmStep, render, sha256
from harness.generate.binding import early_binding
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

APPLY_SCRIPT = "apply.sh"
#: VM settings the planned hostpci lines depend on (pcie=1 needs q35; the ROM BAR choice the
#: firmware).
_VM_SETTINGS = ("machine", "bios")


def _relevant(plan: Plan) -> list[GeneratedOutput]:
    outputs = []
    boot = plan.boot
    if boot.dracut is not None:
        outputs.append(dracut.generate(plan))
    if boot.mkinitcpio is not None:
        outputs.append(mkinitcpio.generate(plan))
    if boot.initramfs_tools is not None or (boot.dracut is None and boot.mkinitcpio is None):
        outputs.append(initramfs_tools.generate(plan))
    outputs.append(cmdline.generate(plan))
    return outputs


def _sysfs_id(value: int) -> str:
    return f"0x{value:04x}"


def _capture(entry: PciIdMatch, plan: Plan) -> IdCapture:
    matched = [function.name for function in plan.view.functions.values() if entry.matches_function(function)]

    def sub(value: int) -> str:
        return "any" if value == PCI_ANY_ID else _sysfs_id(value)

    return IdCapture(
        str(entry),
        _sysfs_id(entry.vendor),
        _sysfs_id(entry.device),
        sub(entry.subvendor),
        sub(entry.subdevice),
        matched,
    )


def _vm_steps(plan: Plan, apply: ApplyPlan) -> None:
    """The VM's hostpci lines (only on a Proxmox host) and the settings they were planned for."""
    if not plan.view.exists("etc/pve"):
        return
    vmid = plan.vm.vmid
    config = f"etc/pve/qemu-server/{vmid}.conf"
    existed = plan.vm.kind != "assumed"
    apply.vm_config = (config, existed)
    for key in _VM_SETTINGS:
        value = plan.vm.settings.get(key)
        apply.vm_settings.append((config, key, f"{key}: {value}" if value is not None else ""))
    for index, value in proxmox.hostpci_lines(plan):
        key = f"hostpci{index}"
        seen = f"{key}: {plan.vm.settings[key]}" if key in plan.vm.settings else ""
        apply.vm_steps.append(VmStep(vmid, config, key, value, f"write {key} to VM {vmid}", seen))


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("all", notes=[*plan.vm_notes, *plan.notes, *plan.forced_comment()])
    if plan.view.exists("etc/pve"):
        output.notes += proxmox.reuse_notes(plan)
    files: dict[str, GeneratedFile] = {}
    apply = ApplyPlan(header=plan.vm_header())
    # A command two targets need (proxmox-boot-tool refresh) runs once, after both's other steps.
    rebuilds: dict[str, tuple[str, tuple[str, ...]]] = {}
    for part in _relevant(plan):
        output.notes += [note for note in part.notes if note not in output.notes]
        for item in part.files:
            if item.how == "create":
                files[item.path] = item
        for comment, command in part.commands:
            first_comment, reads = rebuilds.pop(command, (comment, ()))
            rebuilds[command] = (first_comment, tuple(dict.fromkeys((*reads, *part.reads.get(command, ())))))
        apply.after_reboot += [check for check in part.after_reboot if check not in apply.after_reboot]
    apply.rebuilds = [(comment, command, reads) for command, (comment, reads) in rebuilds.items()]
    for planned in plan.functions:
        function = planned.function
        apply.devices.append(
            (
                planned.address,
                f"{_sysfs_id(function.vendor or 0)}:{_sysfs_id(function.device or 0)}",
                f"{_sysfs_id(function.subsystem_vendor or 0)}:{_sysfs_id(function.subsystem_device or 0)}",
                str(function.iommu_group) if function.iommu_group is not None else "none",
            )
        )
    apply.captures = [_capture(entry, plan) for entry in early_binding(plan).ids]
    ordered = list(files.values())
    apply.files = [
        PlannedFile(
            item.path,
            item.mode,
            sha256(plan.view.read_bytes(item.path.lstrip("/"))),
            sha256(item.content.encode("utf-8")),
        )
        for item in ordered
    ]
    _vm_steps(plan, apply)
    output.files = [*ordered, GeneratedFile(APPLY_SCRIPT, render(apply), mode=0o755)]
    output.commands.append(("see what would change", f"./{APPLY_SCRIPT} --dry-run"))
    output.commands.append(("apply", f"./{APPLY_SCRIPT} --yes"))
    return output
