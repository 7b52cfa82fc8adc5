"""What a check receives and how findings are built (harness.checks).

A check is a function ``(CheckContext) -> Iterable[Finding]``. The context carries the
:class:`~harness.sysfs.HostView` of the checked root, the options of this run, and helpers that
every check needs: evidence from a path, the devices selected, the kernel version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import paste
from harness.findings import Evidence, Finding
from harness.kernellog import LogLine
from harness.storage import disk_path
from harness.sysfs import PVE_VM_CONFIGS, BlockDevice, HostView, PciFunction, device_file


@dataclass
class CheckOptions:
    #: Devices to check (None: every endpoint).
    devices: list[str] | None = None
    vm_firmware: str = "ovmf"
    #: ROM images given on the command line, by device address (or "*" for the only device).
    rom_files: dict[str, Path] = field(default_factory=dict)
    #: Allowed to enable and read a device's option ROM (root, real host only).
    read_rom: bool = False
    #: ``--assume-kernel``: judge the version-dependent findings (kernel quirks) as if this
    #: kernel ran, named as :func:`harness.kernels.parse_kernel` reads it.
    assume_kernel: str | None = None


@dataclass
class CheckContext:
    view: HostView
    options: CheckOptions = field(default_factory=CheckOptions)

    def selected(self) -> list[PciFunction]:
        """The devices this run is about: the ones asked for, else every endpoint."""
        if self.options.devices is None:
            return self.view.endpoints()
        chosen = []
        for text in self.options.devices:
            function = self.view.function(text)
            if function is not None:
                chosen.append(function)
        return chosen

    def evidence(self, relative: str, value: object) -> Evidence:
        return Evidence(self.view.show(relative), str(value))

    def device_evidence(self, function: PciFunction, attribute: str, value: object) -> Evidence:
        return Evidence(self.view.show(device_file(function.name, attribute)), str(value))


Check = Callable[[CheckContext], Iterable[Finding]]


def device_label(function: PciFunction) -> str:
    return f"{function.name} [{function.id_text}]"


def vm_for_fix(view: HostView) -> tuple[str, str]:
    """The VM id a fix's ``qm set`` names, and a note saying where it comes from: the one VM
    configured on this host, else the placeholder ``<vmid>`` (several VMs, or none seen)."""
    cached = view.derived.get("vm-for-fix")
    if isinstance(cached, tuple):
        return cached
    ids = sorted(
        int(name[: -len(".conf")])
        for name in view.listdir(PVE_VM_CONFIGS)
        if name.endswith(".conf") and name[: -len(".conf")].isdigit() and len(name) <= 14
    )
    answer = (str(ids[0]), f" (VM {ids[0]}, the only VM configured here)") if len(ids) == 1 else ("<vmid>", "")
    view.derived["vm-for-fix"] = answer
    return answer


_SCSI_KEY = re.compile(r"^scsi(\d+):", re.MULTILINE)
#: qemu-server's limit for scsiN (PVE/QemuServer/Drive.pm MAX_SCSI_DISKS).
MAX_SCSI_DISKS = 31


def scsi_disk_options(view: HostView, vmid: str, disks: list[BlockDevice]) -> str:
    """``-scsiN PATH`` options for ``qm set``, each on a scsi index the VM does not use yet."""
    used: set[int] = set()
    if vmid.isdigit():
        text = view.read_text(f"{PVE_VM_CONFIGS}/{vmid}.conf") or ""
        # Only the VM's current configuration: snapshot sections ([name]) follow it.
        current = text.split("\n[", 1)[0]
        used = {int(number) for number in _SCSI_KEY.findall(current)}
    free = (index for index in range(MAX_SCSI_DISKS) if index not in used)
    return " ".join(paste.command(f"-scsi{index}", disk_path(disk)) for index, disk in zip(free, disks, strict=False))


def log_matches(ctx: CheckContext, pattern: re.Pattern[str]) -> list[tuple[re.Match[str], LogLine]]:
    """The kernel log lines ``pattern`` finds, with the match, scanned once per view and pattern
    (a host's log has thousands of lines and every selected device asks)."""
    key = f"log-matches:{pattern.pattern}"
    cached = ctx.view.derived.get(key)
    if isinstance(cached, list):
        return cached
    found = [(match, line) for line in ctx.view.kernel_log or [] if (match := pattern.search(line.text))]
    ctx.view.derived[key] = found
    return found
