"""The device library: one description file per device under ``fakesys/devices/``.

A host names a device by its file name (without ``.yaml``) and may override parts of the
description (BAR addresses of a second identical NIC, a capability bit for a variant). Parsed
files and encoded models are cached, so a host with a thousand copies of a device encodes it
once.

Device names (in a host's ``device:`` and a description's ``extends:``) are names, never paths:
:func:`find_device` is the one place a name becomes a file, and it accepts only
:data:`fakesys.names.LIBRARY_NAME` names of files in the library directory. A description may
extend another (at most :data:`MAX_EXTENDS` deep); a cycle is an error naming it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fakesys import names
from fakesys.errors import SourceError
from fakesys.hw.describe import encode
from fakesys.hw.model import DeviceModel
from fakesys.source import Document, load_yaml

DEVICE_DIRECTORY = Path(__file__).resolve().parent.parent / "devices"

_LIST_KEYS = {"bars": "index", "capabilities": "id", "extended_capabilities": "id"}


#: Longest ``extends:`` chain of device descriptions.
MAX_EXTENDS = 16


@cache
def library_names() -> list[str]:
    return sorted(path.stem for path in DEVICE_DIRECTORY.glob("*.yaml") if names.LIBRARY_NAME.fullmatch(path.stem))


def find_device(name: object) -> Path | None:
    """The description file of library device ``name``, or None when the library has no such
    device. ``name`` is looked up as a name only (:func:`fakesys.names.library_name`, which
    raises :class:`~fakesys.names.BadName` for anything else); a later search path grows here."""
    checked = names.library_name(name, "device name")
    if checked not in library_names():
        return None
    return DEVICE_DIRECTORY / f"{checked}.yaml"


def device_path(name: str) -> Path:
    """The description file of a device the library has (:func:`find_device`)."""
    path = find_device(name)
    if path is None:
        raise SourceError(str(name), 0, f"unknown device {name!r}")
    return path


_OWN_KEYS = ("name", "title", "sources", "notes")


@cache
def _document(name: str) -> Document:
    """The description of ``name`` with its ``extends:`` chain merged under it."""
    chain: list[Document] = [load_yaml(device_path(name))]
    seen = [name]
    while isinstance(chain[-1].data, Mapping) and "extends" in chain[-1].data:
        doc = chain[-1]
        base_name = doc.data["extends"]
        try:
            base_path = find_device(base_name)
        except names.BadName as problem:
            raise doc.error(("extends",), f"extends: {problem}") from None
        if base_path is None:
            raise doc.error(("extends",), f"extends names {base_name!r}, which is not a device in the library")
        if base_name in seen:
            cycle = " -> ".join([*seen, base_name])
            raise doc.error(("extends",), f"extends: forms a cycle: {cycle}")
        if len(seen) > MAX_EXTENDS:
            raise doc.error(("extends",), f"extends: chain longer than {MAX_EXTENDS} descriptions")
        seen.append(base_name)
        chain.append(load_yaml(base_path))
    merged: Any = chain[-1].data
    for doc in reversed(chain[:-1]):
        base = dict(merged)
        for key in _OWN_KEYS:
            base.pop(key, None)
        own = {key: value for key, value in doc.data.items() if key != "extends"}
        merged = merge_description(base, own)
    top = chain[0]
    return Document(merged, top.path, top.lines)


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
    path, line = where or ("<host>", 0)
    try:
        found = find_device(name)
    except names.BadName as problem:
        raise SourceError(path, line, str(problem)) from None
    if found is None:
        known = ", ".join(library_names())
        raise SourceError(path, line, f"unknown device {name!r}; the library has: {known}")
    if not override:
        return _encoded(name).copy()
    base = _document(name)
    merged = merge_description(base.data, override)
    if where is None:
        path = base.path
    # Errors in merged data point at the host's override, which is where the user can act.
    return encode(Document(merged, path, {(): line}))


def description(name: str) -> Mapping[str, Any]:
    data: Mapping[str, Any] = _document(name).data
    return data
