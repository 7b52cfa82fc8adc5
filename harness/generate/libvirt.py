"""libvirt target: ``<hostdev mode='subsystem' type='pci' managed='yes'>`` elements with the vfio
driver, the ROM BAR setting and, when asked, a guest address and guest-visible ID overrides
(through the QEMU namespace: ``<qemu:override>`` on the device's user alias, libvirt 8.2 and
later; libvirt's test driver drops it silently).

What stdout carries:

* one ``<hostdev>`` element, for ``virsh attach-device DOMAIN FILE --config`` (which takes one
  device per call): several guest functions, or ID overrides (a ``<qemu:override>`` of the domain
  besides), are several files and need ``--out DIR`` (or ``--domain-xml``);
* with ``--domain-xml``, one domain document: the ``--domain FILE`` document with the elements
  added and every other byte unchanged, or, for a Proxmox VM (or an assumed one), a minimal
  domain with the VM's machine type, firmware, memory and vCPUs.

A device the ``--domain`` document already passes is not added again (libvirt refuses a second
``<hostdev>`` with the same source: "Hostdev already exists in the domain configuration").

Syntax traps (checker-and-generator section 6.3): ``<rom bar>`` takes only on/off and ``file``
must be absolute. Elements and attributes are built with :mod:`xml.etree.ElementTree`, which
escapes them; the comment lines are made safe by :func:`xml_comment` (XML forbids ``--`` inside a
comment and control characters anywhere).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness import paste
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan, PlannedFunction
from harness.generate.targets import OVERRIDE_PROPERTIES
from harness.pci.address import Bdf

QEMU_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0"
#: What stands for a domain name that cannot go into a command.
DOMAIN_PLACEHOLDER = "DOMAIN"
#: libvirt's PCI controller model for a guest bus other than 0 (its ``index`` is the bus).
_BUS_CONTROLLER = {True: "pcie-root-port", False: "pci-bridge"}


def _address(parent: ET.Element, bdf: Bdf, **extra: str) -> ET.Element:
    return ET.SubElement(
        parent,
        "address",
        {
            **extra,
            "domain": f"0x{bdf.domain:04x}",
            "bus": f"0x{bdf.bus:02x}",
            "slot": f"0x{bdf.device:02x}",
            "function": f"0x{bdf.function:x}",
        },
    )


def _already_in_domain(plan: Plan, item: PlannedFunction) -> bool:
    return plan.vm.kind == "libvirt" and item.function.bdf in plan.passed_by


def hostdevs(plan: Plan) -> list[tuple[PlannedFunction, ET.Element]]:
    """Each planned function the domain does not pass yet, with its ``<hostdev>``."""
    elements: list[tuple[PlannedFunction, ET.Element]] = []
    for slot_index, slot in enumerate(plan.slots):
        for item in slot.functions:
            if _already_in_domain(plan, item):
                continue
            hostdev = ET.Element("hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
            ET.SubElement(hostdev, "driver", {"name": "vfio"})
            source = ET.SubElement(hostdev, "source")
            _address(source, item.function.bdf)
            if item.rom_bar is False:
                ET.SubElement(hostdev, "rom", {"bar": "off"})
            if plan.options.id_overrides:
                ET.SubElement(hostdev, "alias", {"name": f"ua-hostdev{len(elements)}"})
            guest = plan.guest_bdf(slot_index, item.function.bdf.function)
            if guest is not None:
                extra = {"type": "pci"}
                if len(slot.functions) > 1 and item is slot.first:
                    extra["multifunction"] = "on"
                _address(hostdev, guest, **extra)
            elements.append((item, hostdev))
    return elements


def _override(plan: Plan, count: int) -> ET.Element | None:
    if not plan.options.id_overrides or not count:
        return None
    ET.register_namespace("qemu", QEMU_NAMESPACE)
    override = ET.Element(f"{{{QEMU_NAMESPACE}}}override")
    for index in range(count):
        device = ET.SubElement(override, f"{{{QEMU_NAMESPACE}}}device", {"alias": f"ua-hostdev{index}"})
        frontend = ET.SubElement(device, f"{{{QEMU_NAMESPACE}}}frontend")
        for key, value in plan.options.id_overrides.items():
            ET.SubElement(
                frontend,
                f"{{{QEMU_NAMESPACE}}}property",
                {"name": OVERRIDE_PROPERTIES[key], "type": "unsigned", "value": str(int(value, 16))},
            )
    return override


def xml_comment(text: str) -> str:
    """``<!-- text -->`` for any text: control characters escaped, no ``--`` inside and no ``-``
    at the end (XML 1.0 section 2.5)."""
    body = paste.printable(text)
    while "--" in body:
        body = body.replace("--", "- -")
    if body.endswith("-"):
        body += " "
    return f"<!-- {body} -->"


def _text(element: ET.Element, level: int = 0) -> str:
    """The element as XML, indented two spaces a level, each line starting at ``level``."""
    ET.indent(element, "  ")
    text = ET.tostring(element, encoding="unicode")
    return "".join("  " * level + line + "\n" for line in text.splitlines())


def _comments(plan: Plan, level: int = 0) -> str:
    lines = [line.replace("(--force)", "(force option)") for line in plan.vm_header()]
    return "".join("  " * level + xml_comment(line) + "\n" for line in lines)


def _guest_buses(plan: Plan) -> list[int]:
    buses = []
    for index in range(len(plan.slots)):
        guest = plan.guest_bdf(index, 0)
        if guest is not None and guest.bus and guest.bus not in buses:
            buses.append(guest.bus)
    return buses


def _bus_controllers(plan: Plan) -> list[ET.Element]:
    """``<controller type='pci'>`` for each guest bus the devices go on (libvirt's bus number is
    a controller's index) that the VM does not have."""
    model = _BUS_CONTROLLER[plan.vm.q35]
    return [
        ET.Element("controller", {"type": "pci", "index": str(bus), "model": model})
        for bus in _guest_buses(plan)
        if bus not in plan.vm.pci_controllers
    ]


def domain(plan: Plan, elements: list[ET.Element]) -> ET.Element:
    """A minimal domain for the VM: its name, memory, vCPUs, machine type and firmware."""
    ET.register_namespace("qemu", QEMU_NAMESPACE)
    vm = plan.vm
    root = ET.Element("domain", {"type": "kvm"})
    ET.SubElement(root, "name").text = vm.name or f"vm{vm.vmid}"
    ET.SubElement(root, "memory", {"unit": "MiB"}).text = str(vm.memory_mib)
    vcpu = ET.SubElement(root, "vcpu", {"current": str(vm.current_vcpus)} if vm.current_vcpus else {})
    vcpu.text = str(vm.vcpus)
    os_attributes = {"firmware": "efi"} if vm.firmware == "ovmf" else {}
    os_element = ET.SubElement(root, "os", os_attributes)
    ET.SubElement(os_element, "type", {"arch": "x86_64", "machine": vm.machine}).text = "hvm"
    cpu = ET.SubElement(root, "cpu")
    ET.SubElement(cpu, "topology", {"sockets": str(vm.sockets), "dies": "1", "cores": str(vm.cores), "threads": "1"})
    devices = ET.SubElement(root, "devices")
    devices.extend(_bus_controllers(plan))
    devices.extend(elements)
    override = _override(plan, len(elements))
    if override is not None:
        root.append(override)
    return root


def _summary(plan: Plan) -> str:
    vm = plan.vm
    vcpus = f"{vm.vcpus} vCPUs" + (f" ({vm.current_vcpus} online)" if vm.current_vcpus else "")
    return f"{vm.machine}, {vm.firmware}, {vm.memory_mib} MiB, {vcpus}; from {vm.source}"


def _domain_document(plan: Plan, output: GeneratedOutput, elements: list[ET.Element]) -> None:
    document = plan.options.domain
    vm = plan.vm
    if document is not None:
        added = _comments(plan, 2) if elements else ""
        added += "".join(_text(element, 2) for element in [*_bus_controllers(plan), *elements])
        override = _override(plan, len(elements))
        content = document.with_additions(added, _text(override, 1) if override is not None else "")
        path = "domain.xml"
        about = f"{vm.label} from {document.shown}, with the <hostdev> elements added ({_summary(plan)})"
    else:
        content = _comments(plan) + _text(domain(plan, elements))
        path, about = f"vm{vm.vmid}.xml", f"a minimal libvirt domain for VM {vm.vmid} ({_summary(plan)})"
        output.notes += [f"{sentence}" for sentence in vm.defaults]
    output.show_file(GeneratedFile(path, content, description=about), f"{about}; define it:")
    output.commands.append((f"with it saved as {path}", paste.command("virsh", "define", path)))


def _file_name(item: PlannedFunction) -> str:
    bdf = item.function.bdf
    return f"hostdev-{bdf.domain:04x}-{bdf.bus:02x}-{bdf.device:02x}-{bdf.function}.xml"


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("libvirt", notes=[*plan.vm_notes, *plan.notes, *plan.forced_comment()])
    pairs = hostdevs(plan)
    output.notes += [
        f"{item.address} is already passed by {plan.vm.label} ({plan.passed_by[item.function.bdf].key}): "
        "not added again"
        for item in plan.functions
        if _already_in_domain(plan, item)
    ]
    if plan.vm.kind == "libvirt":
        output.notes += [
            f"{plan.vm.label} has no PCI controller with index {bus} (libvirt's bus number): add "
            f"<controller type='pci' index='{bus}' model='{_BUS_CONTROLLER[plan.vm.q35]}'/> to it"
            for bus in _guest_buses(plan)
            if bus not in plan.vm.pci_controllers and not plan.options.domain_xml
        ]
    elements = [element for _, element in pairs]
    if plan.options.domain_xml:
        _domain_document(plan, output, elements)
        return output
    name = plan.vm.name or (DOMAIN_PLACEHOLDER if plan.vm.kind == "libvirt" else f"vm{plan.vm.vmid}")
    for item, element in pairs:
        path = _file_name(item)
        content = _comments(plan) + _text(element)
        output.files.append(GeneratedFile(path, content, how="snippet", description=f"<hostdev> of {item.address}"))
        output.commands.append(
            (
                f"with it saved as {path}: add {item.address} to the domain's configuration (from its next start)",
                paste.command("virsh", "attach-device", name, path, "--config"),
            )
        )
    override = _override(plan, len(elements))
    if override is not None:
        output.files.append(
            GeneratedFile(
                "qemu-override.xml",
                _text(override),
                how="snippet",
                description="inside <domain>, whose root element needs "
                f"xmlns:qemu='{QEMU_NAMESPACE}' (libvirt 8.2 or later)",
            )
        )
        output.commands.append(("paste qemu-override.xml inside <domain>", paste.command("virsh", "edit", name)))
    output.single_hint = "--domain-xml for one domain document"
    if len(output.files) == 1:
        output.stdout = output.files[0].content
        output.stdout_about = f"a <hostdev> element for the <devices> of {plan.vm.label} ({_summary(plan)}):"
    elif not output.files:
        output.stdout = ""
        output.stdout_about = f"nothing: {plan.vm.label} already passes every device"
    return output
