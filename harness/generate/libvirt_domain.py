"""A libvirt domain XML given with ``--domain FILE`` (``virsh dumpxml NAME > FILE``): read with
bounds, parsed without trusting it, turned into the VM's description
(:class:`~harness.generate.vm.VmInfo`), and kept so that devices can be added to the document
while every other byte of it stays as the user wrote it.

The file is another person's (or a pasted) input, so:

* only a regular file is read (a FIFO, a device or a directory is refused before it is opened
  for reading), or ``-`` for standard input; at most :data:`DOMAIN_FILE_LIMIT` bytes, virsh's own
  limit for an XML file (``VSH_MAX_XML_FILE``, libvirt ``tools/virsh.h``);
* it must be UTF-8 (what ``virsh dumpxml`` writes);
* it is parsed by expat into :mod:`xml.etree.ElementTree`'s tree builder with any document type
  declaration refused: libvirt writes none, and entity declarations are how "billion laughs"
  documents grow (Python's ``xml`` documentation, "XML vulnerabilities");
* numbers are read as libvirt reads them (``virXMLPropUInt`` with base 0 in
  ``src/conf/device_conf.c``: ``0x`` hex, a leading ``0`` octal, else decimal) and bounded.

A document that cannot be read is an :class:`DomainFileError` (exit 66); one that is not a
libvirt domain, or holds what libvirt itself would reject, an
:class:`~harness.errors.InputError` (exit 65), each one line naming the file.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.parsers import expat

from harness import exitcodes, paste
from harness.errors import InputError, VfiolabError
from harness.generate.vm import PassedDevice, VmInfo
from harness.pci.address import Bdf

DOMAIN_FILE_LIMIT = 10 * 1024 * 1024
#: libvirt's scaled-integer units (``docs/formatdomain.rst``, "Memory Allocation"), in bytes.
_UNITS = {
    "b": 1,
    "bytes": 1,
    "KB": 1000,
    "k": 1024,
    "KiB": 1024,
    "MB": 1000**2,
    "M": 1024**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "G": 1024**3,
    "GiB": 1024**3,
    "TB": 1000**4,
    "T": 1024**4,
    "TiB": 1024**4,
}
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]{1,8}|0[0-7]{0,11}|[1-9][0-9]{0,11}")
#: Upper bounds of the fields of a PCI address.
_ADDRESS_LIMITS = {"domain": 0xFFFF, "bus": 0xFF, "slot": 0x1F, "function": 0x7}


class DomainFileError(VfiolabError):
    """The ``--domain`` file cannot be read: missing, unreadable, not a regular file, too large."""

    exit_code = exitcodes.NO_INPUT


@dataclass(frozen=True)
class DomainDocument:
    """The domain file as given, and where devices go into it."""

    #: How messages name the file (printable).
    shown: str
    data: bytes
    #: (start, end) byte offsets of ``<devices>``'s start tag and of its end tag (the end tag's
    #: first byte; for an empty-element tag ``<devices/>`` the byte after it), or None.
    devices: tuple[int, int] | None
    #: Byte offset of ``</domain>``.
    domain_end: int
    vm: VmInfo

    def with_additions(self, devices: str, elements: str) -> str:
        """The document with ``devices`` (XML text) added at the end of ``<devices>`` (which is
        created when missing) and ``elements`` at the end of ``<domain>``; nothing else changes."""
        data = self.data
        edits: list[tuple[int, int, bytes]] = []
        at_end = b""
        if devices:
            block = devices.encode("utf-8")
            if self.devices is None:
                at_end += b"  <devices>\n" + block + b"  </devices>\n"
            else:
                start, end = self.devices
                if data.startswith(b"</devices", end):
                    edits.append((end, end, _before_end_tag(data, end, block)))
                else:
                    edits.append((start, end, b"<devices>\n" + block + b"  </devices>"))
        at_end += elements.encode("utf-8")
        if at_end:
            edits.append((self.domain_end, self.domain_end, _before_end_tag(data, self.domain_end, at_end)))
        for start, end, replacement in sorted(edits, reverse=True):
            data = data[:start] + replacement + data[end:]
        return data.decode("utf-8")


def _before_end_tag(data: bytes, offset: int, block: bytes) -> bytes:
    """``block`` (lines indented for their level, each ending in a newline) to insert before the
    end tag at ``offset``: when the end tag is on a line of its own, the block takes that line's
    place and the end tag keeps its indentation on the next line."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    indent = data[line_start:offset]
    if indent.strip():
        return b"\n" + block
    if block.startswith(indent):
        return block[len(indent) :] + indent
    return block + indent


def read_domain_file(path: str) -> DomainDocument:
    """Read and parse ``--domain FILE`` (``-``: standard input)."""
    shown = paste.printable(path)
    data = _read_bounded(path, shown)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"--domain {shown}: not UTF-8 (byte {error.start}); virsh dumpxml writes UTF-8") from None
    return parse_domain(data, shown)


def _read_bounded(path: str, shown: str) -> bytes:
    if path == "-":
        data = sys.stdin.buffer.read(DOMAIN_FILE_LIMIT + 1)
    else:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise DomainFileError(f"--domain {shown}: not a regular file")
            descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            raise DomainFileError(f"--domain {shown}: {error.strerror or error}") from None
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise DomainFileError(f"--domain {shown}: not a regular file")
            try:
                data = handle.read(DOMAIN_FILE_LIMIT + 1)
            except OSError as error:
                raise DomainFileError(f"--domain {shown}: {error.strerror or error}") from None
    if len(data) > DOMAIN_FILE_LIMIT:
        raise DomainFileError(f"--domain {shown}: larger than {DOMAIN_FILE_LIMIT >> 20} MiB, virsh's limit for XML")
    return data


class _Refused(Exception):
    pass


def parse_domain(data: bytes, shown: str, vmid: int = 100) -> DomainDocument:
    """Parse a domain document (UTF-8 bytes)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(encoding="UTF-8", namespace_separator="}")
    depth = 0
    devices_start: int | None = None
    devices: tuple[int, int] | None = None
    domain_end = -1

    def name_of(raw: str) -> str:
        return "{" + raw if "}" in raw else raw

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, devices_start
        depth += 1
        if depth == 2 and name == "devices" and devices_start is None:
            devices_start = parser.CurrentByteIndex
        builder.start(name_of(name), {name_of(key): value for key, value in attributes.items()})

    def end(name: str) -> None:
        nonlocal depth, devices, domain_end
        if depth == 2 and name == "devices" and devices is None and devices_start is not None:
            devices = (devices_start, parser.CurrentByteIndex)
        if depth == 1:
            domain_end = parser.CurrentByteIndex
        depth -= 1
        builder.end(name_of(name))

    def refuse(*_: object) -> None:
        raise _Refused("a document type declaration (libvirt writes none; entities are refused)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise InputError(f"--domain {shown}: not well-formed XML: {error}") from None
    except _Refused as error:
        raise InputError(f"--domain {shown}: {error}") from None
    root = builder.close()
    if root.tag != "domain":
        raise InputError(f"--domain {shown}: not a libvirt domain (the root element is <{paste.printable(root.tag)}>)")
    if not data.startswith(b"</domain", domain_end):
        raise InputError(f"--domain {shown}: an empty <domain/>, not a domain definition")
    return DomainDocument(shown, data, devices, domain_end, _vm(root, shown, vmid))


def _number(element: ET.Element, attribute: str, shown: str, limit: int) -> int | None:
    text = element.get(attribute)
    if text is None:
        return None
    if _NUMBER.fullmatch(text) is None:
        raise InputError(f"--domain {shown}: <{element.tag} {attribute}={paste.printable(text)!r}> is not a number")
    if text[:2] in ("0x", "0X"):
        value = int(text, 16)
    elif text.startswith("0") and len(text) > 1:
        value = int(text, 8)
    else:
        value = int(text)
    if value > limit:
        raise InputError(f"--domain {shown}: <{element.tag} {attribute}={paste.printable(text)!r}> is too large")
    return value


def pci_address(element: ET.Element, shown: str) -> Bdf:
    """A libvirt ``<address>`` element's PCI address (absent fields are 0, as libvirt reads them)."""
    fields = {key: _number(element, key, shown, limit) or 0 for key, limit in _ADDRESS_LIMITS.items()}
    return Bdf(fields["domain"], fields["bus"], fields["slot"], fields["function"])


def _text_count(element: ET.Element | None, shown: str) -> int | None:
    if element is None:
        return None
    text = (element.text or "").strip()
    if not text.isdigit() or not 0 < int(text) <= 4096:
        raise InputError(f"--domain {shown}: <{element.tag}>{paste.printable(text)}</{element.tag}> is not a count")
    return int(text)


def _memory(root: ET.Element, shown: str, vm: VmInfo) -> None:
    element = root.find("memory")
    if element is None:
        vm.defaults.append("the domain has no <memory>")
        return
    text = (element.text or "").strip()
    unit = element.get("unit", "KiB")
    if not text.isdigit() or len(text) > 20 or unit not in _UNITS:
        raise InputError(
            f"--domain {shown}: <memory unit={paste.printable(unit)!r}>{paste.printable(text)}</memory> "
            "is not a size libvirt reads"
        )
    vm.memory_element = (text, unit)
    vm.memory_mib = int(text) * _UNITS[unit] // 1024**2


def _name(root: ET.Element, vm: VmInfo) -> None:
    name = (root.findtext("name") or "").strip()
    # libvirt refuses '/' in a name (virDomainDefParseXML: "name %s cannot contain '/'").
    if name and "/" not in name and paste.printable(name) == name and len(name) <= 255:
        vm.name = name
    else:
        vm.rejected_name = name


def _firmware(root: ET.Element) -> str:
    os_element = root.find("os")
    if os_element is None:
        return "seabios"
    if os_element.get("firmware") == "efi":
        return "ovmf"
    loader = os_element.find("loader")
    if loader is not None and (loader.get("type") == "pflash" or "OVMF" in (loader.text or "")):
        return "ovmf"
    return "seabios"


def _vm(root: ET.Element, shown: str, vmid: int) -> VmInfo:
    vm = VmInfo(vmid, source=shown, kind="libvirt")
    _name(root, vm)
    _memory(root, shown, vm)
    vcpu = root.find("vcpu")
    count = _text_count(vcpu, shown)
    if count is None:
        vm.defaults.append("the domain has no <vcpu>: libvirt's default, 1")
        count = 1
    current = _number(vcpu, "current", shown, 4096) if vcpu is not None else None
    vm.current_vcpus = current if current is not None and current < count else None
    topology = root.find("cpu/topology")
    if topology is not None:
        sockets = _number(topology, "sockets", shown, 4096) or 1
        vm.sockets, vm.cores = sockets, max(count // sockets, 1)
    else:
        vm.sockets, vm.cores = 1, count
    machine = root.find("os/type")
    vm.machine = (machine.get("machine") if machine is not None else None) or "pc"
    if paste.printable(vm.machine) != vm.machine or len(vm.machine) > 64:
        raise InputError(f"--domain {shown}: machine {paste.printable(vm.machine)!r} is not a machine type")
    vm.firmware = _firmware(root)
    devices = root.find("devices")
    for element in list(devices) if devices is not None else []:
        address = element.find("address")
        if address is not None and address.get("type") == "pci":
            vm.guest_addresses[pci_address(address, shown)] = f"<{element.tag}>"
        if element.tag == "controller" and element.get("type") == "pci":
            index = _number(element, "index", shown, 0xFF)
            if index is not None:
                vm.pci_controllers[index] = element.get("model", "")
        if element.tag == "hostdev" and element.get("type") == "pci":
            source = element.find("source/address")
            key = f"<hostdev> {len(vm.passed) + 1}"
            if source is None:
                vm.passed.append(PassedDevice(key, "(no source address)"))
                continue
            host = str(pci_address(source, shown))
            vm.passed.append(PassedDevice(key, host, (host,)))
        if element.tag == "disk":
            source = element.find("source")
            path = source.get("dev") or source.get("file") if source is not None else None
            if path:
                vm.disks[f"<disk> {len(vm.disks) + 1}"] = paste.printable(path)
    return vm
