"""Secondary bus resets and what the kernel does while it waits for the device to come back.

Transcribes, per kernel profile, drivers/pci/pci.c ``pci_dev_wait``,
``pci_reset_secondary_bus``, ``pci_bridge_secondary_bus_reset``,
``pci_bridge_wait_for_secondary_bus``, ``pcie_wait_for_link_delay``,
``pcie_wait_for_link_status``, ``pcie_retrain_link`` and drivers/pci/quirks.c
``pcie_failed_link_retrain``:

- 6.1.192 has no link-retrain quirk; a >5 GT/s port that does not see DLLLA prints
  "Data Link Layer Link Active not set in 1000 msec" (pci.c:5053).
- 6.8 (v6.5-v6.11 code) has the quirk returning ``bool``, true even when nothing was retrained;
  ``pcie_wait_for_link_delay`` stores it in an ``int``, so a failed retrain counts as success
  and the caller goes on to ``pci_dev_wait``, which retrains once more and then logs the
  "not ready ... waiting" series. ``pcie_retrain_link`` first waits for DLLLA and never sets
  Retrain Link on a dead link; nothing clears LBMS.
- 6.12.117 returns error codes (59100eb248c0), reverts the target speed (f68dea13405c), clears
  LBMS after a retrain (8037ac08c2bb) and waits for Link Training to clear first (73cb3a35f94d);
  a failed retrain ends with "Data Link Layer Link Active not set in 100 msec".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.kernel import timing
from fakesys.kernel.pcidev import PCIE_DOWNSTREAM, PCIE_ROOT_PORT, PCIE_TO_PCI_BRIDGE, PciDev
from fakesys.kernel.profile import RetrainQuirk

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

ENOTTY = 25
ETIMEDOUT = 110
PCI_RESET_WAIT = 1000
PCIE_RESET_READY_POLL_MS = 60000
PCIE_LINK_RETRAIN_TIMEOUT_MS = 1000
D3COLD_DELAY_MS = 100  # pci_bus_max_d3cold_delay's floor, PCI_PM_D3COLD_WAIT

LNKCAP = 0x0C
LNKCTL = 0x10
LNKSTA = 0x12
LNKCTL2 = 0x30
LNKCTL_RL = 0x0020
LNKSTA_LT = 0x0800
LNKSTA_DLLLA = 0x2000
LNKSTA_LBMS = 0x4000
LNKCTL2_TLS = 0x000F
SPEED_2_5GT = 1
BRIDGE_CONTROL = 0x3E
BRIDGE_CTL_BUS_RESET = 0x40
ASMEDIA_ASM2824 = (0x1B21, 0x2824)


def _read_express(dev: PciDev, offset: int, width: int = 2) -> int:
    return dev.device.read(dev.pcie_cap + offset, width)


def _write_express(dev: PciDev, offset: int, width: int, value: int) -> None:
    dev.device.write(dev.pcie_cap + offset, width, value)


def _is_downstream_port(dev: PciDev) -> bool:
    return dev.pcie_type in (PCIE_ROOT_PORT, PCIE_DOWNSTREAM, PCIE_TO_PCI_BRIDGE)


def _speed_cap(dev: PciDev) -> int:
    """pcie_get_speed_cap on the port (LnkCap2 vector, else LnkCap)."""
    express = dev.device.model.space.express()
    return express.max_link_speed if express is not None else 0


def dev_wait(kernel: FakeKernel, dev: PciDev, reset_type: str, timeout: int) -> int:
    """pci_dev_wait: poll PCI_COMMAND until it is not all-ones, doubling the delay."""
    delay = 1
    bridge = dev.parent
    retrain = kernel.profile.dev_wait_retrains and dev.is_pcie and bridge is not None
    while True:
        if dev.device.read(0x04, 4) != 0xFFFFFFFF:
            break
        if delay > timeout:
            kernel.dev_warn(dev, f"not ready {delay - 1}ms after {reset_type}; giving up")
            return -ENOTTY
        if delay > PCI_RESET_WAIT:
            if retrain:
                assert bridge is not None
                retrain = False
                if _retrain_succeeded(kernel, bridge):
                    delay = 1
                    continue
            kernel.dev_info(dev, f"not ready {delay - 1}ms after {reset_type}; waiting")
        timing.msleep(kernel, delay)
        delay *= 2
    if delay > PCI_RESET_WAIT:
        kernel.dev_info(dev, f"ready {delay - 1}ms after {reset_type}")
    return 0


def _retrain_succeeded(kernel: FakeKernel, bridge: PciDev) -> bool:
    """pci_dev_wait's test of pcie_failed_link_retrain: ``if (ret)`` on the bool (6.8),
    ``if (!ret)`` on the error code (6.12)."""
    result = failed_link_retrain(kernel, bridge)
    if kernel.profile.retrain_quirk is RetrainQuirk.BOOL:
        return bool(result)
    return result == 0


def wait_for_link_status(kernel: FakeKernel, dev: PciDev, use_lt: bool, active: bool) -> int:
    """pcie_wait_for_link_status: poll LnkSta (LT or DLLLA) for up to 1000 ms."""
    mask = LNKSTA_LT if use_lt else LNKSTA_DLLLA
    match = mask if active else 0
    end = (timing.jiffies(kernel) + timing.msecs_to_jiffies(kernel, PCIE_LINK_RETRAIN_TIMEOUT_MS)) & timing.JIFFIES_MASK
    window = kernel.clock.window
    while True:
        if _read_express(dev, LNKSTA) & mask == match:
            return 0
        timing.msleep(kernel, 1)
        if not timing.time_before(kernel, end):
            if window is not None:
                # A loop on a deadline: its length is bounded by the deadline, not by the sum
                # of its sleeps' windows.
                low, high = timing.poll_window_us(kernel, PCIE_LINK_RETRAIN_TIMEOUT_MS, 1)
                kernel.clock.window = (window[0] + low, window[1] + high)
            return -ETIMEDOUT


def retrain_link(kernel: FakeKernel, dev: PciDev, use_lt: bool) -> int:
    """pcie_retrain_link."""
    if kernel.profile.retrain_quirk is RetrainQuirk.ERRNO:
        result = wait_for_link_status(kernel, dev, True, False)
    else:
        # Before 73cb3a35f94d the pre-wait used the same condition as the post-wait: with
        # use_lt false it waits for DLLLA to be set, which a dead link never does.
        result = wait_for_link_status(kernel, dev, use_lt, not use_lt)
    if result:
        return result
    _write_express(dev, LNKCTL, 2, _read_express(dev, LNKCTL) | LNKCTL_RL)
    result = wait_for_link_status(kernel, dev, use_lt, not use_lt)
    if kernel.profile.retrain_quirk is RetrainQuirk.ERRNO:
        _write_express(dev, LNKSTA, 2, LNKSTA_LBMS)
    return result


def failed_link_retrain(kernel: FakeKernel, dev: PciDev) -> int:
    """pcie_failed_link_retrain on a downstream port. 6.8: 1 for "true", 0 for "false";
    6.12: 0 or a negative errno."""
    quirk = kernel.profile.retrain_quirk
    not_applicable = 0 if quirk is RetrainQuirk.BOOL else -ENOTTY
    if quirk is RetrainQuirk.NONE:
        return not_applicable
    express = dev.device.model.space.express()
    if (
        not dev.is_pcie
        or not _is_downstream_port(dev)
        or express is None
        or express.version < 2
        or not dev.link_active_reporting
    ):
        return not_applicable
    lnkctl2 = old_lnkctl2 = _read_express(dev, LNKCTL2)
    lnksta = _read_express(dev, LNKSTA)
    result = -ENOTTY
    if lnksta & (LNKSTA_LBMS | LNKSTA_DLLLA) == LNKSTA_LBMS:
        kernel.dev_info(dev, "broken device, retraining non-functional downstream link at 2.5GT/s")
        lnkctl2 = (lnkctl2 & ~LNKCTL2_TLS) | SPEED_2_5GT
        _write_express(dev, LNKCTL2, 2, lnkctl2)
        result = retrain_link(kernel, dev, False)
        if result:
            return _retrain_failed(kernel, dev, old_lnkctl2, result)
        lnksta = _read_express(dev, LNKSTA)
    if quirk is RetrainQuirk.BOOL:
        asm2824 = (dev.vendor, dev.device_id) == ASMEDIA_ASM2824
        if lnksta & LNKSTA_DLLLA and lnkctl2 & LNKCTL2_TLS == SPEED_2_5GT and asm2824:
            kernel.dev_info(dev, "removing 2.5GT/s downstream link speed restriction")
            _write_express(dev, LNKCTL2, 2, (lnkctl2 & ~LNKCTL2_TLS) | (_read_express(dev, LNKCAP, 4) & 0xF))
            if retrain_link(kernel, dev, False):
                kernel.dev_info(dev, "retraining failed")
                return 0
        return 1
    lnkcap = _read_express(dev, LNKCAP, 4)
    if lnkctl2 & LNKCTL2_TLS == SPEED_2_5GT and lnkcap & 0xF != SPEED_2_5GT:
        kernel.dev_info(dev, "removing 2.5GT/s downstream link speed restriction")
        _write_express(dev, LNKCTL2, 2, (lnkctl2 & ~LNKCTL2_TLS) | (lnkcap & 0xF))
        result = retrain_link(kernel, dev, False)
        if result:
            return _retrain_failed(kernel, dev, old_lnkctl2, result)
    return result


def _retrain_failed(kernel: FakeKernel, dev: PciDev, old_lnkctl2: int, result: int) -> int:
    kernel.dev_info(dev, "retraining failed")
    if kernel.profile.retrain_quirk is RetrainQuirk.BOOL:
        return 0
    _write_express(dev, LNKCTL2, 2, old_lnkctl2)
    retrain_link(kernel, dev, True)
    return result


def wait_for_link_delay(kernel: FakeKernel, dev: PciDev, active: bool, delay: int) -> bool:
    """pcie_wait_for_link_delay."""
    if not dev.link_active_reporting:
        timing.msleep(kernel, PCIE_LINK_RETRAIN_TIMEOUT_MS + delay)
        return True
    if active:
        timing.msleep(kernel, 20)
    if kernel.profile.retrain_quirk is RetrainQuirk.NONE:
        # 6.1: a 1000 ms loop of msleep(10) on DLLLA (pci.c:4886).
        timeout = 1000
        while True:
            up = bool(_read_express(dev, LNKSTA) & LNKSTA_DLLLA)
            if up == active or timeout <= 0:
                break
            timing.msleep(kernel, 10)
            timeout -= 10
        if active and up:
            timing.msleep(kernel, delay)
        return up == active
    result = wait_for_link_status(kernel, dev, False, active)
    if active:
        if result:
            result = failed_link_retrain(kernel, dev)
        if result:
            return False
        timing.msleep(kernel, delay)
        return True
    return result == 0


def wait_for_secondary_bus(kernel: FakeKernel, bridge: PciDev, reset_type: str) -> int:
    """pci_bridge_wait_for_secondary_bus: wait for the link, then for the first device."""
    children = sorted(bridge.children, key=lambda child: child.devfn)
    if not bridge.is_bridge or not children:
        return 0
    delay = D3COLD_DELAY_MS
    child = children[0]
    if not bridge.is_pcie:
        timing.msleep(kernel, 1000 + delay)
        return 0
    if not _is_downstream_port(bridge):
        return 0
    if _speed_cap(bridge) <= 2:
        timing.msleep(kernel, delay)
        if not kernel.profile.short_first_wait:
            return dev_wait(kernel, child, reset_type, PCIE_RESET_READY_POLL_MS - delay)
        if not dev_wait(kernel, child, reset_type, PCI_RESET_WAIT - delay):
            return 0
        if not bridge.link_active_reporting:
            return -ENOTTY
        if not _read_express(bridge, LNKSTA) & LNKSTA_DLLLA:
            return -ENOTTY
        return dev_wait(kernel, child, reset_type, PCIE_RESET_READY_POLL_MS - PCI_RESET_WAIT)
    if not wait_for_link_delay(kernel, bridge, True, delay):
        waited = delay if kernel.profile.dll_message_uses_delay else 1000
        kernel.dev_info(bridge, f"Data Link Layer Link Active not set in {waited} msec")
        return -ENOTTY
    return dev_wait(kernel, child, reset_type, PCIE_RESET_READY_POLL_MS - delay)


def reset_secondary_bus(kernel: FakeKernel, bridge: PciDev) -> None:
    """pci_reset_secondary_bus: assert Secondary Bus Reset for 2 ms (Trst, doubled)."""
    control = bridge.device.read(BRIDGE_CONTROL, 2)
    bridge.device.write(BRIDGE_CONTROL, 2, control | BRIDGE_CTL_BUS_RESET)
    timing.msleep(kernel, 2)
    bridge.device.write(BRIDGE_CONTROL, 2, control & ~BRIDGE_CTL_BUS_RESET)


def bridge_secondary_bus_reset(kernel: FakeKernel, bridge: PciDev, locked: bool, caller: str) -> int:
    """pci_bridge_secondary_bus_reset."""
    if kernel.profile.warns_unlocked_bus_reset and not locked and not kernel.warned_once.get("unlocked_sbr"):
        kernel.warned_once["unlocked_sbr"] = True
        kernel.dev_warn(bridge, f"unlocked secondary bus reset via: {caller}")
    reset_secondary_bus(kernel, bridge)
    return wait_for_secondary_bus(kernel, bridge, "bus reset")
