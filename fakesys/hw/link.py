"""PCI Express links between a downstream port and the device below it.

At power-on both ends train to the highest speed and the widest width they share; a port that
reports Data Link Layer state (LnkCap LLActRep+) then shows DLActive+. A port with nothing behind
it shows the link down. This is hardware behaviour, so it acts on :class:`Device` registers only.
"""

from __future__ import annotations

from fakesys.hw.device import Device
from harness.pci import regs
from harness.pci.config import ConfigSpace


def _express_offset(device: Device) -> int | None:
    cap = ConfigSpace(device.registers).find(regs.CAP_EXPRESS)
    return None if cap is None else cap.offset


def _max_speed(device: Device, base: int) -> int:
    info = ConfigSpace(device.registers).express()
    assert info is not None
    return info.max_link_speed


def train(port: Device, device: Device | None) -> None:
    """Set both ends' Link Status as link training leaves it."""
    port_cap = _express_offset(port)
    if port_cap is None:
        return
    lnkcap = port.read(port_cap + 0x0C, 4)
    reports_dll = bool(lnkcap & (1 << 20))
    device_cap = _express_offset(device) if device is not None else None
    if device is None or device_cap is None:
        port.update_field(regs.EXPRESS, port_cap, "lnksta", "dll_active", 0)
        return
    speed = min(_max_speed(port, port_cap), _max_speed(device, device_cap))
    width = min(lnkcap >> 4 & 0x3F, device.read(device_cap + 0x0C, 4) >> 4 & 0x3F) or 1
    for end, base in ((port, port_cap), (device, device_cap)):
        end.update_field(regs.EXPRESS, base, "lnksta", "speed", speed)
        end.update_field(regs.EXPRESS, base, "lnksta", "width", width)
    port.update_field(regs.EXPRESS, port_cap, "lnksta", "dll_active", int(reports_dll))
