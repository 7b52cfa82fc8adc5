"""Judging the lspci text importer with the real lspci: encode, render, run, compare.

An imported device's description is encoded with fakesys (``fakesys.hw.describe.encode``); the
devices are written as a flat ``sys/bus/pci/devices`` tree with fakesys's attribute files
(``fakesys.kernel.attributes.device_attributes``: ``config`` holds the encoded bytes), and the real
``lspci`` reads it with a ``pci.ids`` made of the names the paste printed (names from another
pci.ids version are not what is judged). Its output is compared with the paste record by record:
a record is a field line with lspci's own continuation lines, the unit a wrapped paste can be
re-joined into.

Two figures per device: ``ratio``, the share of the paste's lines whose values all reappear in
order in the same record (a paste from another pciutils version prints fields 3.9.0 does not, or
older names: ``VERSION_WORDINGS`` and ``NEWER_FLAGS`` list those differences with the version
that made them), and ``exact_ratio``, the share of lspci 3.9.0's lines found character for
character in the paste. Lines lspci takes from outside config space (``RUNTIME_LABELS``, VPD)
are counted apart, not as matches.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fakesys.host.model import FunctionSpec
from fakesys.hw.describe import encode
from fakesys.hw.device import Device
from fakesys.hw.model import DeviceModel
from fakesys.kernel.attributes import device_attributes
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.profile import get_profile
from fakesys.source import Document
from harness.capture import ImportedDevice, ImportedPaste
from harness.capture.builder import DeviceBuilder
from harness.capture.lspci_ecaps import EXTENDED
from harness.capture.lspci_header import parse_title
from harness.capture.lspci_text import blocks_of, records_of
from harness.capture.paste import clean_lines, title_match
from harness.pci.address import Bdf
from harness.pciids import PciIds, system_ids
from tests.conftest import lspci_path

#: Records lspci fills from outside config space, which the flat tree does not reproduce
#: (driver binding, IOMMU groups, slots) or which change at run time.
RUNTIME_LABELS = frozenset(
    {"Kernel driver in use", "Kernel modules", "IOMMU group", "Physical Slot", "Device tree node"}
)
#: Capabilities whose lines lspci reads from another sysfs file (``vpd``), not config space.
SYSFS_CAPABILITY_TEXT = re.compile(r"Vital Product Data")
#: Capability lines 3.9.0 cannot print at all: Intel's vendor capability decoding (3.14).
NEWER_CAPABILITY_TEXT = re.compile(r"Vendor Specific Information: Intel")
#: Extended capability names by ID (lspci printed "#19" for the ones it did not know).
EXTENDED_NAMES = {cap_id: name for name, cap_id, _ in EXTENDED if name != "Resizable BAR"}

#: AERCap flag names before pciutils 3.6.
OLD_AER_NAMES = {"GenCap": "ECRCGenCap", "CGenEn": "ECRCGenEn", "ChkCap": "ECRCChkCap", "ChkEn": "ECRCChkEn"}
Wording = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]
#: Wordings that changed between pciutils versions, as (pattern, 3.9.0 wording), applied to both
#: sides; the versions come from the pciutils history (git log -S).
VERSION_WORDINGS: tuple[Wording, ...] = (
    (
        re.compile(r"Report errors: Correctable([+-]) Non-Fatal([+-]) Fatal([+-]) Unsupported([+-])"),
        r"CorrErr\1 NonFatalErr\2 FatalErr\3 UnsupReq\4",
    ),  # before 3.2
    (re.compile(r"\bUncorrErr"), "NonFatalErr"),  # before 3.2
    (re.compile(r"\bUnsuppReq"), "UnsupReq"),  # before 3.2
    (re.compile(r"\] #([0-9a-f]{2})$"), lambda match: f"] {EXTENDED_NAMES.get(int(match[1], 16), match[0][2:])}"),
    (
        re.compile(r"\b(GenCap|CGenEn|ChkCap|ChkEn)([+-])"),
        lambda match: f"{OLD_AER_NAMES[match[1]]}{match[2]}",
    ),  # < 3.6
    (re.compile(r"ASPM L1, (?:Exit )?Latency L0s? [^,]+, L1"), "ASPM L1, Exit Latency L1"),  # before 3.6
    (re.compile(r"ASPM not supported, (?:Exit )?Latency L0s? [^,]+, L1 \S+"), "ASPM not supported"),  # before 3.6
    (re.compile(r"ASPM L0s, (?:Exit )?Latency L0s? ([^,]+), L1 \S+"), r"ASPM L0s, Exit Latency L0s \1"),  # < 3.6
    (re.compile(r"(?<!Exit )Latency L0 "), "Exit Latency L0s "),  # before 3.3
    (re.compile(r"Compliance De-emphasis:"), "Compliance Preset/De-emphasis:"),  # before 3.8
    (re.compile(r"(Express .*), IntMsgNum (\d+)"), lambda match: f"{match[1]}, MSI {int(match[2]):02x}"),  # 3.11
    (re.compile(r"IntMsgNum (\d+)"), r"IntMsg \1"),  # 3.11
    (re.compile(r"\bLnkDisable([+-])"), r"Disabled\1"),  # 3.11
)
#: Flags other pciutils versions print and 3.9.0 does not (3.11: PASID in PRISta; 3.12:
#: TEE-IO; 3.13: the AER bits after ACSViol, the DevCtl2 IDO/EPR/EETLP bits; 3.14: Flit Mode);
#: they are left out of the comparison, not counted as matches.
NEWER_FLAGS = frozenset(
    {
        "IDOReq",
        "IDOCompl",
        "EmergencyPowerReductionReq",
        "EETLPPrefixBlk",
        "TEE-IO",
        "PASID",
        "FltModeDis",
        "FltMode",
        "UncorrIntErr",
        "BlockedTLP",
        "AtomicOpBlocked",
        "TLPBlockedErr",
        "PoisonTLPBlocked",
        "DMWrReqBlocked",
        "IDECheck",
        "MisIDETLP",
        "PCRC_CHECK",
        "TLPXlatBlocked",
        "CorrIntErr",
        "HeaderOF",
    }
)
#: Tokens some versions print and others do not: link state remarks (all port types before 3.6)
#: and the "<?>" of capabilities a version did not decode.
DROPPED_TOKENS = frozenset({"(ok)", "(downgraded)", "(overdriven)", "<?>"})


def encode_device(device: ImportedDevice) -> DeviceModel:
    return encode(Document(device.description, f"<import {device.bdf}>"))


def _pci_dev(device: ImportedDevice, model: DeviceModel) -> PciDev:
    """The kernel's record of an encoded device, as enumeration would fill it."""
    bdf = Bdf.parse(device.bdf)
    numa = -1 if device.numa_node is None else device.numa_node
    spec = FunctionSpec(bdf, device.bdf, model, irq=device.irq, label=device.label, numa_node=numa)
    dev = PciDev(bdf, Device(model), spec)
    if device.condition == "dead":
        dev.device.alive = False  # config reads give all-ones, as fakesys's kernel kills a device
    dev.vendor, dev.device_id = model.vendor_id, model.device_id
    dev.class_code, dev.revision = model.class_code, model.revision
    dev.subsystem_vendor, dev.subsystem_device = model.subsystem
    dev.header_layout = model.config[0x0E] & 0x7F
    dev.irq = device.irq or 0
    return dev


def write_tree(root: Path, devices: Iterable[tuple[ImportedDevice, DeviceModel]]) -> None:
    """A flat ``sys/bus/pci/devices`` tree of the encoded devices (what ``lspci -vvv`` reads)."""
    profile = get_profile("6.8")
    base = root / "sys" / "bus" / "pci"
    (base / "slots").mkdir(parents=True, exist_ok=True)
    (base / "devices").mkdir(parents=True, exist_ok=True)
    for device, model in devices:
        directory = base / "devices" / device.bdf
        for name, attribute in device_attributes(_pci_dev(device, model), profile, 4).items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(attribute.content)


def _printed_name(device: ImportedDevice) -> str:
    """Vendor and device names of the title, without IDs, revision and prog-if."""
    match = title_match(device.title)
    return parse_title(match).name if match is not None else ""


def _vendor_split(name: str, vendor: int, database: PciIds | None, seen: dict[int, str]) -> tuple[str, str]:
    known = seen.get(vendor) or (database.vendor_name(vendor) if database else None)
    if known and (name == known or name.startswith(known + " ")):
        return known, name[len(known) :].strip()
    head, _, rest = name.partition(" ")
    return head, rest


def names_database(paste: ImportedPaste) -> str:
    """A ``pci.ids`` with the names the paste printed, under the IDs the import found."""
    database = system_ids()
    vendors: dict[int, str] = {}
    devices: dict[tuple[int, int], str] = {}
    subsystems: dict[tuple[int, int, int, int], str] = {}
    subclasses: dict[int, str] = {}
    prog_ifs: dict[int, str] = {}
    for device in paste.devices:
        if device.vendor_id is None or device.device_id is None:
            continue
        vendor, device_id = device.vendor_id, device.device_id
        name = _printed_name(device)
        if name and name != "Device" and not name.startswith("Device "):
            vendor_name, rest = _vendor_split(name, vendor, database, vendors)
            vendors.setdefault(vendor, vendor_name)
            if rest and not re.fullmatch(r"Device [0-9a-f]{4}", rest):
                devices[(vendor, device_id)] = rest
        if device.subsystem and device.subsystem_name:
            text = re.sub(r" ?\[[0-9a-f]{4}:[0-9a-f]{4}\]$", "", device.subsystem_name)
            subvendor, subdevice = device.subsystem
            known = database.vendor_name(subvendor) if database else None
            if known and text.startswith(known):
                vendors.setdefault(subvendor, known)
                rest = text[len(known) :].strip()
                if rest and rest != "Device" and not re.fullmatch(r"Device [0-9a-f]{4}", rest):
                    subsystems[(vendor, device_id, subvendor, subdevice)] = rest
        match = title_match(device.title)
        if device.class_code is not None and device.class_name:
            subclasses.setdefault(device.class_code >> 8, device.class_name)
        title = parse_title(match) if match is not None else None
        if title is not None and title.prog_if_name and device.class_code is not None:
            prog_ifs.setdefault(device.class_code, title.prog_if_name)
    lines: list[str] = []
    for vendor in sorted(vendors):
        lines.append(f"{vendor:04x}  {vendors[vendor]}")
        for (owner, device_id), name in sorted(devices.items()):
            if owner == vendor:
                lines.append(f"\t{device_id:04x}  {name}")
                for (sv, sd, subvendor, subdevice), sub_name in sorted(subsystems.items()):
                    if (sv, sd) == (vendor, device_id):
                        lines.append(f"\t\t{subvendor:04x} {subdevice:04x}  {sub_name}")
    for base in sorted({code >> 8 for code in subclasses}):
        base_name = database.base_class_name(base) if database else None
        lines.append(f"C {base:02x}  {base_name or f'Class {base:02x}'}")
        for code in sorted(subclasses):
            if code >> 8 == base:
                lines.append(f"\t{code & 0xFF:02x}  {subclasses[code]}")
                lines.extend(
                    f"\t\t{full & 0xFF:02x}  {name}" for full, name in sorted(prog_ifs.items()) if full >> 8 == code
                )
    return "\n".join(lines) + "\n"


def run_lspci(root: Path, ids: Path, *args: str) -> str:
    command = [lspci_path(), "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-O", "hwdb.disable=1"]
    completed = subprocess.run([*command, "-i", str(ids), *args], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def lspci_arguments(paste: ImportedPaste) -> list[str]:
    """The options that print what the paste shows: -nn when titles carry IDs, -PP with paths;
    -vvv unless a closed window is shown without its registers (-vv)."""
    arguments = ["-vvv"]
    if any(assumption.what.endswith(" window") for assumption in paste.all_assumptions):
        arguments = ["-vv"]
    titles = [title_match(device.title) for device in paste.devices]
    if any(match and re.search(r" \[[0-9a-f]{4}:[0-9a-f]{4}\]( \(|$)", match["rest"]) for match in titles):
        arguments.append("-nn")
    if any(match and match["path"] for match in titles):
        arguments.append("-PP")
    return arguments


@dataclass
class DeviceAgreement:
    """How many of a device's paste lines the real lspci printed again (see the module doc)."""

    bdf: str
    lines: int = 0
    matched: int = 0
    exact: int = 0
    exact_lines: int = 0
    runtime: int = 0
    version: int = 0
    mismatches: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.matched / self.lines if self.lines else 1.0

    @property
    def exact_ratio(self) -> float:
        return self.exact / self.exact_lines if self.exact_lines else 1.0


def _normal(text: str) -> str:
    return " ".join(text.split())


def _tokens(label: str, text: str) -> list[str]:
    for pattern, wording in VERSION_WORDINGS:
        text = pattern.sub(wording, text)
    tokens: list[str] = []
    for raw in text.split():
        token = raw.rstrip(",;")
        if not token or token in DROPPED_TOKENS or (token[-1] in "+-" and token[:-1] in NEWER_FLAGS):
            continue
        watts = re.fullmatch(r"(\d+\.\d+)W", token)
        if watts is not None:
            token = f"{float(watts[1]):g}W"  # "%.3fW" before 3.7
        if label in ("CESta", "CEMsk") and token[:-1] == "NonFatalErr":
            token = "Adv" + token  # before 3.2
        if token == "<ignored>":
            token = "<unassigned>"  # which one depends on how the version reads the register
        if label.endswith("behind bridge") and token in ("None", "[empty]"):
            token = "[disabled]"  # 3.6
        window = re.fullmatch(r"([0-9a-f]{4,16})-([0-9a-f]{4,16})", token)
        if window is not None:
            token = f"{int(window[1], 16):x}-{int(window[2], 16):x}"  # digits follow the type since 3.8
        tokens.append(token)
    # Before 3.6 "[virtual]" came first ("Region 0: [virtual] Memory at ..."), since then last.
    return [token for token in tokens if token != "[virtual]"] + (["[virtual]"] if "[virtual]" in tokens else [])


def _in_order(wanted: list[str], have: list[str]) -> bool:
    position = 0
    for token in wanted:
        try:
            position = have.index(token, position) + 1
        except ValueError:
            return False
    return True


def device_records(text: str) -> dict[str, list[tuple[str, list[str]]]]:
    """Per device address: (record key, the record's physical lines, normalised), in order."""
    paste = ImportedPaste("<compare>")
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for block in blocks_of(clean_lines(text), paste)[0]:
        match = title_match(block.title.stripped)
        if match is None:
            continue
        records, _ = records_of(block, DeviceBuilder(ImportedDevice("", "", 0, {})))
        keyed: list[tuple[str, list[str]]] = []
        section = "header"
        counts: dict[str, int] = {}
        for record in records:
            if record.label == "Capabilities":
                section = record.text.split("]")[0] + "]"
            key = f"{section}/{record.label.removeprefix('[virtual] ')}"
            counts[key] = counts.get(key, 0) + 1
            keyed.append((f"{key}#{counts[key]}", [_normal(item) for item in record.physical]))
        found.setdefault(parse_title(match).bdf, keyed)
    return found


def agreement(source: str, rendered: str) -> dict[str, DeviceAgreement]:
    """Per device of ``source`` (the paste), how ``rendered`` (real lspci on the import) agrees."""
    got = device_records(rendered)
    result: dict[str, DeviceAgreement] = {}
    for bdf, records in device_records(source).items():
        score = result[bdf] = DeviceAgreement(bdf)
        rendered_records = dict(got.get(bdf, []))
        for key, lines in records:
            label = key.split("/", 1)[1].rsplit("#", 1)[0]
            counterpart = rendered_records.get(key)
            if label in RUNTIME_LABELS or (label == "Capabilities" and SYSFS_CAPABILITY_TEXT.search(lines[0])):
                score.runtime += len(lines)
                continue
            if label == "Capabilities" and NEWER_CAPABILITY_TEXT.search(lines[0]):
                score.version += len(lines)
                continue
            if counterpart is None:
                score.lines += len(lines)
                score.exact_lines += len(lines)
                score.mismatches.extend((line, "<missing>") for line in lines)
                continue
            have = _tokens(label, " ".join(counterpart))
            for line in lines:
                score.lines += 1
                # Versions order a record's lines differently (DevCtl2 in 3.13): each paste line
                # must appear in order, anywhere in the record.
                if _in_order(_tokens(label, line), have):
                    score.matched += 1
                else:
                    score.mismatches.append((line, " ".join(counterpart)))
            joined = " ".join(lines)
            cursor = 0
            for line in counterpart:
                score.exact_lines += 1
                hit = joined.find(line, cursor)
                if hit >= 0:
                    score.exact += 1
                    cursor = hit + len(line)
    return result


def render_and_compare(
    paste: ImportedPaste, source: str, workdir: Path, *args: str
) -> tuple[str, dict[str, DeviceAgreement]]:
    """Encode every decoded device, render, run lspci with ``args`` and compare with ``source``."""
    encoded = [(device, encode_device(device)) for device in paste.devices if device.decoded]
    write_tree(workdir / "root", encoded)
    ids = workdir / "pci.ids"
    ids.write_text(names_database(paste))
    rendered = run_lspci(workdir / "root", ids, *args)
    return rendered, agreement(source, rendered)
