"""Plain QEMU target: the ``-device vfio-pci,host=...`` arguments, with a ``pcie-root-port`` for
each device on q35 (a PCIe device on q35 belongs behind a root port, not on the root bus).

stdout carries the arguments alone, in a form a shell and a script can consume: one argument per
line (``--format lines``, the default: ``mapfile -t ARGS``, ``xargs -d '\\n'``), or one line of
shell-quoted words (``--format shell``); never a comment or a ``\\`` continuation.

``--guest-address BUS:SLOT`` places the devices: on bus 0, straight on the root bus at that slot;
on another bus, behind a ``pcie-root-port`` (q35; the device at slot 0 of it) or a
``pci-bridge`` (i440fx) named ``vfiolab-busNN`` with chassis NN. QEMU names buses and the guest's
firmware numbers them, so the bus is a name here, as it is a controller index in libvirt.

``rombar`` is written as an integer: QEMU 7.2 (Debian 12) accepts nothing else ("Parameter
'rombar' expects integer", verified), and the 2024 patch series that turns it into on/off/auto
keeps numbers working with a deprecation warning. ID overrides map to ``x-pci-*-id``.
"""

from __future__ import annotations

from harness import paste
from harness.generate.gpu_setup import x_vga
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan, PlannedSlot
from harness.generate.targets import OVERRIDE_PROPERTIES

#: Root ports (and an i440fx bridge) go at 0x1c upwards on the root bus, clear of QEMU's and
#: Proxmox's usual devices.
FIRST_ROOT_PORT_SLOT = 0x1C
#: How the arguments are printed: one per line, or as one line of shell words.
FORMATS = {"lines": "one per line", "shell": "as one line of shell-quoted words"}


def _root_port(port_id: str, index: int, chassis: int) -> list[str]:
    """A ``pcie-root-port`` on pcie.0, eight to a slot from :data:`FIRST_ROOT_PORT_SLOT`."""
    port_slot = FIRST_ROOT_PORT_SLOT + index // 8
    port_function = index % 8
    return [
        "-device",
        f"pcie-root-port,id={port_id},bus=pcie.0,chassis={chassis},port={chassis},"
        f"addr={port_slot:#x}.{port_function:x}" + (",multifunction=on" if port_function == 0 else ""),
    ]


def _placement(plan: Plan, slot_index: int, bridges: set[str]) -> tuple[list[str], str | None, int | None]:
    """(the bus device to add first, the bus the slot's functions go on, their guest slot)."""
    guest = plan.guest_bdf(slot_index, 0)
    if guest is None:
        if not plan.vm.q35:
            return [], None, None
        port_id = f"vfiolab-rp{slot_index}"
        return _root_port(port_id, slot_index, slot_index + 1), port_id, 0
    if guest.bus == 0:
        return [], "pcie.0" if plan.vm.q35 else "pci.0", guest.device
    bus_id = f"vfiolab-bus{guest.bus:02x}"
    if plan.vm.q35:
        return _root_port(bus_id, slot_index, guest.bus), bus_id, 0
    if bus_id in bridges:
        return [], bus_id, guest.device
    bridges.add(bus_id)
    bridge = f"pci-bridge,id={bus_id},bus=pci.0,chassis_nr={guest.bus},addr={FIRST_ROOT_PORT_SLOT:#x}"
    return ["-device", bridge], bus_id, guest.device


def _device(plan: Plan, slot: PlannedSlot, bus: str | None, guest_slot: int | None) -> list[str]:
    arguments = []
    for item in slot.functions:
        properties = [f"vfio-pci,host={item.address}"]
        if bus is not None:
            properties.append(f"bus={bus}")
        if guest_slot is not None:
            properties.append(f"addr={guest_slot:#x}.{item.function.bdf.function:x}")
        if len(slot.functions) > 1 and item is slot.first:
            properties.append("multifunction=on")
        if item.rom_bar is False:
            properties.append("rombar=0")
        if item is slot.first and x_vga(plan, slot):
            properties.append("x-vga=on")
        for key, value in plan.options.id_overrides.items():
            properties.append(f"{OVERRIDE_PROPERTIES[key]}={value.lower()}")
        arguments += ["-device", ",".join(properties)]
    return arguments


def device_arguments(plan: Plan) -> list[list[str]]:
    """One list of ``-device`` arguments per guest device (its root port or bridge first)."""
    groups = []
    bridges: set[str] = set()
    for slot_index, slot in enumerate(plan.slots):
        first, bus, guest_slot = _placement(plan, slot_index, bridges)
        groups.append([*first, *_device(plan, slot, bus, guest_slot)])
    return groups


def format_arguments(arguments: list[str], form: str) -> str:
    if form == "shell":
        return paste.command(*arguments) + "\n"
    return "".join(argument + "\n" for argument in arguments)


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("qemu", notes=[*plan.vm_notes, *plan.notes, *plan.forced_comment()])
    form = plan.options.qemu_format or "lines"
    machine = plan.vm.machine
    arguments = [argument for group in device_arguments(plan) for argument in group]
    guest = plan.guest_bdf(0, 0)
    if guest is not None and guest.bus:
        kind = "root port" if plan.vm.q35 else "bridge"
        output.notes.append(
            f"guest bus {guest.bus:02x} is the {kind} vfiolab-bus{guest.bus:02x} (chassis {guest.bus}): QEMU names "
            "buses and the guest firmware numbers them, as libvirt's bus is a controller index"
        )
    use = (
        'in bash: mapfile -t ARGS < FILE, then qemu-system-x86_64 ... "${ARGS[@]}"'
        if form == "lines"
        else 'in a shell: eval "set -- $(cat FILE)", then qemu-system-x86_64 ... "$@"'
    )
    output.show_file(
        GeneratedFile("qemu-args.txt", format_arguments(arguments, form), how="snippet", description="QEMU arguments"),
        f"arguments for qemu-system-x86_64 -machine {machine} ({plan.vm.firmware} firmware), {FORMATS[form]} ({use})",
    )
    return output
