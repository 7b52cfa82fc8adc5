"""Kernel version profiles: what differs between the kernels vfiolab simulates.

A :class:`KernelProfile` answers version questions, and the code paths of the simulated PCI core
branch on them where the real kernels' control flow differs. The quirk tables in
:mod:`fakesys.kernel.quirks` carry their own per-profile applicability.

Sources: Debian linux-source 6.1.192 and 6.12.117 (read directly); for 6.8, the v6.6-v6.8
``drivers/pci/pci.c`` text and the pre-images of the fixes that landed for v6.12-rc1
(8037ac08c2bb, f68dea13405c, 712e49c96706, 59100eb248c0) and v6.10 (73cb3a35f94d), which the
Proxmox VE 8 kernels of 2024 did not carry yet. 5.10 follows 6.1 except where named.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RetrainQuirk(StrEnum):
    """Which ``pcie_failed_link_retrain`` a kernel has (drivers/pci/quirks.c)."""

    NONE = "none"  # 6.1: no link-retrain quirk at all
    BOOL = "bool"  # v6.5-v6.11: returns bool, true even when nothing was retrained
    ERRNO = "errno"  # 59100eb248c0 and later: returns 0 or an error code, reverts the speed


@dataclass(frozen=True)
class KernelProfile:
    name: str
    description: str
    #: ``reset_method`` appeared in 5.15 (drivers/pci/pci-sysfs.c, "PCI: Add reset_method").
    has_reset_method: bool
    #: ``cxl_bus`` is in 6.12.117's pci_reset_fn_methods[], not in 6.1.192 nor the 6.8-era pci.c.
    reset_method_names: tuple[str, ...]
    #: pci_device_remove() setting PCI_UNKNOWN for a device left in D0: present in upstream
    #: v6.8 and earlier, gone from Debian's 6.1.192 and 6.12.117 (drivers/pci/pci-driver.c),
    #: where only never-bound devices read ``unknown`` (probe.c pci_setup_device).
    unknown_after_remove: bool
    #: CONFIG_HZ: msleep() rounds to jiffies. Debian builds use 250; the Proxmox/Ubuntu 6.8
    #: kernels 1000 (the reference journal's sleep lengths only fit 1000).
    hz: int
    retrain_quirk: RetrainQuirk
    #: pci_dev_wait() tries pcie_failed_link_retrain() once past PCI_RESET_WAIT (v6.5 on).
    dev_wait_retrains: bool
    #: pci_bridge_wait_for_secondary_bus() on a >5 GT/s port prints "... not set in %d msec"
    #: with the delay (6.12) or the hard-coded "1000 msec" (6.1, 6.8).
    dll_message_uses_delay: bool
    #: The <=5 GT/s path gives up after PCI_RESET_WAIT - delay and needs DLLLA to go on (v6.5 on);
    #: 6.1 polls the device for the whole PCIE_RESET_READY_POLL_MS.
    short_first_wait: bool
    #: pci_reset_function() and vfio-pci's release-time reset lock the upstream bridge too
    #: (6.12.117 drivers/pci/pci.c pci_dev_lock of dev->bus->self), so their bus reset does not
    #: print "unlocked secondary bus reset".
    locks_bridge_on_reset: bool
    #: pci_dev_save_and_disable() checks the device answers ("Device config space inaccessible").
    config_accessible_check: bool
    #: pci_bridge_secondary_bus_reset() warns once about a reset without the bridge locked.
    warns_unlocked_bus_reset: bool
    #: pci_power_up() waits for readiness after D3hot->D0 with No_Soft_Reset clear
    #: ("power up D3hot->D0uninitialized"), a stable backport in Debian's 6.1 and 6.12.
    power_up_waits: bool
    #: pci_set_low_power_state() returns early when already in the target state.
    low_power_same_state_check: bool
    #: What ``%pS`` of pci_bridge_secondary_bus_reset's return address prints for a bus reset
    #: by __pci_reset_function_locked (pci_reset_bus_function and pci_parent_bus_reset end in
    #: tail calls, so the return address is in __pci_reset_function_locked); symbol+offset/size
    #: are those of the profile's build (Debian 6.12.117+deb12-amd64, seen in a live guest).
    function_reset_return_address: str = "__pci_reset_function_locked"
    #: pci_setup_device appends pci_type_str to "[vvvv:dddd] type %02x class %#08x"
    #: ("PCI: Log device type during enumeration", v6.8; drivers/pci/probe.c).
    logs_device_type: bool = False
    #: msleep() arms its timer msecs_to_jiffies(m) + 1 jiffies ahead (kernel/time/timer.c in
    #: 6.1.192 and before); 6.12.117 dropped the extra jiffy.
    msleep_adds_jiffy: bool = True
    #: vfio-pci idles unused devices through runtime PM, so the platform may cut their power and
    #: the ports above may suspend too (commit 7ab5e10eda02, 5.19); before it vfio-pci set D3hot
    #: itself (pci_set_power_state) and nothing went to D3cold.
    vfio_idle_runtime_pm: bool = True
    #: drivers/base/dd.c ``call_driver_probe`` logs a failed probe with dev_err "probe with
    #: driver %s failed with error %d" (32de4b4f9dfa "driver: core: Log probe failure as error and
    #: with device metadata", v6.9; 6.12.118 line 655); before it pr_warn "%s: probe of %s failed
    #: with error %d" (6.1.192 line 575).
    probe_failure_dev_err: bool = False


_BASE_METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm", "bus")

PROFILES: dict[str, KernelProfile] = {
    "5.10": KernelProfile(
        "5.10",
        "Linux 5.10 (Debian 11): no reset_method file",
        has_reset_method=False,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=True,
        hz=250,
        retrain_quirk=RetrainQuirk.NONE,
        dev_wait_retrains=False,
        dll_message_uses_delay=False,
        short_first_wait=False,
        locks_bridge_on_reset=False,
        config_accessible_check=False,
        warns_unlocked_bus_reset=False,
        power_up_waits=False,
        low_power_same_state_check=False,
        vfio_idle_runtime_pm=False,
    ),
    "6.1": KernelProfile(
        "6.1",
        "Debian 12 linux 6.1.192",
        has_reset_method=True,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=False,
        hz=250,
        retrain_quirk=RetrainQuirk.NONE,
        dev_wait_retrains=False,
        dll_message_uses_delay=False,
        short_first_wait=False,
        locks_bridge_on_reset=False,
        config_accessible_check=False,
        warns_unlocked_bus_reset=False,
        power_up_waits=True,
        low_power_same_state_check=False,
    ),
    "6.8": KernelProfile(
        "6.8",
        "Proxmox VE 8 kernel 6.8 (before upstream 59100eb248c0)",
        has_reset_method=True,
        reset_method_names=_BASE_METHODS,
        unknown_after_remove=True,
        hz=1000,
        retrain_quirk=RetrainQuirk.BOOL,
        dev_wait_retrains=True,
        dll_message_uses_delay=False,
        short_first_wait=True,
        locks_bridge_on_reset=False,
        config_accessible_check=False,
        warns_unlocked_bus_reset=False,
        power_up_waits=False,
        low_power_same_state_check=False,
        logs_device_type=True,
    ),
    "6.12": KernelProfile(
        "6.12",
        "Debian 12 linux 6.12.117 (bookworm-security)",
        has_reset_method=True,
        reset_method_names=(*_BASE_METHODS, "cxl_bus"),
        unknown_after_remove=False,
        hz=250,
        retrain_quirk=RetrainQuirk.ERRNO,
        dev_wait_retrains=True,
        dll_message_uses_delay=True,
        short_first_wait=True,
        locks_bridge_on_reset=True,
        config_accessible_check=True,
        warns_unlocked_bus_reset=True,
        power_up_waits=True,
        low_power_same_state_check=True,
        logs_device_type=True,
        msleep_adds_jiffy=False,
        probe_failure_dev_err=True,
        function_reset_return_address="__pci_reset_function_locked+0x41/0x70",
    ),
}


def get_profile(name: str) -> KernelProfile:
    return PROFILES[name]
