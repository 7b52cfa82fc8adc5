"""Finding functions at boot and on rescan, as ``pci_scan_device``/``pci_setup_device`` do
(drivers/pci/probe.c, Linux 6.1.192 and 6.12.117): what the function answers decides whether
the kernel creates a device for it, and what it logs.

- No function: the Vendor/Device dword reads all-ones or zero (``pci_bus_read_dev_vendor_id``);
  nothing is logged and nothing is created.
- Otherwise ``pci_setup_device`` logs ``[vvvv:dddd] type %02x class %#08x`` (the header type's low
  seven bits, class code, prog-if); kernels with "PCI: Log device type during enumeration"
  (v6.8) append ``pci_type_str``: the PCI Express port type when an Express capability is
  found, else the header's kind ("conventional PCI endpoint", "conventional PCI bridge",
  "CardBus bridge", "conventional PCI").
- A header type other than 0, 1 or 2 is ``unknown header type %02x, ignoring device`` (an
  error) and the device is not created: a function that answers its IDs but all-ones elsewhere
  (a dead device behind vfio-pci's virtualised IDs) reads type 7f, class ffffff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.kernel.pcidev import PciDev
from harness.pci.config import CapabilityLoopError, ConfigSpace

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

#: pci_type_str (drivers/pci/probe.c, 6.12.117): PCI Express device/port types by number.
EXPRESS_TYPES = (
    "PCIe Endpoint",
    "PCIe Legacy Endpoint",
    "PCIe unknown",
    "PCIe unknown",
    "PCIe Root Port",
    "PCIe Switch Upstream Port",
    "PCIe Switch Downstream Port",
    "PCIe to PCI/PCI-X bridge",
    "PCI/PCI-X to PCIe bridge",
    "PCIe Root Complex Integrated Endpoint",
    "PCIe Root Complex Event Collector",
)
HEADER_KINDS = {0: "conventional PCI endpoint", 1: "conventional PCI bridge", 2: "CardBus bridge"}
KNOWN_HEADERS = (0, 1, 2)


def type_string(space: ConfigSpace, header: int) -> str:
    """pci_type_str, from the function's answers."""
    try:
        express = space.express()
    except CapabilityLoopError:
        express = None
    if express is not None:
        port_type = express.port_type
        return EXPRESS_TYPES[port_type] if port_type < len(EXPRESS_TYPES) else "PCIe unknown"
    return HEADER_KINDS.get(header, "conventional PCI")


def setup_device(kernel: FakeKernel, dev: PciDev) -> bool:
    """pci_scan_device for one function: True when the kernel creates a device for it."""
    ids = dev.device.read(0x00, 4)
    if ids in (0xFFFFFFFF, 0x00000000, 0xFFFF0000, 0x0000FFFF):
        return False
    header = dev.device.read(0x0E, 1) & 0x7F
    class_code = dev.device.read(0x08, 4) >> 8
    text = f"[{ids & 0xFFFF:04x}:{ids >> 16:04x}] type {header:02x} class {class_code:#08x}"
    if kernel.profile.logs_device_type:
        text += " " + type_string(dev.device.space(), header)
    kernel.log.device("pci", dev.name, text)
    if header not in KNOWN_HEADERS:
        kernel.log.device("pci", dev.name, f"unknown header type {header:02x}, ignoring device", "err")
        return False
    return True


def scan(kernel: FakeKernel, devices: list[PciDev]) -> list[PciDev]:
    """The functions of ``devices`` (in scan order) the kernel does not create: those that do
    not answer, those it ignores, and everything behind a bridge it did not create."""
    missing: list[PciDev] = []
    for dev in devices:
        if (dev.parent is not None and dev.parent in missing) or not setup_device(kernel, dev):
            missing.append(dev)
    return missing
