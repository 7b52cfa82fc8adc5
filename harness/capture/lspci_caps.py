"""The capabilities of the list at 0x34 as ``lspci -vv`` prints them, back into registers.

Line by line the inverse of pciutils 3.9.0 ``ls-caps.c`` (``cap_pm``, ``cap_msi``, ``cap_msix``,
``cap_express`` and its ``cap_express_dev``/``_link``/``_slot``/``_root``/``_dev2``/``_link2``,
``cap_af``, ``cap_ssvid``), reading the older wordings too (``Report errors:`` and ``UncorrErr``
of pciutils 3.1, commas between DevCap2 flags and ``Compliance De-emphasis:`` before 3.8).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar

from harness.capture.builder import scan_flags
from harness.capture.capability import (
    LATENCY_L0S,
    LATENCY_L1,
    LINK_SPEED_NAMES,
    PORT_TYPE_NAMES,
    CapabilityContext,
    hex_value,
    power_limit,
    speed_code,
)
from harness.pci import regs

Handler = Callable[[CapabilityContext, str, int], None]

PM_AUX_CURRENT = (0, 55, 100, 160, 220, 270, 320, 375)


class Decoder:
    """A capability decoder: ``start`` reads the ``Capabilities: [xx] ...`` line (after the
    capability's name), ``labels`` the lines below it."""

    labels: ClassVar[dict[str, str]] = {}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        """The capability line itself; most say nothing beyond the name."""

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        method = self.labels.get(label)
        if method is None:
            return False
        handler: Handler = getattr(self, method)
        handler(ctx, text, line)
        return True

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        """After the capability's last line: values that only its absence of lines tells."""


class PowerManagement(Decoder):
    labels: ClassVar[dict[str, str]] = {"Flags": "flags", "Status": "status", "Bridge": "bridge"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.match(r"\s*(\d{1,2})", text)
        if match is not None:
            ctx.sink.set("pmc", "version", int(match[1]) & 7, line)

    def flags(self, ctx: CapabilityContext, text: str, line: int) -> None:
        pme = re.search(r"PME\(([^)]{0,80})\)", text)
        plain = text if pme is None else text[: pme.start()] + text[pme.end() :]
        ctx.flags("pmc", {"PMEClk": "pme_clock", "DSI": "dsi", "D1": "d1", "D2": "d2"}, plain, line)
        aux = re.search(r"AuxCurrent=(\d{1,4})mA", text)
        if aux is not None and int(aux[1]) in PM_AUX_CURRENT:
            ctx.sink.set("pmc", "aux_current", PM_AUX_CURRENT.index(int(aux[1])), line)
        if pme is not None:
            names = {"D0": "pme_d0", "D1": "pme_d1", "D2": "pme_d2", "D3hot": "pme_d3hot", "D3cold": "pme_d3cold"}
            ctx.flags("pmc", names, pme[1].replace(",", " "), line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        state = re.match(r"\s*D([0-3])\b", text)
        if state is not None:
            ctx.sink.set("pmcsr", "power_state", regs.POWER_STATES.decode(int(state[1])), line)
        names = {"NoSoftRst": "no_soft_reset", "PME-Enable": "pme_enable", "PME": "pme_status"}
        ctx.flags("pmcsr", names, text, line)
        ctx.sink.number("pmcsr", "data_select", re.compile(r"DSel=(\d{1,2})"), text, line)
        ctx.sink.number("pmcsr", "data_scale", re.compile(r"DScale=(\d)"), text, line)

    def bridge(self, ctx: CapabilityContext, text: str, line: int) -> None:
        for name, on in scan_flags(text):
            if name == "PM":
                ctx.sink.set("bridge_extensions", "bus_power_clock_control", on, line)
            elif name == "B3":
                ctx.sink.set("bridge_extensions", "b2_b3", not on, line)
        fields = ctx.entry.get("bridge_extensions")
        if isinstance(fields, dict) and not any(fields.values()):
            # lspci prints the line only when the byte is not zero (cap_pm): with both named
            # bits clear, one of the reserved bits is set.
            with ctx.builder.assumed():
                ctx.builder.raw(ctx.offset + 6, b"\x01", line, f"{ctx.sink.path}.bridge_extensions")
            ctx.builder.assume(
                f"PM bridge extensions at {ctx.offset + 6:#x}",
                "01",
                "lspci shows 'Bridge: PM- B3+', so the byte is not zero, but no named bit is set",
                line,
            )


def _log2(value: int) -> int | None:
    if value <= 0 or value & (value - 1):
        return None
    return value.bit_length() - 1


class Msi(Decoder):
    labels: ClassVar[dict[str, str]] = {"Address": "address", "Masking": "masking"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enable": "enable", "Maskable": "per_vector_masking", "64bit": "addr64"}, text, line)
        count = re.search(r"Count=(\d{1,3})/(\d{1,3})", text)
        if count is not None:
            enabled, capable = _log2(int(count[1])), _log2(int(count[2]))
            if enabled is not None and capable is not None:
                ctx.sink.set("control", "multiple_message_enable", enabled, line)
                ctx.sink.set("control", "multiple_message_capable", capable, line)
        ctx.state["addr64"] = bool(re.search(r"64bit\+", text))
        ctx.state["maskable"] = bool(re.search(r"Maskable\+", text))

    def _own(self, ctx: CapabilityContext, key: str, place: tuple[int, int], value: int, line: int) -> None:
        """An MSI register the encoder takes by key (``address``, ``data``...) at ``(offset, width)``."""
        offset, width = place
        ctx.entry[key] = value
        absolute = ctx.offset + offset
        mask = (1 << (8 * width)) - 1

        def read(config: bytes) -> object:
            return regs.read_register(config, absolute, width)

        ctx.builder.fact(f"{ctx.sink.path}.{key}", value, line, ((absolute, width, mask),), read)

    def address(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.match(r"\s*([0-9a-fA-F]{8,16})\s+Data: ([0-9a-fA-F]{4})", text)
        if match is None:
            ctx.problem(line, text, "expected 'ADDRESS  Data: DATA'")
            return
        addr64 = bool(ctx.state.get("addr64"))
        self._own(ctx, "address", (0x04, 8 if addr64 else 4), int(match[1], 16), line)
        self._own(ctx, "data", (0x0C if addr64 else 0x08, 2), int(match[2], 16), line)

    def masking(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.match(r"\s*([0-9a-fA-F]{8})\s+Pending: ([0-9a-fA-F]{8})", text)
        if match is None:
            ctx.problem(line, text, "expected 'MASK  Pending: PENDING'")
            return
        base = 0x10 if ctx.state.get("addr64") else 0x0C
        self._own(ctx, "mask_bits", (base, 4), int(match[1], 16), line)
        self._own(ctx, "pending_bits", (base + 4, 4), int(match[2], 16), line)


class MsiX(Decoder):
    labels: ClassVar[dict[str, str]] = {"Vector table": "table", "PBA": "pba"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"Enable": "enable", "Masked": "function_mask"}, text, line)
        count = re.search(r"Count=(\d{1,4})", text)
        if count is not None and 1 <= int(count[1]) <= 2048:
            ctx.sink.set("control", "table_size", int(count[1]) - 1, line)

    def _location(self, ctx: CapabilityContext, register: str, text: str, line: int) -> None:
        match = re.search(r"BAR=(\d) offset=([0-9a-fA-F]{8})", text)
        if match is None:
            ctx.problem(line, text, "expected 'BAR=N offset=OFFSET'")
            return
        ctx.sink.set(register, "bir", int(match[1]), line)
        ctx.sink.set(register, "offset", int(match[2], 16), line)

    def table(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._location(ctx, "table", text, line)

    def pba(self, ctx: CapabilityContext, text: str, line: int) -> None:
        self._location(ctx, "pba", text, line)


DEVCAP_FLAGS = {
    "ExtTag": "ext_tag",
    "AttnBtn": "attn_button",
    "AttnInd": "attn_indicator",
    "PwrInd": "power_indicator",
    "RBE": "rbe",
    "FLReset": "flr",
    "TEE-IO": "tee_io",
}
DEVCTL_FLAGS = {
    "CorrErr": "correctable_errors",
    "NonFatalErr": "non_fatal_errors",
    "FatalErr": "fatal_errors",
    "UnsupReq": "unsupported_requests",
    # pciutils 3.1 wording: "Report errors: Correctable- Non-Fatal- Fatal- Unsupported-"
    "Correctable": "correctable_errors",
    "Non-Fatal": "non_fatal_errors",
    "Fatal": "fatal_errors",
    "Unsupported": "unsupported_requests",
    "RlxdOrd": "relaxed_ordering",
    "ExtTag": "ext_tag",
    "PhantFunc": "phantom_functions",
    "AuxPwr": "aux_power",
    "NoSnoop": "no_snoop",
    "BrConfRtry": "bridge_retry_or_flr",
    "FLReset": "bridge_retry_or_flr",
}
DEVSTA_FLAGS = {
    "CorrErr": "correctable_error",
    "NonFatalErr": "non_fatal_error",
    "UncorrErr": "non_fatal_error",
    "FatalErr": "fatal_error",
    "UnsupReq": "unsupported_request",
    "UnsuppReq": "unsupported_request",
    "AuxPwr": "aux_power",
    "TransPend": "transactions_pending",
}
LNKCAP_FLAGS = {
    "ClockPM": "clock_pm",
    "Surprise": "surprise_down",
    "LLActRep": "dll_active_reporting",
    "BwNot": "bandwidth_notification",
    "ASPMOptComp": "aspm_optionality",
}
LNKCTL_FLAGS = {
    "Disabled": "link_disable",
    "LnkDisable": "link_disable",
    "FltModeDis": "flit_mode_disable",
    "CommClk": "common_clock",
    "ExtSynch": "extended_synch",
    "ClockPM": "clock_pm",
    "AutWidDis": "autonomous_width_disable",
    "BWInt": "bandwidth_interrupt",
    "AutBWInt": "autonomous_bandwidth_interrupt",
}
LNKSTA_FLAGS = {
    "TrErr": "training_error",
    "Train": "training",
    "SlotClk": "slot_clock",
    "DLActive": "dll_active",
    "BWMgmt": "bandwidth_management",
    "ABWMgmt": "autonomous_bandwidth",
}
SLTCAP_FLAGS = {
    "AttnBtn": "attn_button",
    "PwrCtrl": "power_controller",
    "MRL": "mrl_sensor",
    "AttnInd": "attn_indicator",
    "PwrInd": "power_indicator",
    "HotPlug": "hotplug_capable",
    "Surprise": "hotplug_surprise",
    "Interlock": "interlock",
    "NoCompl": "no_command_completed",
}
SLTCTL_FLAGS = {
    "AttnBtn": "attn_button_enable",
    "PwrFlt": "power_fault_enable",
    "MRL": "mrl_enable",
    "PresDet": "presence_detect_enable",
    "CmdCplt": "command_completed_enable",
    "HPIrq": "hotplug_interrupt_enable",
    "LinkChg": "link_state_changed_enable",
}
SLTSTA_FLAGS = {
    "AttnBtn": "attn_button",
    "PowerFlt": "power_fault",
    "MRL": "mrl_open",
    "CmdCplt": "command_completed",
    "PresDet": "presence_detect",
    "Interlock": "interlock",
}
SLTSTA_CHANGED_FLAGS = {"MRL": "mrl_changed", "PresDet": "presence_detect_changed", "LinkState": "link_state_changed"}
INDICATORS = {"Unknown": 0, "On": 1, "Blink": 2, "Off": 3}
ROOTCTL_FLAGS = {
    "ErrCorrectable": "serr_correctable",
    "ErrNon-Fatal": "serr_non_fatal",
    "ErrFatal": "serr_fatal",
    "PMEIntEna": "pme_interrupt",
    "CRSVisible": "crs_visibility",
}
TIMEOUT_RANGES = {
    "Not Supported": 0,
    "Range A": 1,
    "Range B": 2,
    "Range AB": 3,
    "Range BC": 6,
    "Range ABC": 7,
    "Range BCD": 14,
    "Range ABCD": 15,
}
TIMEOUT_VALUES = {
    "50us to 50ms": 0,
    "50us to 100us": 1,
    "1ms to 10ms": 2,
    "16ms to 55ms": 5,
    "65ms to 210ms": 6,
    "260ms to 900ms": 9,
    "1s to 3.5s": 10,
    "4s to 13s": 13,
    "17s to 64s": 14,
}
OBFF_CAP = {"Not Supported": 0, "Via message": 1, "Via WAKE#": 2, "Via message/WAKE#": 3}
OBFF_CTL = {"Disabled": 0, "Via message A": 1, "Via message B": 2, "Via WAKE#": 3}
EPR = {"Not Supported": 0, "Dev Specific": 1, "Form Factor Dev Specific": 2, "Reserved": 3}
LN_CLS = {"Not Supported": 0, "64byte cachelines": 1, "128byte cachelines": 2, "Reserved": 3}
DEVCAP2_FLAGS = {
    "TimeoutDis": "completion_timeout_disable",
    "NROPrPrP": "no_ro_enabled_pr_pr",
    "LTR": "ltr",
    "10BitTagComp": "tag10_completer",
    "10BitTagReq": "tag10_requester",
    "ExtFmt": "extended_fmt",
    "EETLPPrefix": "end_end_tlp_prefix",
    "EmergencyPowerReductionInit": "emergency_power_reduction_init",
    "FRS": "frs",
    "ARIFwd": "ari_forwarding",
    "Routing": "atomic_routing",
    "32bit": "atomic_32bit",
    "64bit": "atomic_64bit",
    "128bitCAS": "atomic_128bit_cas",
}
DEVCTL2_FLAGS = {
    "TimeoutDis": "completion_timeout_disable",
    "LTR": "ltr",
    "10BitTagReq": "tag10_requester",
    "ARIFwd": "ari_forwarding",
    "ReqEn": "atomic_requester",
    "EgressBlck": "atomic_egress_blocking",
    "IDOReq": "ido_request",
    "IDOCompl": "ido_completion",
    "EETLPPrefixBlk": "end_end_tlp_prefix_blocking",
    "EmergencyPowerReductionReq": "emergency_power_reduction_request",
}
LINK2_SPEED_VECTORS = {
    "2.5GT/s": 0x01,
    "2.5-5GT/s": 0x03,
    "2.5-8GT/s": 0x07,
    "2.5-16GT/s": 0x0F,
    "2.5-32GT/s": 0x1F,
    "2.5-64GT/s": 0x3F,
    "Unknown": 0,
}
DEEMPHASIS = {"-6dB": 0, "-3.5dB": 1}
TRANSMIT_MARGIN = {
    "Normal Operating Range": 0,
    "800-1200mV(full-swing)/400-700mV(half-swing)": 1,
    "200-400mV(full-swing)/100-200mV(half-swing)": 2,
}
COMPLIANCE_PRESET = {
    "-6dB de-emphasis, 0dB preshoot": 0,
    "-3.5dB de-emphasis, 0dB preshoot": 1,
    "-4.4dB de-emphasis, 0dB preshoot": 2,
    "-2.5dB de-emphasis, 0dB preshoot": 3,
    "0dB de-emphasis, 0dB preshoot": 4,
    "0dB de-emphasis, 1.9dB preshoot": 5,
    "0dB de-emphasis, 2.5dB preshoot": 6,
    "-6.0dB de-emphasis, 3.5dB preshoot": 7,
    "-3.5dB de-emphasis, 3.5dB preshoot": 8,
    "0dB de-emphasis, 3.5dB preshoot": 9,
}
CROSSLINK = {"unsupported": 0, "Upstream Port": 1, "Downstream Port": 2, "incomplete": 3}
COMPONENT = {
    "Link Down - Not Determined": 0,
    "Link Down - Not Present": 1,
    "Link Down - Present": 2,
    "Link Up - Present": 4,
    "Link Up - Present and DRS Received": 5,
}
LNKCTL2_FLAGS = {
    "EnterCompliance": "enter_compliance",
    "SpeedDis": "speed_disable",
    "EnterModifiedCompliance": "enter_modified_compliance",
    "ComplianceSOS": "compliance_sos",
}
LNKSTA2_FLAGS = {
    "EqualizationComplete": "equalization_complete",
    "EqualizationPhase1": "equalization_phase1",
    "EqualizationPhase2": "equalization_phase2",
    "EqualizationPhase3": "equalization_phase3",
    "LinkEqualizationRequest": "link_equalization_request",
    "Retimer": "retimer",
    "2Retimers": "two_retimers",
    "DRS": "drs_message_received",
    "FltMode": "flit_mode",
}
ASPM_SUPPORT = {"not supported": 0, "L0s": 1, "L1": 2, "L0s L1": 3}
ASPM_ENABLED = {"Disabled": "disabled", "L0s Enabled": "l0s", "L1 Enabled": "l1", "L0s L1 Enabled": "l0s_l1"}


def _after(label: str, text: str) -> str | None:
    """The text after ``label`` up to the next comma."""
    start = text.find(label)
    if start < 0:
        return None
    rest = text[start + len(label) :].strip()
    return rest.split(",")[0].strip()


class Express(Decoder):
    labels: ClassVar[dict[str, str]] = {
        "DevCap": "devcap",
        "DevCtl": "devctl",
        "DevSta": "devsta",
        "LnkCap": "lnkcap",
        "LnkCtl": "lnkctl",
        "LnkSta": "lnksta",
        "SltCap": "sltcap",
        "SltCtl": "sltctl",
        "SltSta": "sltsta",
        "RootCap": "rootcap",
        "RootCtl": "rootctl",
        "RootSta": "rootsta",
        "DevCap2": "devcap2",
        "DevCtl2": "devctl2",
        "DevSta2": "ignore",
        "LnkCap2": "lnkcap2",
        "LnkCtl2": "lnkctl2",
        "LnkSta2": "lnksta2",
        "SltCap2": "ignore",
        "SltCtl2": "ignore",
        "SltSta2": "ignore",
    }

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        version = re.match(r"\(v(\d{1,2})\) ", text)
        if version is not None:
            ctx.sink.set("flags", "version", int(version[1]) & 0xF, line)
            text = text[version.end() :]
            ctx.state["version"] = int(version[1])
        else:
            ctx.builder.assume("Express capability version", "2", "lspci -v does not print the version", line)
            ctx.sink.set("flags", "version", 2, line)
            ctx.state["version"] = 2
        name = text.split(",")[0].strip()
        slot = re.search(r"\(Slot([+-])\)", name)
        if slot is not None:
            name = name[: slot.start()].strip()
            ctx.sink.set("flags", "slot", slot[1] == "+", line)
        port_type = PORT_TYPE_NAMES.get(name)
        unknown = re.match(r"Unknown type (\d{1,2})$", name)
        if port_type is not None:
            ctx.sink.set("flags", "type", port_type, line)
            ctx.state["type"] = regs.EXPRESS_PORT_TYPES.encode(port_type)
        elif unknown is not None:
            ctx.sink.set("flags", "type", int(unknown[1]), line)
            ctx.state["type"] = int(unknown[1])
        else:
            ctx.problem(line, text, f"unknown Express port type {name!r}")
        message = re.search(r"MSI ([0-9a-fA-F]{2})", text)
        if message is not None:
            ctx.sink.set("flags", "interrupt_message", int(message[1], 16) & 0x1F, line)
        old_message = re.search(r"IntMsgNum (\d{1,2})", text)  # pciutils before 3.1
        if old_message is not None:
            ctx.sink.set("flags", "interrupt_message", int(old_message[1]) & 0x1F, line)

    def ignore(self, ctx: CapabilityContext, text: str, line: int) -> None:
        """Registers lspci labels but does not decode (DevSta2, SltCap2...)."""

    def finish(self, ctx: CapabilityContext, line: int) -> None:
        """lspci 3.x prints LnkCap2 only when it is not zero (``cap_express_link2``), and not for
        endpoint functions other than 0 (where it was reserved before PCIe r3.0)."""
        if ctx.builder.device.verbosity < 2 or ctx.state.get("version", 0) < 2 or "lnkcap2" in ctx.entry:
            return
        if not ctx.builder.style.lnkcap2_printed:
            return
        port_type = ctx.state.get("type")
        if port_type in (9, 10) or not ctx.state.get("saw_link2"):
            return
        if port_type in (0, 1) and ctx.function != 0:
            return
        ctx.sink.set("lnkcap2", None, 0, line)

    def devcap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        payload = re.search(r"MaxPayload (\d{3,4}) bytes", text)
        if payload is not None:
            ctx.sink.set("devcap", "max_payload", int(payload[1]), line)
        phantom = re.search(r"PhantFunc (\d)", text)
        if phantom is not None:
            code = _log2(int(phantom[1]) + 1)
            if code is not None:
                ctx.sink.set("devcap", "phantom_functions", code, line)
        latency = re.search(r"Latency L0s ([<\w]{2,10}), L1 ([<\w]{2,10})", text)
        if latency is not None:
            if latency[1] in LATENCY_L0S:
                ctx.sink.set("devcap", "l0s_latency", LATENCY_L0S.index(latency[1]), line)
            if latency[2] in LATENCY_L1:
                ctx.sink.set("devcap", "l1_latency", LATENCY_L1.index(latency[2]), line)
        flags_text = re.sub(r"Latency L0s [^,]*, L1 \S*", "", text)
        ctx.flags("devcap", DEVCAP_FLAGS, flags_text.replace("PhantFunc", "PhantFunc "), line)
        if "SlotPowerLimit" in text:
            power_limit(
                ctx,
                "devcap",
                ("slot_power_limit_value", "slot_power_limit_scale"),
                text[text.find("SlotPowerLimit") :],
                line,
            )

    def devctl(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("devctl", DEVCTL_FLAGS, text.replace("Report errors:", ""), line)
        payload = re.search(r"MaxPayload (\d{3,4}) bytes", text)
        if payload is not None:
            ctx.sink.set("devctl", "max_payload", int(payload[1]), line)
        read = re.search(r"MaxReadReq (\d{3,4}) bytes", text)
        if read is not None:
            ctx.sink.set("devctl", "max_read_request", int(read[1]), line)

    def devsta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("devsta", DEVSTA_FLAGS, text, line)

    def lnkcap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        port = re.search(r"Port #(\d{1,3})", text)
        if port is not None:
            ctx.sink.set("lnkcap", "port", int(port[1]) & 0xFF, line)
        speed = re.search(r"Speed ([\w.]{1,8}/s|unknown)", text)
        if speed is not None:
            code = speed_code(speed[1])
            ctx.choice("lnkcap", "max_speed", code or 0, speed[1], names=LINK_SPEED_NAMES, line=line)
        width = re.search(r"Width x(\d{1,2})", text)
        if width is not None:
            ctx.sink.set("lnkcap", "max_width", int(width[1]), line)
        aspm = re.search(r"ASPM (not supported|L0s L1|L0s|L1|unknown)", text)
        if aspm is not None and aspm[1] in ASPM_SUPPORT:
            ctx.sink.set("lnkcap", "aspm_support", ASPM_SUPPORT[aspm[1]], line)
        l0s = re.search(r"Latency L0s? (<?\w{2,10})", text)
        if l0s is not None and l0s[1] in LATENCY_L0S:
            ctx.sink.set("lnkcap", "l0s_exit_latency", LATENCY_L0S.index(l0s[1]), line)
        l1 = re.search(r"L1 (<\w{2,6}|unlimited)", text)
        if l1 is not None and l1[1] in LATENCY_L1:
            ctx.sink.set("lnkcap", "l1_exit_latency", LATENCY_L1.index(l1[1]), line)
        tail = re.split(r"Exit Latency|Latency L0", text)[-1] if "atency" in text else text
        names = dict(LNKCAP_FLAGS)
        ctx.unknown(
            [name for name in ctx.sink.flags("lnkcap", names, tail, line) if not name.startswith("<")], text, line
        )

    def lnkctl(self, ctx: CapabilityContext, text: str, line: int) -> None:
        aspm = re.search(r"ASPM (Disabled|L0s L1 Enabled|L0s Enabled|L1 Enabled)", text)
        if aspm is not None:
            ctx.sink.set("lnkctl", "aspm", ASPM_ENABLED[aspm[1]], line)
        rcb = re.search(r"RCB (64|128) bytes", text)
        if rcb is not None:
            ctx.sink.set("lnkctl", "rcb_128", rcb[1] == "128", line)
        ctx.flags("lnkctl", LNKCTL_FLAGS, text, line)

    def lnksta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        speed = re.search(r"Speed ([\w.]{1,8}/s|unknown)", text)
        if speed is not None:
            ctx.choice("lnksta", "speed", speed_code(speed[1]) or 0, speed[1], names=LINK_SPEED_NAMES, line=line)
        width = re.search(r"Width x(\d{1,2})", text)
        if width is not None:
            ctx.sink.set("lnksta", "width", int(width[1]), line)
        ctx.flags("lnksta", LNKSTA_FLAGS, text, line)

    def sltcap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("sltcap", SLTCAP_FLAGS, text, line)
        slot = re.search(r"Slot #(\d{1,5})", text)
        if slot is not None:
            ctx.sink.set("sltcap", "slot_number", int(slot[1]) & 0x1FFF, line)
        if "PowerLimit" in text:
            power_limit(
                ctx, "sltcap", ("power_limit_value", "power_limit_scale"), text[text.find("PowerLimit") :], line
            )

    def sltctl(self, ctx: CapabilityContext, text: str, line: int) -> None:
        enable, _, control = text.partition("Control:")
        ctx.flags("sltctl", SLTCTL_FLAGS, enable.replace("Enable:", ""), line)
        for name, field_name in (("AttnInd", "attn_indicator"), ("PwrInd", "power_indicator")):
            match = re.search(name + r" (Unknown|On|Blink|Off)", control)
            if match is not None:
                ctx.sink.set("sltctl", field_name, INDICATORS[match[1]], line)
        for name, on in scan_flags(control):
            if name == "Power":
                ctx.sink.set("sltctl", "power_controller_off", on, line)
            elif name == "Interlock":
                ctx.sink.set("sltctl", "interlock", on, line)

    def sltsta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        status, _, changed = text.partition("Changed:")
        ctx.flags("sltsta", SLTSTA_FLAGS, status.replace("Status:", ""), line)
        ctx.flags("sltsta", SLTSTA_CHANGED_FLAGS, changed, line)

    def rootcap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("rootcap", {"CRSVisible": "crs_visibility"}, text, line)

    def rootctl(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("rootctl", ROOTCTL_FLAGS, text, line)

    def rootsta(self, ctx: CapabilityContext, text: str, line: int) -> None:
        requester = hex_value(r"PME ReqID ([0-9a-fA-F]{4})", text)
        if requester is not None:
            ctx.sink.set("rootsta", "pme_requester", requester, line)
        ctx.flags("rootsta", {"PMEStatus": "pme_status", "PMEPending": "pme_pending"}, text, line)

    def devcap2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ranges = re.search(r"Completion Timeout: (Not Supported|Range [A-D]{1,4}|Unknown)", text)
        if ranges is not None:
            ctx.table("devcap2", "completion_timeout_ranges", TIMEOUT_RANGES, ranges[1], line=line, text=text)
        obff = re.search(r"OBFF (Not Supported|Via message/WAKE#|Via message|Via WAKE#)", text)
        if obff is not None:
            ctx.sink.set("devcap2", "obff", OBFF_CAP[obff[1]], line)
        prefixes = re.search(r"MaxEETLPPrefixes (\d)", text)
        if prefixes is not None:
            ctx.sink.set("devcap2", "max_end_end_tlp_prefixes", int(prefixes[1]) & 3, line)
        epr = re.search(r"EmergencyPowerReduction (Not Supported|Form Factor Dev Specific|Dev Specific|Reserved)", text)
        if epr is not None:
            ctx.sink.set("devcap2", "emergency_power_reduction", EPR[epr[1]], line)
        cls = re.search(r"LN System CLS (Not Supported|64byte cachelines|128byte cachelines|Reserved)", text)
        if cls is not None:
            ctx.sink.set("devcap2", "ln_system_cls", LN_CLS[cls[1]], line)
        flags = dict(scan_flags(text))
        if "TPHComp" in flags:
            tph = (1 if flags["TPHComp"] else 0) | (2 if flags.get("ExtTPHComp") else 0)
            ctx.sink.set("devcap2", "tph_completer", tph, line)
        rest = re.sub(r"OBFF (?:Not Supported|Via message/WAKE#|Via message|Via WAKE#),?", " ", text)
        names = [
            name
            for name in ctx.sink.flags("devcap2", DEVCAP2_FLAGS, rest, line)
            if name not in ("TPHComp", "ExtTPHComp")
        ]
        ctx.unknown(names, text, line)

    def devctl2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        value = re.search(r"Completion Timeout: ([\w.]{1,6} to [\w.]{1,6}|Unknown)", text)
        if value is not None:
            ctx.table("devctl2", "completion_timeout", TIMEOUT_VALUES | {"Unknown": 3}, value[1], line=line, text=text)
        obff = re.search(r"OBFF (Disabled|Via message A|Via message B|Via WAKE#)", text)
        if obff is not None:
            ctx.sink.set("devctl2", "obff", OBFF_CTL[obff[1]], line)
        ctx.flags(
            "devctl2",
            DEVCTL2_FLAGS,
            re.sub(r"OBFF (?:Disabled|Via message A|Via message B|Via WAKE#),?", " ", text),
            line,
        )

    def lnkcap2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["lnkcap2"] = True
        speeds = re.search(r"Supported Link Speeds: ([\w.-]{1,12}/s|RsvdP|Unknown)", text)
        if speeds is not None and speeds[1] in LINK2_SPEED_VECTORS:
            ctx.sink.set("lnkcap2", "supported_speeds", LINK2_SPEED_VECTORS[speeds[1]], line)
        elif speeds is not None:
            ctx.problem(line, text, f"link speed vector {speeds[1]!r} cannot be encoded")
        ctx.flags(
            "lnkcap2",
            {"Crosslink": "crosslink", "Retimer": "retimer", "2Retimers": "two_retimers", "DRS": "drs"},
            text,
            line,
        )

    def lnkctl2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["saw_link2"] = True
        speed = re.search(r"Target Link Speed: ([\w.]{1,8}/s|Unknown)", text)
        if speed is not None:
            names = {0: "2.5GT/s", **LINK_SPEED_NAMES}
            ctx.choice("lnkctl2", "target_speed", speed_code(speed[1]) or 0, speed[1], names=names, line=line)
        deemphasis = re.search(r"Selectable De-emphasis: (-6dB|-3.5dB)", text)
        if deemphasis is not None:
            ctx.sink.set("lnkctl2", "selectable_deemphasis", bool(DEEMPHASIS[deemphasis[1]]), line)
        margin = re.search(r"Transmit Margin: ([^,]{1,60}),", text)
        if margin is not None:
            names = {0: "Normal Operating Range", 1: list(TRANSMIT_MARGIN)[1], 6: "Unknown", 7: "Unknown"}
            names |= {code: list(TRANSMIT_MARGIN)[2] for code in (2, 3, 4, 5)}
            code = TRANSMIT_MARGIN.get(margin[1], 6)
            ctx.choice("lnkctl2", "transmit_margin", code, margin[1], names=names, line=line)
        preset = re.search(r"Compliance Preset/De-emphasis: (.{4,40}? preshoot|Unknown)", text)
        if preset is not None:
            names = {code: name for name, code in COMPLIANCE_PRESET.items()}
            code = COMPLIANCE_PRESET.get(preset[1], 10)
            ctx.choice("lnkctl2", "compliance_preset", code, preset[1], names=names, line=line)
        old = re.search(r"Compliance De-emphasis: (-6dB|-3.5dB)", text)
        if old is not None:
            ctx.sink.set("lnkctl2", "compliance_preset", DEEMPHASIS[old[1]], line)
        ctx.flags("lnkctl2", LNKCTL2_FLAGS, text, line)

    def lnksta2(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["saw_link2"] = True
        level = re.search(r"Current De-emphasis Level: (-6dB|-3.5dB)", text)
        if level is not None:
            ctx.sink.set("lnksta2", "current_deemphasis", bool(DEEMPHASIS[level[1]]), line)
        crosslink = re.search(r"CrosslinkRes: (unsupported|Upstream Port|Downstream Port|incomplete)", text)
        if crosslink is not None:
            ctx.sink.set("lnksta2", "crosslink_resolution", CROSSLINK[crosslink[1]], line)
        component = re.search(r"DownstreamComp: (Link [\w -]{4,40}?|Reserved)$", text.strip())
        if component is not None:
            names = {code: name for name, code in COMPONENT.items()} | {3: "Reserved", 6: "Reserved", 7: "Reserved"}
            ctx.choice(
                "lnksta2",
                "downstream_component_presence",
                COMPONENT.get(component[1], 3),
                component[1],
                names=names,
                line=line,
            )
        ctx.flags("lnksta2", LNKSTA2_FLAGS, text, line)


class Subsystem(Decoder):
    """The SSVID capability (bridges): its IDs are resolved with the device's, later."""

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.state["subsystem_text"] = text.strip()
        ctx.state["subsystem_line"] = line


class AdvancedFeatures(Decoder):
    labels: ClassVar[dict[str, str]] = {"AFCap": "cap", "AFCtrl": "control", "AFStatus": "status"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        # The AF capability's Length register reads 06h (PCI Advanced Features ECN, 2006).
        ctx.entry["length"] = regs.AF_LENGTH

    def cap(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("cap", {"TP": "transactions_pending", "FLR": "flr"}, text, line)

    def control(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("control", {"FLR": "initiate_flr"}, text, line)

    def status(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.flags("status", {"TP": "transactions_pending"}, text, line)


class VendorSpecific(Decoder):
    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        length = hex_value(r"Len=([0-9a-fA-F]{2})", text)
        if length is not None:
            ctx.sink.set("length", None, length, line)
        ctx.builder.assume(
            f"vendor-specific capability at {ctx.offset:#x}",
            "zeros after its length byte",
            "lspci does not show its contents",
            line,
        )


class Opaque(Decoder):
    """A capability lspci names but whose registers have no description fields here: its ID
    goes into the chain and a few known bytes into raw patches; the rest is assumed zero."""

    def __init__(self, what: str) -> None:
        self.what = what

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        ctx.builder.assume(
            f"{self.what} capability at {ctx.offset:#x}",
            "zeros after its header",
            "lspci does not show (or this importer does not read) its registers",
            line,
        )

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        return True


class SataHba(Opaque):
    """``SATA HBA v1.0 BAR4 Offset=00000004`` (``cap_sata_hba``): revision at +2, BAR location
    and offset at +4."""

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        version = re.match(r"\s*v(\d{1,2})\.(\d{1,2})", text)
        if version is not None:
            revision = (int(version[1]) & 0xF) << 4 | (int(version[2]) & 0xF)
            ctx.builder.raw(ctx.offset + 2, bytes([revision]), line, f"{ctx.sink.path}.revision")
        location = re.search(r"BAR(\d) Offset=([0-9a-fA-F]{8})", text)
        in_config = "InCfgSpace" in text
        if location is not None or in_config:
            value = 15 if in_config else (int(location[1]) + 4) | (int(location[2], 16) & 0xFFFFF) << 4  # type: ignore[index]
            ctx.builder.raw(ctx.offset + 4, value.to_bytes(4, "little"), line, f"{ctx.sink.path}.bars")


class DebugPort(Opaque):
    """``Debug port: BAR=1 offset=00a0`` (``cap_debug_port``): BAR in bits 13-15 of the word at
    +2, the offset in bits 0-12."""

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        match = re.search(r"BAR=(\d) offset=([0-9a-fA-F]{4})", text)
        if match is not None:
            word = (int(match[1]) & 7) << 13 | (int(match[2], 16) & 0x1FFF)
            ctx.builder.raw(ctx.offset + 2, word.to_bytes(2, "little"), line, f"{ctx.sink.path}.word")


HT_TYPE_MSI_MAPPING = 0xA800


class HyperTransport(Opaque):
    """``HyperTransport: MSI Mapping Enable+ Fixed+`` (``cap_ht``): the MSI mapping type (the
    only kind this importer encodes) with its enable and fixed bits, and the mapping base."""

    labels: ClassVar[dict[str, str]] = {"Mapping Address Base": "base"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        if not text.startswith(": MSI Mapping") and not text.startswith("MSI Mapping"):
            super().start(ctx, text, line)
            return
        flags = dict(scan_flags(text))
        word = HT_TYPE_MSI_MAPPING | int(flags.get("Enable", False)) | int(flags.get("Fixed", False)) << 1
        ctx.builder.raw(ctx.offset + 2, word.to_bytes(2, "little"), line, f"{ctx.sink.path}.command")

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        if label != "Mapping Address Base":
            return True
        match = re.search(r"([0-9a-fA-F]{16})", text)
        if match is not None:
            base = int(match[1], 16)
            ctx.builder.raw(ctx.offset + 4, (base & 0xFFF00000).to_bytes(4, "little"), line, f"{ctx.sink.path}.low")
            ctx.builder.raw(ctx.offset + 8, (base >> 32).to_bytes(4, "little"), line, f"{ctx.sink.path}.high")
        return True


PCIX_OUTSTANDING = (1, 2, 3, 4, 8, 12, 16, 32)


class PciX(Opaque):
    """``PCI-X non-bridge device`` (``cap_pcix_nobridge``): the command word at +2 and the
    status dword at +4, rebuilt from their printed fields."""

    labels: ClassVar[dict[str, str]] = {"Command": "command", "Status": "status"}

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        if "non-bridge" not in text:
            super().start(ctx, text, line)

    def record(self, ctx: CapabilityContext, label: str, text: str, line: int) -> bool:
        flags = dict(scan_flags(text))
        if label == "Command":
            size = re.search(r"RBC=(\d{3,4})", text)
            outstanding = re.search(r"OST=(\d{1,2})", text)
            word = int(flags.get("DPERE", False)) | int(flags.get("ERO", False)) << 1
            if size is not None and int(size[1]) in (512, 1024, 2048, 4096):
                word |= (int(size[1]) // 512).bit_length() - 1 << 2
            if outstanding is not None and int(outstanding[1]) in PCIX_OUTSTANDING:
                word |= PCIX_OUTSTANDING.index(int(outstanding[1])) << 4
            ctx.builder.raw(ctx.offset + 2, word.to_bytes(2, "little"), line, f"{ctx.sink.path}.command")
        elif label == "Status":
            ctx.builder.raw(
                ctx.offset + 4, _pcix_status(text, flags).to_bytes(4, "little"), line, f"{ctx.sink.path}.status"
            )
        return True


def _pcix_status(text: str, flags: dict[str, bool]) -> int:
    value = 0
    address = re.search(r"Dev=([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.(\d)", text)
    if address is not None:
        value |= int(address[1], 16) << 8 | (int(address[2], 16) & 0x1F) << 3 | int(address[3]) & 7
    for name, bit in (
        ("64bit", 16),
        ("133MHz", 17),
        ("SCD", 18),
        ("USC", 19),
        ("RSCEM", 29),
        ("266MHz", 30),
        ("533MHz", 31),
    ):
        value |= int(flags.get(name, False)) << bit
    if "DC=bridge" in text:
        value |= 1 << 20
    size = re.search(r"DMMRBC=(\d{3,4})", text)
    if size is not None and int(size[1]) in (512, 1024, 2048, 4096):
        value |= ((int(size[1]) // 512).bit_length() - 1) << 21
    outstanding = re.search(r"DMOST=(\d{1,2})", text)
    if outstanding is not None and int(outstanding[1]) in PCIX_OUTSTANDING:
        value |= PCIX_OUTSTANDING.index(int(outstanding[1])) << 23
    cumulative = re.search(r"DMCRS=(\d{1,4})", text)
    if cumulative is not None and int(cumulative[1]) >= 8:
        value |= ((int(cumulative[1]) // 8).bit_length() - 1 & 7) << 26
    return value


class CapabilityIdWord(Opaque):
    """``Capability ID 0x.. [wwww]``: the ID and the word after the next pointer."""

    def start(self, ctx: CapabilityContext, text: str, line: int) -> None:
        word = hex_value(r"\[([0-9a-fA-F]{4})\]", text)
        if word is not None:
            ctx.builder.raw(ctx.offset + 2, word.to_bytes(2, "little"), line, f"{ctx.sink.path}.word")
        super().start(ctx, text, line)


#: Standard capability names as lspci prints them, in the order they are tried, with their IDs.
STANDARD: tuple[tuple[str, int, str], ...] = (
    ("Power Management version", regs.CAP_PM, "pm"),
    ("MSI-X:", regs.CAP_MSIX, "msix"),
    ("MSI:", regs.CAP_MSI, "msi"),
    ("Express", regs.CAP_EXPRESS, "express"),
    ("Subsystem:", regs.CAP_SUBSYSTEM, "subsystem"),
    ("PCI Advanced Features", regs.CAP_AF, "af"),
    ("Vendor Specific Information", regs.CAP_VENDOR, "vendor"),
    ("VirtIO:", regs.CAP_VENDOR, "opaque"),
    ("Vital Product Data", 0x03, "vpd"),
    ("AGP version", 0x02, "opaque"),
    ("Slot ID", 0x04, "opaque"),
    ("CompactPCI hot-swap", 0x06, "opaque"),
    ("PCI-X", 0x07, "pcix"),
    ("HyperTransport", 0x08, "ht"),
    ("Debug port", 0x0A, "debug"),
    ("CompactPCI central resource control", 0x0B, "opaque"),
    ("Hot-plug capable", 0x0C, "opaque"),
    ("AGP3", 0x0E, "opaque"),
    ("Secure device", 0x0F, "opaque"),
    ("SATA HBA", 0x12, "sata"),
    ("Enhanced Allocation", 0x14, "opaque"),
    ("Null", 0x00, "null"),
)

DECODERS: dict[str, Decoder] = {
    "pm": PowerManagement(),
    "msi": Msi(),
    "msix": MsiX(),
    "express": Express(),
    "subsystem": Subsystem(),
    "af": AdvancedFeatures(),
    "vendor": VendorSpecific(),
    "vpd": Opaque("Vital Product Data"),
    "opaque": Opaque("undecoded"),
    "null": Decoder(),
    "word": CapabilityIdWord("unknown"),
    "sata": SataHba("SATA HBA"),
    "debug": DebugPort("debug port"),
    "ht": HyperTransport("HyperTransport"),
    "pcix": PciX("PCI-X"),
}
