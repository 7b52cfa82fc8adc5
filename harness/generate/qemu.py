"""Plain QEMU target: the ``-device vfio-pci,host=...`` arguments, with a ``pcie-root-port`` for
each device on q35 (a PCIe device on q35 belongs behind a root port, not on the root bus).

``rombar`` is written as an integer: QEMU 7.2 (Debian 12) accepts nothing else ("Parameter
'rombar' expects integer", verified), and the 2024 patch series that turns it into on/off/auto
keeps numbers working with a deprecation warning. ID overrides map to ``x-pci-*-id``.
"""

from __future__ import annotations

from harness import paste
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import OVERRIDE_PROPERTIES, Plan

#: Root ports go at 0x1c upwards on pcie.0, clear of QEMU's and Proxmox's usual devices.
FIRST_ROOT_PORT_SLOT = 0x1C


def device_arguments(plan: Plan) -> list[list[str]]:
    """One list of ``-device`` arguments per guest device (root port first on q35)."""
    groups = []
    for slot_index, slot in enumerate(plan.slots):
        arguments: list[str] = []
        port_id = f"vfiolab-rp{slot_index}"
        if plan.vm.q35:
            port_slot = FIRST_ROOT_PORT_SLOT + slot_index // 8
            port_function = slot_index % 8
            arguments += [
                "-device",
                f"pcie-root-port,id={port_id},bus=pcie.0,chassis={slot_index + 1},port={slot_index + 1},"
                f"addr={port_slot:#x}.{port_function:x}" + (",multifunction=on" if port_function == 0 else ""),
            ]
        for item in slot.functions:
            properties = [f"vfio-pci,host={item.address}"]
            if plan.vm.q35:
                properties += [f"bus={port_id}", f"addr=0x0.{item.function.bdf.function:x}"]
            else:
                guest = plan.guest_bdf(slot_index, item.function.bdf.function)
                if guest is not None:
                    properties.append(f"addr={guest.device:#x}.{guest.function:x}")
            if len(slot.functions) > 1 and item is slot.first:
                properties.append("multifunction=on")
            if item.rom_bar is False:
                properties.append("rombar=0")
            for key, value in plan.options.id_overrides.items():
                properties.append(f"{OVERRIDE_PROPERTIES[key]}={value.lower()}")
            arguments += ["-device", ",".join(properties)]
        groups.append(arguments)
    return groups


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("qemu", notes=[*plan.notes, *plan.forced_comment()])
    machine = "q35" if plan.vm.q35 else "pc"
    lines = plan.comments()
    lines.append(
        paste.comment(f"add to the qemu-system-x86_64 command line (-machine {machine}, firmware {plan.vm.firmware}):")
    )
    for arguments in device_arguments(plan):
        pairs = [arguments[index : index + 2] for index in range(0, len(arguments), 2)]
        lines += [paste.command(*pair) + " \\" for pair in pairs]
    text = "\n".join(lines).rstrip(" \\") + "\n"
    output.files.append(GeneratedFile("qemu-args.txt", text, how="snippet", description="QEMU arguments"))
    return output
