"""Kernel command line target: the arguments the CPU vendor needs, written where this host's
bootloader reads them (GRUB: ``/etc/default/grub`` + ``update-grub``; systemd-boot under
Proxmox: ``/etc/kernel/cmdline`` + ``proxmox-boot-tool refresh``), detected from the root.

Intel needs ``intel_iommu=on`` unless the kernel turns it on by default; AMD needs nothing
(``amd_iommu=on`` is not even a valid value). ``iommu=pt`` is optional and not added.
``pcie_acs_override`` is written only when asked for by name, under a warning, and only exists
in patched kernels (Proxmox's); ``iommu=soft``-style workarounds are never written.
"""

from __future__ import annotations

from harness.bootconfig import KernelArg, has_arg, intel_iommu_default
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

ACS_OVERRIDE = "pcie_acs_override=downstream,multifunction"
ACS_OVERRIDE_WARNING = (
    "WARNING: pcie_acs_override makes the kernel pretend devices are isolated when they are not: devices "
    "can reach each other's memory past the IOMMU, so a guest can read or corrupt what the host or other "
    "guests give those devices. It only exists in patched kernels (Proxmox's). Asked for with --unsafe "
    "acs-override."
)


def wanted_arguments(plan: Plan) -> tuple[list[str], list[str]]:
    """(arguments to add, explanations)."""
    add: list[str] = []
    why: list[str] = []
    if plan.cpu_vendor == "intel":
        default = intel_iommu_default(plan.view, plan.view.kernel_version)
        if default.on:
            why.append(
                f"the Intel IOMMU is on by default in this kernel ({default.reason}); intel_iommu=on only states it"
            )
        add.append("intel_iommu=on")
    elif plan.cpu_vendor == "amd":
        why.append("AMD: the IOMMU is on by default; no argument is needed (amd_iommu=on is not a valid value)")
    if "acs-override" in plan.options.unsafe:
        add.append(ACS_OVERRIDE)
        why.append(ACS_OVERRIDE_WARNING)
    return add, why


def _configured(configured: list[KernelArg], argument: str) -> bool:
    """``name=a,b`` is configured when every comma item of it is."""
    name, _, value = argument.partition("=")
    return all(has_arg(configured, name, item or None) for item in value.split(","))


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("cmdline", notes=[*plan.notes, *plan.forced_comment()])
    add, why = wanted_arguments(plan)
    output.notes += why
    loader = plan.boot.bootloader
    configured = loader.args
    missing = [argument for argument in add if not _configured(configured, argument)]
    if not missing:
        output.notes.append(f"{loader.path} already gives the kernel everything needed ({loader.cmdline or 'empty'})")
        return output
    line = loader.edit_line(missing)
    if loader.kind == "grub" and loader.variable is not None:
        current = plan.view.read_text(loader.path.lstrip("/")) or ""
        lines = current.splitlines()
        replaced = False
        marked = [*plan.comments(), line]
        for index, text in enumerate(lines):
            if text.strip().startswith(f"{loader.variable}=") and not replaced:
                lines[index : index + 1] = marked
                replaced = True
        if not replaced:
            lines += marked
        content = "\n".join(lines) + "\n"
        description = f"whole file: {loader.variable} gains {' '.join(missing)}"
    else:
        content = line + "\n"
        description = f"the kernel arguments, one line: gains {' '.join(missing)}"
    output.files.append(GeneratedFile(loader.path, content, description=description))
    output.commands += [(f"make {loader.name} use it", command) for command in loader.update_commands]
    output.reads.update({command: (loader.path,) for command in loader.update_commands})
    output.after_reboot.append(("after a reboot, check", "cat /proc/cmdline"))
    return output
