"""PCI power management in the simulated kernel: D-state changes and runtime PM.

Transcribes drivers/pci/pci.c ``pci_set_power_state``, ``pci_set_low_power_state``,
``pci_power_up``, ``pci_set_full_power_state``, ``pci_update_current_state`` and
drivers/pci/pci-driver.c ``pci_pm_runtime_suspend``/``resume`` (6.1.192, 6.12.117; 6.8 as
6.1 without the readiness wait of ``pci_power_up``). Message texts are the kernel's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.kernel import timing
from fakesys.kernel.pcidev import POWER_ORDER, PciDev
from harness.pci import regs

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

EIO = 5
EINVAL = 22
PM_CTRL = 4
STATE_NAMES = {0: "D0", 1: "D1", 2: "D2", 3: "D3hot"}
STATE_CODES = {name: code for code, name in STATE_NAMES.items()}
ALL_ONES_16 = 0xFFFF


def d3_sleep(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_dev_d3_sleep: usleep_range(d3hot_delay, d3hot_delay + d3hot_delay/5) ms."""
    delay = dev.d3hot_delay_ms
    if delay:
        timing.usleep_range(kernel, delay * 1000, (delay + max(round(delay / 5), 1)) * 1000)


def update_current_state(kernel: FakeKernel, dev: PciDev, state: str) -> None:
    """pci_update_current_state: read PMCSR when there is a PM capability."""
    if dev.pm_cap:
        pmcsr = dev.device.read(dev.pm_cap + PM_CTRL, 2)
        if pmcsr == ALL_ONES_16:
            dev.current_state = "D3cold"
            return
        dev.current_state = STATE_NAMES[pmcsr & regs.PMCSR_STATE_MASK]
    else:
        dev.current_state = state


def power_up(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_power_up: returns 1 when BARs must be restored, 0, or a negative errno."""
    if not dev.pm_cap:
        dev.current_state = "D0"
        return -EIO
    pmcsr = dev.device.read(dev.pm_cap + PM_CTRL, 2)
    if pmcsr == ALL_ONES_16:
        kernel.dev_err(dev, f"Unable to change power state from {dev.current_state} to D0, device inaccessible")
        dev.current_state = "D3cold"
        return -EIO
    state = pmcsr & regs.PMCSR_STATE_MASK
    no_soft_reset = bool(pmcsr & regs.PMCSR_NO_SOFT_RESET)
    need_restore = (state == 3 or dev.power_order >= 3) and not no_soft_reset
    if state != 0:
        dev.device.write(dev.pm_cap + PM_CTRL, 2, 0)
        if state == 3:
            d3_sleep(kernel, dev)
            if kernel.profile.power_up_waits and not no_soft_reset:
                from fakesys.kernel.link import dev_wait

                if dev_wait(kernel, dev, "power up D3hot->D0uninitialized", 60000):
                    dev.current_state = "D3cold"
                    return -EIO
    dev.current_state = "D0"
    return 1 if need_restore else 0


def set_full_power_state(kernel: FakeKernel, dev: PciDev) -> int:
    """pci_set_full_power_state."""
    result = power_up(kernel, dev)
    if result < 0:
        return 0 if dev.current_state == "D0" else result
    pmcsr = dev.device.read(dev.pm_cap + PM_CTRL, 2)
    dev.current_state = STATE_NAMES[pmcsr & regs.PMCSR_STATE_MASK] if pmcsr != ALL_ONES_16 else "D3cold"
    if dev.current_state != "D0":
        kernel.dev_info(dev, f"Refused to change power state from {dev.current_state} to D0")
    return 0


def set_low_power_state(kernel: FakeKernel, dev: PciDev, state: str) -> int:
    """pci_set_low_power_state."""
    if not dev.pm_cap:
        return -EIO
    if dev.power_order <= POWER_ORDER["D3cold"] and dev.power_order > POWER_ORDER[state]:
        kernel.dev_dbg(dev, f"Invalid power transition (from {dev.current_state} to {state})")
        return -EINVAL
    if kernel.profile.low_power_same_state_check and dev.current_state == state:
        return 0
    pmcsr = dev.device.read(dev.pm_cap + PM_CTRL, 2)
    if pmcsr == ALL_ONES_16:
        kernel.dev_err(dev, f"Unable to change power state from {dev.current_state} to {state}, device inaccessible")
        dev.current_state = "D3cold"
        return -EIO
    dev.device.write(dev.pm_cap + PM_CTRL, 2, (pmcsr & ~regs.PMCSR_STATE_MASK) | STATE_CODES[state])
    if state == "D3hot":
        d3_sleep(kernel, dev)
    previous = dev.current_state
    update_current_state(kernel, dev, state)
    if dev.current_state != state:
        kernel.dev_info(dev, f"Refused to change power state from {previous} to {state}")
    return 0


def set_power_state(kernel: FakeKernel, dev: PciDev, state: str) -> int:
    """pci_set_power_state (D0, D3hot; D3cold goes through D3hot as the kernel does)."""
    if dev.current_state == state:
        return 0
    if state == "D0":
        return set_full_power_state(kernel, dev)
    result = set_low_power_state(kernel, dev, "D3hot")
    if state == "D3cold" and result == 0 and dev.d3cold_allowed:
        dev.current_state = "D3cold"
        dev.device.power_cycle()
    return result


# --- Runtime PM (drivers/base/power/runtime.c as PCI uses it) ---------------------------------


def runtime_resume(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_pm_runtime_resume: power up, verify, restore saved state."""
    from fakesys.kernel.savestate import restore_state

    if dev.runtime_status != "suspended":
        return
    power_up(kernel, dev)
    update_current_state(kernel, dev, "D0")
    restore_state(kernel, dev)
    dev.runtime_status = "active"


def runtime_suspend(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_pm_runtime_suspend: an unbound device stays in D0 with its state saved; a bound one
    is saved and put in its target state (D3hot) by pci_finish_runtime_suspend, whose error is
    ignored."""
    from fakesys.kernel.savestate import save_state

    if not dev.state_saved:
        save_state(kernel, dev)
    if dev.driver is not None:
        set_power_state(kernel, dev, "D3hot")
    dev.runtime_status = "suspended"


def get_sync(kernel: FakeKernel, dev: PciDev) -> None:
    """pm_runtime_get_sync: take a usage reference and resume now."""
    dev.usage_count += 1
    runtime_resume(kernel, dev)


def put(kernel: FakeKernel, dev: PciDev) -> None:
    """pm_runtime_put: drop a reference; at zero an idle device with runtime PM allowed suspends."""
    dev.usage_count = max(0, dev.usage_count - 1)
    if dev.usage_count == 0 and dev.runtime_allowed and dev.runtime_status == "active":
        # The suspend runs from the PM workqueue (rpm_idle queues it), not in the caller's
        # context: what it logs has no place in the caller's sleep schedule.
        kernel.clock.boundary()
        runtime_suspend(kernel, dev)
