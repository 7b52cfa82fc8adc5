"""Proxmox VE target: ``hostpciN:`` lines for the VM, the ``qm set`` commands that write them,
and a PCI resource mapping for ``/etc/pve/mapping/pci.cfg`` with its ``pvesh`` command.

Format rules (qemu-server ``PCI.pm``, pve-guest-common ``Mapping/PCI.pm``; checker-and-generator
section 6.1-6.2): host IDs in lowercase hex; the all-functions form ``0000:0b:00`` for a whole
multifunction slot; ``pcie=1`` only on q35; ``rombar=0``; ``romfile`` is a bare file name under
``/usr/share/kvm/``; ID overrides with ``0x``. A mapping's ``path`` carries the domain, ``id`` and
``subsystem-id`` have no ``0x``, and the hostpci line names it as ``mapping=NAME``.

The mapping's ``node`` is the root's host name as Proxmox derives it (or ``--node``), checked
against Proxmox's node-name format; every command is built with :func:`harness.paste.command`.

The VM's configuration is respected: a device it already passes keeps its ``hostpciN`` (the line
is set again with these options), a new one takes the first free index, and what it passes that
the checker fails is a warning. stdout carries the ``hostpciN`` lines alone (the VM's
configuration format, no comments: a ``#`` line there is the VM's description); ``qm set``
writes them, the mapping alternative is on stderr and, with ``--out``, in ``pci.cfg``.
"""

from __future__ import annotations

from harness import paste
from harness.generate.gpu_setup import x_vga
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan, PlannedSlot
from harness.generate.targets import OVERRIDE_PROPERTIES


def _options(plan: Plan, slot: PlannedSlot) -> list[str]:
    options = []
    if plan.vm.q35:
        options.append("pcie=1")
    if slot.rom_bar is False:
        options.append("rombar=0")
    if x_vga(plan, slot):
        options.append("x-vga=1")
    for key in OVERRIDE_PROPERTIES:
        value = plan.options.id_overrides.get(key)
        if value is not None:
            options.append(f"{key}={value.lower()}")
    return options


def _reused_index(plan: Plan, slot: PlannedSlot) -> int | None:
    passed = plan.reused_key(slot)
    if passed is None or not passed.key.startswith("hostpci"):
        return None
    return int(passed.key.removeprefix("hostpci"))


def hostpci_lines(plan: Plan) -> list[tuple[int, str]]:
    """(index, value) of each hostpciN entry: the index that already passes the device, else the
    VM's first free one."""
    taken: set[int] = set()
    lines = []
    for slot in plan.slots:
        index = _reused_index(plan, slot)
        if index is None or index in taken:
            index = plan.vm.free_index("hostpci", taken)
        taken.add(index)
        lines.append((index, ",".join([slot.host_id, *_options(plan, slot)])))
    return lines


def reuse_notes(plan: Plan) -> list[str]:
    """A sentence for each planned device the VM already passes."""
    notes = []
    for slot, (index, value) in zip(plan.slots, hostpci_lines(plan), strict=True):
        passed = plan.reused_key(slot)
        if passed is None or passed.key != f"hostpci{index}":
            continue
        current = plan.vm.settings.get(passed.key, "")
        state = "unchanged" if current == value else f"set again as {value}"
        notes.append(f"{slot.host_id} is already {passed.key} of {plan.vm.label} ({passed.value}): {state}")
    return notes


def mapping_name(slot: PlannedSlot) -> str:
    bdf = slot.first.function.bdf
    return f"pci-{bdf.bus:02x}-{bdf.device:02x}" + (
        "" if slot.whole_slot and len(slot.functions) > 1 else f"-{bdf.function}"
    )


def _mapping(plan: Plan, slot: PlannedSlot, node: str) -> tuple[str, str, str]:
    """(section text, map property string, description) for one slot."""
    function = slot.first.function
    parts = [
        f"id={function.id_text}",
        f"iommugroup={function.iommu_group}" if function.iommu_group is not None else "",
        f"node={node}",
        f"path={slot.host_id}",
    ]
    if function.subsystem_vendor is not None and function.subsystem_device is not None:
        parts.append(f"subsystem-id={function.subsystem_vendor:04x}:{function.subsystem_device:04x}")
    map_value = ",".join(part for part in parts if part)
    description = f"{function.id_text} at {slot.host_id} (vfiolab)"
    section = f"{mapping_name(slot)}\n\tmap {map_value}\n\tdescription {description}\n"
    return section, map_value, description


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("proxmox", notes=[*plan.vm_notes, *plan.notes, *plan.forced_comment()])
    vmid = plan.vm.vmid
    lines = hostpci_lines(plan)
    output.notes += reuse_notes(plan)
    config = f"/etc/pve/qemu-server/{vmid}.conf"
    if plan.vm.has_sections:
        output.notes.append(
            f"{config} has snapshot or pending sections after the current configuration: set the lines with "
            "qm set, never by appending to the file (they would land in the last section)"
        )
    config_text = "\n".join(f"hostpci{index}: {value}" for index, value in lines) + "\n"
    about = f"{plan.vm.machine}, {plan.vm.firmware}; from {plan.vm.source}"
    output.show_file(
        GeneratedFile(config, config_text, how="snippet", description=f"VM {vmid} ({about})"),
        f"the hostpciN lines for VM {vmid} ({about}); qm set writes them into {config}:",
    )
    for index, value in lines:
        output.commands.append(
            (f"write hostpci{index} to VM {vmid}", paste.command("qm", "set", vmid, f"-hostpci{index}", value))
        )
    node, source = plan.node_and_source()
    if source == "assumed":
        output.notes.append(
            f"the root names no host (/etc/hostname): the mapping is for node {node}; give --node NAME for another"
        )
    sections = []
    for slot, (index, value) in zip(plan.slots, lines, strict=True):
        section, map_value, description = _mapping(plan, slot, node)
        sections.append(section)
        name = mapping_name(slot)
        output.commands.append(
            (
                f"or, as a resource mapping (cluster-wide, checked against the hardware at each start): create {name}",
                paste.command(
                    "pvesh",
                    "create",
                    "/cluster/mapping/pci",
                    "--id",
                    name,
                    "--map",
                    map_value,
                    "--description",
                    description,
                ),
            )
        )
        mapped = ",".join([f"mapping={name}", *value.split(",")[1:]])
        output.commands.append(
            (f"and use it as hostpci{index}", paste.command("qm", "set", vmid, f"-hostpci{index}", mapped))
        )
    output.files.append(
        GeneratedFile(
            "/etc/pve/mapping/pci.cfg",
            "\n".join(sections),
            how="append",
            description="resource mapping entries (pvesh create /cluster/mapping/pci writes them)",
        )
    )
    return output
