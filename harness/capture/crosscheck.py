"""Decoded text against hex dump: every value the text states, read back from the bytes.

Each :class:`~harness.capture.model.Fact` knows which bits it pins down and how to read its value
from bytes (as lspci would print it), so the comparison is the same code for a flag, a whole
register or a quantity with several encodings. A fact whose bits the dump does not hold (a 64-byte
``-x`` dump against a capability, a row the paste lost) is not compared. Values the simulated
kernel changes when it boots a host (bus numbers, the multifunction bit) are not facts, so
they are never reported.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from harness.capture.model import Disagreement, Fact, ImportedDevice


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "+" if value else "-"
    if isinstance(value, int) and value > 9:
        return f"{value:#x}"
    return str(value)


def disagreements(device: ImportedDevice, facts: Iterable[Fact]) -> list[Disagreement]:
    dump = device.hexdump
    if dump is None:
        return []
    config = bytes(dump.data)
    found: list[Disagreement] = []
    for fact in facts:
        if fact.assumed:
            continue
        if not all(dump.covers(offset, width) for offset, width, _ in fact.bits):
            continue
        from_hex = fact.reader(config)
        if from_hex != fact.value:
            found.append(Disagreement(device.bdf, fact.path, _shown(fact.value), _shown(from_hex), fact.line))
    return found


def check(device: ImportedDevice) -> None:
    """Replace the device's disagreements with those of its facts against its hex dump."""
    device.disagreements = disagreements(device, device.facts)


def coverage(facts: Iterable[Fact], size: int) -> bytearray:
    """The mask of config-space bits the facts pin down (one byte of mask per byte)."""
    mask = bytearray(size)
    for fact in facts:
        for offset, width, bits in fact.bits:
            for index in range(width):
                if offset + index < size:
                    mask[offset + index] |= (bits >> (8 * index)) & 0xFF
    return mask


def combined_description(device: ImportedDevice) -> dict[str, Any]:
    """The device description with the hex dump's bytes laid over it as ``raw`` patches.

    Meant for ``lspci -x`` pastes: a 64-byte dump gives the header exactly (BIST, Interrupt
    Line, registers lspci does not print) and the decoded text the capabilities and what only
    the kernel knows (BAR sizes). Where text and hex disagree the hex wins (the bytes are the
    device; the disagreements are listed on the device). A device without a dump is returned as
    it is; rows the paste lost are left to the text.
    """
    description = copy.deepcopy(device.description)
    dump = device.hexdump
    if dump is None:
        return description
    patches: dict[int, str] = description.setdefault("raw", {})
    for row in range(0, len(dump.data), 16):
        if row not in dump.missing:
            patches[row] = bytes(dump.data[row : row + 16]).hex(" ")
    return description
