"""The device library: one description file per device under ``fakesys/devices/``.

A host names a device by its file name (without ``.yaml``) and may override parts of the
description (BAR addresses of a second identical NIC, a capability bit for a variant). Parsed
files and encoded models are cached, so a host with a thousand copies of a device encodes it
once.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fakesys.errors import SourceError
from fakesys.hw.describe import encode
from fakesys.hw.model import DeviceModel
from fakesys.source import Document, load_yaml

DEVICE_DIRECTORY = Path(__file__).resolve().parent.parent / "devices"

_LIST_KEYS = {"bars": "index", "capabilities": "id", "extended_capabilities": "id"}


def library_names() -> list[str]:
    return sorted(path.stem for path in DEVICE_DIRECTORY.glob("*.yaml"))


def device_path(name: str) -> Path:
    return DEVICE_DIRECTORY / f"{name}.yaml"


_OWN_KEYS = ("name", "title", "sources", "notes")


@cache
def _document(name: str) -> Document:
    """The description of ``name`` with any ``extends:`` base merged under it."""
    doc = load_yaml(device_path(name))
    data = doc.data
    if not isinstance(data, Mapping) or "extends" not in data:
        return doc
    base_name = data["extends"]
    if not isinstance(base_name, str) or not device_path(base_name).is_file():
        raise doc.error(("extends",), f"extends names {base_name!r}, which is not a device in the library")
    if base_name == name:
        raise doc.error(("extends",), "a device cannot extend itself")
    base = dict(_document(base_name).data)
    for key in _OWN_KEYS:
        base.pop(key, None)
    own = {key: value for key, value in data.items() if key != "extends"}
    return Document(merge_description(base, own), doc.path, doc.lines)


@cache
def _encoded(name: str) -> DeviceModel:
    return encode(_document(name))


def merge_description(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into ``base``; lists of BARs and capabilities merge by their key."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if key in _LIST_KEYS and isinstance(current, list) and isinstance(value, list):
            merged[key] = _merge_keyed(current, value, _LIST_KEYS[key])
        elif isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_description(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_keyed(items: list[Any], overrides: list[Any], key: str) -> list[Any]:
    result = [copy.deepcopy(item) for item in items]
    for override in overrides:
        if not isinstance(override, Mapping) or key not in override:
            result.append(copy.deepcopy(override))
            continue
        for position, item in enumerate(result):
            if isinstance(item, Mapping) and item.get(key) == override[key]:
                if override.get("remove") is True:
                    del result[position]
                else:
                    result[position] = merge_description(item, override)
                break
        else:
            result.append(copy.deepcopy(override))
    return result


def load_device(
    name: str,
    override: Mapping[str, Any] | None = None,
    where: tuple[str, int] | None = None,
) -> DeviceModel:
    """A fresh copy of library device ``name``, with ``override`` merged in.

    ``where`` (file, line) locates the reference in the host file for error messages.
    """
    if not device_path(name).is_file():
        known = ", ".join(library_names())
        path, line = where or ("<host>", 0)
        raise SourceError(path, line, f"unknown device {name!r}; the library has: {known}")
    if not override:
        return _encoded(name).copy()
    base = _document(name)
    merged = merge_description(base.data, override)
    path, line = where or (base.path, 0)
    # Errors in merged data point at the host's override, which is where the user can act.
    return encode(Document(merged, path, {(): line}))


def description(name: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] = _document(name).data
    return data
