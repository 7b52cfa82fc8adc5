"""The extended capabilities (the list at 0x100) as ``lspci -vv`` prints them, back into registers.

Line by line the inverse of pciutils 3.9.0 ``ls-ecaps.c`` (``cap_aer``, ``cap_vc``, ``cap_acs``,
``cap_ari``, ``cap_ats``, ``cap_pri``, ``cap_pasid``, ``cap_sriov``, ``cap_ltr``, ``cap_l1pm``,
``cap_ptm``, ``cap_dpc``, ``cap_tph``, ``cap_sec``, ``cap_rebar``, ``cap_dsn``, ``cap_rcec``,
``cap_evendor``, ``cap_dvsec``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from harness.capture.builder import scan_flags
from harness.capture.capability import CapabilityContext, dec_value, hex_value
from harness.capture.lspci_caps import Decoder, Opaque
from harness.pci import regs

AER_UNCORRECTABLE = {
    "DLP": "dlp",
    "SDES": "sdes",
    "TLP": "poisoned_tlp",
    "FCP": "fcp",
    "CmpltTO": "completion_timeout",
    "CmpltAbrt": "completer_abort",
    "UnxCmplt": "unexpected_completion",
    "RxOF": "receiver_overflow",
    "MalfTLP": "malformed_tlp",
    "ECRC": "ecrc",
    "UnsupReq": "unsupported_request",
    "ACSViol": "acs_violation",
    "UncorrIntErr": "internal",
    "BlockedTLP": "mc_blocked_tlp",
    "AtomicOpBlocked": "atomic_egress_blocked",
    "TLPBlockedErr": "tlp_prefix_blocked",
    "PoisonTLPBlocked": "poisoned_tlp_egress_blocked",
    "DMWrReqBlocked": "dmwr_request_egress_blocked",
    "IDECheck": "ide_check_failed",
    "MisIDETLP": "misrouted_ide_tlp",
    "PCRC_CHECK": "pcrc_check_failed",
    "TLPXlatBlocked": "tlp_translation_egress_blocked",
}
AER_CORRECTABLE = {
    "RxErr": "receiver_error",
    "BadTLP": "bad_tlp",
    "BadDLLP": "bad_dllp",
    "Rollover": "replay_rollover",
    "Timeout": "replay_timer_timeout",
    "AdvNonFatalErr": "advisory_non_fatal",
    "NonFatalErr": "advisory_non_fatal",  # the name before pciutils 3.2
    "CorrIntErr": "internal",
    "HeaderOF": "header_log_overflow",
}
AER_CAPABILITIES = {
    "ECRCGenCap": "ecrc_generation_capable",
    "ECRCGenEn": "ecrc_generation_enable",
    "ECRCChkCap": "ecrc_check_capable",
    "ECRCChkEn": "ecrc_check_enable",
    "MultHdrRecCap": "multiple_header_capable",
    "MultHdrRecEn": "multiple_header_enable",
    "TLPPfxPres": "tlp_prefix_log",
    "HdrLogCap": "completion_timeout_log_capable",
    # The names before pciutils 3.6.
    "GenCap": "ecrc_generation_capable",
    "CGenEn": "ecrc_generation_enable",
    "ChkCap": "ecrc_check_capable",
    "ChkEn": "ecrc_check_enable",
}
AER_ROOT_STATUS = {
    "CERcvd": "correctable_received",
    "MultCERcvd": "multiple_correctable_received",
    "UERcvd": "uncorrectable_received",
    "MultUERcvd": "multiple_uncorrectable_received",
    "FirstFatal": "first_uncorrectable_fatal",
    "NonFatalMsg": "non_fatal_received",
    "FatalMsg": "fatal_received",
}


class AdvancedErrorReporting(Decoder):
    labels: ClassVar[dict[str, str]] = {
        "UESta": "uesta",
        "UEMsk": "uemsk",
        "UESvrt": "uesvrt",
        "CESta": "cesta",
        "CEMsk": "cemsk",
        "AERCap": "aercap",
        "HeaderLog": "header_log",
        "RootCmd": "root_command",
        "RootSta": "root_status",
        "ErrorSrc": "error_source",
    }

    def uesta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("uncorrectable_status", AER_UNCORRECTABLE, text, line)

    def uemsk(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("uncorrectable_mask", AER_UNCORRECTABLE, text, line)

    def uesvrt(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("uncorrectable_severity", AER_UNCORRECTABLE, text, line)

    def cesta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("correctable_status", AER_CORRECTABLE, text, line)

    def cemsk(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("correctable_mask", AER_CORRECTABLE, text, line)

    def aercap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        pointer = hex_value(r"First Error Pointer: ([0-9a-fA-F]{2})", text)
        if pointer is not None:
            ctx.sink.set("capabilities", "first_error_pointer", pointer & 0x1F, line)
        ctx.flags("capabilities", AER_CAPABILITIES, text, line)

    def header_log(self, ctx: CapabilityContext, text: str, line: int) -> None:
        words = re.findall(r"\b[0-9a-fA-F]{8}\b", text)
        for index, word in enumerate(words[:4]):
            ctx.sink.set(f"header_log{index}", None, int(word, 16), line)

    def root_command(self, ctx: CapabilityContext, text: str, line: int) -> None:
        names = {"CERptEn": "correctable_reporting", "NFERptEn": "non_fatal_reporting", "FERptEn": "fatal_reporting"}
        ctx.flags("root_command", names, text, line)

    def root_status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("root_status", AER_ROOT_STATUS, text, line)
        message = dec_value(r"IntMsg(?:Num)? (\d{1,2})", text)
        if message is not None:
            ctx.sink.set("root_status", "interrupt_message", message & 0x1F, line)

    def error_source(self, ctx: CapabilityContext, text: str, line: int) -> None:
        correctable = hex_value(r"ERR_COR: ([0-9a-fA-F]{4})", text)
        uncorrectable = hex_value(r"ERR_FATAL/NONFATAL: ([0-9a-fA-F]{4})", text)
        if correctable is not None:
            ctx.sink.set("error_source", "correctable_source", correctable, line)
        if uncorrectable is not None:
            ctx.sink.set("error_source", "uncorrectable_source", uncorrectable, line)


PORT_ARBITRATION = ("Fixed", "WRR32", "WRR64", "WRR128")
VC_ARBITRATION = ("Fixed", "WRR32", "WRR64", "WRR128", "TWRR128", "WRR256")
REFERENCE_CLOCKS = ("100ns",)


def _bits(flags: list[tuple[str, bool]], names: tuple[str, ...]) -> int:
    value = 0
    for name, on in flags:
        if on and name in names:
            value |= 1 << names.index(name)
        elif on and re.fullmatch(r"\?\?\d", name):
            value |= 1 << int(name[2])
    return value


class VirtualChannel(Decoder):
    labels: ClassVar[dict[str, str]] = {
        "Caps": "caps",
        "Arb": "arbitration",
        "Ctrl": "control",
        "Status": "status",
        "Port Arbitration Table": "ignore",
        **{f"VC{index}": "channel" for index in range(regs.VC_MAX_EXTENDED + 1)},
    }

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if re.fullmatch(r"VC\d", label):
            ctx.state["vc"] = int(label[2])
            if text.strip().startswith("Caps:"):
                self.caps(ctx, text.strip()[5:], line)
            return True
        return super().record(ctx, label, text, line)

    def ignore(self, ctx: CapabilityContext, text: str, line: int) -> None:
        """The arbitration tables lspci marks <?>: not shown."""

    def caps(self, ctx: CapabilityContext, text: str, line: int) -> None:
        channel = ctx.state.get("vc")
        if channel is None:
            lpevc = dec_value(r"LPEVC=(\d)", text)
            if lpevc is not None:
                ctx.sink.set("cap1", "low_priority_evc_count", lpevc, line)
            clock = re.search(r"RefClk=(\S{1,8})", text)
            if clock is not None and clock[1] in REFERENCE_CLOCKS:
                ctx.sink.set("cap1", "reference_clock", REFERENCE_CLOCKS.index(clock[1]), line)
            entry = dec_value(r"PATEntryBits=(\d)", text)
            if entry is not None and entry in (1, 2, 4, 8):
                ctx.sink.set("cap1", "port_arbitration_table_entry_size", entry.bit_length() - 1, line)
            return
        register = f"vc{channel}_cap"
        offset = hex_value(r"PATOffset=([0-9a-fA-F]{2})", text)
        if offset is not None:
            ctx.sink.set(register, "port_arbitration_table_offset", offset, line)
        slots = dec_value(r"MaxTimeSlots=(\d{1,3})", text)
        if slots is not None and 1 <= slots <= 128:
            ctx.sink.set(register, "max_time_slots", slots - 1, line)
        ctx.flags(register, {"RejSnoopTrans": "reject_snoop_transactions"}, text, line)

    def arbitration(self, ctx: CapabilityContext, text: str, line: int) -> None:
        flags = scan_flags(text)
        channel = ctx.state.get("vc")
        if channel is None:
            ctx.sink.set("cap2", "arbitration_capability", _bits(flags, PORT_ARBITRATION), line)
        else:
            ctx.sink.set(f"vc{channel}_cap", "port_arbitration_capability", _bits(flags, VC_ARBITRATION), line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        channel = ctx.state.get("vc")
        select = re.search(r"ArbSelect=(\w{1,8})", text)
        if channel is None:
            if select is not None and select[1] in PORT_ARBITRATION:
                ctx.sink.set("control", "arbitration_select", PORT_ARBITRATION.index(select[1]), line)
            return
        register = f"vc{channel}_control"
        ctx.flags(register, {"Enable": "enable"}, text, line)
        vc_id = dec_value(r"ID=(\d)", text)
        if vc_id is not None:
            ctx.sink.set(register, "vc_id", vc_id, line)
        if select is not None and select[1] in VC_ARBITRATION:
            ctx.sink.set(register, "port_arbitration_select", VC_ARBITRATION.index(select[1]), line)
        mapping = hex_value(r"TC/VC=([0-9a-fA-F]{2})", text)
        if mapping is not None:
            ctx.sink.set(register, "tc_vc_map", mapping, line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        channel = ctx.state.get("vc")
        if channel is None:
            ctx.flags("status", {"InProgress": "arbitration_table_status"}, text, line)
            return
        names = {"NegoPending": "negotiation_pending", "InProgress": "port_arbitration_table_status"}
        ctx.flags(f"vc{channel}_status", names, text, line)

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        channels = [int(key[2]) for key in ctx.entry if re.fullmatch(r"vc\d_cap", key)]
        if channels:
            ctx.sink.set("cap1", "extended_vc_count", max(channels), line)


ACS_FLAGS = {
    "SrcValid": "source_validation",
    "TransBlk": "translation_blocking",
    "ReqRedir": "request_redirect",
    "CmpltRedir": "completion_redirect",
    "UpstreamFwd": "upstream_forwarding",
    "EgressCtrl": "egress_control",
    "DirectTrans": "direct_translated",
}


class AccessControl(Decoder):
    labels: ClassVar[dict[str, str]] = {"ACSCap": "cap", "ACSCtl": "control"}

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", ACS_FLAGS, text, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", ACS_FLAGS, text, line)


class AlternativeRouting(Decoder):
    labels: ClassVar[dict[str, str]] = {"ARICap": "cap", "ARICtl": "control"}

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {"MFVC": "mfvc", "ACS": "acs"}, text, line)
        following = dec_value(r"Next Function: (\d{1,3})", text)
        if following is not None:
            ctx.sink.set("cap", "next_function", following & 0xFF, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"MFVC": "mfvc", "ACS": "acs"}, text, line)
        group = dec_value(r"Function Group: (\d)", text)
        if group is not None:
            ctx.sink.set("control", "function_group", group, line)


class AddressTranslation(Decoder):
    labels: ClassVar[dict[str, str]] = {"ATSCap": "cap", "ATSCtl": "control"}

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        depth = hex_value(r"Invalidate Queue Depth: ([0-9a-fA-F]{2})", text)
        if depth is not None:
            ctx.sink.set("cap", "invalidate_queue_depth", depth & 0x1F, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enable": "enable"}, text, line)
        unit = hex_value(r"Smallest Translation Unit: ([0-9a-fA-F]{2})", text)
        if unit is not None:
            ctx.sink.set("control", "smallest_translation_unit", unit & 0x1F, line)


class PageRequest(Decoder):
    labels: ClassVar[dict[str, str]] = {"PRICtl": "control", "PRISta": "status", "Page Request Capacity": "capacity"}

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enable": "enable", "Reset": "reset"}, text, line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        names = {"RF": "response_failure", "UPRGI": "unexpected_index", "Stopped": "stopped", "PASID": "pasid_required"}
        ctx.flags("status", names, text, line)

    def capacity(self, ctx: CapabilityContext, text: str, line: int) -> None:
        capacity = hex_value(r"^\s*([0-9a-fA-F]{8})", text)
        allocation = hex_value(r"Page Request Allocation: ([0-9a-fA-F]{8})", text)
        if capacity is not None:
            ctx.sink.set("capacity", None, capacity, line)
        if allocation is not None:
            ctx.sink.set("allocation", None, allocation, line)


class ProcessAddressSpace(Decoder):
    labels: ClassVar[dict[str, str]] = {"PASIDCap": "cap", "PASIDCtl": "control"}

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {"Exec": "execute", "Priv": "privileged"}, text, line)
        width = hex_value(r"Max PASID Width: ([0-9a-fA-F]{2})", text)
        if width is not None:
            ctx.sink.set("cap", "max_width", width & 0x1F, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enable": "enable", "Exec": "execute", "Priv": "privileged"}, text, line)


class SingleRootIov(Decoder):
    labels: ClassVar[dict[str, str]] = {
        "IOVCap": "cap",
        "IOVCtl": "control",
        "IOVSta": "status",
        "Initial VFs": "counts",
        "VF offset": "routing",
        "Supported Page Size": "pages",
        "VF Migration": "migration",
        **{f"Region {index}": "region" for index in range(6)},
    }

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if re.fullmatch(r"Region \d", label):
            self.region(ctx, int(label[7]), text, line)
            return True
        return super().record(ctx, label, text, line)

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        for index in range(6):
            ctx.state[f"vf_bar{index}"] = 0

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {"Migration": "vf_migration", "10BitTagReq": "vf_10bit_tag_requester"}, text, line)
        message = hex_value(r"Interrupt Message Number: ([0-9a-fA-F]{3})", text)
        if message is not None:
            ctx.sink.set("cap", "vf_migration_interrupt", message & 0x7FF, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        names = {
            "Enable": "vf_enable",
            "Migration": "vf_migration_enable",
            "Interrupt": "vf_migration_interrupt_enable",
            "MSE": "vf_mse",
            "ARIHierarchy": "ari_capable_hierarchy",
            "10BitTagReq": "vf_10bit_tag_requester_enable",
        }
        ctx.flags("control", names, text, line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("status", {"Migration": "vf_migration_status"}, text, line)

    def counts(self, ctx: CapabilityContext, text: str, line: int) -> None:
        for register, pattern in (
            ("initial_vfs", r"^\s*(\d{1,5})"),
            ("total_vfs", r"Total VFs: (\d{1,5})"),
            ("num_vfs", r"Number of VFs: (\d{1,5})"),
        ):
            value = dec_value(pattern, text)
            if value is not None:
                ctx.sink.set(register, None, value & 0xFFFF, line)
        link = hex_value(r"Function Dependency Link: ([0-9a-fA-F]{2})", text)
        if link is not None:
            ctx.sink.set("function_dependency_link", None, link, line)

    def routing(self, ctx: CapabilityContext, text: str, line: int) -> None:
        offset = dec_value(r"^\s*(\d{1,5})", text)
        stride = dec_value(r"stride: (\d{1,5})", text)
        device = hex_value(r"Device ID: ([0-9a-fA-F]{4})", text)
        for register, value in (("first_vf_offset", offset), ("vf_stride", stride), ("vf_device", device)):
            if value is not None:
                ctx.sink.set(register, None, value & 0xFFFF, line)

    def pages(self, ctx: CapabilityContext, text: str, line: int) -> None:
        supported = hex_value(r"^\s*([0-9a-fA-F]{8})", text)
        system = hex_value(r"System Page Size: ([0-9a-fA-F]{8})", text)
        if supported is not None:
            ctx.sink.set("supported_page_sizes", None, supported, line)
        if system is not None:
            ctx.sink.set("system_page_size", None, system, line)

    def region(self, ctx: CapabilityContext, index: int, text: str, line: int) -> None:
        match = re.search(r"Memory at ([0-9a-fA-F]{8,16}) \((32|64)-bit, (non-)?prefetchable\)", text)
        if match is None:
            ctx.problem(line, text, "expected 'Memory at ADDRESS (NN-bit, [non-]prefetchable)'")
            return
        address = int(match[1], 16)
        flags = (regs.BAR_MEM_TYPE_64 if match[2] == "64" else 0) | (0 if match[3] else regs.BAR_MEM_PREFETCH)
        ctx.sink.set(f"vf_bar{index}", None, (address & regs.BAR_MEM_ADDRESS_MASK) | flags, line)
        if match[2] == "64" and index < 5:
            ctx.sink.set(f"vf_bar{index + 1}", None, address >> 32, line)
        ctx.state[f"vf_bar{index}"] = 1

    def migration(self, ctx: CapabilityContext, text: str, line: int) -> None:
        offset = hex_value(r"offset: ([0-9a-fA-F]{8})", text)
        bir = hex_value(r"BIR: ([0-9a-fA-F])", text)
        if offset is not None and bir is not None:
            ctx.sink.set("vf_migration_state", None, (offset & ~7) | (bir & 7), line)

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        if ctx.builder.device.verbosity < 2:
            return
        # lspci prints only the VF BARs that are not zero (or all-ones): the others are zero.
        skip = set()
        for index in range(6):
            if ctx.state.get(f"vf_bar{index}"):
                value = ctx.entry.get(f"vf_bar{index}", 0)
                if isinstance(value, int) and value & regs.BAR_MEM_TYPE_64:
                    skip.add(index + 1)
        for index in range(6):
            if not ctx.state.get(f"vf_bar{index}") and index not in skip:
                ctx.sink.set(f"vf_bar{index}", None, 0, line)


LTR_SCALES = tuple(1 << (5 * scale) for scale in range(6))


def _ltr_encoding(nanoseconds: int) -> tuple[int, int] | None:
    for scale, unit in enumerate(LTR_SCALES):
        if nanoseconds % unit == 0 and nanoseconds // unit <= 0x3FF:
            return nanoseconds // unit, scale
    return None


class LatencyTolerance(Decoder):
    labels: ClassVar[dict[str, str]] = {"Max snoop latency": "snoop", "Max no snoop latency": "no_snoop"}

    def _latency(self, ctx: CapabilityContext, register: str, text: str, line: int) -> None:
        value = dec_value(r"(\d{1,16})ns", text)
        if value is None:
            return
        encoded = _ltr_encoding(value)
        if encoded is None:
            ctx.problem(line, text, f"latency {value}ns has no LTR encoding")
            return

        def nanoseconds(get: Callable[[str, str], int]) -> object:
            scale = get(register, "scale")
            return get(register, "value") * (1 << (5 * scale)) if scale < 6 else None

        ctx.sink.derived(
            f"{register}.latency",
            value,
            line,
            {(register, "value"): encoded[0], (register, "scale"): encoded[1]},
            nanoseconds,
        )

    def snoop(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._latency(ctx, "max_snoop", text, line)

    def no_snoop(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._latency(ctx, "max_no_snoop", text, line)


def _power_on(microseconds: int) -> tuple[int, int] | None:
    """(scale, value) of a T_PowerOn lspci prints (``l1pm_calc_pwron``: 2, 10 or 100 us units)."""
    for scale, unit in enumerate((2, 10, 100)):
        if microseconds % unit == 0 and microseconds // unit <= 31:
            return scale, microseconds // unit
    return None


def _power_on_time(scale: int, value: int) -> object:
    return (2, 10, 100)[scale] * value if scale < 3 else "<error>"


class L1Substates(Decoder):
    labels: ClassVar[dict[str, str]] = {"L1SubCap": "cap", "L1SubCtl1": "control1", "L1SubCtl2": "control2"}
    NAMES: ClassVar[dict[str, str]] = {
        "PCI-PM_L1.2": "pci_pm_l12",
        "PCI-PM_L1.1": "pci_pm_l11",
        "ASPM_L1.2": "aspm_l12",
        "ASPM_L1.1": "aspm_l11",
    }

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {**self.NAMES, "L1_PM_Substates": "l1_pm_substates"}, text, line)
        restore = dec_value(r"PortCommonModeRestoreTime=(\d{1,3})us", text)
        if restore is not None:
            ctx.sink.set("cap", "port_common_mode_restore_time", restore & 0xFF, line)
        fields = ("port_t_power_on_scale", "port_t_power_on_value")
        self._power_on(ctx, "cap", fields, r"PortTPowerOnTime=(\d+)us", text=text, line=line)

    def _power_on(
        self, ctx: CapabilityContext, register: str, fields: tuple[str, str], pattern: str, *, text: str, line: int
    ) -> None:
        scale, value = fields
        shown = dec_value(pattern, text)
        if shown is None:
            return
        encoded = _power_on(shown)
        if encoded is None:
            ctx.problem(line, text, f"T_PowerOn {shown}us has no encoding")
            return

        def time(get: Callable[[str, str], int]) -> object:
            return _power_on_time(get(register, scale), get(register, value))

        ctx.sink.derived(
            f"{register}.t_power_on", shown, line, {(register, scale): encoded[0], (register, value): encoded[1]}, time
        )

    def control1(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control1", self.NAMES, text, line)
        restore = dec_value(r"T_CommonMode=(\d{1,3})us", text)
        if restore is not None:
            ctx.sink.set("control1", "common_mode_restore_time", restore & 0xFF, line)
        threshold = dec_value(r"LTR1.2_Threshold=(\d{1,16})ns", text)
        if threshold is not None:
            encoded = _ltr_encoding(threshold)
            if encoded is None:
                ctx.problem(line, text, f"threshold {threshold}ns has no encoding")
                return

            def nanoseconds(get: Callable[[str, str], int]) -> object:
                scale = get("control1", "ltr_l12_threshold_scale")
                value = get("control1", "ltr_l12_threshold_value")
                return value * (1 << (5 * scale)) if scale <= 5 else "<error>"

            ctx.sink.derived(
                "control1.ltr_l12_threshold",
                threshold,
                line,
                {
                    ("control1", "ltr_l12_threshold_value"): encoded[0],
                    ("control1", "ltr_l12_threshold_scale"): encoded[1],
                },
                nanoseconds,
            )

    def control2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._power_on(
            ctx, "control2", ("t_power_on_scale", "t_power_on_value"), r"T_PwrOn=(\d+)us", text=text, line=line
        )


class PrecisionTime(Decoder):
    labels: ClassVar[dict[str, str]] = {
        "PTMCap": "cap",
        "PTMClockGranularity": "clock",
        "PTMControl": "control",
        "PTMEffectiveGranularity": "effective",
    }

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {"Requester": "requester", "Responder": "responder", "Root": "root"}, text, line)

    def _granularity(self, ctx: CapabilityContext, register: str, field_name: str, text: str, line: int) -> None:
        text = text.strip()
        if text in ("Unimplemented", "Unknown"):
            ctx.sink.set(register, field_name, 0, line)
        elif text == "Greater than 254ns":
            ctx.sink.set(register, field_name, 0xFF, line)
        else:
            value = dec_value(r"^(\d{1,3})ns", text)
            if value is not None:
                ctx.sink.set(register, field_name, value & 0xFF, line)

    def clock(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._granularity(ctx, "cap", "local_clock_granularity", text, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enabled": "enable", "RootSelected": "root_select"}, text, line)

    def effective(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._granularity(ctx, "control", "effective_granularity", text, line)


class DownstreamContainment(Decoder):
    labels: ClassVar[dict[str, str]] = {"DpcCap": "cap", "DpcCtl": "control", "DpcSta": "status", "Source": "source"}

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        message = dec_value(r"INT Msg #(\d{1,2})", text)
        if message is not None:
            ctx.sink.set("cap", "interrupt_message", message & 0x1F, line)
        size = dec_value(r"RP PIO Log (\d{1,2})", text)
        if size is not None:
            ctx.sink.set("cap", "rp_pio_log_size", size & 0xF, line)
        names = {
            "RPExt": "rp_extensions",
            "PoisonedTLP": "poisoned_tlp_blocking",
            "SwTrigger": "software_trigger",
            "DL_ActiveErr": "dl_active_err_cor",
        }
        ctx.flags("cap", names, text, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        trigger = hex_value(r"Trigger:([0-3])", text)
        if trigger is not None:
            ctx.sink.set("control", "trigger_enable", trigger, line)
        names = {
            "Cmpl": "completion_control",
            "INT": "interrupt_enable",
            "ErrCor": "err_cor_enable",
            "PoisonedTLP": "poisoned_tlp_blocking",
            "SwTrigger": "software_trigger",
            "DL_ActiveErr": "dl_active_err_cor",
        }
        ctx.flags("control", names, re.sub(r"Trigger:\S+", "", text), line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        for field_name, pattern in (
            ("trigger_reason", r"Reason:([0-9a-fA-F]{2})"),
            ("trigger_reason_extension", r"TriggerExt:([0-9a-fA-F]{2})"),
            ("rp_pio_first_error_pointer", r"ErrPtr:([0-9a-fA-F]{2})"),
        ):
            value = hex_value(pattern, text)
            if value is not None:
                ctx.sink.set("status", field_name, value & (0x1F if "Ptr" in pattern else 0x3), line)
        ctx.flags("status", {"Trigger": "trigger", "INT": "interrupt", "RPBusy": "rp_busy"}, text, line)

    def source(self, ctx: CapabilityContext, text: str, line: int) -> None:
        value = hex_value(r"^\s*([0-9a-fA-F]{4})", text)
        if value is not None:
            ctx.sink.set("source", None, value, line)


TPH_LINES = {
    "Interrupt vector mode supported": ("interrupt_vector_mode", None),
    "Device specific mode supported": ("device_specific_mode", None),
    "Extended requester support": ("extended_requester", None),
    "No steering table available": ("st_table_location", 0),
    "Steering table in TPH capability structure": ("st_table_location", 1),
    "Steering table in MSI-X table": ("st_table_location", 2),
    "Reserved steering table location": ("st_table_location", 3),
}


class ProcessingHints(Decoder):
    labels: ClassVar[dict[str, str]] = dict.fromkeys(TPH_LINES, "line")

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["tph_seen"] = set()

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if label not in TPH_LINES:
            return False
        field_name, value = TPH_LINES[label]
        ctx.sink.set("cap", field_name, True if value is None else value, line)
        ctx.state.setdefault("tph_seen", set()).add(field_name)
        return True

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        if ctx.builder.device.verbosity < 2:
            return
        seen = ctx.state.get("tph_seen", set())
        for field_name in ("interrupt_vector_mode", "device_specific_mode", "extended_requester"):
            if field_name not in seen:
                ctx.sink.set("cap", field_name, False, line)


class SecondaryPcie(Decoder):
    labels: ClassVar[dict[str, str]] = {"LnkCtl3": "control", "LaneErrStat": "lanes"}

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        names = {"LnkEquIntrruptEn": "equalization_interrupt", "PerformEqu": "perform_equalization"}
        ctx.flags("lnkctl3", names, text, line)

    def lanes(self, ctx: CapabilityContext, text: str, line: int) -> None:
        text = text.strip()
        if text == "0":
            ctx.sink.set("lane_error_status", None, 0, line)
            return
        match = re.match(r"LaneErr at lane:((?: \d{1,2}){1,32})$", text)
        if match is not None:
            value = 0
            for lane in match[1].split():
                value |= 1 << int(lane)
            ctx.sink.set("lane_error_status", None, value & 0xFFFFFFFF, line)


REBAR_UNITS = {"MB": 0, "GB": 10, "TB": 20, "PB": 30, "EB": 40}


def _rebar_size(text: str) -> int | None:
    match = re.fullmatch(r"(\d{1,4})(MB|GB|TB|PB|EB)", text)
    if match is None:
        return None
    number = int(match[1])
    if number & (number - 1):
        return None
    return REBAR_UNITS[match[2]] + number.bit_length() - 1


class ResizableBar(Decoder):
    labels: ClassVar[dict[str, str]] = {f"BAR {index}": "bar" for index in range(8)}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["rebar_entries"] = 0

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if label not in self.labels:
            return False
        entry = ctx.state.get("rebar_entries", 0)
        if entry >= regs.REBAR_MAX_BARS:
            ctx.problem(line, text, "more resizable BARs than the capability can hold")
            return True
        ctx.state["rebar_entries"] = entry + 1
        index = int(label[4:])
        control = f"bar{entry}_control"
        ctx.sink.set(control, "index", index & 7, line)
        current = re.search(r"current size: (\S{3,8}?)(?:,|$)", text.strip())
        if current is not None:
            size = _rebar_size(current[1])
            if size is not None and size < 64:
                ctx.sink.set(control, "size", size, line)
        sizes = 0
        extended = 0
        supported = text.partition("supported:")[2]
        for item in supported.split():
            code = _rebar_size(item)
            if code is None:
                continue
            if code < 28:
                sizes |= 1 << code
            elif code < 44:
                extended |= 1 << (code - 28)
        ctx.sink.set(f"bar{entry}_cap", "sizes", sizes, line)
        ctx.sink.set(control, "extended_sizes", extended, line)
        return True

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        count = ctx.state.get("rebar_entries", 0)
        if count:
            ctx.sink.set("bar0_control", "count", count, line)


ELEMENT_TYPES = ("Config", "Egress", "Internal")


class RootComplexLink(Decoder):
    """Root Complex Link Declaration (``cap_rclink``), as raw bytes: the element self
    description at +4 and each link entry (description and address) from +0x10."""

    labels: ClassVar[dict[str, str]] = {"Desc": "desc", **{f"Link{index}": "link" for index in range(8)}}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["links"] = 0
        ctx.state["esd"] = 0

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if label == "Desc":
            esd = 0
            port = hex_value(r"PortNumber=([0-9a-fA-F]{2})", text)
            component = hex_value(r"ComponentID=([0-9a-fA-F]{2})", text)
            element = re.search(r"EltType=(\w{1,8})", text)
            esd |= (port or 0) << 24 | (component or 0) << 16
            if element is not None and element[1] in ELEMENT_TYPES:
                esd |= ELEMENT_TYPES.index(element[1])
            ctx.state["esd"] = esd
            return True
        if not re.fullmatch(r"Link\d", label):
            return False
        index = int(label[4])
        ctx.state["links"] = max(ctx.state["links"], index + 1)
        flags = dict(scan_flags(text))
        description = int(flags.get("LinkValid", False)) | int(flags.get("AssocRCRB", False)) << 2
        if "LinkType=Config" in text:
            description |= 2
        port = hex_value(r"TargetPort=([0-9a-fA-F]{2})", text)
        component = hex_value(r"TargetComponent=([0-9a-fA-F]{2})", text)
        description |= (port or 0) << 24 | (component or 0) << 16
        entry = ctx.offset + 0x10 + 0x10 * index
        ctx.builder.raw(entry, description.to_bytes(4, "little"), line, f"{ctx.sink.path}.link{index}")
        address = re.search(r"Addr:\s+([0-9a-fA-F]{16})", text)
        if address is not None:
            value = int(address[1], 16)
            ctx.builder.raw(entry + 8, value.to_bytes(8, "little"), line, f"{ctx.sink.path}.link{index}.address")
        return True

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        esd = ctx.state.get("esd", 0) | ctx.state.get("links", 0) << 8
        ctx.builder.raw(ctx.offset + 4, esd.to_bytes(4, "little"), line, f"{ctx.sink.path}.self_description")


class SerialNumber(Decoder):
    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.search(r"((?:[0-9a-fA-F]{2}-){7}[0-9a-fA-F]{2})", text)
        if match is not None:
            ctx.sink.set("serial", None, int(match[1].replace("-", ""), 16), line)


class EventCollector(Decoder):
    labels: ClassVar[dict[str, str]] = {"RCiEPBitmap": "bitmap", "AssociatedBusNumbers": "buses"}

    def bitmap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        text = text.strip()
        if "[none]" in text:
            ctx.sink.set("rciep_bitmap", None, 0, line)
            return
        match = re.match(r"RCiEP at Device\(s\):([\d, -]{1,200})$", text)
        if match is None:
            ctx.problem(line, text, "expected 'RCiEP at Device(s): N, M-K'")
            return
        value = 0
        for part in match[1].split(","):
            low, _, high = part.strip().partition("-")
            if low.isdigit():
                for device in range(int(low), int(high or low) + 1):
                    if device < 32:
                        value |= 1 << device
        ctx.sink.set("rciep_bitmap", None, value, line)

    def buses(self, ctx: CapabilityContext, text: str, line: int) -> None:
        if "[none]" in text:
            ctx.sink.set("bus_numbers", "next_bus", 0xFF, line)
            ctx.sink.set("bus_numbers", "last_bus", 0, line)
            return
        match = re.search(r"([0-9a-fA-F]{2})-([0-9a-fA-F]{2})", text)
        if match is not None:
            ctx.sink.set("bus_numbers", "next_bus", int(match[1], 16), line)
            ctx.sink.set("bus_numbers", "last_bus", int(match[2], 16), line)


class ExtendedVendor(Decoder):
    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.search(r"ID=([0-9a-fA-F]{4}) Rev=(\d{1,2}) Len=([0-9a-fA-F]{3})", text)
        if match is not None:
            ctx.sink.set("header", "id", int(match[1], 16), line)
            ctx.sink.set("header", "revision", int(match[2]) & 0xF, line)
            ctx.sink.set("header", "length", int(match[3], 16), line)
        ctx.builder.assume(
            f"vendor-specific extended capability at {ctx.offset:#x}",
            "zeros after its header",
            "lspci does not show its contents",
            line,
        )


class DesignatedVendor(Decoder):
    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.search(r"Vendor=([0-9a-fA-F]{4}) ID=([0-9a-fA-F]{4}) Rev=(\d{1,2}) Len=(\d{1,4})", text)
        if match is not None:
            ctx.sink.set("header1", "vendor", int(match[1], 16), line)
            ctx.sink.set("header1", "revision", int(match[3]) & 0xF, line)
            ctx.sink.set("header1", "length", int(match[4]) & 0xFFF, line)
            ctx.sink.set("header2", "id", int(match[2], 16), line)
        ctx.builder.assume(
            f"designated vendor-specific capability at {ctx.offset:#x}",
            "zeros after its headers",
            "lspci does not show its contents",
            line,
        )

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        return True


#: Extended capability names as lspci prints them, with their IDs and decoders.
EXTENDED: tuple[tuple[str, int, str], ...] = (
    ("Advanced Error Reporting", regs.EXT_AER, "aer"),
    ("Virtual Channel", regs.EXT_VC, "vc"),
    ("Device Serial Number", regs.EXT_DSN, "dsn"),
    ("Power Budgeting", 0x04, "opaque"),
    ("Root Complex Link", 0x05, "rclink"),
    ("Root Complex Internal Link", 0x06, "opaque"),
    ("Root Complex Event Collector", regs.EXT_RCEC, "rcec"),
    ("Multi-Function Virtual Channel", 0x08, "opaque"),
    ("Root Complex Register Block", 0x0A, "opaque"),
    ("Vendor Specific Information", regs.EXT_VENDOR, "vendor"),
    ("Access Control Services", regs.EXT_ACS, "acs"),
    ("Alternative Routing-ID Interpretation", regs.EXT_ARI, "ari"),
    ("Address Translation Service", regs.EXT_ATS, "ats"),
    ("Single Root I/O Virtualization", regs.EXT_SRIOV, "sriov"),
    ("Multi-Root I/O Virtualization", 0x11, "opaque"),
    ("Multicast", 0x12, "opaque"),
    ("Page Request Interface", regs.EXT_PRI, "pri"),
    ("Physical Resizable BAR", regs.EXT_REBAR, "rebar"),
    ("Resizable BAR", regs.EXT_REBAR, "rebar"),
    ("Virtual Resizable BAR", regs.EXT_VF_REBAR, "vf_rebar"),
    ("Dynamic Power Allocation", 0x16, "opaque"),
    ("Transaction Processing Hints", regs.EXT_TPH, "tph"),
    ("Latency Tolerance Reporting", regs.EXT_LTR, "ltr"),
    ("Secondary PCI Express", regs.EXT_SECONDARY_PCIE, "secondary_pcie"),
    ("Protocol Multiplexing", 0x1A, "opaque"),
    ("Process Address Space ID", regs.EXT_PASID, "pasid"),
    ("LN Requester", 0x1C, "opaque"),
    ("Downstream Port Containment", regs.EXT_DPC, "dpc"),
    ("L1 PM Substates", regs.EXT_L1SS, "l1ss"),
    ("Precision Time Measurement", regs.EXT_PTM, "ptm"),
    ("PCI Express over M_PHY", 0x20, "opaque"),
    ("FRS Queueing", 0x21, "opaque"),
    ("Readiness Time Reporting", 0x22, "opaque"),
    ("Designated Vendor-Specific", regs.EXT_DVSEC, "dvsec"),
    ("Data Link Feature", 0x25, "opaque"),
    ("Physical Layer 16.0 GT/s", 0x26, "opaque"),
    ("Lane Margining at the Receiver", 0x27, "opaque"),
    ("Hierarchy ID", 0x28, "opaque"),
    ("Native PCIe Enclosure Management", 0x29, "opaque"),
    ("Physical Layer 32.0 GT/s", 0x2A, "opaque"),
    ("Data Object Exchange", 0x2E, "opaque"),
    ("Null", 0x00, "null"),
)

EXTENDED_DECODERS: dict[str, Decoder] = {
    "aer": AdvancedErrorReporting(),
    "vc": VirtualChannel(),
    "dsn": SerialNumber(),
    "rclink": RootComplexLink(),
    "rcec": EventCollector(),
    "vendor": ExtendedVendor(),
    "acs": AccessControl(),
    "ari": AlternativeRouting(),
    "ats": AddressTranslation(),
    "sriov": SingleRootIov(),
    "pri": PageRequest(),
    "rebar": ResizableBar(),
    "vf_rebar": ResizableBar(),
    "tph": ProcessingHints(),
    "ltr": LatencyTolerance(),
    "secondary_pcie": SecondaryPcie(),
    "pasid": ProcessAddressSpace(),
    "dpc": DownstreamContainment(),
    "l1ss": L1Substates(),
    "ptm": PrecisionTime(),
    "dvsec": DesignatedVendor(),
    "opaque": Opaque("undecoded extended"),
    "null": Decoder(),
}
