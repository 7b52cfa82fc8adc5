"""initramfs-tools target (Debian, Proxmox): the modprobe.d file, the vfio modules listed in
``/etc/initramfs-tools/modules``, and ``update-initramfs``.

Ordering, and why the softdep matters (checker-and-generator section 1.5, initramfs-tools
``init``): ``/etc/initramfs-tools/modules`` is loaded by ``load_modules`` after the init-top
scripts, which include udev's coldplug, so the host driver may already own the device by then.
The ``softdep <host driver> pre: vfio-pci`` line makes modprobe load vfio-pci first whenever
udev loads the host driver; mkinitramfs copies modprobe.d into the image. Package-owned scripts
under ``/usr/share/initramfs-tools/scripts`` are never edited: an upgrade overwrites them.
"""

from __future__ import annotations

from harness import paste
from harness.bootconfig import INITRAMFS_TOOLS_MODULES
from harness.generate.binding import early_binding, initramfs_modules
from harness.generate.modprobe import MODPROBE_ALONE, vfio_conf
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

ORDERING = (
    "/etc/initramfs-tools/modules loads after udev coldplug (init-top), so on its own the host driver can "
    "bind first; the softdep in /etc/modprobe.d/vfio.conf is what puts vfio-pci ahead of it."
)


def modules_file(plan: Plan) -> GeneratedFile | None:
    """The modules file as it should read: the host's own lines kept, the vfio modules added once
    (None when the host's file holds control characters: it is not reproduced)."""
    current = plan.view.read_text(INITRAMFS_TOOLS_MODULES) or ""
    if not paste.is_clean_text(current):
        return None
    listed = plan.boot.initramfs_tools.modules if plan.boot.initramfs_tools is not None else []
    present = {entry.module for entry in listed}
    missing = [module for module in initramfs_modules(plan) if module not in present]
    text = current if current.endswith("\n") or not current else current + "\n"
    if missing:
        text += "# vfiolab: vfio-pci in the initramfs (see /etc/modprobe.d/vfio.conf for the ordering)\n"
        text += "".join(f"{module}\n" for module in missing)
    return GeneratedFile(
        INITRAMFS_TOOLS_MODULES, text, description="whole file: the host's lines plus the vfio modules"
    )


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("initramfs-tools", notes=[*plan.notes, *plan.forced_comment(), ORDERING])
    files = [vfio_conf(plan, early_binding(plan))]
    modules = modules_file(plan)
    if modules is not None:
        files.append(modules)
    else:
        output.notes.append(
            f"left {INITRAMFS_TOOLS_MODULES} alone: it holds control characters; add "
            + ", ".join(initramfs_modules(plan))
            + " to it by hand (one per line)"
        )
    output.files += files
    output.single_hint = MODPROBE_ALONE
    edits = plan.boot.initramfs_tools.package_edits if plan.boot.initramfs_tools is not None else []
    for edit in edits:
        owner = edit.package or "the package that owns it (dpkg -S shows which)"
        reinstall = paste.command("apt", "install", "--reinstall", edit.package) if edit.package else None
        if edit.kind == "edited":
            output.notes.append(
                f"{edit.path} was edited on this host ({edit.detail}): an upgrade of {owner} overwrites it. Undo "
                f"the edit ({reinstall or 'apt install --reinstall <package>'}); the softdep above does its job"
            )
        else:
            output.notes.append(
                f"{edit.path} was added under the package directory ({edit.detail}): move its job to the softdep "
                "above and delete it"
            )
    commands = ["update-initramfs -u -k all"]
    if plan.boot.bootloader.proxmox_boot_tool:
        commands.append("proxmox-boot-tool refresh")
    output.commands += [("rebuild the initramfs", command) for command in commands]
    output.reads.update({command: tuple(item.path for item in files) for command in commands})
    output.notes.append("after the next reboot, lspci -nnk shows 'Kernel driver in use: vfio-pci' for each device")
    return output
