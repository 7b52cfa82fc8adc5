"""A PCI function's ACPI companion as sysfs shows it (``firmware_node``), for a function whose
host description gives it power resources: what the power check reads to tell whether the
platform can cut a device's power.

Formats from Linux 6.1.192 (Debian linux-source-6.1):

- drivers/acpi/scan.c: companions are named ``%s:%02x`` by bus id and instance (``device:1c``;
  power resources ``LNXPOWER:05``) below the host bridge's ``PNP0A08:00``;
  ``acpi_bus_get_power_flags`` marks D3cold valid only when the D0 and D3hot lists of power
  resources (``_PR0``, ``_PR3``) are both populated.
- drivers/acpi/power.c: each populated list is a directory ``power_resources_D0`` ...
  ``power_resources_D3hot`` of links to the resources; a resource shows ``resource_in_use``
  (``%u``).
- drivers/acpi/device_sysfs.c: ``adr`` (``0x%08llx``), and for a power-manageable companion
  ``power_state`` and, with power resources, ``real_power_state`` (``acpi_power_state_string``:
  ``D0`` ``D1`` ``D2`` ``D3hot`` ``D3cold``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fakesys.kernel.pcidev import PciDev

#: Where the companions of devices below the first host bridge live.
HOST_BRIDGE_NODE = "sys/devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A08:00"


@dataclass(frozen=True)
class Companion:
    """The companion's directory, its files (name -> text) and its links (name -> target)."""

    path: str
    files: dict[str, str]
    links: dict[str, str]


def acpi_state(dev: PciDev) -> tuple[str, str]:
    """(power_state, real_power_state): the state last set and what the power resources show."""
    if dev.current_state == "D3cold":
        return "D3cold", "D3cold"
    if dev.current_state == "D3hot":
        return "D3hot", "D0"
    return "D0", "D0"


def companion(dev: PciDev, instance: int) -> Companion | None:
    """The companion of a function with power resources, else None (no companion rendered)."""
    if not dev.platform_d3cold:
        return None
    path = f"{HOST_BRIDGE_NODE}/device:{instance:02x}"
    resource = f"{HOST_BRIDGE_NODE}/LNXPOWER:{instance:02x}"
    power_state, real_state = acpi_state(dev)
    files = {
        f"{path}/adr": f"0x{(dev.bdf.device << 16) | dev.bdf.function:08x}",
        f"{path}/power_state": power_state,
        f"{path}/real_power_state": real_state,
        f"{resource}/resource_in_use": "0" if real_state == "D3cold" else "1",
    }
    name = resource.rsplit("/", 1)[1]
    links = {
        f"{path}/power_resources_D0/{name}": resource,
        f"{path}/power_resources_D3hot/{name}": resource,
    }
    return Companion(path, files, links)
