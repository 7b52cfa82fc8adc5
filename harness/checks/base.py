"""What a check receives and how findings are built (harness.checks).

A check is a function ``(CheckContext) -> Iterable[Finding]``. The context carries the
:class:`~harness.sysfs.HostView` of the checked root, the options of this run, and helpers that
every check needs: evidence from a path, the devices selected, the kernel version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.findings import Evidence, Finding
from harness.sysfs import HostView, PciFunction, device_file


@dataclass
class CheckOptions:
    #: Devices to check (None: every endpoint).
    devices: list[str] | None = None
    vm_firmware: str = "ovmf"
    #: ROM images given on the command line, by device address (or "*" for the only device).
    rom_files: dict[str, Path] = field(default_factory=dict)
    #: Allowed to enable and read a device's option ROM (root, real host only).
    read_rom: bool = False


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
