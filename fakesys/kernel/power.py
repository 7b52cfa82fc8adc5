"""PCI power management in the simulated kernel: D-state changes and runtime PM.

Transcribes drivers/pci/pci.c ``pci_set_power_state``, ``pci_set_low_power_state``,
``pci_power_up``, ``pci_set_full_power_state``, ``pci_update_current_state`` and
drivers/pci/pci-driver.c ``pci_pm_runtime_suspend``/``resume`` (6.1.192, 6.12.117; 6.8 as
6.1 without the readiness wait of ``pci_power_up``). Message texts are the kernel's.

D3cold: a runtime-suspending device goes to the state ``pci_target_state`` picks, D3cold where its
ACPI companion can cut its power and ``d3cold_allowed`` is set (drivers/pci/pci-acpi.c
``acpi_pci_choose_state``), else D3hot. A PCIe port bound to pcieport follows once every device
below it is suspended and allowed to lose power (drivers/pci/pci.c ``pci_bridge_d3_possible``,
``pci_dev_check_d3cold``; drivers/pci/pcie/portdrv_pci.c allows its runtime PM), into D3cold
where its own companion can cut power, which powers off everything below it (simplified: only
on paths where some port's companion can cut power; elsewhere ports stay in D0). Resuming a device
resumes the ports above first; a port that was in D3cold waits for its secondary bus
(``pci_pm_bridge_power_up_actions``: ``pci_bridge_wait_for_secondary_bus(dev, "resume")``, and
the devices below count as disconnected when the link does not come back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fakesys.hw import link
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
    """__pci_set_power_state (D0, D3hot; D3cold goes through D3hot as the kernel does, and then
    the platform cuts the power whatever the D3hot step returned, when it can: only a function
    whose ACPI companion has power resources; a bridge takes everything below it along)."""
    if dev.current_state == state:
        return 0
    if state == "D0":
        return set_full_power_state(kernel, dev)
    result = set_low_power_state(kernel, dev, "D3hot")
    if state == "D3cold" and dev.platform_d3cold:
        dev.current_state = "D3cold"
        dev.power_removed = True
        _power_off_below(dev)
        return 0
    return result


# --- Runtime PM (drivers/base/power/runtime.c as PCI uses it) ---------------------------------


def runtime_resume(kernel: FakeKernel, dev: PciDev) -> None:
    """rpm_resume (the parent first) and pci_pm_runtime_resume: power up, verify, restore saved
    state; a bridge coming out of D3cold waits for its secondary bus."""
    from fakesys.kernel.link import wait_for_secondary_bus
    from fakesys.kernel.savestate import restore_state

    if dev.runtime_status != "suspended":
        return
    if dev.parent is not None:
        runtime_resume(kernel, dev.parent)
    previous = dev.current_state
    _restore_power(dev)
    if dev.is_bridge and previous == "D3cold":
        for below in _below(dev):
            _restore_power(below)  # the whole hierarchy below comes up with it (D0uninitialized)
        for port in [dev, *_below(dev)]:
            if port.is_bridge:
                link.train(port.device)  # the links come up again, or do not
    power_up(kernel, dev)
    update_current_state(kernel, dev, "D0")
    restore_state(kernel, dev)
    dev.runtime_status = "active"
    if previous == "D3cold" and dev.is_bridge and wait_for_secondary_bus(kernel, dev, "resume"):
        for below in _below(dev):
            below.device.alive = False  # pci_dev_set_disconnected: config reads give all-ones


def target_state(kernel: FakeKernel, dev: PciDev) -> str:
    """pci_target_state for runtime suspend on an ACPI platform: D3cold where the companion can
    cut power and neither no_d3cold nor a cleared d3cold_allowed forbids it, else D3hot (and
    always D3hot for vfio-pci before 5.19, which set D3hot itself)."""
    if dev.driver == "vfio-pci" and not kernel.profile.vfio_idle_runtime_pm:
        return "D3hot"
    return "D3cold" if dev.platform_d3cold and dev.d3cold_allowed else "D3hot"


def runtime_suspend(kernel: FakeKernel, dev: PciDev) -> None:
    """pci_pm_runtime_suspend: an unbound device stays in D0 with its state saved; a bound one
    is saved and put in its target state by pci_finish_runtime_suspend, whose error is ignored.
    The port above may follow (rpm_idle of the parent)."""
    from fakesys.kernel.savestate import save_state

    if not dev.state_saved:
        save_state(kernel, dev)
    if dev.driver is not None:
        set_power_state(kernel, dev, target_state(kernel, dev))
    dev.runtime_status = "suspended"
    if dev.parent is not None and _bridge_may_suspend(kernel, dev.parent):
        runtime_suspend(kernel, dev.parent)


def _below(bridge: PciDev) -> list[PciDev]:
    found: list[PciDev] = []
    pending = list(bridge.children)
    while pending:
        item = pending.pop()
        found.append(item)
        pending.extend(item.children)
    return found


def _power_off_below(bridge: PciDev) -> None:
    """A port in D3cold: everything below it loses its power."""
    for item in _below(bridge):
        item.current_state = "D3cold"
        item.power_removed = True


def _restore_power(dev: PciDev) -> None:
    """Power comes back: the device went through a power cycle (what it does then is its
    behaviours' business: a device that does not survive it stops answering now). Until then
    the rendered tree shows the state it had when the power went (a real sysfs read would
    resume it first, pci_config_pm_runtime_get)."""
    if dev.power_removed:
        dev.power_removed = False
        dev.device.power_cycle()


def _bridge_may_suspend(kernel: FakeKernel, bridge: PciDev) -> bool:
    """A pcieport-bound root or switch port with runtime PM allowed (pci_bridge_d3_possible, not
    ``pcie_port_pm=off``) whose devices below are all suspended and allowed to lose power
    (pci_bridge_d3_update, pci_dev_check_d3cold)."""
    if bridge.driver != "pcieport" or bridge.runtime_status != "active" or not bridge.is_pcie:
        return False
    if not kernel.profile.vfio_idle_runtime_pm and any(child.driver == "vfio-pci" for child in bridge.children):
        return False  # before 5.19 a vfio-pci device in D3hot stayed runtime-active for its parent
    if "pcie_port_pm=off" in kernel.host.kernel.cmdline.split():
        return False
    if not any(item.platform_d3cold for item in bridge.path_from_root()):
        # Simplification: ports suspend (to D3hot) only on paths where the platform can cut
        # power; elsewhere the simulation keeps them in D0, as it always did.
        return False
    children = bridge.children
    return bool(children) and all(child.runtime_status == "suspended" and child.d3cold_allowed for child in children)


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
