"""libvirt target: ``<hostdev mode='subsystem' type='pci' managed='yes'>`` elements with the vfio
driver, the ROM BAR setting and, when asked, a guest address and guest-visible ID overrides
(through the QEMU namespace: ``<qemu:override>`` on the device's user alias, libvirt 8.2 and
later; libvirt's test driver drops it silently). ``--domain-xml`` wraps them in a minimal
``<domain>`` for testing, with the VM's machine type and firmware.

Syntax traps (checker-and-generator section 6.3): ``<rom bar>`` takes only on/off and ``file``
must be absolute.

Elements and attributes are built with :mod:`xml.etree.ElementTree`, which escapes them; the
comment lines are made safe by :func:`xml_comment` (XML forbids ``--`` inside a comment and
control characters anywhere).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness import paste
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import OVERRIDE_PROPERTIES, Plan
from harness.pci.address import Bdf

QEMU_NAMESPACE = "http://libvirt.org/schemas/domain/qemu/1.0"


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


def hostdevs(plan: Plan) -> list[ET.Element]:
    elements = []
    counter = 0
    for slot_index, slot in enumerate(plan.slots):
        for item in slot.functions:
            hostdev = ET.Element("hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
            ET.SubElement(hostdev, "driver", {"name": "vfio"})
            source = ET.SubElement(hostdev, "source")
            _address(source, item.function.bdf)
            if item.rom_bar is False:
                ET.SubElement(hostdev, "rom", {"bar": "off"})
            if plan.options.id_overrides:
                ET.SubElement(hostdev, "alias", {"name": f"ua-hostdev{counter}"})
            guest = plan.guest_bdf(slot_index, item.function.bdf.function)
            if guest is not None:
                extra = {"type": "pci"}
                if len(slot.functions) > 1 and item is slot.first:
                    extra["multifunction"] = "on"
                _address(hostdev, guest, **extra)
            elements.append(hostdev)
            counter += 1
    return elements


def _override(plan: Plan, count: int) -> ET.Element | None:
    if not plan.options.id_overrides:
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


def _text(element: ET.Element) -> str:
    ET.indent(element, "  ")
    return ET.tostring(element, encoding="unicode")


def domain(plan: Plan) -> ET.Element:
    ET.register_namespace("qemu", QEMU_NAMESPACE)
    root = ET.Element("domain", {"type": "kvm"})
    ET.SubElement(root, "name").text = plan.vm.name or f"vm{plan.vm.vmid}"
    ET.SubElement(root, "memory", {"unit": "MiB"}).text = "2048"
    ET.SubElement(root, "vcpu").text = "2"
    os_attributes = {"firmware": "efi"} if plan.vm.firmware == "ovmf" else {}
    os_element = ET.SubElement(root, "os", os_attributes)
    machine = "q35" if plan.vm.q35 else "pc"
    ET.SubElement(os_element, "type", {"arch": "x86_64", "machine": machine}).text = "hvm"
    devices = ET.SubElement(root, "devices")
    elements = hostdevs(plan)
    devices.extend(elements)
    override = _override(plan, len(elements))
    if override is not None:
        root.append(override)
    return root


def generate(plan: Plan) -> GeneratedOutput:
    output = GeneratedOutput("libvirt", notes=[*plan.notes, *plan.forced_comment()])
    comment = "".join(xml_comment(line.replace("(--force)", "(force option)")) + "\n" for line in plan.header())
    if plan.options.domain_xml:
        output.files.append(
            GeneratedFile(f"vm{plan.vm.vmid}.xml", comment + _text(domain(plan)) + "\n", description="minimal domain")
        )
        output.commands.append(("define it", paste.command("virsh", "define", f"vm{plan.vm.vmid}.xml")))
        return output
    elements = hostdevs(plan)
    snippet = comment + "\n".join(_text(element) for element in elements) + "\n"
    output.files.append(
        GeneratedFile("hostdev.xml", snippet, how="snippet", description="inside <devices> of the domain (virsh edit)")
    )
    override = _override(plan, len(elements))
    if override is not None:
        output.files.append(
            GeneratedFile(
                "qemu-override.xml",
                _text(override) + "\n",
                how="snippet",
                description="inside <domain>, whose root element needs "
                f"xmlns:qemu='{QEMU_NAMESPACE}' (libvirt 8.2 or later)",
            )
        )
    name = plan.vm.name or f"vm{plan.vm.vmid}"
    output.commands.append(("paste hostdev.xml inside <devices> of the domain", paste.command("virsh", "edit", name)))
    return output
