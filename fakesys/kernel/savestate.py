"""Saving and restoring a device's configuration around resets and power transitions.

Transcribes drivers/pci/pci.c ``pci_save_state`` and ``pci_restore_state``: the first 16 dwords
of the header plus the control registers of the PCI Express, MSI and ACS capabilities. The header
is restored by ``pci_restore_config_space`` in the kernel's order (the BARs before the command
register), each dword only when it differs, and BAR dwords with up to 10 retries 1 ms apart
(``pci_restore_config_dword``): restoring healthy values to a device that answers all-ones costs
about 60 ms, which shows in the gaps of the reference journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.kernel import timing
from fakesys.kernel.pcidev import PciDev
from harness.pci import regs

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

# Express control registers pci_save_pcie_state keeps (offsets in the capability).
_EXPRESS_CONTROLS = ((0x08, 2), (0x10, 2), (0x18, 2), (0x1C, 2), (0x28, 2), (0x30, 2), (0x38, 2))


def save_state(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_save_state."""
    device = dev.device
    dev.saved_config = [device.read(index * 4, 4) for index in range(16)]
    saved: dict[int, int] = {}
    if dev.pcie_cap:
        for offset, width in _EXPRESS_CONTROLS:
            saved[dev.pcie_cap + offset] = device.read(dev.pcie_cap + offset, width)
    msi = _msi_offset(dev)
    if msi:
        for offset in (2, 4, 8, 12):
            saved[msi + offset] = device.read(msi + offset, 2 if offset == 2 else 4)
    if dev.acs_cap:
        saved[dev.acs_cap + regs.ACS_CTRL_OFFSET] = device.read(dev.acs_cap + regs.ACS_CTRL_OFFSET, 2)
    dev.saved_capabilities = saved
    dev.state_saved = True


def _msi_offset(dev: PciDev) -> int:
    cap = dev.device.model.space.find(regs.CAP_MSI)
    return cap.offset if cap is not None else 0


def _restore_dword(kernel: FakeKernel, dev: PciDev, index: int, retry: int, force: bool) -> None:
    """pci_restore_config_dword."""
    offset = index * 4
    saved = dev.saved_config[index]
    value = dev.device.read(offset, 4)
    if not force and value == saved:
        return
    while True:
        dev.device.write(offset, 4, saved)
        if retry <= 0:
            return
        retry -= 1
        if dev.device.read(offset, 4) == saved:
            return
        timing.mdelay(kernel, 1)


def _restore_range(
    kernel: FakeKernel, dev: PciDev, start: int, end: int, *, retry: int = 0, force: bool = False
) -> None:
    for index in range(end, start - 1, -1):
        _restore_dword(kernel, dev, index, retry, force)


def restore_state(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_restore_state: capabilities first, then the header, then MSI and ACS."""
    if not dev.state_saved:
        return
    device = dev.device
    if dev.pcie_cap:
        for offset, width in _EXPRESS_CONTROLS:
            key = dev.pcie_cap + offset
            if key in dev.saved_capabilities:
                device.write(
                    key, width, dev.saved_capabilities[key] & ~0x8000 if offset == 0x08 else dev.saved_capabilities[key]
                )
    if dev.header_layout == regs.HEADER_LAYOUT_NORMAL:
        _restore_range(kernel, dev, 10, 15)
        _restore_range(kernel, dev, 4, 9, retry=10)
        _restore_range(kernel, dev, 0, 3)
    elif dev.header_layout == regs.HEADER_LAYOUT_BRIDGE:
        _restore_range(kernel, dev, 12, 15)
        _restore_range(kernel, dev, 9, 11, force=True)
        _restore_range(kernel, dev, 0, 8)
    else:
        _restore_range(kernel, dev, 0, 15)
    msi = _msi_offset(dev)
    for key, value in dev.saved_capabilities.items():
        if msi and msi <= key < msi + 16:
            device.write(key, 2 if key == msi + 2 else 4, value)
    if dev.acs_cap:
        key = dev.acs_cap + regs.ACS_CTRL_OFFSET
        if key in dev.saved_capabilities:
            device.write(key, 2, dev.saved_capabilities[key])
    dev.state_saved = False
