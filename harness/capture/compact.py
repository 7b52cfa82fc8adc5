"""Descriptions for people to read: the fields that encode to zero left out.

An imported description names every field lspci printed, ``false`` and ``0`` included, because
the text showed them (and the cross-check compares them). The device library's files list only
what is set: the encoder starts from zeros, so a field whose value encodes to zero (``false``,
``D0``, ``MaxPayload 128``, ``ASPM disabled``) changes no byte. :func:`compact_description`
drops those, and registers and entries left empty, and nothing else: the result encodes to the
same bytes. A bridge's window registers are kept (the encoder closes a window left out).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from harness.pci import regs

#: Entry keys that are not registers: the capability's place, kept; the MSI registers the
#: encoder takes by name, left out when zero.
_KEEP = {"id", "at", "version"}
_MSI_VALUES = ("address", "data", "mask_bits", "pending_bits")
#: A bridge's window registers: the encoder closes a window whose registers a description leaves
#: out (fakesys.hw.describe.BRIDGE_WINDOWS), so a window that reads zero keeps its zeros.
_WINDOWS = {"io_base", "io_limit", "memory_base", "memory_limit", "prefetchable_base", "prefetchable_limit"}


def _structure(entry: Mapping[str, Any], table: Mapping[str, regs.Structure]) -> regs.Structure | None:
    key = entry.get("id")
    if isinstance(key, str):
        return table.get(key)
    return next((item for item in table.values() if item.cap_id == key), None)


def _compact_registers(values: dict[str, Any], structure: regs.Structure | None, keep: set[str]) -> None:
    for name in list(values):
        if name in keep or structure is None or not structure.has_register(name):
            continue
        value = values[name]
        register = structure.register(name)
        if isinstance(value, dict):
            for field_name in list(value):
                item = register.field(field_name)
                if item.value_codec.encode(value[field_name]) == 0:
                    del value[field_name]
            if not value:
                del values[name]
        elif value == 0:
            del values[name]


def compact_description(description: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``description`` without the fields, registers and patches that encode to zero."""
    result: dict[str, Any] = copy.deepcopy(dict(description))
    bridge = result.get("layout") == "bridge"
    header = result.get("header")
    if isinstance(header, dict):
        _compact_registers(header, regs.HEADER_TYPE1 if bridge else regs.HEADER_TYPE0, _WINDOWS if bridge else set())
    for key, table in (("capabilities", regs.CAPABILITIES), ("extended_capabilities", regs.EXTENDED_CAPABILITIES)):
        for entry in result.get(key, []):
            _compact_registers(entry, _structure(entry, table), _KEEP | set(_MSI_VALUES))
            for name in _MSI_VALUES:
                if entry.get(name) == 0:
                    del entry[name]
    return result
