"""Device descriptions written as the library's files are written: YAML with hex numbers.

:func:`dump_description` turns a description (plain data, :mod:`fakesys.hw.describe`'s vocabulary)
into the text of a ``fakesys/devices/*.yaml`` file: the identity registers with their full width
(``vendor: 0x1b21``, ``class: 0x010601``, ``revision: 0x02``), other whole registers, capability
offsets, BAR and ROM addresses and sizes and ``raw`` offsets in hex, named fields as their codecs
read them (``max_payload: 512``, ``power_state: D0``), registers with fields on one line. Loading
the text gives back the same numbers (:mod:`fakesys.source` reads ``0x`` integers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from harness.pci import regs

#: Key order of a description file (every key a description may have).
KEY_ORDER = (
    "name",
    "title",
    "extends",
    "sources",
    "notes",
    "layout",
    "config_size",
    "header",
    "bars",
    "rom",
    "capabilities",
    "extended_capabilities",
    "raw",
    "behaviours",
    "ahci",
)
#: Header registers always written with their full width (they are IDs, not quantities).
_IDENTITY = {"vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision"}
_LONG_TEXT = 80


class _Hex(int):
    """An integer written in hex with at least ``digits`` digits."""

    digits: int = 0

    @classmethod
    def of(cls, value: int, digits: int = 0) -> _Hex:
        number = cls(value)
        number.digits = digits
        return number


class Flow(dict[Any, Any]):
    """A mapping written on one line (``{index: 0, kind: io, address: 0x3050}``)."""


#: libyaml's emitter when PyYAML has it (the pure-Python one is ten times slower).
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    pass


def _represent_hex(dumper: yaml.SafeDumper, value: _Hex) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0x{int(value):0{value.digits}x}")


class FlowList(list[Any]):
    """A list written on one line (``[fpu, vme, de]``)."""


def _represent_flow_list(dumper: yaml.SafeDumper, value: FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


def _represent_flow(dumper: yaml.SafeDumper, value: Flow) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if len(value) > _LONG_TEXT and " " in value and value == value.strip() and "  " not in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=">")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(_Hex, _represent_hex)
_Dumper.add_representer(Flow, _represent_flow)
_Dumper.add_representer(FlowList, _represent_flow_list)
_Dumper.add_representer(str, _represent_text)


def _hex(value: object, digits: int = 0) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return value
    if value < 10 and not digits:
        return value
    return _Hex.of(value, digits)


def _registers(values: Mapping[str, Any], structure: regs.Structure | None, own: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's registers: whole values in hex, fields as they are, each register on a line."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if key in own:
            result[key] = own[key](value)
            continue
        if isinstance(value, Mapping):
            result[key] = Flow(value)
            continue
        digits = 0
        if structure is not None and structure.has_register(key) and key in _IDENTITY:
            digits = 2 * structure.register(key).width
        result[key] = _hex(value, digits)
    return result


def _structure(entry: Mapping[str, Any], table: Mapping[str, regs.Structure]) -> regs.Structure | None:
    key = entry.get("id")
    if isinstance(key, str):
        return table.get(key)
    return next((item for item in table.values() if item.cap_id == key), None)


def _capabilities(items: object, table: Mapping[str, regs.Structure]) -> object:
    if not isinstance(items, list):
        return items
    own = {"id": lambda value: _hex(value, 2) if isinstance(value, int) else value, "at": _hex, "version": _hex}
    written = []
    for entry in items:
        if not isinstance(entry, Mapping):
            written.append(entry)
            continue
        structure = _structure(entry, table)
        written.append(_registers(entry, structure, own))
    return written


def _flow_list(items: object, hex_keys: tuple[str, ...]) -> object:
    if not isinstance(items, list):
        return items
    return [
        Flow({key: _hex(value) if key in hex_keys else value for key, value in item.items()})
        if isinstance(item, Mapping)
        else item
        for item in items
    ]


def written_form(description: Mapping[str, Any]) -> dict[str, Any]:
    """The description with every number in the form the file shows (still plain data for YAML)."""
    layout = description.get("layout")
    ordered = {key: description[key] for key in KEY_ORDER if key in description}
    ordered.update({key: value for key, value in description.items() if key not in ordered})
    result: dict[str, Any] = {}
    for key, value in ordered.items():
        if key == "header" and isinstance(value, Mapping):
            header = regs.HEADER_TYPE1 if layout == "bridge" else regs.HEADER_TYPE0
            result[key] = _registers(value, header, {})
        elif key == "capabilities":
            result[key] = _capabilities(value, regs.CAPABILITIES)
        elif key == "extended_capabilities":
            result[key] = _capabilities(value, regs.EXTENDED_CAPABILITIES)
        elif key == "bars":
            result[key] = _flow_list(value, ("address", "size"))
        elif key == "rom" and isinstance(value, Mapping):
            result[key] = {name: _hex(item) if name in ("address", "size") else item for name, item in value.items()}
        elif key == "raw" and isinstance(value, Mapping):
            result[key] = {_hex(offset) if isinstance(offset, int) else offset: text for offset, text in value.items()}
        elif key == "behaviours":
            result[key] = _flow_list(value, ())
        else:
            result[key] = value
    return result


def comment_lines(comment: str) -> str:
    """``comment`` as YAML comment lines (``# ...``)."""
    return "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())


def dump_yaml(data: object) -> str:
    """YAML text of plain data: keys in their order, :class:`Flow` mappings on one line, text
    with line breaks as literal blocks, long one-line text folded, ``0x`` numbers where the data
    holds them (:func:`written_form`)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def dump_description(description: Mapping[str, Any], comment: str = "") -> str:
    """The YAML text of one description file, with ``comment`` lines (``# ...``) on top."""
    return (comment_lines(comment) if comment else "") + dump_yaml(written_form(description))
