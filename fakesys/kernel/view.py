"""Reading the simulated kernel's sysfs in memory, as a program reading /sys would.

Userspace actors (qemu-server, QEMU) decide from what sysfs shows: whether ``reset`` exists,
which devices share an IOMMU group, whether a driver directory exists. :class:`SysfsView`
answers those reads from the kernel's state through the same attribute functions the renderer
uses, so a rendered tree and an in-memory read never disagree.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fakesys.kernel.attributes import device_attributes
from harness.pci.address import Bdf

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

_DEVICE = re.compile(r"^/sys/bus/pci/devices/(?P<bdf>[^/]+)(?:/(?P<rest>.*))?$")
_DRIVER = re.compile(r"^/sys/bus/pci/drivers/(?P<driver>[^/]+)(?:/(?P<rest>.*))?$")


class SysfsView:
    def __init__(self, kernel: FakeKernel) -> None:
        self.kernel = kernel

    def _device(self, text: str) -> object:
        try:
            return self.kernel.find(Bdf.parse(text))
        except ValueError:
            return None

    def exists(self, path: str) -> bool:
        path = path.rstrip("/")
        if path == "/sys/class/iommu":
            return True
        match = _DRIVER.match(path)
        if match:
            name = match["driver"]
            if name not in self.kernel.registered_drivers():
                return False
            rest = match["rest"]
            if rest is None or rest in ("bind", "unbind", "new_id", "remove_id", "uevent"):
                return True
            dev = self._device(rest)
            return dev is not None and getattr(dev, "driver", None) == name
        match = _DEVICE.match(path)
        if not match:
            return False
        dev = self.kernel.find(Bdf.parse(match["bdf"])) if _looks_like_bdf(match["bdf"]) else None
        if dev is None:
            return False
        rest = match["rest"]
        if rest is None:
            return True
        if rest == "driver":
            return dev.driver is not None
        if rest == "driver/unbind":
            return dev.driver is not None
        if rest == "pci_bus":
            return dev.is_bridge and dev.secondary_bus is not None
        if rest == "iommu_group":
            return dev.iommu_group is not None
        return rest in device_attributes(dev, self.kernel.profile, self.kernel.host.cpu.cores)

    def read(self, path: str) -> str | None:
        match = _DEVICE.match(path)
        if not match or not _looks_like_bdf(match["bdf"]) or match["rest"] is None:
            return None
        dev = self.kernel.find(Bdf.parse(match["bdf"]))
        if dev is None:
            return None
        attribute = device_attributes(dev, self.kernel.profile, self.kernel.host.cpu.cores).get(match["rest"])
        return None if attribute is None else attribute.content.decode(errors="replace")

    def listdir(self, path: str) -> list[str]:
        match = _DEVICE.match(path.rstrip("/"))
        if match and match["rest"] == "iommu_group/devices" and _looks_like_bdf(match["bdf"]):
            dev = self.kernel.find(Bdf.parse(match["bdf"]))
            if dev is None or dev.iommu_group is None:
                return []
            return [member.name for member in self.kernel.present if member.iommu_group == dev.iommu_group]
        if path.rstrip("/") == "/sys/class/iommu":
            return list(self.kernel.iommu_units) if self.kernel.iommu_enabled else []
        return []

    def iommu_group(self, bdf: str) -> int | None:
        dev = self._device(bdf)
        return getattr(dev, "iommu_group", None)


def _looks_like_bdf(text: str) -> bool:
    try:
        return str(Bdf.parse(text)) == text
    except ValueError:
        return False
