"""A lab plan: the devices of one lab host, each by address and expected vendor:device IDs, and
the steps to exercise on it. Read through the bounded YAML loader and checked against
``plan.schema.json``; addresses are made canonical here and may appear only once.

Steps:

* ``vm-start``: what a VM start and stop do to the device: vfio-pci opens it (the kernel's
  function reset), QEMU resets it in its order (``VFIO_DEVICE_RESET`` / ``VFIO_DEVICE_PCI_HOT_RESET``)
  and the device is released (the kernel's function reset again);
* ``function-reset``: the kernel's function reset through sysfs (``echo 1 > reset``, what
  Proxmox does before a VM start).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.pci.address import Bdf

STEPS = ("vm-start", "function-reset")
DEFAULT_STEPS = ("vm-start",)


@dataclass(frozen=True)
class PlannedDevice:
    address: str
    vendor: int
    device: int
    name: str
    steps: tuple[str, ...] = DEFAULT_STEPS
    #: Test-only: the prediction the plan imposes instead of the checker's (None: the checker's).
    survives_override: bool | None = None

    @property
    def ids(self) -> str:
        return f"{self.vendor:04x}:{self.device:04x}"


@dataclass(frozen=True)
class Plan:
    name: str
    path: str
    devices: tuple[PlannedDevice, ...] = field(default_factory=tuple)


@cache
def plan_schema() -> dict[str, Any]:
    text = resources.files("harness.lab").joinpath("plan.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def load_plan(path: Path | str) -> Plan:
    """The plan in ``path``; :class:`~harness.errors.InputError` (65) or ``NoInputError`` (66)."""
    # Imported here: the YAML reader and jsonschema are large imports that only reading a plan
    # needs (every ``vfiolab lab`` call imports this module; in a slow guest that shows).
    from harness.scenario.documents import load_checked_yaml

    document = load_checked_yaml(path, plan_schema())
    data = document.data
    devices: list[PlannedDevice] = []
    seen: set[str] = set()
    for index, item in enumerate(data["devices"]):
        address = str(Bdf.parse(item["address"]))
        if address in seen:
            raise document.error(("devices", index, "address"), f"{address} is planned twice; name it once")
        seen.add(address)
        vendor, device = (int(part, 16) for part in item["ids"].split(":"))
        steps = tuple(dict.fromkeys(item.get("steps", DEFAULT_STEPS)))
        override = item.get("predict", {}).get("survives")
        devices.append(PlannedDevice(address, vendor, device, item.get("name", address), steps, override))
    name = data.get("name", Path(path).stem)
    return Plan(name, str(path), tuple(devices))
