"""Scenario steps: each entry of ``steps:`` applied to a running simulated host.

A step is one action, written as a shell user or Proxmox admin would think of it; each maps to
what the real tool does (a sysfs write, ``qm start``...). Failed writes and failed VM starts are
results recorded in the userspace log, not errors of the scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fakesys.userspace.machine import Machine
from harness.pci.address import Bdf
from harness.sysfs import device_file, driver_file, on_host


def _device(text: str) -> str:
    return str(Bdf.parse(text))


def apply_step(machine: Machine, step: Mapping[str, Any]) -> None:
    [(action, value)] = step.items()
    if action == "vm_start":
        machine.vm_start(int(value))
    elif action == "vm_stop":
        machine.vm_stop(int(value))
    elif action == "vm_reset":
        machine.vm_reset(int(value))
    elif action == "write":
        machine.write(value["path"], value["value"])
    elif action == "bind":
        machine.write(on_host(driver_file(value["driver"], "bind")), _device(value["device"]))
    elif action == "unbind":
        device = _device(value)
        machine.write(on_host(device_file(device, "driver/unbind")), device)
    elif action == "driver_override":
        device = _device(value["device"])
        machine.write(on_host(device_file(device, "driver_override")), (value["driver"] or "") + "\n")
    elif action == "reset":
        machine.write(on_host(device_file(_device(value), "reset")), "1")
    elif action == "reset_method":
        machine.write(on_host(device_file(_device(value["device"]), "reset_method")), value["value"])
    elif action == "modprobe":
        machine.kernel.load_module(str(value).replace("-", "_"))
    elif action == "wait":
        machine.wait(float(value))
    elif action == "host_reboot":
        machine.host_reboot()
    else:  # the schema admits no other action
        raise ValueError(f"unknown step {action!r}")
