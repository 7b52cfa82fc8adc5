"""Proxmox VM configurations (/etc/pve/qemu-server/<vmid>.conf), as far as passthrough needs.

Parses ``key: value`` lines of the current configuration (snapshot sections are skipped) and the
``hostpciN`` property strings of qemu-server's ``PCI.pm`` (``[host=]<id>[;<id>...]``, ``pcie``,
``rombar``, ``romfile``, ``x-vga``, ``mapping=`` is not resolved here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.pci.address import Bdf

_HOSTPCI = re.compile(r"^hostpci(\d+)$")


class VmConfigError(ValueError):
    """A VM configuration the simulation cannot use."""


@dataclass(frozen=True)
class HostPci:
    index: int
    addresses: tuple[str, ...]
    options: dict[str, str]

    @property
    def pcie(self) -> bool:
        return self.options.get("pcie") in ("1", "on", "yes", "true")


@dataclass
class VmConfig:
    vmid: int
    values: dict[str, str] = field(default_factory=dict)
    hostpci: list[HostPci] = field(default_factory=list)

    @property
    def machine(self) -> str:
        return self.values.get("machine", "pc")

    @property
    def is_q35(self) -> bool:
        return "q35" in self.machine


def parse_hostpci(index: int, value: str) -> HostPci:
    parts = [part.strip() for part in value.split(",") if part.strip()]
    options: dict[str, str] = {}
    host = ""
    for position, part in enumerate(parts):
        if "=" in part:
            key, item = part.split("=", 1)
            options[key] = item
            if key == "host":
                host = item
        elif position == 0:
            host = part
        else:
            raise VmConfigError(f"hostpci{index}: cannot parse {part!r}")
    if "mapping" in options and not host:
        raise VmConfigError(
            f"hostpci{index}: mapping={options['mapping']} is not resolved by the simulation; use host="
        )
    if not host:
        raise VmConfigError(f"hostpci{index}: no host= device")
    # Several functions are separated by ";"; "0000:03:00" (no function) means all of a slot.
    return HostPci(index, tuple(host.split(";")), options)


def parse_vm_config(vmid: int, text: str) -> VmConfig:
    config = VmConfig(vmid)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            break  # snapshot sections follow the current configuration
        if not stripped or stripped.startswith("#"):
            continue
        if ":" not in stripped:
            raise VmConfigError(f"line {number}: expected 'key: value', got {stripped!r}")
        key, value = (part.strip() for part in stripped.split(":", 1))
        config.values[key] = value
        match = _HOSTPCI.match(key)
        if match:
            config.hostpci.append(parse_hostpci(int(match[1]), value))
    config.hostpci.sort(key=lambda entry: entry.index)
    return config


def functions_of(address: str, known: list[Bdf]) -> list[Bdf]:
    """A hostpci address: one function, or every function of a slot for the ``0000:03:00`` form."""
    if re.match(r"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}$", address):
        prefix = address if address.count(":") == 2 else f"0000:{address}"
        return [bdf for bdf in known if str(bdf).startswith(prefix.lower() + ".")]
    return [Bdf.parse(address)]
