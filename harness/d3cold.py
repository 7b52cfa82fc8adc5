"""Whether the platform can cut an idle device's power (D3cold), as a root's sysfs shows it: the
power-resource facts the power check's D3cold prediction reads, and nothing about verdicts.

Kernel facts (Linux 6.1.192 and 6.12.118, Debian's linux-source packages):

- **The device's own D3cold.** ``pci_target_state`` (drivers/pci/pci.c) asks the platform;
  ``acpi_pci_choose_state`` (drivers/pci/pci-acpi.c) allows ACPI D3cold only when neither
  ``no_d3cold`` (set by ``pci_d3cold_disable``, i.e. by quirks) nor a cleared ``d3cold_allowed``
  (sysfs, ``d3cold_allowed_store`` in drivers/pci/pci-sysfs.c, ``%u``) forbids it. ACPI marks
  D3cold valid for a device only when its companion lists power resources for D0 (``_PR0``)
  and for D3hot (``_PR3``) (drivers/acpi/scan.c ``acpi_bus_get_power_flags``); sysfs shows
  them as the non-empty directories ``firmware_node/power_resources_D0`` and
  ``firmware_node/power_resources_D3hot`` (drivers/acpi/power.c ``attr_groups``), and such a
  companion also has ``power_state`` and ``real_power_state`` (drivers/acpi/device_sysfs.c,
  ``D0``/``D3hot``/``D3cold`` as ``acpi_power_state_string`` prints them).
- **A bridge above it.** A port that goes to D3cold takes the power of everything below it. A
  port runtime-suspends only when ``pci_bridge_d3_possible`` holds (PCIe root or switch port;
  not with ``pcie_port_pm=off``; a hotplug port only when the firmware says so, which sysfs does
  not show; not on a ``bridge_d3_blacklist`` board (:data:`BRIDGE_D3_BLACKLIST`); else firmware
  from 2015 or later) and
  ``pci_bridge_d3_update`` finds every device below it allowed to go to D3cold
  (``pci_dev_check_d3cold``: ``d3cold_allowed`` set, no ``no_d3cold``, power-manageable, so not
  ``PCI_DEV_FLAGS_NO_D3``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.bootconfig import find_args, split_kernel_args
from harness.findings import Evidence
from harness.sysfs import HostView, PciFunction, device_file

#: The ACPI companion's power-resource lists that make D3cold valid (drivers/acpi/scan.c).
POWER_RESOURCE_LISTS = ("power_resources_D0", "power_resources_D3hot")
#: ``pci_bridge_d3_possible``: PCIe ports from firmware of this year or later may go to D3.
BRIDGE_D3_BIOS_YEAR = 2015
_YEAR = re.compile(r"(?:^|/)(\d{4})\s*$")


@dataclass
class Reach:
    """What a root shows of whether a device, or a port above it, can lose its power when idle."""

    #: The function (the device itself, or a port above it) whose companion can cut power, if any.
    cut_at: PciFunction | None = None
    #: Why D3cold cannot happen (a sentence), when the root shows that it cannot.
    impossible: str | None = None
    #: What the root does not show that the answer needs (sentences).
    unknown: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    #: Whether any function on the path has an ACPI companion (firmware_node) at all.
    companions: bool = False

    @property
    def possible(self) -> bool:
        return self.cut_at is not None and self.impossible is None


def can_cut_power(view: HostView, function: PciFunction) -> bool:
    """The function's ACPI companion lists power resources for D0 and for D3hot."""
    node = device_file(function.name, "firmware_node")
    return all(view.listdir(f"{node}/{name}") for name in POWER_RESOURCE_LISTS)


#: drivers/pci/pci.c ``bridge_d3_blacklist`` (6.1.192 and 6.12.118): boards whose ports the kernel
#: never puts in D3, as (board_vendor, board_name, board_version or None).
BRIDGE_D3_BLACKLIST = (
    ("Gigabyte Technology Co., Ltd.", "X299 DESIGNARE EX-CF", None),
    ("Elo Touch Solutions", "Geminilake", "Continental Z2"),
    ("Hewlett-Packard", "1972", "95.33"),
)


def _dmi(view: HostView, name: str) -> str | None:
    text = view.read_text(f"sys/class/dmi/id/{name}")
    return text.strip() if text is not None else None


def bios_year(view: HostView) -> int | None:
    """``dmi_get_bios_year``: the year of ``bios_date`` (``MM/DD/YYYY``), None when unreadable."""
    match = _YEAR.search(_dmi(view, "bios_date") or "")
    return int(match.group(1)) if match else None


def blacklisted_board(view: HostView) -> bool:
    """The board is in ``bridge_d3_blacklist`` (DMI_MATCH is a substring match)."""
    found = (_dmi(view, "board_vendor"), _dmi(view, "board_name"), _dmi(view, "board_version"))
    return any(
        all(want is None or (have is not None and want in have) for want, have in zip(entry, found, strict=True))
        for entry in BRIDGE_D3_BLACKLIST
    )


def _port_pm_off(view: HostView) -> bool:
    args = split_kernel_args(view.cmdline) if view.cmdline is not None else []
    return any(arg.value == "off" for arg in find_args(args, "pcie_port_pm"))


@dataclass(frozen=True)
class _FunctionFacts:
    """What one function's ACPI companion shows about its power, read once per view: every
    device below a port walks through that port's facts."""

    companion: bool
    cut: bool
    real_power_state: str | None


@dataclass(frozen=True)
class _BridgeFacts:
    """``pci_bridge_d3_possible`` for one port as far as sysfs shows it (see
    :func:`_bridge_may_suspend`), judged once per view."""

    may_suspend: bool
    impossible: str | None
    unknown: tuple[str, ...]


@dataclass
class _Facts:
    """The per-view cache (``HostView.derived``): the command line and DMI facts every port
    needs, and each function's and port's facts."""

    port_pm_off: bool
    blacklisted: bool
    bios_year: int | None
    functions: dict[str, _FunctionFacts] = field(default_factory=dict)
    bridges: dict[str, _BridgeFacts] = field(default_factory=dict)


def _facts(view: HostView) -> _Facts:
    found = view.derived.get(__name__)
    if isinstance(found, _Facts):
        return found
    facts = _Facts(_port_pm_off(view), blacklisted_board(view), bios_year(view))
    view.derived[__name__] = facts
    return facts


def _strip(text: str | None) -> str | None:
    return text.strip() if text is not None else None


def _function_facts(view: HostView, function: PciFunction) -> _FunctionFacts:
    cache = _facts(view).functions
    found = cache.get(function.name)
    if found is None:
        companion = function.has_firmware_node
        cut = companion and can_cut_power(view, function)
        node = device_file(function.name, "firmware_node")
        found = _FunctionFacts(
            companion=companion,
            cut=cut,
            real_power_state=_strip(view.read_text(f"{node}/real_power_state")) if cut else None,
        )
        cache[function.name] = found
    return found


def reach(view: HostView, chain: list[PciFunction], no_d3: set[str]) -> Reach:
    """Whether the platform can cut the power of ``chain[0]`` while it is idle: at its own
    companion, or at a port above it that may runtime-suspend (``chain`` is the device and the
    bridges above it, nearest first; ``no_d3`` the names the judged kernel keeps out of D3 by a
    quirk)."""
    found = Reach()
    device = chain[0]
    for item in chain:
        facts = _function_facts(view, item)
        allowed = item.d3cold_allowed
        if allowed is not None and (item is device or allowed == "0"):
            found.evidence.append(Evidence(view.show(device_file(item.name, "d3cold_allowed")), allowed))
        if item.power_state == "D3cold":
            found.evidence.append(Evidence(view.show(device_file(item.name, "power_state")), "D3cold"))
        if allowed == "0":
            found.impossible = (
                f"d3cold_allowed is 0 for {item.bdf.short}"
                + ("" if item is device else ", which also keeps every port above it out of D3")
                + " (drivers/pci/pci-acpi.c acpi_pci_choose_state, drivers/pci/pci.c pci_dev_check_d3cold)"
            )
            return found
        if item.name in no_d3:
            found.impossible = f"the kernel keeps {item.bdf.short} out of D3 by a quirk (PCI_DEV_FLAGS_NO_D3)"
            return found
        if allowed is None:
            found.unknown.append(f"the root has no d3cold_allowed for {item.bdf.short}")
        if item is not device and not _bridge_may_suspend(view, item, found):
            return found
        if facts.companion:
            found.companions = True
            if facts.cut:
                found.cut_at = item
                node = device_file(item.name, "firmware_node")
                found.evidence.append(
                    Evidence(
                        view.show(f"{node}/power_resources_D3hot"), "listed (ACPI _PR3): the platform can cut its power"
                    )
                )
                if facts.real_power_state is not None:
                    found.evidence.append(Evidence(view.show(f"{node}/real_power_state"), facts.real_power_state))
                return found
    if _function_facts(view, chain[-1]).companion:
        # The root port (or the root-bus device itself) is described by the firmware, and no
        # companion on the path lists power resources: nothing can cut the power.
        found.impossible = (
            "no ACPI companion on its path lists power resources for D3hot (_PR3): nothing cuts its power"
        )
    else:
        found.unknown.append(
            "the root shows no ACPI companion (firmware_node) for it or the ports above it, so whether the platform "
            "can cut their power (ACPI _PR0/_PR3) is not visible"
        )
    return found


def _bridge_may_suspend(view: HostView, bridge: PciFunction, found: Reach) -> bool:
    """``pci_bridge_d3_possible`` as far as sysfs shows it; False (with the reason recorded) when
    the port stays in D0, which protects everything below it."""
    cache = _facts(view).bridges
    facts = cache.get(bridge.name)
    if facts is None:
        facts = cache[bridge.name] = _judge_bridge(view, bridge)
    found.unknown.extend(facts.unknown)
    if facts.impossible is not None:
        found.impossible = facts.impossible
    return facts.may_suspend


def _judge_bridge(view: HostView, bridge: PciFunction) -> _BridgeFacts:
    config = bridge.config
    express = config.express() if config is not None and not config.truncated and not config.dead else None
    if express is None:
        return _BridgeFacts(True, None, (f"the root does not show {bridge.bdf.short}'s PCI Express capability",))
    if express.port_type_name not in ("root_port", "upstream_port", "downstream_port"):
        return _BridgeFacts(False, f"{bridge.bdf.short} is not a PCIe root or switch port: it never goes to D3", ())
    platform = _facts(view)
    if platform.port_pm_off:
        return _BridgeFacts(False, "pcie_port_pm=off is on the kernel command line: PCIe ports stay in D0", ())
    if express.hotplug_capable:
        return _BridgeFacts(
            True,
            None,
            (
                f"{bridge.bdf.short} is a hotplug port, which goes to D3 only when the firmware allows it (not "
                "visible in sysfs)",
            ),
        )
    if platform.blacklisted:
        return _BridgeFacts(
            True,
            None,
            (
                "the board is in the kernel's bridge_d3_blacklist (6.1.192, 6.12.118), which keeps its ports in D0; "
                "whether the judged kernel has its entry is not recorded",
            ),
        )
    year = platform.bios_year
    if year is not None and year < BRIDGE_D3_BIOS_YEAR:
        return _BridgeFacts(
            True,
            None,
            (f"the firmware is from {year}: ports go to D3 only when the firmware allows it (not visible in sysfs)",),
        )
    return _BridgeFacts(True, None, ())
