"""Redaction: what identifies a machine or its owner becomes a stable pseudonym of the same shape.

One :class:`Redactor` per run (a capture, one ``check --redact`` or ``generate --redact``). Its
pseudonyms are keyed by a random secret made for that run (HMAC-SHA256), so the same value gives
the same pseudonym everywhere in one bundle or one report, and nobody can get the value back by
trying candidates (a MAC has only 2^24 values per vendor; without the key that does not help).

What is redacted, and the pseudonym's shape:

* **Serial numbers** of disks and devices: found in ``/dev/disk/by-id`` names (the part after the
  model: ``ata-<model>_<serial>``, ``nvme-<model>_<serial>``, ``scsi-S<vendor>_<model>_<serial>``,
  ``usb-<vendor>_<model>_<serial>-0:0``, ``nvme-nvme.<vendor>-<serial>-<model>-<nsid>``), the
  udev database (``ID_SERIAL``, ``ID_SERIAL_SHORT``, ``ID_SCSI_SERIAL``, ``SCSI_IDENT_SERIAL``
  ...), sysfs ``serial`` and ``wwid`` files, DMI serials and asset tags, VPD serial numbers in
  ``lspci -vvv`` text. The pseudonym keeps the length and each character's class (a digit stays a
  digit, an upper-case letter an upper-case letter, punctuation stays), so a by-id name stays a
  valid udev name and the disk's names stay consistent with each other and with its udev data.
* **WWNs and EUI-64s** (``wwn-0x...``, ``nvme-eui....``, ``scsi-3...``, ``ID_WWN``, ``naa.``
  and ``eui.`` wwids, the PCIe Device Serial Number in config space and in lspci text): hex
  digits stay hex digits of the same case; the NAA type and vendor OUI are kept.
* **MAC addresses** (``aa:bb:cc:dd:ee:ff``, with ``-`` too, and the bare 12 digits of ``enx...``
  interface names and ``ID_NET_NAME_MAC``): the vendor half (OUI) is kept, the rest replaced;
  all-zero and broadcast addresses are kept.
* **Hostnames**: learned from ``/etc/hostname``, ``/proc/sys/kernel/hostname``, Proxmox mapping
  ``node=`` values and ``/etc/pve/nodes`` names, VM names (Proxmox ``name:``, libvirt
  ``<name>``); replaced wherever they stand as a whole name (not inside another word): in files,
  logs and member names. A pseudonym is ``host-xxxxxx`` (a valid DNS label); a domain part
  becomes ``domain-xxxxxx``. Names that identify nobody (``localhost``, ``pve``, ``debian`` ...)
  are kept, so that ``/etc/pve`` stays ``/etc/pve`` on a host called ``pve``.
* **UUIDs**: every ``8-4-4-4-12`` hex UUID (filesystem and partition UUIDs, LVM and DM UUIDs in
  that form, VM ``smbios1: uuid=``, ``vmgenid``, libvirt ``<uuid>``, DMI ``product_uuid``), with
  its version nibble kept; filesystem IDs of other shapes (``1234-ABCD`` of vfat, ZFS GUIDs, LVM
  UUIDs) learned from ``/dev/disk/by-uuid``, ``by-partuuid``, the udev database and ``UUID=``.
* **IP addresses**: IPv4 keeps its private range (``10.``, ``172.16-31.``, ``192.168.``) and the
  prefix relations between addresses (two addresses in one /24 stay in one /24); loopback,
  unspecified, link-local, multicast and netmask-shaped values are kept. IPv6 keeps its first 16
  bits (``fd..``, ``2001``; a link-local address its ``fe80::/64``), its zero groups and the
  prefix relations of the rest.

Learned values shorter than :data:`MIN_GLOBAL` characters are replaced only where they stand
as identity (by-id names, udev identity lines, serial files): a serial ``0001`` must not rewrite
every ``0001`` in a log. Binary files are not text: config space has only its Device Serial
Number rewritten; other binary files (ACPI table headers) are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Any

from harness.pci import regs
from harness.pci.config import CapabilityLoopError, ConfigSpace
from harness.rootfs import ATTRIBUTE_LIMIT, TEXT_LIMIT, RootError, RootFS

#: Learned values at least this long are replaced wherever they stand as a whole word.
MIN_GLOBAL = 6
#: Host and VM names that identify nobody; kept (one of them may be a path component too).
GENERIC_NAMES = frozenset(
    {
        "localhost",
        "localdomain",
        "localhost.localdomain",
        "(none)",
        "none",
        "pve",
        "proxmox",
        "debian",
        "ubuntu",
        "fedora",
        "archlinux",
        "arch",
        "nixos",
        "truenas",
        "unraid",
        "host",
        "server",
        "node",
        "vm",
        "test",
    }
)

HOSTNAME_FILES = ("etc/hostname", "proc/sys/kernel/hostname", "etc/mailname")
BY_ID_DIRS = ("dev/disk/by-id", "dev/disk/by-uuid", "dev/disk/by-partuuid")
UDEV_DATA = "run/udev/data"
DMI_IDENTITY = (
    "product_serial",
    "board_serial",
    "chassis_serial",
    "product_uuid",
    "board_asset_tag",
    "chassis_asset_tag",
)
#: udev properties whose values identify one disk, partition, filesystem or NIC.
UDEV_IDENTITY = frozenset(
    {
        "ID_SERIAL",
        "ID_SERIAL_SHORT",
        "ID_SCSI_SERIAL",
        "SCSI_IDENT_SERIAL",
        "ID_USB_SERIAL",
        "ID_USB_SERIAL_SHORT",
        "ID_WWN",
        "ID_WWN_WITH_EXTENSION",
        "ID_WWN_VENDOR_EXTENSION",
        "SCSI_IDENT_LUN_NAA_REG",
        "SCSI_IDENT_LUN_NAA_REGEXT",
        "SCSI_IDENT_LUN_EUI64",
        "SCSI_IDENT_LUN_T10",
        "SCSI_IDENT_PORT_NAA_REG",
        "ID_FS_UUID",
        "ID_FS_UUID_ENC",
        "ID_FS_UUID_SUB",
        "ID_FS_UUID_SUB_ENC",
        "ID_PART_ENTRY_UUID",
        "ID_PART_TABLE_UUID",
        "DM_UUID",
        "MD_UUID",
        "MD_DEVNAME",
        "ID_NET_NAME_MAC",
        "ID_NVME_SERIAL",
        "NVME_SERIAL",
    }
)

_UUID = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Za-z])"
)
_MAC_COLON = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:])")
_MAC_DASH = re.compile(r"(?<![0-9A-Fa-f-])(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}(?![0-9A-Fa-f-])")
#: An EUI-64 as lspci prints a Device Serial Number (ls-ecaps.c ``cap_dsn``).
_EUI64_DASH = re.compile(r"(?<![0-9A-Fa-f-])(?:[0-9A-Fa-f]{2}-){7}[0-9A-Fa-f]{2}(?![0-9A-Fa-f-])")
_IPV4 = re.compile(r"(?<![0-9A-Za-z.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![0-9A-Za-z]|\.\d)")
#: Eight groups, or fewer around one "::" (a PCI address, 0000:00:1c.6, is neither).
_IPV6_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z:.])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
    r"|(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)"
    r"(?![0-9A-Za-z:])"
)
_HEX = re.compile(r"[0-9A-Fa-f]+")
#: The shapes redacted wherever they appear, in the order they are tried at one position.
_PATTERNS = (
    ("uuid", _UUID),
    ("eui64", _EUI64_DASH),
    ("mac_colon", _MAC_COLON),
    ("mac_dash", _MAC_DASH),
    ("ipv4", _IPV4),
    ("ipv6", _IPV6_CANDIDATE),
)
_HEXISH = re.compile(r"[0-9A-Fa-f:.-]+")
_NETMASK_OCTETS = frozenset({0, 128, 192, 224, 240, 248, 252, 254, 255})
_PART_SUFFIX = re.compile(r"-part\d+$")
_LUN_SUFFIX = re.compile(r"-\d+:\d+$")
_VPD_SERIAL = re.compile(r"(\[SN\] Serial number: )(.+)$", re.MULTILINE)
_HEXDUMP_LINE = re.compile(r"^([0-9a-f]{2,3}): ((?:[0-9a-f]{2} ){15}[0-9a-f]{2})$")
_VM_NAME = re.compile(r"^name:\s*(\S+)\s*$", re.MULTILINE)
_LIBVIRT_NAME = re.compile(r"<name>([^<]{1,253})</name>")
_MAP_NODE = re.compile(r"\bnode=([A-Za-z0-9][A-Za-z0-9.-]*)")
_UUID_ASSIGNMENT = re.compile(r"\b(?:PART)?UUID=([^\s,\"']+)")


def _hex_class(value: str) -> bool:
    return _HEX.fullmatch(value) is not None


class Redactor:
    """Learns what identifies a host, then rewrites text, names and config space."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        #: learned value (exact spelling; hex values upper-cased) -> pseudonym
        self._literals: dict[str, str] = {}
        self._hex_literals: dict[str, str] = {}
        self._hostnames: dict[str, str] = {}
        #: The compiled expression per mode (built on first use after learning).
        self._patterns: dict[str, re.Pattern[str]] = {}
        #: (path component, identity) -> redacted component; a capture's tens of thousands of
        #: member names share a few thousand components.
        self._components: dict[tuple[str, bool], str] = {}
        #: A learned value holds a "/" (then paths are redacted whole, not by component).
        self._slashed = False

    # --- Pseudonyms --------------------------------------------------------------------------

    def _digest(self, kind: str, value: str, length: int) -> bytes:
        out = b""
        counter = 0
        while len(out) < length:
            message = f"{kind}\x00{counter}\x00{value}".encode("utf-8", "surrogateescape")
            out += hmac.new(self._secret, message, hashlib.sha256).digest()
            counter += 1
        return out[:length]

    def _shaped(self, kind: str, value: str, keep: int = 0, attempt: int = 0) -> str:
        """``value`` with every letter and digit after the first ``keep`` characters replaced
        by one of its class (hex digits by hex digits when the value is hex), case kept."""
        hexish = _HEXISH.fullmatch(value) is not None and (
            kind in _HEX_KINDS or any(character in "abcdefABCDEF" for character in value)
        )
        stream = self._digest(f"{kind}/{attempt}", value.upper() if hexish else value, len(value))
        out = []
        for index, (character, byte) in enumerate(zip(value, stream, strict=True)):
            if index < keep or not character.isascii() or not character.isalnum():
                out.append(character)
            elif hexish:
                digit = "0123456789abcdef"[byte % 16]
                out.append(digit.upper() if character.isupper() else digit)
            elif character.isdigit():
                out.append("0123456789"[byte % 10])
            elif character.isupper():
                out.append(chr(ord("A") + byte % 26))
            else:
                out.append(chr(ord("a") + byte % 26))
        shaped = "".join(out)
        if shaped == value and attempt < 4 and any(character.isalnum() for character in value[keep:]):
            return self._shaped(kind, value, keep, attempt + 1)
        return shaped

    def mac(self, text: str) -> str:
        """A MAC address (any separator, or none) with its OUI kept."""
        return self._keep_vendor("mac", text, 12)

    def eui64(self, text: str) -> str:
        """An EUI-64 (a Device Serial Number, an NVMe EUI) with its OUI kept."""
        return self._keep_vendor("eui64", text, 16)

    def _keep_vendor(self, kind: str, text: str, length: int) -> str:
        """``text`` holding ``length`` hex digits (any separators): the digits after the first
        six (the vendor's OUI) replaced, case and separators kept; all-zero and all-ones values
        (no address) kept."""
        digits = re.sub(r"[^0-9A-Fa-f]", "", text)
        if len(digits) != length or digits.strip("0") == "" or digits.upper() == "F" * length:
            return text
        fresh = iter(self._shaped(kind, digits.upper(), keep=6))
        return "".join(
            _case_like(next(fresh), character) if character in _HEX_DIGITS else character for character in text
        )

    def uuid(self, text: str) -> str:
        digits = text.replace("-", "")
        if digits.strip("0") == "" or digits.upper() == "F" * 32:
            return text
        shaped = self._shaped("uuid", digits.upper())
        # The version nibble (the first digit of the third group) is kept: a v4 UUID stays v4.
        shaped = shaped[:12] + digits[12] + shaped[13:]
        fresh = iter(shaped)
        return "".join(_case_like(next(fresh), character) if character != "-" else "-" for character in text)

    def ipv4(self, text: str) -> str:
        octets = [int(part) for part in text.split(".")]
        if any(octet > 255 for octet in octets) or _keep_ipv4(octets):
            return text
        private = (octets[0] == 172 and 16 <= octets[1] <= 31) or octets[:2] == [192, 168]
        keep = 1 if octets[0] == 10 else 2 if private else 0
        fresh = list(octets[:keep])
        for index in range(keep, 4):
            byte = self._digest("ipv4", ".".join(map(str, octets[: index + 1])), 1)[0]
            if index == 0:
                byte = _PUBLIC_FIRST[byte % len(_PUBLIC_FIRST)]
            elif index == 3:
                # A network (.0) or broadcast (.255) address stays one; a host stays a host.
                byte = octets[3] if octets[3] in (0, 255) else 1 + byte % 254
            fresh.append(byte)
        return ".".join(map(str, fresh))

    def ipv6(self, text: str) -> str:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return text
        if address.is_loopback or address.is_unspecified or address.is_multicast or address.ipv4_mapped is not None:
            return text
        groups = address.exploded.split(":")
        # A link-local address keeps its fe80::/64 prefix; others their first 16 bits. Zero
        # groups stay zero, so that the address keeps its "::" shape.
        keep = 4 if address.is_link_local else 1
        fresh = groups[:keep]
        for index in range(keep, 8):
            if groups[index] == "0000":
                fresh.append("0000")
                continue
            digest = self._digest("ipv6", ":".join(groups[: index + 1]), 2)
            fresh.append(f"{digest[0]:02x}{digest[1]:02x}")
        shown = str(ipaddress.IPv6Address(":".join(fresh)))
        return shown.upper() if text.isupper() else shown

    def hostname(self, name: str) -> str:
        labels = name.split(".")
        out = []
        for index, label in enumerate(labels):
            digest = self._digest("host" if index == 0 else "domain", label.lower(), 3).hex()
            out.append(f"host-{digest}" if index == 0 else f"domain-{digest}")
        return ".".join(out)

    # --- Learning ----------------------------------------------------------------------------

    def add_value(self, value: str, keep: int = 0, kind: str = "serial") -> None:
        """Learn one identifying value (a serial, a WWN, a filesystem ID...)."""
        value = value.strip()
        if not value or len(value) > 256 or value in self._literals or value.upper() in self._hex_literals:
            return
        if value.upper().strip("0") == "" or set(value.upper()) == {"F"}:
            return
        # Left to the patterns, which keep their shape (a UUID stays a UUID).
        if _UUID.fullmatch(value) or _MAC_COLON.fullmatch(value) or _MAC_DASH.fullmatch(value):
            return
        if _IPV4.fullmatch(value):
            return
        if _hex_class(value):
            self._hex_literals[value.upper()] = self._shaped(kind, value.upper(), keep)
        else:
            self._literals[value] = self._shaped(kind, value, keep)
            self._slashed = self._slashed or "/" in value
        self._patterns.clear()

    def add_mac_digits(self, digits: str) -> None:
        """Learn the bare 12 hex digits of a MAC (``enx001b21aabbcc``), mapped as its colon form."""
        if re.fullmatch(r"[0-9A-Fa-f]{12}", digits) and digits.upper() not in self._hex_literals:
            self._hex_literals[digits.upper()] = self.mac(digits.upper())
            self._patterns.clear()

    def add_hostname(self, name: str) -> None:
        name = name.strip().rstrip(".")
        if not name or len(name) > 253 or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", name):
            return
        for candidate in (name, name.split(".", 1)[0]):
            if candidate.lower() in GENERIC_NAMES or len(candidate) < 2 or candidate.isdigit():
                continue
            if candidate.lower() not in self._hostnames:
                self._hostnames[candidate.lower()] = self.hostname(candidate)
                self._patterns.clear()

    def add_by_id_name(self, name: str) -> None:
        """Learn the serial, WWN or UUID a ``/dev/disk/by-*`` name carries."""
        for value, keep, kind in by_id_values(name):
            self.add_value(value, keep, kind)

    def add_wwid(self, text: str) -> None:
        """A sysfs ``wwid``: ``naa.<hex>``, ``eui.<hex>``, ``t10.<vendor> <model> <serial>``."""
        text = text.strip()
        kind, _, rest = text.partition(".")
        if kind in ("naa", "eui") and _hex_class(rest):
            self.add_value(rest, keep=7 if kind == "naa" else 6, kind=kind)
        elif kind == "t10" and rest.split():
            self.add_value(rest.split()[-1])
        elif text:
            self.add_value(text)

    def add_udev_record(self, text: str) -> None:
        """Values of the identity properties of a udev database record (``E:ID_SERIAL=...``)
        and the by-id names it lists (``S:disk/by-id/...``)."""
        for line in text.splitlines():
            if line.startswith("S:disk/by-"):
                self.add_by_id_name(line.rsplit("/", 1)[-1])
            if not line.startswith("E:"):
                continue
            key, _, value = line[2:].partition("=")
            if key not in UDEV_IDENTITY or not value:
                continue
            if key == "ID_NET_NAME_MAC":
                self.add_mac_digits(value.removeprefix("enx"))
            elif key.startswith(("ID_WWN", "SCSI_IDENT_LUN_NAA", "SCSI_IDENT_PORT_NAA", "SCSI_IDENT_LUN_EUI")):
                self.add_value(
                    value.removeprefix("0x"), keep=7 if "NAA" in key or key.startswith("ID_WWN") else 6, kind="wwn"
                )
            elif key == "SCSI_IDENT_LUN_T10" and "_" in value:
                self.add_value(value.rsplit("_", 1)[-1])
            elif key == "MD_DEVNAME":
                # An md array made on another host is named "<host>:<name>".
                if ":" in value:
                    self.add_hostname(value.split(":", 1)[0])
            elif key in ("ID_SERIAL", "ID_USB_SERIAL") and "_" in value:
                # <model>_<serial> (udev's ata_id, scsi_id, usb_id): the model identifies nobody,
                # and learning the whole value would give the by-id name another pseudonym for
                # the serial than the one ID_SERIAL_SHORT gets.
                self.add_value(_LUN_SUFFIX.sub("", value.rsplit("_", 1)[-1]))
            else:
                self.add_value(value.replace("\\x20", " ").strip())

    def add_text_names(self, text: str) -> None:
        """VM names, mapping nodes and ``UUID=`` values of a configuration file."""
        for match in _VM_NAME.finditer(text):
            self.add_hostname(match.group(1))
        for match in _LIBVIRT_NAME.finditer(text):
            self.add_hostname(match.group(1).strip())
        for match in _MAP_NODE.finditer(text):
            self.add_hostname(match.group(1))
        for match in _UUID_ASSIGNMENT.finditer(text):
            self.add_value(match.group(1), kind="fsid")

    def add_lspci_text(self, text: str) -> None:
        """VPD serial numbers in ``lspci -vvv`` text."""
        for match in _VPD_SERIAL.finditer(text):
            self.add_value(match.group(2).strip())

    def learn(self, fs: RootFS) -> None:
        """Learn every identifying value the root shows: hostnames, by-id and by-uuid names, udev
        records of block devices, sysfs serial and wwid files, DMI serials, network interface
        names, VM configurations and Proxmox mappings. Reads go through ``fs``; what cannot be
        read is simply not learned."""

        def read(path: str, limit: int = ATTRIBUTE_LIMIT) -> str | None:
            try:
                return fs.read(path, limit).data.decode("utf-8", "replace")
            except RootError:
                return None

        def names(path: str) -> list[str]:
            try:
                return fs.listdir(path).names
            except RootError:
                return []

        for path in HOSTNAME_FILES:
            text = read(path)
            if text:
                self.add_hostname(text.split("\n", 1)[0])
        for directory in BY_ID_DIRS:
            for name in names(directory):
                self.add_by_id_name(name if directory.endswith("by-id") else f"uuid-{name}")
        for name in names(UDEV_DATA):
            if name.startswith(("b", "n")):
                self.add_udev_record(read(f"{UDEV_DATA}/{name}") or "")
        for name in names("sys/class/block"):
            for attribute in ("device/serial", "serial"):
                text = read(f"sys/class/block/{name}/{attribute}")
                if text and text.strip():
                    self.add_value(text.strip())
            for attribute in ("wwid", "device/wwid"):
                text = read(f"sys/class/block/{name}/{attribute}")
                if text:
                    self.add_wwid(text)
        for name in names("sys/class/nvme"):
            text = read(f"sys/class/nvme/{name}/serial")
            if text and text.strip():
                self.add_value(text.strip())
        for attribute in DMI_IDENTITY:
            text = read(f"sys/class/dmi/id/{attribute}")
            if text and text.strip() and text.strip().lower() not in _DMI_PLACEHOLDERS:
                self.add_value(text.strip(), kind="dmi")
        for name in names("sys/class/net"):
            if re.fullmatch(r"enx[0-9a-fA-F]{12}", name):
                self.add_mac_digits(name[3:])
        for name in names("etc/pve/nodes"):
            self.add_hostname(name)
        for directory in ("etc/pve/qemu-server", "etc/pve/mapping", "etc/libvirt/qemu"):
            for name in names(directory):
                self.add_text_names(read(f"{directory}/{name}", TEXT_LIMIT) or "")
        for path in ("proc/cmdline", "etc/kernel/cmdline", "etc/kernel/proxmox-boot-uuids", "etc/fstab"):
            text = read(path, TEXT_LIMIT) or ""
            self.add_text_names(text)
            if path.endswith("proxmox-boot-uuids"):
                for line in text.split():
                    self.add_value(line, kind="fsid")

    # --- Applying ----------------------------------------------------------------------------

    def _master(self, identity: bool) -> re.Pattern[str]:
        """One expression for every kind of value, so that a text is scanned once and a
        pseudonym is never scanned again. At one position, learned values win over patterns."""
        key = "identity" if identity else "broad"
        pattern = self._patterns.get(key)
        if pattern is None:
            self._components.clear()
            parts = []
            literals = _alternatives(
                self._literals, self._hex_literals, (lambda value: True) if identity else _global_value
            )
            if literals:
                parts.append(f"(?P<literal>{literals})")
            if self._hostnames:
                names = "|".join(re.escape(name) for name in sorted(self._hostnames, key=len, reverse=True))
                parts.append(f"(?P<host>(?<![A-Za-z0-9_-])(?i:{names})(?![A-Za-z0-9_-]))")
            parts += [f"(?P<{name}>{expression.pattern})" for name, expression in _PATTERNS]
            pattern = re.compile("|".join(parts))
            self._patterns[key] = pattern
        return pattern

    def _replace(self, match: re.Match[str]) -> str:
        kind = match.lastgroup
        text = match.group(0)
        if kind == "literal":
            found = self._literals.get(text)
            if found is not None:
                return found
            fresh = self._hex_literals[text.upper()]
            return "".join(_case_like(new, old) for new, old in zip(fresh, text, strict=True))
        if kind == "host":
            return self._hostnames.get(text.lower(), text)
        if kind == "uuid":
            return self.uuid(text)
        if kind == "eui64":
            return self.eui64(text)
        if kind in ("mac_colon", "mac_dash"):
            return self.mac(text)
        if kind == "ipv4":
            return self.ipv4(text)
        return self.ipv6(text)

    def text(self, text: str, identity: bool = False) -> str:
        """``text`` redacted. ``identity``: the text is an identity record (a udev database
        record, a serial file, a by-id name), where short learned values are replaced too."""
        if not text:
            return text
        return self._master(identity).sub(self._replace, text)

    def path(self, path: str) -> str:
        """A member name or symlink target: names under ``/dev/disk`` are identity records
        (short serials replaced too); other names are redacted as text (a hostname, a UUID, a
        MAC in them). ``/`` separates words, so a component is replaced only whole; no pattern
        spans a ``/``, so unless a learned value holds one, each component is redacted on its
        own, once."""
        identity = "disk/" in path or path.startswith("disk")
        if self._slashed:
            return self.text(path, identity)
        pattern = self._master(identity)
        out = []
        for part in path.split("/"):
            fresh = self._components.get((part, identity))
            if fresh is None:
                fresh = pattern.sub(self._replace, part) if part else part
                self._components[(part, identity)] = fresh
            out.append(fresh)
        return "/".join(out)

    def bytes_text(self, data: bytes, identity: bool = False) -> bytes:
        """A file's bytes redacted as text (bytes that are not UTF-8 are kept as they are)."""
        text = data.decode("utf-8", "surrogateescape")
        return self.text(text, identity).encode("utf-8", "surrogateescape")

    def config_space(self, data: bytes) -> bytes:
        """Config space with each PCIe Device Serial Number (extended capability 0x0003; a
        device may list more than one) replaced by its pseudonym; the same one :meth:`text`
        gives lspci's ``Device Serial Number``."""
        if len(data) < 0x100 + regs.DSN_LENGTH:
            return data
        space = ConfigSpace(data)
        try:
            found = [item for item in space.extended_capabilities() if item.cap_id == regs.EXT_DSN]
        except CapabilityLoopError:
            # A looping list: the kernel's walk (and lspci's) reaches the first one only.
            first = space.find(regs.EXT_DSN, extended=True)
            found = [first] if first is not None else []
        fresh = bytearray(data)
        for capability in found:
            start = capability.offset + 4
            if start + 8 > len(data):
                continue
            value = int.from_bytes(data[start : start + 8], "little")
            shown = "-".join(f"{byte:02x}" for byte in value.to_bytes(8, "big"))
            fresh[start : start + 8] = int(self.eui64(shown).replace("-", ""), 16).to_bytes(8, "little")
        return bytes(fresh)

    def hexdump_text(self, text: str) -> str:
        """``lspci -x``/``-xxxx`` text with each device's Device Serial Number rewritten as in
        :meth:`config_space` (the rest of the text goes through :meth:`text`)."""
        lines = text.split("\n")
        device: list[int] = []

        def flush() -> None:
            if not device:
                return
            data = bytearray(4096)
            size = 0
            for index in device:
                match = _HEXDUMP_LINE.match(lines[index])
                assert match is not None
                offset = int(match.group(1), 16)
                if offset + 16 <= len(data):
                    data[offset : offset + 16] = bytes.fromhex(match.group(2))
                    size = max(size, offset + 16)
            fresh = self.config_space(bytes(data[:size]))
            if fresh != bytes(data[:size]):
                for index in device:
                    match = _HEXDUMP_LINE.match(lines[index])
                    assert match is not None
                    offset = int(match.group(1), 16)
                    if offset + 16 <= size:
                        chunk = fresh[offset : offset + 16]
                        lines[index] = f"{match.group(1)}: " + " ".join(f"{byte:02x}" for byte in chunk)
            device.clear()

        for index, line in enumerate(lines):
            if _HEXDUMP_LINE.match(line):
                device.append(index)
            else:
                flush()
        flush()
        return self.text("\n".join(lines))

    def json(self, value: Any) -> Any:
        """A JSON document (dicts, lists, strings...) with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, dict):
            return {key: self.json(item) for key, item in value.items()}
        return value

    @property
    def learned(self) -> dict[str, int]:
        """How many values of each sort were learned (for a manifest or a note)."""
        return {"values": len(self._literals) + len(self._hex_literals), "hostnames": len(self._hostnames)}


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: Kinds whose values are hex numbers even when they hold only decimal digits.
_HEX_KINDS = frozenset({"mac", "eui", "eui64", "wwn", "naa", "uuid"})
_DMI_PLACEHOLDERS = frozenset(
    {
        "",
        "default string",
        "to be filled by o.e.m.",
        "not specified",
        "none",
        "0",
        "system serial number",
        "chassis serial number",
        "123456789",
    }
)
#: First octets of public IPv4 pseudonyms: unicast, not private, loopback or link-local.
_PUBLIC_FIRST = [octet for octet in range(1, 224) if octet not in (10, 100, 127, 169, 172, 192, 198, 203)]


def _case_like(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new.lower() if old.islower() else new


def _keep_ipv4(octets: list[int]) -> bool:
    if octets[0] in (0, 127) or octets[0] >= 224 or octets[:2] == [169, 254]:
        return True
    # A netmask (255.255.255.0) or a wildcard mask.
    return all(octet in _NETMASK_OCTETS for octet in octets) and octets == sorted(octets, reverse=True)


def _global_value(value: str) -> bool:
    return len(value) >= MIN_GLOBAL


def _alternatives(literals: dict[str, str], hex_literals: dict[str, str], wanted: Callable[[str], bool]) -> str | None:
    plain = sorted((value for value in literals if wanted(value)), key=len, reverse=True)
    hexes = sorted((value for value in hex_literals if wanted(value)), key=len, reverse=True)
    parts = []
    if plain:
        parts.append(r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(value) for value in plain) + r")(?![A-Za-z0-9])")
    if hexes:
        # Hex values stand alone among hex digits: ``wwn-0x5000...``, ``enx001b21...``, and after
        # the designator digit of ``scsi-3<naa>``.
        parts.append(
            r"(?:(?<![0-9A-Fa-f])|(?<=scsi-[0-9]))(?i:"
            + "|".join(re.escape(value) for value in hexes)
            + r")(?![0-9A-Fa-f])"
        )
    return "|".join(parts) if parts else None


def by_id_values(name: str) -> list[tuple[str, int, str]]:
    """(value, characters kept, kind) for each identifying value in a ``/dev/disk/by-*`` name
    (``uuid-<name>`` for by-uuid and by-partuuid names), following udev's
    60-persistent-storage.rules naming."""
    base = _PART_SUFFIX.sub("", name)
    prefix, _, rest = base.partition("-")
    if not rest:
        return []
    if prefix == "uuid":
        return [(rest, 0, "fsid")]
    if prefix == "wwn":
        hexes = [part.removeprefix("0x") for part in rest.split("-")]
        return [(part, 7 if index == 0 else 0, "wwn") for index, part in enumerate(hexes) if _hex_class(part)]
    if prefix in ("dm", "md", "lvm"):
        for lead in ("uuid-", "pv-uuid-"):
            if rest.startswith(lead):
                value = rest[len(lead) :]
                subsystem, dash, tail = value.partition("-")
                # dm-uuid-LVM-<pv><lv>, dm-uuid-CRYPT-LUKS2-<uuid>-<name>: the subsystem stays.
                if dash and subsystem.isupper() and prefix == "dm":
                    return [(tail, 0, "fsid")]
                return [(value, 0, "fsid")]
        return []
    if prefix == "nvme" and rest.startswith("eui."):
        return [(rest[4:], 6, "eui")]
    if prefix == "nvme" and rest.startswith("nvme."):
        return [(rest[5:], 0, "serial")]
    if prefix == "scsi" and rest[:1].isdigit() and _hex_class(rest[1:]):
        return [(rest[1:], 7 if rest[0] == "3" else 6, "wwn")]
    if prefix == "usb":
        rest = _LUN_SUFFIX.sub("", rest)
    tokens = rest.split("_")
    if len(tokens) < 2:
        return []
    serial = tokens[-1]
    # Newer udev appends the NVMe namespace: nvme-<model>_<serial>_<nsid>.
    if prefix == "nvme" and serial.isdigit() and len(serial) <= 3 and len(tokens) > 2:
        serial = tokens[-2]
    return [(serial, 0, "serial")] if serial else []
