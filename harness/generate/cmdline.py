"""Kernel command line target: the arguments the CPU vendor needs, written where this host's
bootloader reads them (GRUB: ``/etc/default/grub`` + ``update-grub``; systemd-boot under
Proxmox: ``/etc/kernel/cmdline`` + ``proxmox-boot-tool refresh``), detected from the root.

Intel needs ``intel_iommu=on`` unless the kernel turns it on by default; AMD needs nothing
(``amd_iommu=on`` is not even a valid value). ``iommu=pt`` is optional and not added.
``pcie_acs_override`` is written only when asked for by name, under a warning, and only exists
in patched kernels (Proxmox's); ``iommu=soft``-style workarounds are never written.

stdout carries the kernel arguments to add, space-separated on one line (nothing when the
bootloader already has them): ``grubby --update-kernel=ALL --args="$(vfiolab generate cmdline)"``
works, and no shell redirection can truncate a bootloader file vfiolab is about to read. The
edited file itself (the whole GRUB file, or ``/etc/kernel/cmdline``) is written with ``--out``.
"""

from __future__ import annotations

import shlex

from harness import paste
from harness.bootconfig import Bootloader, KernelArg, has_arg, intel_iommu_default
from harness.generate.gpu_setup import framebuffer_cmdline
from harness.generate.idle_d3_fix import cmdline_arguments as idle_d3_arguments
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
    framebuffer, framebuffer_why = framebuffer_cmdline(plan)
    add += framebuffer
    why += framebuffer_why
    if "acs-override" in plan.options.unsafe:
        add.append(ACS_OVERRIDE)
        why.append(ACS_OVERRIDE_WARNING)
    idle_add, idle_why = idle_d3_arguments(plan)
    add += idle_add
    why += idle_why
    return add, why


def _configured(configured: list[KernelArg], argument: str) -> bool:
    """``name=a,b`` is configured when every comma item of it is."""
    name, _, value = argument.partition("=")
    return all(has_arg(configured, name, item or None) for item in value.split(","))


def _grub_file(plan: Plan, loader: Bootloader, line: str) -> tuple[str, str]:
    """(the GRUB file with the assignment that takes effect replaced by ``line``, or "" and why
    it cannot be edited safely). The effective assignment is the last one (grub-mkconfig sources
    the file); one that spans lines or does not parse is left to the user, as is a file with
    control characters, and so is one that is there but cannot be read (a FIFO, a link out of the
    root): a whole new file from nothing would drop every other setting in it."""
    current, unreadable = plan.file_to_rewrite(loader.path)
    if current is None:
        return "", unreadable
    if not paste.is_clean_text(current):
        return "", "it holds control characters"
    lines = current.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    marked = [*plan.comments(), line]
    source = loader.grub.sources.get(loader.variable or "") if loader.grub is not None else None
    if source is None or source.path != loader.path:
        return "\n".join([*lines, *marked]) + "\n", ""
    start = end = source.line - 1
    while end < len(lines) and lines[end].endswith("\\"):
        end += 1
    try:
        shlex.split("\n".join(lines[start : end + 1]), comments=True)
    except ValueError:
        return "", f"its {loader.variable} assignment (line {source.line}) does not parse as one shell assignment"
    lines[start : end + 1] = marked
    return "\n".join(lines) + "\n", ""


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("cmdline", notes=[*plan.notes, *plan.forced_comment()])
    add, why = wanted_arguments(plan)
    output.notes += why
    loader = plan.boot.bootloader
    configured = loader.args
    missing = [argument for argument in add if not _configured(configured, argument)]
    output.stdout = "".join(f"{argument} " for argument in missing).rstrip() + ("\n" if missing else "")
    where = f"{loader.path} ({loader.variable})" if loader.variable else loader.path
    if not missing:
        output.stdout_about = "nothing: no kernel argument is missing"
        output.notes.append(f"{loader.path} already gives the kernel everything needed ({loader.cmdline or 'empty'})")
        return output
    output.stdout_about = (
        f"the kernel arguments to add, for {where}; --out DIR writes the edited file, or set them there by hand:"
    )
    line = loader.edit_line(missing)
    if loader.kind == "grub" and loader.variable is not None:
        content, problem = _grub_file(plan, loader, line)
        description = f"whole file: {loader.variable} gains {' '.join(missing)}"
    else:
        content, problem = line + "\n", "" if paste.is_clean_text(line) else "it holds control characters"
        description = f"the kernel arguments, one line: gains {' '.join(missing)}"
    if problem:
        output.notes.append(
            f"left {loader.path} alone: {problem}. Set {line} there by hand, then run "
            + " && ".join(loader.update_commands)
        )
        return output
    output.files.append(GeneratedFile(loader.path, content, description=description))
    output.commands += [(f"make {loader.name} use it", command) for command in loader.update_commands]
    output.reads.update({command: (loader.path,) for command in loader.update_commands})
    output.after_reboot.append(("after a reboot, check", "cat /proc/cmdline"))
    return output
