"""driverctl target: per-address overrides (``driverctl set-override <address> vfio-pci``),
persisted by driverctl in ``/etc/driverctl.d`` and applied by its udev rule when the device
appears.

driverctl acts in the real root, not in the initramfs, so a host driver already in the
initramfs (ahci, nvme) binds first at every boot and driverctl then moves the device: fine for a
NIC, not for disks the host may import before the move. The binding check says the same.
"""

from __future__ import annotations

from harness import paste
from harness.generate.output import GeneratedOutput
from harness.generate.plan import Plan

TIMING = (
    "driverctl applies overrides from its udev rule in the real root, after the initramfs: a storage "
    "controller's host driver binds first at boot and the host may touch its disks before the move; "
    "prefer the modprobe target for those."
)


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput(
        "driverctl",
        notes=[*plan.notes, *plan.forced_comment(), TIMING],
        commands_on_stdout=True,
        stdout_about="driverctl commands, one per line (paste them, or pipe to sh):",
    )
    for item in plan.functions:
        output.commands.append(
            (
                f"{item.address} [{item.function.id_text}] to vfio-pci, now and at every boot",
                paste.command("driverctl", "set-override", item.address, "vfio-pci"),
            )
        )
    output.after_reboot.append(("check (now, and after a reboot)", "driverctl list-overrides"))
    return output
