"""PCI Express links between a downstream port and the device below it.

Presence Detect State in a slot's Slot Status follows whether a device is wired below the port.
Link training sets both ends' Link Status: the highest speed both support (capped by the port's
Target Link Speed in LnkCtl2) and the widest common width; a port that reports Data Link Layer
state (LnkCap LLActRep+) shows DLActive+. A link that fails to train leaves the port with
DLActive- and Link Bandwidth Management Status set, the state the kernel's
``pcie_failed_link_retrain`` recognises. This is hardware behaviour: registers only.
"""

from __future__ import annotations

from fakesys.hw.device import Device
from harness.pci import regs
from harness.pci.config import ConfigSpace

LNKSTA = 0x12
LNKCAP = 0x0C
LNKCTL2 = 0x30
#: PCI Express Capabilities register: Slot Implemented.
FLAGS_SLOT = 0x0100


def _max_speed(device: Device) -> int:
    info = ConfigSpace(device.registers).express()
    assert info is not None
    return info.max_link_speed


def _link_partner(port: Device) -> Device | None:
    """The function 0 device on the port's secondary bus (the other end of the link)."""
    return port.downstream[0] if port.downstream else None


def _status_follows(port: Device) -> bool:
    return all(behaviour.link_status_follows() for behaviour in port.behaviours)


def detect_presence(port: Device) -> None:
    """Slot Status Presence Detect State of a port with a slot follows what is wired below it: set
    while a card is present (PCIe r6.0 7.5.3.11, required where Slot Implemented is set), unless a
    behaviour says the port's presence detect does not (``presence_detect_follows``)."""
    base = port.express_offset
    if not base or not regs.read_register(port.registers, base + 2, 2) & FLAGS_SLOT:
        return
    if not all(behaviour.presence_detect_follows() for behaviour in port.behaviours):
        return
    port.update_field(regs.EXPRESS, base, "sltsta", "presence_detect", int(bool(port.downstream)))


def link_down(port: Device) -> None:
    if not port.express_offset:
        return
    port.link_up = False
    if _status_follows(port):
        port.update_field(regs.EXPRESS, port.express_offset, "lnksta", "dll_active", 0)


def train(port: Device) -> bool:
    """Train the port's link with the device below it; True when the link came up."""
    base = port.express_offset
    if not base:
        return False
    partner = _link_partner(port)
    partner_base = partner.express_offset if partner is not None else 0
    trains = (
        partner is not None
        and partner_base != 0
        and partner.alive
        and all(behaviour.link_trains() for behaviour in partner.behaviours)
    )
    if not _status_follows(port):
        # The link state the port reports is fixed; whether the device answers is its own.
        port.link_up = partner is not None and partner.alive
        return port.link_up
    if partner is None or not partner_base or not trains:
        port.link_up = False
        port.update_field(regs.EXPRESS, base, "lnksta", "dll_active", 0)
        if partner is not None:
            # Training attempts without a usable partner end with LBMS set (PCIe r6.0 7.5.3.8).
            port.update_field(regs.EXPRESS, base, "lnksta", "bandwidth_management", 1)
        return False
    lnkcap = regs.read_register(port.registers, base + LNKCAP, 4)
    target = regs.read_register(port.registers, base + LNKCTL2, 2) & 0xF
    speed = min(_max_speed(port), _max_speed(partner), target or 0xF)
    width = min(lnkcap >> 4 & 0x3F, regs.read_register(partner.registers, partner_base + LNKCAP, 4) >> 4 & 0x3F) or 1
    for behaviour in partner.behaviours:
        speed_limit, width_limit = behaviour.link_limit()
        speed = min(speed, speed_limit or speed)
        width = min(width, width_limit or width)
    for end, end_base in ((port, base), (partner, partner_base)):
        end.update_field(regs.EXPRESS, end_base, "lnksta", "speed", speed)
        end.update_field(regs.EXPRESS, end_base, "lnksta", "width", width)
    port.link_up = True
    port.update_field(regs.EXPRESS, base, "lnksta", "dll_active", int(bool(lnkcap & (1 << 20))))
    return True


def retrain(port: Device) -> bool:
    """Retrain Link (LnkCtl RL, or the end of a Secondary Bus Reset)."""
    return train(port)
