"""The packaged device library against the public dumps it cites, register by register.

Every ``fakesys/devices/*.yaml`` is either cited here (:data:`CITATIONS`: the dump under
``tests/data/import`` and the device in it whose registers the description took) or listed as not
checkable with the reason (:data:`NOT_CHECKABLE`); a new library device must be one or the other.

For a cited device, the dump is read by the importer (``harness.capture.parse_lspci``), which
turns each value the dump shows into a *fact*: the bits of config space it occupies and how to read
it back. Each fact is classified by :data:`FIELDS` (first match wins), as data with a reason:
static fields (IDs, class, capability list and order, DevCap, LnkCap, LnkCap2, SltCap, PM and
MSI/MSI-X capabilities, AER ECRC capabilities, VC capabilities, L1SS capabilities, bridge window
and BAR types, BAR sizes) are compared with the encoded library device; runtime fields (addresses,
bus numbers, control and status registers the OS, firmware or link state change) are ignored. A
hex dump adds the static header registers of :data:`HEX_HEADER`.

Where the dump is decoded text, the real ``lspci`` judges too: the library device, with the
runtime fields the dump shows copied in from it, is rendered as a sysfs tree and ``lspci`` prints
it; its lines are compared with the dump's lines of that device (``tests/import_support.py``
says how pciutils versions may differ). A line that differs then comes from a static register.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fakesys.hw.describe import encode
from fakesys.hw.device import Device
from fakesys.hw.library import library_names, load_device
from fakesys.hw.link import detect_presence
from fakesys.hw.model import DeviceModel
from fakesys.source import Document
from harness.capture import ImportedDevice, ImportedPaste, parse_lspci
from harness.pci import regs
from harness.pci.config import ConfigSpace
from tests.conftest import RenderRoot, RunLspci
from tests.import_support import agreement, lspci_arguments, names_database, run_lspci, write_tree

DATA = Path(__file__).resolve().parent / "data" / "import"
B550 = "probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt"
X370 = "x370-rx550-asm1184e/lspci-vvnnx-partial-as-archived.txt"
BEELINK = "probe-beelink-eq13/lspci-vvnn.txt"
ASROCK_N100 = "probe-asrock-n100dc-itx/lspci-vvnn.txt"
TERRAMASTER = "19-terramaster-f4-424-pro/lspci-nnvv-clean-reboot.txt"
TERRAMASTER_KNN = "19-terramaster-f4-424-pro/lspci-knn.txt"
MATISSE_X = "matisse-navi23-tree-x/lspci-x.txt"
RK3399 = "03-rk3399-asm1184e/lspci-vvxxx.txt"
PM991_RYZEN = "samsung-pm991-two-machines/lspci-vvnn-ryzen3600.txt"

#: Why the port number and slot number of a port may differ from the cited instance.
PORT_INSTANCE = "each port of a switch or root complex has its own number; a host gives an instance its own"
#: Why a board's subsystem ID may differ from the library's.
BOARD_SUBSYSTEM = "the subsystem ID is the board vendor's; the library's is that of the board its registers come from"
#: Why an ASM1184e's subsystem may differ.
ASM1184E_SUBSYSTEM = (
    "the X370 Taichi's on-board switch carries ASRock's 1849:1184; the library keeps ASMedia's own 1b21:118f "
    "of the add-in card in 03-rk3399-asm1184e"
)
#: Root port registers Alder Lake-N firmware sets per board (HwInit), where the library follows the
#: Terramaster's ports.
ADLN_BOARD = "set by the board's firmware (HwInit); the library follows the Beelink EQ13's ports"
#: The Terramaster's Alder Lake-N functions: IDs from its `lspci -knn`, registers from an N100/N200.
ADLN_IDS = "the ID is the Terramaster F4-424 Pro's (i3-N305); the registers are taken from this N100/N200 probe"


#: How the ASRock N100DC-ITX's root ports differ from the library's (which follow the Beelink's).
ASROCK_ROOT_PORT: tuple[tuple[str, str], ...] = (
    ("header\\.interrupt_pin|express\\.sltcap\\.(slot_number|power_limit)", ADLN_BOARD),
    ("subsystem\\.subsystem_\\w+", "the ASRock's subsystem (1849:...); the library's is the Terramaster's (8086:7270)"),
    (
        "0\\.(id|version)|capabilities",
        "the ASRock's firmware leaves a null extended capability at 0x100 where the Beelink's ports have AER; "
        "the library keeps AER",
    ),
)


@dataclass(frozen=True)
class Citation:
    """A library device, the dump it cites and the device in that dump."""

    device: str
    dump: str
    bdf: str
    #: Fields (regular expressions over normalised fact paths) in which the library differs from
    #: this dump on purpose, with the reason.
    deliberate: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.device}@{self.dump.split('/')[0]}:{self.bdf}"


CITATIONS: tuple[Citation, ...] = (
    Citation("amd-500-chipset-downstream", B550, "03:08.0"),
    Citation("amd-500-chipset-downstream", MATISSE_X, "03:07.0"),
    Citation("amd-500-chipset-sata", B550, "02:00.1"),
    Citation("amd-500-chipset-sata", MATISSE_X, "02:00.1"),
    Citation("amd-500-chipset-upstream", B550, "02:00.2"),
    Citation("amd-500-chipset-upstream", MATISSE_X, "02:00.2"),
    Citation("amd-500-chipset-xhci", B550, "02:00.0"),
    Citation("amd-500-chipset-xhci", MATISSE_X, "02:00.0"),
    Citation("amd-fch-lpc", B550, "00:14.3"),
    Citation("amd-fch-lpc", MATISSE_X, "00:14.3", (("hex\\.subsystem_\\w+", BOARD_SUBSYSTEM),)),
    Citation("amd-fch-smbus", B550, "00:14.0"),
    Citation("amd-fch-smbus", MATISSE_X, "00:14.0", (("hex\\.subsystem_\\w+", BOARD_SUBSYSTEM),)),
    Citation("amd-matisse-dummy-host-bridge", B550, "00:01.0"),
    Citation("amd-matisse-dummy-host-bridge", MATISSE_X, "00:01.0"),
    Citation("amd-matisse-gpp-bridge", B550, "00:03.1"),
    Citation("amd-matisse-gpp-bridge", MATISSE_X, "00:03.1"),
    Citation("amd-matisse-iommu", B550, "00:00.2"),
    Citation("amd-matisse-iommu", MATISSE_X, "00:00.2", (("hex\\.subsystem_\\w+", BOARD_SUBSYSTEM),)),
    Citation("amd-matisse-root-complex", B550, "00:00.0"),
    Citation("amd-matisse-root-complex", MATISSE_X, "00:00.0", (("hex\\.subsystem_\\w+", BOARD_SUBSYSTEM),)),
    Citation("amd-navi10-xl-downstream", B550, "07:00.0"),
    Citation("amd-navi10-xl-downstream", MATISSE_X, "2c:00.0"),
    Citation("amd-navi10-xl-upstream", B550, "06:00.0"),
    Citation("amd-navi10-xl-upstream", MATISSE_X, "2b:00.0"),
    Citation("amd-navi23-hdmi-audio", B550, "08:00.1"),
    Citation("amd-navi23-hdmi-audio", MATISSE_X, "2d:00.1"),
    Citation("amd-navi23-rx6600", B550, "08:00.0"),
    Citation(
        "amd-navi23-rx6600",
        MATISSE_X,
        "2d:00.0",
        (("hex\\.subsystem_\\w+", "the Matisse post's card is an ASUS (1043:05d5), the library's the probe's"),),
    ),
    Citation("asmedia-asm1062", TERRAMASTER, "03:00.0"),
    Citation("asmedia-asm1184e-upstream", X370, "05:00.0", (("subsystem\\.subsystem_\\w+", ASM1184E_SUBSYSTEM),)),
    Citation("asmedia-asm1184e-upstream", RK3399, "01:00.0"),
    Citation(
        "asmedia-asm1184e-downstream",
        X370,
        "06:05.0",
        (
            ("express\\.lnkcap\\.port|express\\.sltcap\\.slot_number", PORT_INSTANCE),
            ("subsystem\\.subsystem_\\w+", ASM1184E_SUBSYSTEM),
        ),
    ),
    Citation(
        "asmedia-asm1184e-downstream",
        RK3399,
        "02:01.0",
        (
            ("express\\.lnkcap\\.port|express\\.sltcap\\.slot_number", PORT_INSTANCE),
            (
                "express\\.lnkcap\\.l0s_exit_latency",
                "an exit latency may change with LnkCtl Common Clock Configuration (PCIe r6.0 7.5.3.6): this port "
                "runs CommClk-, where ASM1184e ports report L0s unlimited (so do the X370's empty ports); the "
                "library's port has a device and CommClk+",
            ),
        ),
    ),
    Citation("innogrit-ig5236", B550, "01:00.0"),
    Citation("intel-adln-espi", BEELINK, "00:1f.0"),
    Citation("intel-adln-espi", TERRAMASTER_KNN, "00:1f.0"),
    Citation("intel-adln-hda", BEELINK, "00:1f.3"),
    Citation("intel-adln-hda", TERRAMASTER_KNN, "00:1f.3"),
    Citation("intel-adln-heci", BEELINK, "00:16.0"),
    Citation("intel-adln-heci", TERRAMASTER_KNN, "00:16.0"),
    Citation("intel-adln-host-bridge", BEELINK, "00:00.0", (("header\\.device", ADLN_IDS),)),
    Citation("intel-adln-host-bridge", TERRAMASTER_KNN, "00:00.0"),
    Citation("intel-adln-host-bridge-461c", ASROCK_N100, "00:00.0"),
    Citation(
        "intel-adln-host-bridge-461c",
        BEELINK,
        "00:00.0",
        (("header\\.subsystem_\\w+", "the Beelink's subsystem; the library's is the ASRock N100DC-ITX's"),),
    ),
    Citation("intel-adln-root-port-54ba", BEELINK, "00:1c.0"),
    Citation("intel-adln-root-port-54ba", TERRAMASTER_KNN, "00:1c.0"),
    Citation("intel-adln-root-port-54bb", BEELINK, "00:1c.3"),
    Citation("intel-adln-root-port-54bb", TERRAMASTER_KNN, "00:1c.3"),
    Citation("intel-adln-root-port-54be", ASROCK_N100, "00:1c.0", ASROCK_ROOT_PORT),
    Citation("intel-adln-root-port-54be", TERRAMASTER_KNN, "00:1c.6"),
    Citation("intel-adln-root-port-54b0", ASROCK_N100, "00:1d.0", ASROCK_ROOT_PORT),
    Citation("intel-adln-root-port-54b0", TERRAMASTER_KNN, "00:1d.0"),
    Citation("intel-adln-sata", BEELINK, "00:17.0"),
    Citation("intel-adln-sata", TERRAMASTER_KNN, "00:17.0"),
    Citation("intel-adln-shared-sram", BEELINK, "00:14.2"),
    Citation("intel-adln-shared-sram", TERRAMASTER_KNN, "00:14.2"),
    Citation("intel-adln-smbus", BEELINK, "00:1f.4"),
    Citation("intel-adln-smbus", TERRAMASTER_KNN, "00:1f.4"),
    Citation("intel-adln-spi", BEELINK, "00:1f.5"),
    Citation("intel-adln-spi", TERRAMASTER_KNN, "00:1f.5"),
    Citation("intel-adln-uhd-graphics", BEELINK, "00:02.0", (("header\\.device", ADLN_IDS),)),
    Citation("intel-adln-uhd-graphics", TERRAMASTER_KNN, "00:02.0"),
    Citation("intel-adln-xhci", BEELINK, "00:14.0"),
    Citation("intel-adln-xhci", TERRAMASTER_KNN, "00:14.0"),
    Citation("realtek-rtl8125", TERRAMASTER_KNN, "01:00.0"),
    Citation("realtek-rtl8125-gigabyte", B550, "04:00.0"),
    Citation("samsung-980", TERRAMASTER_KNN, "04:00.0"),
)

_QEMU_CAPTURE = (
    "captured by the project from a Debian 12 guest under QEMU 7.2.22 (the device's QEMU source is cited); "
    "no public dump of it to compare with"
)
#: Library devices (or parts of them) no public dump in tests/data/import shows, with the reason.
NOT_CHECKABLE: dict[str, str] = {
    "asmedia-asm1164": (
        "cites an RK3588 board's `lspci -nn` in porting notes (IDs and revision only) and the kernel commit "
        "'PCI: Mark ASMedia ASM1164 SATA controller to avoid bus reset'; the registers are the ASM1062's "
        "(extends); no dump of an ASM1164's registers was found"
    ),
    "qemu-ich9-ahci": _QEMU_CAPTURE,
    "qemu-ich9-lpc": _QEMU_CAPTURE,
    "qemu-ich9-smbus": _QEMU_CAPTURE,
    "qemu-pcie-root-port": _QEMU_CAPTURE,
    "qemu-pcie-root-port-5gt-x1": _QEMU_CAPTURE,
    "qemu-q35-host-bridge": _QEMU_CAPTURE,
    "qemu-virtio-9p-pci": _QEMU_CAPTURE,
}
#: Cited devices whose registers come (in part) from a dump that is not test data: only the IDs
#: are checked (against the dump named in CITATIONS); what is not checked, and why.
PARTLY_CHECKABLE: dict[str, str] = {
    "realtek-rtl8125": (
        "registers from an RTL8125B `lspci -vv` in RK3588 porting notes on GitHub, which is not test data; "
        "only the IDs (Terramaster F4-424 Pro `lspci -knn`) are checked"
    ),
    "samsung-980": (
        "registers from Marcin Juszkiewicz's `lspci -vv` on linux-pci (2023, 'Samsung PM991 NVME on LX2160A'); "
        "the test data of that thread (samsung-pm991-two-machines) holds the PM991 [144d:a80a] blocks, not the "
        "980's, so only the IDs (Terramaster F4-424 Pro `lspci -knn`) are checked"
    ),
}

# --- What is compared and what is ignored ------------------------------------------------------

STATIC = True
RUNTIME = False
_ADDRESS = "an address firmware or the OS assigns"
_CONTROL = "a control register the OS or firmware programs"
_STATUS = "status the device sets at run time (errors, events, link state)"

#: (regular expression over the normalised fact path, compared?, why), first match wins. The
#: normalised path is the importer's with the capability offsets left out
#: (``express@0x80.devcap.max_payload`` -> ``express.devcap.max_payload``).
FIELDS: tuple[tuple[str, bool, str], ...] = (
    (r"header\.(vendor|device|revision|class|subsystem_vendor|subsystem_device)", STATIC, "identity"),
    (r"subsystem\.subsystem_(vendor|device)", STATIC, "identity (the Subsystem capability of a bridge)"),
    (
        r"\d+\.\w+\[\d+\]",
        STATIC,
        "fields of a capability without a register table (SATA HBA BAR location and revision, HyperTransport "
        "MSI mapping, both fixed by the device)",
    ),
    (r"header\.interrupt_pin", STATIC, "wired in the device (read-only)"),
    (r"header\.interrupt_line", RUNTIME, "the OS writes the IRQ it routed"),
    (r"header\.command(\..*)?", RUNTIME, "the OS enables decoding, bus mastering and INTx disable"),
    (r"header\.status\.(capabilities|mhz66|udf|fast_b2b|devsel)", STATIC, "read-only device properties"),
    (r"header\.status\..*", RUNTIME, _STATUS),
    (r"header\.secondary_status\.(mhz66|fast_b2b|devsel)", STATIC, "read-only bridge properties"),
    (r"header\.secondary_status\..*", RUNTIME, _STATUS),
    (r"header\.(cache_line_size|latency_timer|secondary_latency_timer)", RUNTIME, "firmware or the OS programs it"),
    (r"header\.(min_gnt|max_lat)", STATIC, "read-only device properties"),
    (r"header\.(primary|secondary|subordinate)_bus", RUNTIME, "firmware numbers the buses"),
    (
        r"header\.(io_base|io_limit|prefetchable_base|prefetchable_limit)",
        STATIC,
        "compared: the window's type bits (16/32-bit I/O, 32/64-bit prefetchable); the address is firmware's",
    ),
    (r"header\.(memory_base|memory_limit|\w+_upper)", RUNTIME, _ADDRESS),
    (r"header\.bridge_control(\..*)?", RUNTIME, _CONTROL),
    (r"bar\d", STATIC, "compared: the BAR's type bits (I/O or memory, 32/64-bit, prefetchable), not its address"),
    (r"bar\d\.upper", RUNTIME, _ADDRESS),
    (r"bars\.size", STATIC, "the BAR sizes the device decodes"),
    (r"rom", RUNTIME, "the ROM BAR's address and enable (its size is compared with the BARs')"),
    (r"capabilities", STATIC, "the capability list and its order"),
    (r"[\w.]+\.(id|version)", STATIC, "the capability at that offset"),
    (r"pm\.pmc\..*", STATIC, "PM capabilities (read-only)"),
    (r"pm\.pmcsr\.no_soft_reset", STATIC, "read-only: whether D3hot->D0 resets the function"),
    (r"pm\.pmcsr\..*", RUNTIME, "the power state and PME the OS sets"),
    (r"msi\.control\.(addr64|per_vector_masking|multiple_message_capable)", STATIC, "MSI capabilities"),
    (r"msi\.(control\..*|address|data|mask_bits|pending_bits)", RUNTIME, "the OS programs MSI"),
    (r"msix\.control\.table_size|msix\.(table|pba)(\..*)?", STATIC, "MSI-X table size and location"),
    (r"msix\.control\..*", RUNTIME, "the OS enables MSI-X"),
    (r"express\.flags\..*", STATIC, "port type, slot, version"),
    (
        r"express\.devcap\.(power_limit|slot_power_limit_\w+)",
        RUNTIME,
        "set by the Set_Slot_Power_Limit message of the port above (PCIe r6.0 7.5.3.3)",
    ),
    (r"express\.(devcap|devcap2|lnkcap|lnkcap2|sltcap|rootcap)(\..*)?", STATIC, "read-only capabilities"),
    (r"express\.devsta\.aux_power", STATIC, "AUX power detected: how the device is powered (read-only)"),
    (r"express\.lnksta\.slot_clock", STATIC, "the board's reference clock wiring (read-only)"),
    (r"express\.(devctl|devctl2|lnkctl|lnkctl2|sltctl|rootctl)(\..*)?", RUNTIME, _CONTROL),
    (
        r"express\.sltsta(\..*)?",
        RUNTIME,
        "slot events and what is plugged in (presence follows the topology: test_presence_follows_the_topology)",
    ),
    (r"express\.(devsta|lnksta|lnksta2|rootsta)(\..*)?", RUNTIME, _STATUS),
    (r"aer\.capabilities\.(ecrc_\w+_capable|multiple_header_capable|completion_timeout_log_capable)", STATIC, "AER"),
    (r"aer\.capabilities\..*", RUNTIME, "error pointer and enables the OS sets"),
    (r"aer\.(uncorrectable|correctable)_(mask|severity)(\..*)?", RUNTIME, "the OS and firmware program AER"),
    (r"aer\..*", RUNTIME, "logged errors and root error control"),
    (r"vc\.(cap1|cap2|vc0_cap)(\..*)?", STATIC, "virtual channel capabilities"),
    (r"vc\..*", RUNTIME, "VC arbitration and TC/VC mapping the OS programs, negotiation status"),
    (r"acs\.cap(\..*)?", STATIC, "ACS capabilities"),
    (r"l1ss\.cap(\..*)?", STATIC, "L1 PM substates capabilities"),
    (r"(ari|ats|pasid|ptm|tph|pri)\.cap(\..*)?", STATIC, "capabilities"),
    (r"pri\.capacity", STATIC, "outstanding page request capacity"),
    (r"secondary_pcie\.lane_error_status|(acs|l1ss|ari|ats|pasid|ptm|pri)\.\w+(\..*)?", RUNTIME, _CONTROL),
    (r"secondary_pcie\..*|ltr\..*", RUNTIME, _CONTROL),
    (r"rebar\.bar\d_cap(\..*)?", STATIC, "the BAR sizes a resizable BAR supports"),
    (r"rebar\..*", RUNTIME, "the BAR size the driver chose"),
    (
        r"sriov\.(total_vfs|initial_vfs|first_vf_offset|vf_stride|vf_device|supported_page_sizes|"
        r"function_dependency_link|cap)(\..*)?",
        STATIC,
        "SR-IOV capabilities",
    ),
    (r"sriov\..*", RUNTIME, "the VFs the OS enabled and their BARs"),
    (r"dsn\.serial", RUNTIME, "a per-unit serial number"),
    (r"(vendor|dvsec)\.(length|header\d?)(\..*)?", STATIC, "vendor-specific capability header"),
    (r"hex\.[a-z_0-9]+", STATIC, "static header register in the hex dump (HEX_HEADER)"),
)
#: Static header registers a hex dump shows: (name, offset, width, mask), for devices (0) and
#: bridges (1) or both (None).
HEX_HEADER: tuple[tuple[str, int, int, int, int | None], ...] = (
    ("vendor", 0x00, 2, 0xFFFF, None),
    ("device", 0x02, 2, 0xFFFF, None),
    ("revision", 0x08, 1, 0xFF, None),
    ("class", 0x09, 3, 0xFFFFFF, None),
    ("header_layout", 0x0E, 1, 0x7F, None),  # the multifunction bit is the slot's (topology)
    ("capabilities_pointer", 0x34, 1, 0xFF, None),
    ("interrupt_pin", 0x3D, 1, 0xFF, None),
    ("subsystem_vendor", 0x2C, 2, 0xFFFF, 0),
    ("subsystem_device", 0x2E, 2, 0xFFFF, 0),
    ("io_window_type", 0x1C, 2, 0x0F0F, 1),
    ("prefetchable_window_type", 0x24, 4, 0x000F000F, 1),
)
#: Registers whose type bits only are compared (the rest is an address).
_WINDOW_TYPE_MASK = 0x0F


def normalised(path: str) -> str:
    return re.sub(r"@0x[0-9a-f]+", "", path)


@functools.cache
def _rules() -> list[tuple[re.Pattern[str], bool, str]]:
    return [(re.compile(pattern), compared, why) for pattern, compared, why in FIELDS]


def classify(path: str) -> tuple[bool, str] | None:
    """(compared?, why) for a normalised path; None when no rule covers it."""
    for pattern, compared, why in _rules():
        if pattern.fullmatch(path):
            return compared, why
    return None


# --- Comparing -------------------------------------------------------------------------------


@dataclass
class Agreement:
    """How a library device agrees with the device of a dump."""

    citation: Citation
    compared: int = 0
    ignored: int = 0
    mismatches: list[tuple[str, object, object]] = field(default_factory=list)
    deliberate: list[tuple[str, object, object, str]] = field(default_factory=list)
    unclassified: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"{self.citation.device:32} {self.citation.dump.split('/')[0]:30} {self.citation.bdf}  "
            f"compared {self.compared:4}  mismatches {len(self.mismatches):2}  "
            f"deliberate {len(self.deliberate)}  ignored {self.ignored:4}"
        )


@functools.cache
def _paste(dump: str) -> ImportedPaste:
    return parse_lspci((DATA / dump).read_text(encoding="utf-8"), dump)


def _dump_device(citation: Citation) -> ImportedDevice:
    device = _paste(citation.dump).device(f"0000:{citation.bdf}")
    assert device is not None, f"{citation.dump} has no device {citation.bdf}"
    return device


def _dump_config(device: ImportedDevice) -> bytes:
    """The dump's device as bytes: its hex where the dump has it, the decoded values encoded."""
    return bytes(encode(Document(device.description, f"<dump {device.bdf}>")).config)


def _value(config: bytes, offset: int, width: int, read: Callable[[bytes], object]) -> object:
    return read(config) if offset + width <= len(config) else "<outside config space>"


def _window_type(offset: int, width: int) -> Callable[[bytes], object]:
    return lambda config: regs.read_register(config, offset, width) & _WINDOW_TYPE_MASK


def _bar_type(offset: int) -> Callable[[bytes], object]:
    def read(config: bytes) -> object:
        value = regs.read_register(config, offset, 4)
        return value & 0x3 if value & regs.BAR_IO else value & 0xF

    return read


def _base_and_subclass(config: bytes) -> object:
    return regs.read_register(config, 0x09, 3) >> 8


def _capability_list(config: bytes) -> list[str]:
    """The capability chain as (ID, offset) words, extended capabilities marked ``x``."""
    space = ConfigSpace(config)
    caps = [f"{cap.cap_id:#x}@{cap.offset:#x}" for cap in space.capabilities()]
    return caps + [f"x{cap.cap_id:#x}@{cap.offset:#x}" for cap in space.extended_capabilities()]


def _shown_capabilities(device: ImportedDevice) -> list[str] | None:
    """The capabilities in the order the dump lists them (their ``.id`` facts), as
    :func:`_capability_list` writes them; None when the dump does not show the list."""
    shown: list[str] = []
    for fact in device.facts:
        match = re.fullmatch(r"\w+@(0x[0-9a-f]+)\.id", fact.path)
        if match is not None and isinstance(fact.value, int):
            offset = int(match[1], 16)
            shown.append(f"{'x' if offset >= 0x100 else ''}{fact.value:#x}@{offset:#x}")
    status_shown = any(fact.path == "header.status.capabilities" for fact in device.facts)
    return shown if shown or status_shown else None


def _bar_sizes(description: object) -> dict[int, tuple[object, ...]]:
    bars = description.get("bars", []) if isinstance(description, dict) else []
    return {
        bar["index"]: (bar.get("kind", "memory"), bar.get("bits", 32), bar.get("prefetchable", False), bar["size"])
        for bar in bars
        if isinstance(bar, dict) and bar.get("size") is not None and not bar.get("virtual")
    }


def _model_bar_sizes(model: DeviceModel) -> dict[int, tuple[object, ...]]:
    return {bar.index: (bar.kind.value, bar.bits, bar.prefetchable, bar.size) for bar in model.bars}


def compare(citation: Citation, library: DeviceModel) -> Agreement:
    device = _dump_device(citation)
    dump = _dump_config(device)
    mine = bytes(library.config)
    result = Agreement(citation)
    deliberate = [(re.compile(pattern), why) for pattern, why in citation.deliberate]
    titles_only = device.hexdump is None and not any(fact.path.startswith("header.status") for fact in device.facts)

    def judge(path: str, mine_value: object, dump_value: object) -> None:
        rule = classify(path)
        if rule is None:
            result.unclassified.append(path)
            return
        if not rule[0]:
            result.ignored += 1
            return
        reason = next((why for pattern, why in deliberate if pattern.fullmatch(path)), None)
        if mine_value == dump_value:
            result.compared += 1
        elif reason is not None:
            result.deliberate.append((path, mine_value, dump_value, reason))
        else:
            result.compared += 1
            result.mismatches.append((path, mine_value, dump_value))

    for fact in device.facts:
        if fact.assumed:
            continue
        path = normalised(fact.path)
        if titles_only and not re.fullmatch(r"header\.(vendor|device|revision|class|subsystem_\w+)", path):
            result.ignored += 1  # a title line shows the IDs and class only
            continue
        offset, width, mask = fact.bits[0]
        read = fact.reader
        if re.fullmatch(r"header\.(io_base|io_limit|prefetchable_base|prefetchable_limit)", path):
            if not mask & _WINDOW_TYPE_MASK:
                result.ignored += 1  # an open window: lspci 3.8+ prints the kernel's type, not the register's
                continue
            read = _window_type(offset, width)
        elif re.fullmatch(r"bar\d", path):
            read = _bar_type(offset)
        elif path == "header.class" and titles_only:
            read = _base_and_subclass  # without -v, lspci prints no prog-if: the fact's 00 is not shown
        judge(path, _value(mine, offset, width, read), _value(dump, offset, width, read))
    shown = _shown_capabilities(device)
    if shown is not None and not device.capabilities_unknown:
        judge("capabilities", _capability_list(mine), shown)
    shown_sizes = _bar_sizes(device.description)
    if shown_sizes:
        have = _model_bar_sizes(library)
        judge("bars.size", {index: have.get(index) for index in shown_sizes}, shown_sizes)
    if device.hexdump is not None:
        layout = mine[0x0E] & 0x7F
        for name, offset, width, mask, only in HEX_HEADER:
            if (only is None or only == layout) and device.hexdump.covers(offset, width):
                hexbytes = bytes(device.hexdump.data)
                judge(
                    f"hex.{name}",
                    regs.read_register(mine, offset, width) & mask,
                    regs.read_register(hexbytes, offset, width) & mask,
                )
    return result


def library_model(name: str) -> DeviceModel:
    return load_device(name)


# --- Tests -------------------------------------------------------------------------------------


def test_every_library_device_is_cited_or_not_checkable_with_a_reason() -> None:
    cited = {citation.device for citation in CITATIONS}
    library = set(library_names())
    assert not cited & set(NOT_CHECKABLE), "a device is both cited and not checkable"
    assert library - cited - set(NOT_CHECKABLE) == set(), "library devices neither cited nor listed"
    assert (cited | set(NOT_CHECKABLE)) - library == set(), "entries for devices the library does not have"
    assert set(PARTLY_CHECKABLE) <= cited
    assert all(reason.strip() for reason in [*NOT_CHECKABLE.values(), *PARTLY_CHECKABLE.values()])


def test_every_field_a_cited_dump_shows_is_classified() -> None:
    unclassified = {
        path for citation in CITATIONS for path in compare(citation, library_model(citation.device)).unclassified
    }
    assert unclassified == set(), "add these to FIELDS with a reason"


def test_the_classification_compares_the_static_registers_the_issue_names() -> None:
    for path in (
        "express.devcap.max_payload",
        "express.devcap.ext_tag",
        "express.devsta.aux_power",
        "express.lnkcap.aspm_optionality",
        "express.lnkcap2",
        "vc.cap2.arbitration_capability",
        "aer.capabilities.ecrc_check_capable",
        "header.io_base",
        "header.prefetchable_base",
        "pm.pmc.pme_d0",
        "msi.control.addr64",
        "express.sltcap.power_limit_value",
    ):
        rule = classify(path)
        assert rule is not None and rule[0] is STATIC, path
    for path in ("msi.address", "header.secondary_bus", "express.lnksta.speed", "pm.pmcsr.power_state"):
        rule = classify(path)
        assert rule is not None and rule[0] is RUNTIME, path


@pytest.mark.parametrize("citation", CITATIONS, ids=lambda citation: citation.id)
def test_a_library_device_agrees_with_the_dump_it_cites(citation: Citation) -> None:
    result = compare(citation, library_model(citation.device))
    print(result.row())
    for path, mine, dump in result.mismatches:
        print(f"    MISMATCH {path}: library {mine!r}, dump {dump!r}")
    for path, mine, dump, why in result.deliberate:
        print(f"    deliberate {path}: library {mine!r}, dump {dump!r} ({why})")
    if citation.device in PARTLY_CHECKABLE:
        print(f"    partly checkable: {PARTLY_CHECKABLE[citation.device]}")
    assert result.compared > 0
    assert result.mismatches == []


@pytest.mark.parametrize("device", sorted(NOT_CHECKABLE))
def test_a_library_device_without_a_public_dump_is_not_checkable(device: str) -> None:
    pytest.skip(f"{device}: not checkable: {NOT_CHECKABLE[device]}")


# --- The real lspci on the library device ------------------------------------------------------


def _with_runtime_of(citation: Citation, device: ImportedDevice, library: DeviceModel) -> DeviceModel:
    """The library device with the runtime fields the dump shows, and the fields the citation
    lists as deliberately different, set as the dump has them."""
    dump = _dump_config(device)
    deliberate = [re.compile(pattern) for pattern, _ in citation.deliberate]
    model = library.copy()
    config = model.config
    for fact in device.facts:
        path = normalised(fact.path)
        rule = classify(path)
        window = re.fullmatch(r"header\.(io|prefetchable)_(base|limit)", path) is not None
        if any(pattern.fullmatch(path) for pattern in deliberate):
            window = False
        elif rule is None or (rule[0] is STATIC and not window):
            continue
        for offset, width, mask in fact.bits:
            if window:
                mask &= ~_WINDOW_TYPE_MASK  # the address bits; the type is the device's
            if offset + width > min(len(config), len(dump)):
                continue
            current = regs.read_register(config, offset, width)
            value = regs.read_register(dump, offset, width)
            regs.write_register(config, offset, width, (current & ~mask) | (value & mask))
    # lspci prints BAR and ROM addresses from sysfs resource (the kernel's), not from the registers.
    shown = {bar["index"]: bar for bar in device.description.get("bars", []) if isinstance(bar, dict)}
    model.bars = [
        dataclasses.replace(bar, address=shown[bar.index].get("address", bar.address)) if bar.index in shown else bar
        for bar in model.bars
    ]
    rom = device.description.get("rom")
    if model.rom is not None and isinstance(rom, dict) and "address" in rom:
        model.rom = dataclasses.replace(model.rom, address=rom["address"])
    return model


def _decoded(citations: Sequence[Citation]) -> list[Citation]:
    return [citation for citation in citations if _dump_device(citation).verbosity >= 2]


#: Dump lines that differ for a reason outside the library device: (citation, regular expression
#: over the dump's line, why).
_RK3399_NAMES = (
    "the names: the paste prints the subsystem with the device's name and the importer takes that for "
    "1b21:1184 (the hex says 118f, which the register comparison checks), so the pci.ids the test makes "
    "has no name for 118f"
)
KNOWN_LINES: tuple[tuple[str, str, str], ...] = (
    (
        "asmedia-asm1184e-upstream@03-rk3399-asm1184e:01:00.0",
        r"Capabilities: \[c0\] Subsystem: .*|PCIe Switch Port",
        _RK3399_NAMES,
    ),
    (
        "asmedia-asm1184e-downstream@03-rk3399-asm1184e:02:01.0",
        r"Capabilities: \[c0\] Subsystem: .*|PCIe Switch Port",
        _RK3399_NAMES,
    ),
    (
        "intel-adln-uhd-graphics@probe-beelink-eq13:00:02.0",
        r"Expansion ROM at 000c0000 \[virtual\] \[disabled\] \[size=128K\]",
        "the kernel's shadow of the boot VGA's option ROM (arch/x86/pci/fixup.c pci_fixup_video), not the "
        "device's: the test's flat tree has no boot VGA",
    ),
    (
        "realtek-rtl8125-gigabyte@probe-b550-aorus-elite-ax-v2:04:00.0",
        r"LnkCap2: .* 2Retimers|- DRS-|Capabilities: \[168 v1\] Device Serial Number \.\.\.",
        "the probe's text: a pcilib error message cuts the LnkCap2 line in two, and the probe hides the serial",
    ),
)


@pytest.mark.parametrize("citation", _decoded(CITATIONS), ids=lambda citation: citation.id)
def test_the_real_lspci_prints_the_dump_lines_of_the_library_device(citation: Citation, tmp_path: Path) -> None:
    paste = _paste(citation.dump)
    device = _dump_device(citation)
    model = _with_runtime_of(citation, device, library_model(citation.device))
    write_tree(tmp_path / "root", [(device, model)])
    ids = tmp_path / "pci.ids"
    ids.write_text(names_database(paste))
    rendered = run_lspci(tmp_path / "root", ids, *lspci_arguments(paste))
    score = agreement((DATA / citation.dump).read_text(encoding="utf-8"), rendered)[device.bdf]
    static = compare(citation, library_model(citation.device))
    print(
        f"{citation.id}: {score.matched}/{score.lines} lines ({score.ratio:.1%}), "
        f"{len(static.mismatches)} static mismatches, {len(static.deliberate)} deliberate (copied from the dump)"
    )
    for line, got in score.mismatches:
        print(f"    dump:    {line}\n    library: {got}")
    excused = [re.compile(pattern) for known, pattern, _ in KNOWN_LINES if known == citation.id]
    unexplained = [
        (line, got) for line, got in score.mismatches if not any(pattern.fullmatch(line) for pattern in excused)
    ]
    assert unexplained == []
    assert not excused or len(unexplained) < len(score.mismatches), "a KNOWN_LINES entry no longer applies"


# --- Slot presence follows the topology -------------------------------------------------------

_SLTSTA = re.compile(r"SltSta:\s+Status: .*PresDet([+-])")


def _presence(output: str) -> str:
    match = _SLTSTA.search(output)
    assert match is not None, output
    return match[1]


def test_presence_follows_the_topology(scenario_root: RenderRoot, lspci: RunLspci) -> None:
    root = scenario_root("n100-asm1184e-switch")
    # A root port with the switch below it: the card is present.
    assert _presence(lspci(root, "-vv", "-s", "00:1c.0")) == "+"
    # The ASM1184e's downstream ports read PresDet- with a device working behind them, as the X370's do.
    assert _presence(lspci(root, "-vv", "-s", "02:01.0")) == "-"


def test_a_port_with_a_slot_and_nothing_below_reads_presence_clear() -> None:
    port = Device(library_model("intel-adln-root-port-54ba"))
    base = port.express_offset
    detect_presence(port)
    assert not regs.read_register(port.registers, base + 0x1A, 2) & 0x40
    port.downstream.append(Device(library_model("realtek-rtl8125")))
    detect_presence(port)
    assert regs.read_register(port.registers, base + 0x1A, 2) & 0x40


# --- Unprogrammed bridge windows ---------------------------------------------------------------

_WINDOW_LINE = re.compile(r"^\s*((?:I/O|Memory|Prefetchable memory) behind bridge: .*)$", re.MULTILINE)


def test_an_unprogrammed_window_renders_as_firmware_leaves_it(scenario_root: RenderRoot, lspci: RunLspci) -> None:
    """fakesys programs no bridge window: the switch port reads as the X370's empty port 06:03.0."""
    root = scenario_root("n100-asm1184e-switch")
    rendered = _WINDOW_LINE.findall(lspci(root, "-vv", "-s", "02:03.0"))
    block = (DATA / X370).read_text(encoding="utf-8").split("\n06:03.0 ")[1].split("\n\n")[0]
    assert rendered == _WINDOW_LINE.findall(block)
    assert rendered == [
        "I/O behind bridge: [disabled] [32-bit]",
        "Memory behind bridge: [disabled] [32-bit]",
        "Prefetchable memory behind bridge: [disabled] [64-bit]",
    ]
