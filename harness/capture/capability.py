"""What every capability decoder shares: where the capability sits, its description entry and
the sink that writes into it, and small helpers for the value tables lspci prints (latencies,
link speeds, power limits).

Tables are the ones pciutils 3.9.0 prints with (``ls-caps.c``: ``latency_l0s``, ``latency_l1``,
``link_speed``, ``show_power_limit``, ``aspm_enabled``...), inverted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.capture.builder import DeviceBuilder, Sink

LATENCY_L0S = ("<64ns", "<128ns", "<256ns", "<512ns", "<1us", "<2us", "<4us", "unlimited")
LATENCY_L1 = ("<1us", "<2us", "<4us", "<8us", "<16us", "<32us", "<64us", "unlimited")
LINK_SPEED_NAMES = {1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s"}
SPEEDS_BY_NAME = {name: code for code, name in LINK_SPEED_NAMES.items()}
PORT_TYPE_NAMES = {
    "Endpoint": "endpoint",
    "Legacy Endpoint": "legacy_endpoint",
    "Root Port": "root_port",
    "Upstream Port": "upstream_port",
    "Downstream Port": "downstream_port",
    "PCI-Express to PCI/PCI-X Bridge": "pcie_to_pci_bridge",
    "PCI/PCI-X to PCI-Express Bridge": "pci_to_pcie_bridge",
    "Root Complex Integrated Endpoint": "rc_integrated_endpoint",
    "Root Complex Event Collector": "rc_event_collector",
}
_WATTS = re.compile(r"(>600W|\d{1,4}(?:\.\d{1,6})?W)")


@dataclass
class CapabilityContext:
    """One capability being decoded."""

    builder: DeviceBuilder
    sink: Sink
    kind: str
    offset: int
    extended: bool
    function: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def entry(self) -> dict[str, Any]:
        return self.sink.entry

    def problem(self, line: int, text: str, reason: str) -> None:
        self.builder.problem(line, text, reason)

    def unknown(self, names: list[str], text: str, line: int) -> None:
        if names:
            self.problem(line, text, "flags not in the description vocabulary: " + " ".join(names))

    def flags(self, register: str, names: Mapping[str, str], text: str, line: int) -> None:
        self.unknown(self.sink.flags(register, names, text, line), text, line)

    def table(
        self, register: str, field_name: str, table: Mapping[str, int], shown: str | None, *, line: int, text: str
    ) -> None:
        """Set a field from a printed name; names printed for several codes are compared as
        printed (a fact on the printed text), the lowest code is encoded."""
        if shown is None:
            return
        codes = [code for name, code in table.items() if name == shown]
        if not codes:
            self.problem(line, text, f"unknown value {shown!r} for {register}.{field_name}")
            return
        self.choice(
            register, field_name, min(codes), shown, names={code: name for name, code in table.items()}, line=line
        )

    def choice(
        self, register: str, field_name: str, code: int, shown: str, *, names: Mapping[int, str], line: int
    ) -> None:
        """A field whose printed name stands for ``code`` (and possibly other codes)."""
        ambiguous = sum(1 for name in names.values() if name == shown) > 1 or shown in ("unknown", "Unknown")
        if not ambiguous:
            self.sink.set(register, field_name, code, line)
            return
        default = "unknown" if shown == "unknown" else "Unknown"

        def printed(get: Callable[[str, str], int]) -> object:
            return names.get(get(register, field_name), default)

        self.sink.derived(f"{register}.{field_name}", shown, line, {(register, field_name): code}, printed)


def speed_code(text: str) -> int | None:
    return SPEEDS_BY_NAME.get(text)


def watts_to_limit(text: str) -> tuple[int, int] | None:
    """(value, scale) that lspci prints as ``text`` (``show_power_limit``: value x 1, 0.1, 0.01
    or 0.001 W; values F0h-FEh at scale 0 mean 250-575 W in 25 W steps, FFh means >600 W)."""
    if text == ">600W":
        return 0xFF, 0
    try:
        watts = float(text.rstrip("W"))
    except ValueError:
        return None
    for scale, factor in enumerate((1, 10, 100, 1000)):
        value = round(watts * factor)
        if abs(value - watts * factor) < 1e-6 and value <= 0xEF:
            return value, scale
    steps = (watts - 250) / 25
    if watts >= 250 and steps == int(steps) and steps <= 0x0E:
        return 0xF0 + int(steps), 0
    return None


def limit_to_watts(value: int, scale: int) -> float | str:
    if scale == 0 and value == 0xFF:
        return ">600W"
    if scale == 0 and 0xF0 <= value <= 0xFE:
        value = 250 + 25 * (value - 0xF0)
    return round(value * (1.0, 0.1, 0.01, 0.001)[scale], 6)


def power_limit(ctx: CapabilityContext, register: str, fields: tuple[str, str], text: str, line: int) -> None:
    """A power limit (``26W``) into a value and a scale field, compared as watts."""
    value_field, scale_field = fields
    match = _WATTS.search(text)
    if match is None:
        return
    encoded = watts_to_limit(match[1])
    if encoded is None:
        ctx.problem(line, text, f"power limit {match[1]} has no encoding")
        return
    shown = match[1] if match[1] == ">600W" else round(float(match[1].rstrip("W")), 6)

    def watts(get: Callable[[str, str], int]) -> object:
        return limit_to_watts(get(register, value_field), get(register, scale_field))

    ctx.sink.derived(
        f"{register}.power_limit",
        shown,
        line,
        {(register, value_field): encoded[0], (register, scale_field): encoded[1]},
        watts,
    )


def hex_value(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return None if match is None else int(match[1], 16)


def dec_value(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return None if match is None else int(match[1])
