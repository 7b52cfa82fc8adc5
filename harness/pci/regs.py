"""The PCI configuration-space register layout, defined once.

This module owns every offset, bit position and value encoding that vfiolab knows about the
configuration space: the type 0 and type 1 headers, the capabilities and the extended
capabilities. The decoder in :mod:`harness.pci` reads registers through these definitions and
the device models in ``fakesys.hw`` write them through the same definitions, so the two cannot
disagree.

Offsets and bit positions follow Linux ``include/uapi/linux/pci_regs.h`` (6.12) and the PCI
Express Base Specification; field names follow the labels ``lspci -vv`` prints, in snake case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CONVENTIONAL_CONFIG_SIZE = 256
EXTENDED_CONFIG_SIZE = 4096
UNPRIVILEGED_CONFIG_SIZE = 64
FIRST_EXTENDED_CAPABILITY = 0x100


class Codec:
    """Maps a register field's raw bits to the value a description uses, and back."""

    def decode(self, raw: int) -> object:
        return raw

    def encode(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {value!r}")
        return value

    def expected(self) -> str:
        return "an integer"


class FlagCodec(Codec):
    """A one-bit field: ``true``/``false``."""

    def decode(self, raw: int) -> object:
        return bool(raw)

    def encode(self, value: object) -> int:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return int(value)

    def expected(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class NamedCodec(Codec):
    """A field whose values have names (port types, link speeds, power states)."""

    names: Mapping[int, str]

    def decode(self, raw: int) -> object:
        return self.names.get(raw, raw)

    def encode(self, value: object) -> int:
        if isinstance(value, str):
            for raw, name in self.names.items():
                if name == value:
                    return raw
            raise ValueError(f"unknown value {value!r}; expected {self.expected()}")
        return Codec.encode(self, value)

    def expected(self) -> str:
        return "one of " + ", ".join(self.names.values()) + " (or the raw number)"


@dataclass(frozen=True)
class PowerOfTwoCodec(Codec):
    """A size stored as ``base << raw`` (payload sizes, read request sizes)."""

    base: int

    def decode(self, raw: int) -> object:
        return self.base << raw

    def encode(self, value: object) -> int:
        size = Codec.encode(self, value)
        raw = (size // self.base).bit_length() - 1
        if size < self.base or self.base << raw != size:
            raise ValueError(f"expected {self.expected()}, got {value!r}")
        return raw

    def expected(self) -> str:
        return f"a power of two, at least {self.base}"


@dataclass(frozen=True)
class ScaledCodec(Codec):
    """An address stored without its low, always-zero bits (MSI-X table offsets)."""

    scale: int

    def decode(self, raw: int) -> object:
        return raw * self.scale

    def encode(self, value: object) -> int:
        number = Codec.encode(self, value)
        if number % self.scale:
            raise ValueError(f"expected a multiple of {self.scale}, got {value!r}")
        return number // self.scale

    def expected(self) -> str:
        return f"a multiple of {self.scale}"


FLAG = FlagCodec()
NUMBER = Codec()

LINK_SPEEDS = NamedCodec({1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"})
POWER_STATES = NamedCodec({0: "D0", 1: "D1", 2: "D2", 3: "D3hot"})
PAYLOAD = PowerOfTwoCodec(128)
EXPRESS_PORT_TYPES = NamedCodec(
    {
        0: "endpoint",
        1: "legacy_endpoint",
        4: "root_port",
        5: "upstream_port",
        6: "downstream_port",
        7: "pcie_to_pci_bridge",
        8: "pci_to_pcie_bridge",
        9: "rc_integrated_endpoint",
        10: "rc_event_collector",
    }
)
EXPRESS_TYPE_ENDPOINT = 0
EXPRESS_TYPE_LEGACY_ENDPOINT = 1
EXPRESS_TYPE_ROOT_PORT = 4
EXPRESS_TYPE_UPSTREAM = 5
EXPRESS_TYPE_DOWNSTREAM = 6
EXPRESS_TYPE_RC_INTEGRATED = 9
DEVSEL_TIMING = NamedCodec({0: "fast", 1: "medium", 2: "slow"})
ASPM_CONTROL = NamedCodec({0: "disabled", 1: "l0s", 2: "l1", 3: "l0s_l1"})


@dataclass(frozen=True)
class Field:
    """Bits ``shift .. shift+bits-1`` of a register."""

    name: str
    shift: int
    bits: int = 1
    codec: Codec | None = None

    @property
    def mask(self) -> int:
        return ((1 << self.bits) - 1) << self.shift

    @property
    def value_codec(self) -> Codec:
        if self.codec is not None:
            return self.codec
        return FLAG if self.bits == 1 else NUMBER

    def get(self, register_value: int) -> int:
        return (register_value & self.mask) >> self.shift

    def put(self, register_value: int, raw: int) -> int:
        if raw < 0 or raw >= 1 << self.bits:
            raise ValueError(f"{raw:#x} does not fit in {self.bits} bit(s)")
        return (register_value & ~self.mask) | (raw << self.shift)


@dataclass(frozen=True)
class Register:
    """A register at ``offset`` (relative to its structure) of ``width`` bytes."""

    name: str
    offset: int
    width: int
    fields: tuple[Field, ...] = ()

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"register {self.name} has no field {name!r}")

    @property
    def whole(self) -> bool:
        """A register without named fields is described as one number."""
        return not self.fields


@dataclass(frozen=True)
class Structure:
    """A header or capability: a named set of registers."""

    name: str
    registers: tuple[Register, ...]
    cap_id: int | None = None
    extended: bool = False
    aliases: tuple[str, ...] = field(default=())

    def register(self, name: str) -> Register:
        for candidate in self.registers:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no register {name!r}")

    def has_register(self, name: str) -> bool:
        return any(candidate.name == name for candidate in self.registers)


def _flags(*names: str, start: int = 0) -> tuple[Field, ...]:
    """Consecutive one-bit fields from bit ``start``; ``None``-like gaps are written as ''."""
    return tuple(Field(name, start + index) for index, name in enumerate(names) if name)


# --- Headers -------------------------------------------------------------------------------

COMMAND = Register(
    "command",
    0x04,
    2,
    _flags(
        "io",
        "memory",
        "bus_master",
        "special_cycles",
        "mwi",
        "vga_snoop",
        "parity_error_response",
        "stepping",
        "serr",
        "fast_b2b",
        "intx_disable",
    ),
)
STATUS = Register(
    "status",
    0x06,
    2,
    (
        Field("immediate_readiness", 0),
        Field("interrupt", 3),
        Field("capabilities", 4),
        Field("mhz66", 5),
        Field("udf", 6),
        Field("fast_b2b", 7),
        Field("master_data_parity_error", 8),
        Field("devsel", 9, 2, DEVSEL_TIMING),
        Field("signaled_target_abort", 11),
        Field("received_target_abort", 12),
        Field("received_master_abort", 13),
        Field("signaled_system_error", 14),
        Field("detected_parity_error", 15),
    ),
)
HEADER_TYPE = Register("header_type", 0x0E, 1, (Field("layout", 0, 7), Field("multifunction", 7)))

_COMMON_HEADER = (
    Register("vendor", 0x00, 2),
    Register("device", 0x02, 2),
    COMMAND,
    STATUS,
    Register("revision", 0x08, 1),
    Register("class", 0x09, 3),
    Register("cache_line_size", 0x0C, 1),
    Register("latency_timer", 0x0D, 1),
    HEADER_TYPE,
    Register("bist", 0x0F, 1),
)

HEADER_TYPE0 = Structure(
    "header0",
    _COMMON_HEADER
    + (
        Register("cardbus_cis", 0x28, 4),
        Register("subsystem_vendor", 0x2C, 2),
        Register("subsystem_device", 0x2E, 2),
        Register("capabilities_pointer", 0x34, 1),
        Register("interrupt_line", 0x3C, 1),
        Register("interrupt_pin", 0x3D, 1),
        Register("min_gnt", 0x3E, 1),
        Register("max_lat", 0x3F, 1),
    ),
)

BRIDGE_CONTROL = Register(
    "bridge_control",
    0x3E,
    2,
    _flags(
        "parity_error_response",
        "serr",
        "isa",
        "vga",
        "vga16",
        "master_abort_mode",
        "secondary_bus_reset",
        "fast_b2b",
        "primary_discard_timer",
        "secondary_discard_timer",
        "discard_timer_status",
        "discard_timer_serr",
    ),
)

SECONDARY_STATUS = Register(
    "secondary_status",
    0x1E,
    2,
    (
        Field("mhz66", 5),
        Field("fast_b2b", 7),
        Field("master_data_parity_error", 8),
        Field("devsel", 9, 2, DEVSEL_TIMING),
        Field("signaled_target_abort", 11),
        Field("received_target_abort", 12),
        Field("received_master_abort", 13),
        Field("received_system_error", 14),
        Field("detected_parity_error", 15),
    ),
)

HEADER_TYPE1 = Structure(
    "header1",
    _COMMON_HEADER
    + (
        Register("primary_bus", 0x18, 1),
        Register("secondary_bus", 0x19, 1),
        Register("subordinate_bus", 0x1A, 1),
        Register("secondary_latency_timer", 0x1B, 1),
        Register("io_base", 0x1C, 1),
        Register("io_limit", 0x1D, 1),
        SECONDARY_STATUS,
        Register("memory_base", 0x20, 2),
        Register("memory_limit", 0x22, 2),
        Register("prefetchable_base", 0x24, 2),
        Register("prefetchable_limit", 0x26, 2),
        Register("prefetchable_base_upper", 0x28, 4),
        Register("prefetchable_limit_upper", 0x2C, 4),
        Register("io_base_upper", 0x30, 2),
        Register("io_limit_upper", 0x32, 2),
        Register("capabilities_pointer", 0x34, 1),
        Register("interrupt_line", 0x3C, 1),
        Register("interrupt_pin", 0x3D, 1),
        BRIDGE_CONTROL,
    ),
)

BAR_OFFSETS_TYPE0 = (0x10, 0x14, 0x18, 0x1C, 0x20, 0x24)
BAR_OFFSETS_TYPE1 = (0x10, 0x14)
ROM_BAR_TYPE0 = 0x30
ROM_BAR_TYPE1 = 0x38
ROM_ENABLE = 0x1
ROM_ADDRESS_MASK = 0xFFFFF800
BAR_IO = 0x1
BAR_MEM_TYPE_64 = 0x4
BAR_MEM_PREFETCH = 0x8
BAR_IO_ADDRESS_MASK = 0xFFFFFFFC
BAR_MEM_ADDRESS_MASK = 0xFFFFFFF0

HEADER_LAYOUT_NORMAL = 0
HEADER_LAYOUT_BRIDGE = 1
HEADER_LAYOUT_CARDBUS = 2

CAPABILITIES_POINTER = 0x34
CAPABILITY_POINTER_MASK = 0xFC
STATUS_CAPABILITIES = 0x10

# --- Capabilities (the list at 0x34) -----------------------------------------------------

CAP_PM = 0x01
CAP_MSI = 0x05
CAP_VENDOR = 0x09
CAP_EXPRESS = 0x10
CAP_MSIX = 0x11
CAP_SUBSYSTEM = 0x0D
CAP_AF = 0x13

PM = Structure(
    "pm",
    (
        Register(
            "pmc",
            0x02,
            2,
            (
                Field("version", 0, 3),
                Field("pme_clock", 3),
                Field("dsi", 5),
                Field("aux_current", 6, 3),
                Field("d1", 9),
                Field("d2", 10),
                Field("pme_d0", 11),
                Field("pme_d1", 12),
                Field("pme_d2", 13),
                Field("pme_d3hot", 14),
                Field("pme_d3cold", 15),
            ),
        ),
        Register(
            "pmcsr",
            0x04,
            2,
            (
                Field("power_state", 0, 2, POWER_STATES),
                Field("no_soft_reset", 3),
                Field("pme_enable", 8),
                Field("data_select", 9, 4),
                Field("data_scale", 13, 2),
                Field("pme_status", 15),
            ),
        ),
        Register("bridge_extensions", 0x06, 1, (Field("b2_b3", 6), Field("bus_power_clock_control", 7))),
        Register("data", 0x07, 1),
    ),
    cap_id=CAP_PM,
)
PM_LENGTH = 8
PMCSR_NO_SOFT_RESET = 0x08
PMCSR_STATE_MASK = 0x03

MSI_CONTROL = Register(
    "control",
    0x02,
    2,
    (
        Field("enable", 0),
        Field("multiple_message_capable", 1, 3),
        Field("multiple_message_enable", 4, 3),
        Field("addr64", 7),
        Field("per_vector_masking", 8),
    ),
)
MSI = Structure("msi", (MSI_CONTROL,), cap_id=CAP_MSI)

MSIX = Structure(
    "msix",
    (
        Register(
            "control",
            0x02,
            2,
            (Field("table_size", 0, 11), Field("function_mask", 14), Field("enable", 15)),
        ),
        Register(
            "table",
            0x04,
            4,
            (Field("bir", 0, 3), Field("offset", 3, 29, ScaledCodec(8))),
        ),
        Register(
            "pba",
            0x08,
            4,
            (Field("bir", 0, 3), Field("offset", 3, 29, ScaledCodec(8))),
        ),
    ),
    cap_id=CAP_MSIX,
)
MSIX_LENGTH = 12

SUBSYSTEM = Structure(
    "subsystem",
    (Register("subsystem_vendor", 0x04, 2), Register("subsystem_device", 0x06, 2)),
    cap_id=CAP_SUBSYSTEM,
)
SUBSYSTEM_LENGTH = 8

AF = Structure(
    "af",
    (
        Register("length", 0x02, 1),
        Register("cap", 0x03, 1, (Field("transactions_pending", 0), Field("flr", 1))),
        Register("control", 0x04, 1, (Field("initiate_flr", 0),)),
        Register("status", 0x05, 1, (Field("transactions_pending", 0),)),
    ),
    cap_id=CAP_AF,
)
AF_LENGTH = 6

EXPRESS_FLAGS = Register(
    "flags",
    0x02,
    2,
    (
        Field("version", 0, 4),
        Field("type", 4, 4, EXPRESS_PORT_TYPES),
        Field("slot", 8),
        Field("interrupt_message", 9, 5),
    ),
)
EXPRESS_DEVCAP = Register(
    "devcap",
    0x04,
    4,
    (
        Field("max_payload", 0, 3, PAYLOAD),
        Field("phantom_functions", 3, 2),
        Field("ext_tag", 5),
        Field("l0s_latency", 6, 3),
        Field("l1_latency", 9, 3),
        Field("attn_button", 12),
        Field("attn_indicator", 13),
        Field("power_indicator", 14),
        Field("rbe", 15),
        Field("slot_power_limit_value", 18, 8),
        Field("slot_power_limit_scale", 26, 2),
        Field("flr", 28),
        Field("tee_io", 30),
    ),
)
EXPRESS_DEVCTL = Register(
    "devctl",
    0x08,
    2,
    (
        Field("correctable_errors", 0),
        Field("non_fatal_errors", 1),
        Field("fatal_errors", 2),
        Field("unsupported_requests", 3),
        Field("relaxed_ordering", 4),
        Field("max_payload", 5, 3, PAYLOAD),
        Field("ext_tag", 8),
        Field("phantom_functions", 9),
        Field("aux_power", 10),
        Field("no_snoop", 11),
        Field("max_read_request", 12, 3, PAYLOAD),
        Field("bridge_retry_or_flr", 15),
    ),
)
EXPRESS_DEVSTA = Register(
    "devsta",
    0x0A,
    2,
    _flags(
        "correctable_error",
        "non_fatal_error",
        "fatal_error",
        "unsupported_request",
        "aux_power",
        "transactions_pending",
    ),
)
EXPRESS_LNKCAP = Register(
    "lnkcap",
    0x0C,
    4,
    (
        Field("max_speed", 0, 4, LINK_SPEEDS),
        Field("max_width", 4, 6),
        Field("aspm_support", 10, 2),
        Field("l0s_exit_latency", 12, 3),
        Field("l1_exit_latency", 15, 3),
        Field("clock_pm", 18),
        Field("surprise_down", 19),
        Field("dll_active_reporting", 20),
        Field("bandwidth_notification", 21),
        Field("aspm_optionality", 22),
        Field("port", 24, 8),
    ),
)
EXPRESS_LNKCTL = Register(
    "lnkctl",
    0x10,
    2,
    (
        Field("aspm", 0, 2, ASPM_CONTROL),
        Field("rcb_128", 3),
        Field("link_disable", 4),
        Field("retrain", 5),
        Field("common_clock", 6),
        Field("extended_synch", 7),
        Field("clock_pm", 8),
        Field("autonomous_width_disable", 9),
        Field("bandwidth_interrupt", 10),
        Field("autonomous_bandwidth_interrupt", 11),
        Field("flit_mode_disable", 13),
    ),
)
EXPRESS_LNKSTA = Register(
    "lnksta",
    0x12,
    2,
    (
        Field("speed", 0, 4, LINK_SPEEDS),
        Field("width", 4, 6),
        Field("training_error", 10),
        Field("training", 11),
        Field("slot_clock", 12),
        Field("dll_active", 13),
        Field("bandwidth_management", 14),
        Field("autonomous_bandwidth", 15),
    ),
)
EXPRESS_SLTCAP = Register(
    "sltcap",
    0x14,
    4,
    (
        Field("attn_button", 0),
        Field("power_controller", 1),
        Field("mrl_sensor", 2),
        Field("attn_indicator", 3),
        Field("power_indicator", 4),
        Field("hotplug_surprise", 5),
        Field("hotplug_capable", 6),
        Field("power_limit_value", 7, 8),
        Field("power_limit_scale", 15, 2),
        Field("interlock", 17),
        Field("no_command_completed", 18),
        Field("slot_number", 19, 13),
    ),
)
EXPRESS_SLTCTL = Register(
    "sltctl",
    0x18,
    2,
    (
        Field("attn_button_enable", 0),
        Field("power_fault_enable", 1),
        Field("mrl_enable", 2),
        Field("presence_detect_enable", 3),
        Field("command_completed_enable", 4),
        Field("hotplug_interrupt_enable", 5),
        Field("attn_indicator", 6, 2),
        Field("power_indicator", 8, 2),
        Field("power_controller_off", 10),
        Field("interlock", 11),
        Field("link_state_changed_enable", 12),
    ),
)
EXPRESS_SLTSTA = Register(
    "sltsta",
    0x1A,
    2,
    _flags(
        "attn_button",
        "power_fault",
        "mrl_changed",
        "presence_detect_changed",
        "command_completed",
        "mrl_open",
        "presence_detect",
        "interlock",
        "link_state_changed",
    ),
)
EXPRESS_ROOTCTL = Register(
    "rootctl",
    0x1C,
    2,
    _flags("serr_correctable", "serr_non_fatal", "serr_fatal", "pme_interrupt", "crs_visibility"),
)
EXPRESS_ROOTCAP = Register("rootcap", 0x1E, 2, (Field("crs_visibility", 0),))
EXPRESS_ROOTSTA = Register(
    "rootsta",
    0x20,
    4,
    (Field("pme_requester", 0, 16), Field("pme_status", 16), Field("pme_pending", 17)),
)
EXPRESS_DEVCAP2 = Register(
    "devcap2",
    0x24,
    4,
    (
        Field("completion_timeout_ranges", 0, 4),
        Field("completion_timeout_disable", 4),
        Field("ari_forwarding", 5),
        Field("atomic_routing", 6),
        Field("atomic_32bit", 7),
        Field("atomic_64bit", 8),
        Field("atomic_128bit_cas", 9),
        Field("no_ro_enabled_pr_pr", 10),
        Field("ltr", 11),
        Field("tph_completer", 12, 2),
        Field("ln_system_cls", 14, 2),
        Field("tag10_completer", 16),
        Field("tag10_requester", 17),
        Field("obff", 18, 2),
        Field("extended_fmt", 20),
        Field("end_end_tlp_prefix", 21),
        Field("max_end_end_tlp_prefixes", 22, 2),
        Field("emergency_power_reduction", 24, 2),
        Field("emergency_power_reduction_init", 26),
        Field("frs", 31),
    ),
)
EXPRESS_DEVCTL2 = Register(
    "devctl2",
    0x28,
    2,
    (
        Field("completion_timeout", 0, 4),
        Field("completion_timeout_disable", 4),
        Field("ari_forwarding", 5),
        Field("atomic_requester", 6),
        Field("atomic_egress_blocking", 7),
        Field("ido_request", 8),
        Field("ido_completion", 9),
        Field("ltr", 10),
        Field("emergency_power_reduction_request", 11),
        Field("tag10_requester", 12),
        Field("obff", 13, 2),
        Field("end_end_tlp_prefix_blocking", 15),
    ),
)
EXPRESS_DEVSTA2 = Register("devsta2", 0x2A, 2)
EXPRESS_LNKCAP2 = Register(
    "lnkcap2",
    0x2C,
    4,
    (
        Field("supported_speeds", 1, 7),
        Field("crosslink", 8),
        Field("retimer", 23),
        Field("two_retimers", 24),
        Field("drs", 31),
    ),
)
EXPRESS_LNKCTL2 = Register(
    "lnkctl2",
    0x30,
    2,
    (
        Field("target_speed", 0, 4, LINK_SPEEDS),
        Field("enter_compliance", 4),
        Field("speed_disable", 5),
        Field("selectable_deemphasis", 6),
        Field("transmit_margin", 7, 3),
        Field("enter_modified_compliance", 10),
        Field("compliance_sos", 11),
        Field("compliance_preset", 12, 4),
    ),
)
EXPRESS_LNKSTA2 = Register(
    "lnksta2",
    0x32,
    2,
    (
        Field("current_deemphasis", 0),
        Field("equalization_complete", 1),
        Field("equalization_phase1", 2),
        Field("equalization_phase2", 3),
        Field("equalization_phase3", 4),
        Field("link_equalization_request", 5),
        Field("retimer", 6),
        Field("two_retimers", 7),
        Field("crosslink_resolution", 8, 2),
        Field("flit_mode", 10),
        Field("downstream_component_presence", 12, 3),
        Field("drs_message_received", 15),
    ),
)
EXPRESS_SLTCAP2 = Register("sltcap2", 0x34, 4)
EXPRESS_SLTCTL2 = Register("sltctl2", 0x38, 2)
EXPRESS_SLTSTA2 = Register("sltsta2", 0x3A, 2)

EXPRESS = Structure(
    "express",
    (
        EXPRESS_FLAGS,
        EXPRESS_DEVCAP,
        EXPRESS_DEVCTL,
        EXPRESS_DEVSTA,
        EXPRESS_LNKCAP,
        EXPRESS_LNKCTL,
        EXPRESS_LNKSTA,
        EXPRESS_SLTCAP,
        EXPRESS_SLTCTL,
        EXPRESS_SLTSTA,
        EXPRESS_ROOTCTL,
        EXPRESS_ROOTCAP,
        EXPRESS_ROOTSTA,
        EXPRESS_DEVCAP2,
        EXPRESS_DEVCTL2,
        EXPRESS_DEVSTA2,
        EXPRESS_LNKCAP2,
        EXPRESS_LNKCTL2,
        EXPRESS_LNKSTA2,
        EXPRESS_SLTCAP2,
        EXPRESS_SLTCTL2,
        EXPRESS_SLTSTA2,
    ),
    cap_id=CAP_EXPRESS,
)
EXPRESS_V1_LENGTH = 0x24
EXPRESS_V1_ENDPOINT_LENGTH = 0x14
EXPRESS_V2_LENGTH = 0x3C
EXPRESS_DEVCAP_FLR = 1 << 28
EXPRESS_LNKCTL_RETRAIN = 1 << 5
EXPRESS_LNKSTA_DLLLA = 1 << 13
EXPRESS_LNKSTA_LBMS = 1 << 14

# --- Extended capabilities (the list at 0x100) -------------------------------------------

EXT_AER = 0x0001
EXT_VC = 0x0002
EXT_DSN = 0x0003
EXT_ACS = 0x000D
EXT_SRIOV = 0x0010

AER_UNCORRECTABLE_FIELDS = (
    Field("undefined", 0),
    Field("dlp", 4),
    Field("sdes", 5),
    Field("poisoned_tlp", 12),
    Field("fcp", 13),
    Field("completion_timeout", 14),
    Field("completer_abort", 15),
    Field("unexpected_completion", 16),
    Field("receiver_overflow", 17),
    Field("malformed_tlp", 18),
    Field("ecrc", 19),
    Field("unsupported_request", 20),
    Field("acs_violation", 21),
    Field("internal", 22),
    Field("mc_blocked_tlp", 23),
    Field("atomic_egress_blocked", 24),
    Field("tlp_prefix_blocked", 25),
    Field("poisoned_tlp_egress_blocked", 26),
    Field("dmwr_request_egress_blocked", 27),
    Field("ide_check_failed", 28),
    Field("misrouted_ide_tlp", 29),
    Field("pcrc_check_failed", 30),
    Field("tlp_translation_egress_blocked", 31),
)
AER_CORRECTABLE_FIELDS = (
    Field("receiver_error", 0),
    Field("bad_tlp", 6),
    Field("bad_dllp", 7),
    Field("replay_rollover", 8),
    Field("replay_timer_timeout", 12),
    Field("advisory_non_fatal", 13),
    Field("internal", 14),
    Field("header_log_overflow", 15),
)
AER = Structure(
    "aer",
    (
        Register("uncorrectable_status", 0x04, 4, AER_UNCORRECTABLE_FIELDS),
        Register("uncorrectable_mask", 0x08, 4, AER_UNCORRECTABLE_FIELDS),
        Register("uncorrectable_severity", 0x0C, 4, AER_UNCORRECTABLE_FIELDS),
        Register("correctable_status", 0x10, 4, AER_CORRECTABLE_FIELDS),
        Register("correctable_mask", 0x14, 4, AER_CORRECTABLE_FIELDS),
        Register(
            "capabilities",
            0x18,
            4,
            (
                Field("first_error_pointer", 0, 5),
                Field("ecrc_generation_capable", 5),
                Field("ecrc_generation_enable", 6),
                Field("ecrc_check_capable", 7),
                Field("ecrc_check_enable", 8),
                Field("multiple_header_capable", 9),
                Field("multiple_header_enable", 10),
                Field("tlp_prefix_log", 11),
                Field("completion_timeout_log_capable", 12),
            ),
        ),
        Register("header_log0", 0x1C, 4),
        Register("header_log1", 0x20, 4),
        Register("header_log2", 0x24, 4),
        Register("header_log3", 0x28, 4),
        Register(
            "root_command",
            0x2C,
            4,
            _flags("correctable_reporting", "non_fatal_reporting", "fatal_reporting"),
        ),
        Register(
            "root_status",
            0x30,
            4,
            _flags(
                "correctable_received",
                "multiple_correctable_received",
                "uncorrectable_received",
                "multiple_uncorrectable_received",
                "first_uncorrectable_fatal",
                "non_fatal_received",
                "fatal_received",
            )
            + (Field("interrupt_message", 27, 5),),
        ),
        Register(
            "error_source",
            0x34,
            4,
            (Field("correctable_source", 0, 16), Field("uncorrectable_source", 16, 16)),
        ),
    ),
    cap_id=EXT_AER,
    extended=True,
)
AER_ENDPOINT_LENGTH = 0x2C
AER_ROOT_PORT_LENGTH = 0x38

ACS_FLAGS = (
    "source_validation",
    "translation_blocking",
    "request_redirect",
    "completion_redirect",
    "upstream_forwarding",
    "egress_control",
    "direct_translated",
)
ACS = Structure(
    "acs",
    (
        Register("cap", 0x04, 2, _flags(*ACS_FLAGS) + (Field("egress_vector_bits", 8, 8),)),
        Register("control", 0x06, 2, _flags(*ACS_FLAGS)),
    ),
    cap_id=EXT_ACS,
    extended=True,
)
ACS_LENGTH = 8
ACS_SV = 0x01
ACS_TB = 0x02
ACS_RR = 0x04
ACS_CR = 0x08
ACS_UF = 0x10
ACS_EC = 0x20
ACS_DT = 0x40
ACS_CAP_OFFSET = 0x04
ACS_CTRL_OFFSET = 0x06


def _vc_resource(index: int) -> tuple[Register, ...]:
    """The capability, control and status registers of virtual channel ``index`` (PCIe r6.0
    7.9.1.7-7.9.1.9): 12 bytes each, after the port registers."""
    base = 0x10 + 12 * index
    return (
        Register(
            f"vc{index}_cap",
            base,
            4,
            (
                Field("port_arbitration_capability", 0, 8),
                Field("advanced_packet_switching", 14),
                Field("reject_snoop_transactions", 15),
                Field("max_time_slots", 16, 7),
                Field("port_arbitration_table_offset", 24, 8),
            ),
        ),
        Register(
            f"vc{index}_control",
            base + 4,
            4,
            (
                Field("tc_vc_map", 0, 8),
                Field("load_port_arbitration_table", 16),
                Field("port_arbitration_select", 17, 3),
                Field("vc_id", 24, 3),
                Field("enable", 31),
            ),
        ),
        Register(
            f"vc{index}_status",
            base + 10,
            2,
            (Field("port_arbitration_table_status", 0), Field("negotiation_pending", 1)),
        ),
    )


VC_MAX_EXTENDED = 7
VC = Structure(
    "vc",
    (
        Register(
            "cap1",
            0x04,
            4,
            (
                Field("extended_vc_count", 0, 3),
                Field("low_priority_evc_count", 4, 3),
                Field("reference_clock", 8, 2),
                Field("port_arbitration_table_entry_size", 10, 2),
            ),
        ),
        Register(
            "cap2",
            0x08,
            4,
            (
                Field("arbitration_capability", 0, 8),
                Field("arbitration_table_offset", 24, 8),
            ),
        ),
        Register(
            "control",
            0x0C,
            2,
            (Field("load_arbitration_table", 0), Field("arbitration_select", 1, 3)),
        ),
        Register("status", 0x0E, 2, (Field("arbitration_table_status", 0),)),
    )
    + tuple(register for index in range(VC_MAX_EXTENDED + 1) for register in _vc_resource(index)),
    cap_id=EXT_VC,
    extended=True,
)
VC_LENGTH = 0x1C

DSN = Structure("dsn", (Register("serial", 0x04, 8),), cap_id=EXT_DSN, extended=True)
DSN_LENGTH = 0x0C

SRIOV = Structure(
    "sriov",
    (
        Register(
            "cap",
            0x04,
            4,
            (
                Field("vf_migration", 0),
                Field("ari_capable_hierarchy_preserved", 1),
                Field("vf_10bit_tag_requester", 2),
                Field("vf_migration_interrupt", 21, 11),
            ),
        ),
        Register(
            "control",
            0x08,
            2,
            _flags(
                "vf_enable",
                "vf_migration_enable",
                "vf_migration_interrupt_enable",
                "vf_mse",
                "ari_capable_hierarchy",
                "vf_10bit_tag_requester_enable",
            ),
        ),
        Register("status", 0x0A, 2, (Field("vf_migration_status", 0),)),
        Register("initial_vfs", 0x0C, 2),
        Register("total_vfs", 0x0E, 2),
        Register("num_vfs", 0x10, 2),
        Register("function_dependency_link", 0x12, 1),
        Register("first_vf_offset", 0x14, 2),
        Register("vf_stride", 0x16, 2),
        Register("vf_device", 0x1A, 2),
        Register("supported_page_sizes", 0x1C, 4),
        Register("system_page_size", 0x20, 4),
        Register("vf_bar0", 0x24, 4),
        Register("vf_bar1", 0x28, 4),
        Register("vf_bar2", 0x2C, 4),
        Register("vf_bar3", 0x30, 4),
        Register("vf_bar4", 0x34, 4),
        Register("vf_bar5", 0x38, 4),
        Register("vf_migration_state", 0x3C, 4),
    ),
    cap_id=EXT_SRIOV,
    extended=True,
)
SRIOV_LENGTH = 0x40

# Extended capabilities lspci decodes beyond the ones above (IDs from pci_regs.h 6.12; register
# layouts from the PCI Express Base Specification r6.0, chapter 7; field names follow lspci's
# labels in snake case).
EXT_RCEC = 0x0007
EXT_VENDOR = 0x000B
EXT_ARI = 0x000E
EXT_ATS = 0x000F
EXT_PRI = 0x0013
EXT_REBAR = 0x0015
EXT_TPH = 0x0017
EXT_LTR = 0x0018
EXT_SECONDARY_PCIE = 0x0019
EXT_PASID = 0x001B
EXT_DPC = 0x001D
EXT_L1SS = 0x001E
EXT_PTM = 0x001F
EXT_DVSEC = 0x0023
EXT_VF_REBAR = 0x0024

VENDOR_SPECIFIC = Structure(
    "vendor",
    (Register("header", 0x04, 4, (Field("id", 0, 16), Field("revision", 16, 4), Field("length", 20, 12))),),
    cap_id=EXT_VENDOR,
    extended=True,
)
DVSEC = Structure(
    "dvsec",
    (
        Register("header1", 0x04, 4, (Field("vendor", 0, 16), Field("revision", 16, 4), Field("length", 20, 12))),
        Register("header2", 0x08, 2, (Field("id", 0, 16),)),
    ),
    cap_id=EXT_DVSEC,
    extended=True,
)
ARI = Structure(
    "ari",
    (
        Register("cap", 0x04, 2, (Field("mfvc", 0), Field("acs", 1), Field("next_function", 8, 8))),
        Register("control", 0x06, 2, (Field("mfvc", 0), Field("acs", 1), Field("function_group", 4, 3))),
    ),
    cap_id=EXT_ARI,
    extended=True,
)
ATS = Structure(
    "ats",
    (
        Register("cap", 0x04, 2, (Field("invalidate_queue_depth", 0, 5), Field("page_aligned_request", 5))),
        Register("control", 0x06, 2, (Field("smallest_translation_unit", 0, 5), Field("enable", 15))),
    ),
    cap_id=EXT_ATS,
    extended=True,
)
PRI = Structure(
    "pri",
    (
        Register("control", 0x04, 2, (Field("enable", 0), Field("reset", 1))),
        Register(
            "status",
            0x06,
            2,
            (
                Field("response_failure", 0),
                Field("unexpected_index", 1),
                Field("stopped", 8),
                Field("pasid_required", 15),
            ),
        ),
        Register("capacity", 0x08, 4),
        Register("allocation", 0x0C, 4),
    ),
    cap_id=EXT_PRI,
    extended=True,
)
PASID = Structure(
    "pasid",
    (
        Register("cap", 0x04, 2, (Field("execute", 1), Field("privileged", 2), Field("max_width", 8, 5))),
        Register("control", 0x06, 2, (Field("enable", 0), Field("execute", 1), Field("privileged", 2))),
    ),
    cap_id=EXT_PASID,
    extended=True,
)
LTR = Structure(
    "ltr",
    (
        Register("max_snoop", 0x04, 2, (Field("value", 0, 10), Field("scale", 10, 3))),
        Register("max_no_snoop", 0x06, 2, (Field("value", 0, 10), Field("scale", 10, 3))),
    ),
    cap_id=EXT_LTR,
    extended=True,
)
L1SS = Structure(
    "l1ss",
    (
        Register(
            "cap",
            0x04,
            4,
            (
                Field("pci_pm_l12", 0),
                Field("pci_pm_l11", 1),
                Field("aspm_l12", 2),
                Field("aspm_l11", 3),
                Field("l1_pm_substates", 4),
                Field("port_common_mode_restore_time", 8, 8),
                Field("port_t_power_on_scale", 16, 2),
                Field("port_t_power_on_value", 19, 5),
            ),
        ),
        Register(
            "control1",
            0x08,
            4,
            (
                Field("pci_pm_l12", 0),
                Field("pci_pm_l11", 1),
                Field("aspm_l12", 2),
                Field("aspm_l11", 3),
                Field("common_mode_restore_time", 8, 8),
                Field("ltr_l12_threshold_value", 16, 10),
                Field("ltr_l12_threshold_scale", 29, 3),
            ),
        ),
        Register("control2", 0x0C, 4, (Field("t_power_on_scale", 0, 2), Field("t_power_on_value", 3, 5))),
    ),
    cap_id=EXT_L1SS,
    extended=True,
)
PTM = Structure(
    "ptm",
    (
        Register(
            "cap",
            0x04,
            4,
            (Field("requester", 0), Field("responder", 1), Field("root", 2), Field("local_clock_granularity", 8, 8)),
        ),
        Register(
            "control",
            0x08,
            4,
            (Field("enable", 0), Field("root_select", 1), Field("effective_granularity", 8, 8)),
        ),
    ),
    cap_id=EXT_PTM,
    extended=True,
)
DPC = Structure(
    "dpc",
    (
        Register(
            "cap",
            0x04,
            2,
            (
                Field("interrupt_message", 0, 5),
                Field("rp_extensions", 5),
                Field("poisoned_tlp_blocking", 6),
                Field("software_trigger", 7),
                Field("rp_pio_log_size", 8, 4),
                Field("dl_active_err_cor", 12),
            ),
        ),
        Register(
            "control",
            0x06,
            2,
            (
                Field("trigger_enable", 0, 2),
                Field("completion_control", 2),
                Field("interrupt_enable", 3),
                Field("err_cor_enable", 4),
                Field("poisoned_tlp_blocking", 5),
                Field("software_trigger", 6),
                Field("dl_active_err_cor", 7),
            ),
        ),
        Register(
            "status",
            0x08,
            2,
            (
                Field("trigger", 0),
                Field("trigger_reason", 1, 2),
                Field("interrupt", 3),
                Field("rp_busy", 4),
                Field("trigger_reason_extension", 5, 2),
                Field("rp_pio_first_error_pointer", 8, 5),
            ),
        ),
        Register("source", 0x0A, 2),
    ),
    cap_id=EXT_DPC,
    extended=True,
)
TPH = Structure(
    "tph",
    (
        Register(
            "cap",
            0x04,
            4,
            (
                Field("no_st_mode", 0),
                Field("interrupt_vector_mode", 1),
                Field("device_specific_mode", 2),
                Field("extended_requester", 8),
                Field("st_table_location", 9, 2),
                Field("st_table_size", 16, 11),
            ),
        ),
        Register("control", 0x08, 4, (Field("st_mode_select", 0, 3), Field("requester_enable", 8, 2))),
    ),
    cap_id=EXT_TPH,
    extended=True,
)
SECONDARY_PCIE = Structure(
    "secondary_pcie",
    (
        Register("lnkctl3", 0x04, 4, (Field("perform_equalization", 0), Field("equalization_interrupt", 1))),
        Register("lane_error_status", 0x08, 4),
    ),
    cap_id=EXT_SECONDARY_PCIE,
    extended=True,
)
RCEC = Structure(
    "rcec",
    (
        Register("rciep_bitmap", 0x04, 4),
        Register("bus_numbers", 0x08, 4, (Field("next_bus", 8, 8), Field("last_bus", 16, 8))),
    ),
    cap_id=EXT_RCEC,
    extended=True,
)
REBAR_MAX_BARS = 6


def _rebar_entries() -> tuple[Register, ...]:
    """Each resizable BAR: its capability (supported sizes from 1 MB up, bit 4 = 1 MB) and its
    control register (PCIe r6.0 7.8.6)."""
    entries: list[Register] = []
    for index in range(REBAR_MAX_BARS):
        entries.append(Register(f"bar{index}_cap", 0x04 + 8 * index, 4, (Field("sizes", 4, 28),)))
        entries.append(
            Register(
                f"bar{index}_control",
                0x08 + 8 * index,
                4,
                (
                    Field("index", 0, 3),
                    Field("count", 5, 3),
                    Field("size", 8, 6),
                    Field("extended_sizes", 16, 16),
                ),
            )
        )
    return tuple(entries)


REBAR = Structure("rebar", _rebar_entries(), cap_id=EXT_REBAR, extended=True)
VF_REBAR = Structure("vf_rebar", _rebar_entries(), cap_id=EXT_VF_REBAR, extended=True)

# The standard vendor-specific capability: only its length byte has a defined place.
VENDOR_CAPABILITY = Structure("vendor", (Register("length", 0x02, 1),), cap_id=CAP_VENDOR)
VENDOR_CAPABILITY_MIN_LENGTH = 3

EXTENDED_LENGTHS: dict[str, int] = {
    "ari": 0x08,
    "ats": 0x08,
    "pri": 0x10,
    "pasid": 0x08,
    "ltr": 0x08,
    "l1ss": 0x10,
    "ptm": 0x0C,
    "dpc": 0x0C,
    "tph": 0x0C,
    "secondary_pcie": 0x0C,
    "rcec": 0x0C,
}

CAPABILITIES: dict[str, Structure] = {
    structure.name: structure for structure in (PM, MSI, MSIX, EXPRESS, SUBSYSTEM, AF, VENDOR_CAPABILITY)
}
EXTENDED_CAPABILITIES: dict[str, Structure] = {
    structure.name: structure
    for structure in (
        AER,
        VC,
        DSN,
        ACS,
        SRIOV,
        VENDOR_SPECIFIC,
        DVSEC,
        ARI,
        ATS,
        PRI,
        PASID,
        LTR,
        L1SS,
        PTM,
        DPC,
        TPH,
        SECONDARY_PCIE,
        RCEC,
        REBAR,
        VF_REBAR,
    )
}
CAPABILITY_NAMES: dict[int, str] = {
    structure.cap_id: name for name, structure in CAPABILITIES.items() if structure.cap_id is not None
}
EXTENDED_CAPABILITY_NAMES: dict[int, str] = {
    structure.cap_id: name for name, structure in EXTENDED_CAPABILITIES.items() if structure.cap_id is not None
}


def read_register(config: bytes | bytearray, offset: int, width: int) -> int:
    """Little-endian register at an absolute offset; bytes past the end read as all-ones."""
    chunk = bytes(config[offset : offset + width])
    if len(chunk) < width:
        chunk = chunk + b"\xff" * (width - len(chunk))
    return int.from_bytes(chunk, "little")


def write_register(config: bytearray, offset: int, width: int, value: int) -> None:
    config[offset : offset + width] = value.to_bytes(width, "little")
