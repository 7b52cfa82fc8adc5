"""The device library: description files found along a search path, one file per device.

A host names a device by its file name (without ``.yaml``) and may override parts of the
description (BAR addresses of a second identical NIC, a capability bit for a variant). Names are
looked up, first match wins, in:

1. the ``devices/`` directory beside the scenario file that names the device (and beside the
   scenario being loaded, when the entry came from a base it ``extends:``);
2. the directories of ``$VFIOLAB_DEVICE_PATH`` (colon-separated), in order;
3. the directories given with ``--device-dir`` (:func:`set_device_dirs`), in order;
4. the packaged library, ``fakesys/devices/``.

Device names (in a host's ``device:`` and a description's ``extends:``) are names, never paths:
:func:`find_device` is the one place a name becomes a file. It accepts only
:data:`fakesys.names.LIBRARY_NAME` names and opens only ``DIR/NAME.yaml`` in the directories above;
outside the packaged library the file must be a regular file, not a symbolic link (a scenario's
``devices/`` directory may come from someone else). A file found in several directories: the
first wins and the others are shadowed (:func:`device_index` lists them). Parsed files and encoded
models are cached by file (path, size and modification time), so a host with a thousand copies of
a device encodes it once. A description may extend another (at most :data:`MAX_EXTENDS` deep); a
cycle is an error naming it.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakesys import names
from fakesys.errors import SourceError
from fakesys.hw.describe import encode
from fakesys.hw.model import DeviceModel
from fakesys.source import Document, load_yaml

DEVICE_DIRECTORY = Path(__file__).resolve().parent.parent / "devices"
#: The environment variable naming extra device directories (colon-separated).
DEVICE_PATH_VARIABLE = "VFIOLAB_DEVICE_PATH"
#: Where each kind of search directory comes from, as listings and errors name it.
BESIDE_SCENARIO = "beside the scenario"
FROM_ENVIRONMENT = DEVICE_PATH_VARIABLE
FROM_OPTION = "--device-dir"
PACKAGED = "packaged library"
#: Most files read from one search directory (a directory with more is listed up to this).
MAX_DIRECTORY_ENTRIES = 10_000

_LIST_KEYS = {"bars": "index", "capabilities": "id", "extended_capabilities": "id"}

#: Longest ``extends:`` chain of device descriptions.
MAX_EXTENDS = 16

_option_dirs: list[Path] = []


def set_device_dirs(directories: Iterable[str | os.PathLike[str]]) -> None:
    """The ``--device-dir`` directories of this process (the command line sets them once)."""
    _option_dirs[:] = [Path(directory) for directory in directories]


@dataclass(frozen=True)
class DeviceDirectory:
    """One directory of the search path and why it is on it."""

    path: Path
    origin: str

    @property
    def packaged(self) -> bool:
        return self.origin == PACKAGED


@dataclass(frozen=True)
class DeviceFile:
    """A description file found on the search path."""

    name: str
    path: Path
    directory: DeviceDirectory


def beside(files: Iterable[str | os.PathLike[str]]) -> tuple[Path, ...]:
    """The ``devices/`` directories beside scenario files (those that are files), in order."""
    found: list[Path] = []
    for file in files:
        path = Path(file)
        directory = path.parent / "devices"
        if path.is_file() and directory not in found:
            found.append(directory)
    return tuple(found)


def search_path(beside_scenario: Sequence[Path] = ()) -> list[DeviceDirectory]:
    """The directories device names are looked up in, first match wins."""
    directories = [DeviceDirectory(path, BESIDE_SCENARIO) for path in beside_scenario]
    for entry in os.environ.get(DEVICE_PATH_VARIABLE, "").split(os.pathsep):
        if entry:
            directories.append(DeviceDirectory(Path(entry), FROM_ENVIRONMENT))
    directories += [DeviceDirectory(path, FROM_OPTION) for path in _option_dirs]
    directories.append(DeviceDirectory(DEVICE_DIRECTORY, PACKAGED))
    return directories


def _usable(path: Path, directory: DeviceDirectory) -> bool:
    """``path`` is a file the search may return: a regular file (outside the packaged library
    not a symbolic link: the name must not lead elsewhere)."""
    try:
        info = path.stat() if directory.packaged else path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode)


def _refusal(path: Path, directory: DeviceDirectory) -> str | None:
    """Why an existing ``path`` is not used (None: it is, or it does not exist)."""
    try:
        info = path.lstat()
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode) and not directory.packaged:
        return "a symbolic link (device files are read only as regular files)"
    if not _usable(path, directory):
        return "not a regular file"
    return None


def find_device(name: object, beside_scenario: Sequence[Path] = ()) -> Path | None:
    """The description file of device ``name``: the first ``DIR/NAME.yaml`` along
    :func:`search_path`, or None when no directory has one. ``name`` is looked up as a name only
    (:func:`fakesys.names.library_name`, which raises :class:`~fakesys.names.BadName` for anything
    else); a ``NAME.yaml`` that is a symbolic link or not a regular file is refused with
    :class:`~fakesys.errors.SourceError` rather than skipped, so that what is loaded is never a
    surprise."""
    checked = names.library_name(name, "device name")
    for directory in search_path(beside_scenario):
        candidate = directory.path / f"{checked}.yaml"
        if _usable(candidate, directory):
            return candidate
        refused = _refusal(candidate, directory)
        if refused is not None:
            raise SourceError(str(candidate), 0, f"device {checked!r}: {refused}; not read")
    return None


def _listed(directory: DeviceDirectory) -> list[str]:
    try:
        entries = sorted(os.listdir(directory.path))[:MAX_DIRECTORY_ENTRIES]
    except OSError:
        return []
    return [
        entry[: -len(".yaml")]
        for entry in entries
        if entry.endswith(".yaml")
        and names.LIBRARY_NAME.fullmatch(entry[: -len(".yaml")])
        and _usable(directory.path / entry, directory)
    ]


def device_index(beside_scenario: Sequence[Path] = ()) -> dict[str, list[DeviceFile]]:
    """Every device name on the search path with the files that provide it, the one used first
    and the shadowed ones after it."""
    index: dict[str, list[DeviceFile]] = {}
    for directory in search_path(beside_scenario):
        for name in _listed(directory):
            index.setdefault(name, []).append(DeviceFile(name, directory.path / f"{name}.yaml", directory))
    return dict(sorted(index.items()))


def library_names() -> list[str]:
    """The names of the packaged library's devices."""
    return _listed(DeviceDirectory(DEVICE_DIRECTORY, PACKAGED))


def unknown_device_message(name: str, beside_scenario: Sequence[Path] = ()) -> str:
    """What to say about a name no directory has: the closest names and how to add the device."""
    known = list(device_index(beside_scenario))
    # Imported here: only explaining an unknown name needs it.
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"unknown device {name!r}{hint}; add it: vfiolab scenario import DUMP, or vfiolab fakesys describe DUMP "
        f"> devices/{name}.yaml beside the scenario, or in a directory given with --device-dir DIR or listed "
        f"in ${DEVICE_PATH_VARIABLE} (see vfiolab fakesys devices)"
    )


def device_path(name: str, beside_scenario: Sequence[Path] = ()) -> Path:
    """The description file of a device the search path has (:func:`find_device`)."""
    path = find_device(name, beside_scenario)
    if path is None:
        raise SourceError(str(name), 0, unknown_device_message(str(name), beside_scenario))
    return path


_OWN_KEYS = ("name", "title", "sources", "notes")
_FileKey = tuple[str, int, int]
_documents: dict[tuple[_FileKey, tuple[Path, ...]], Document] = {}
_models: dict[tuple[_FileKey, tuple[Path, ...]], DeviceModel] = {}


def _file_key(path: Path) -> _FileKey:
    try:
        info = path.stat()
    except OSError:
        return (str(path), 0, 0)
    return (str(path), info.st_mtime_ns, info.st_size)


def clear_cache() -> None:
    """Forget parsed and encoded descriptions (tests that rewrite device files use it)."""
    _documents.clear()
    _models.clear()


def _document(path: Path, beside_scenario: tuple[Path, ...]) -> Document:
    """The description in ``path`` with its ``extends:`` chain merged under it; a base is looked
    up beside the extending file first, then along the search path."""
    key = (_file_key(path), beside_scenario)
    cached = _documents.get(key)
    if cached is not None:
        return cached
    chain: list[Document] = [load_yaml(path)]
    seen = [path.stem]
    while isinstance(chain[-1].data, Mapping) and "extends" in chain[-1].data:
        doc = chain[-1]
        base_name = doc.data["extends"]
        search = (Path(doc.path).parent, *beside_scenario)
        try:
            base_path = find_device(base_name, tuple(dict.fromkeys(search)))
        except names.BadName as problem:
            raise doc.error(("extends",), f"extends: {problem}") from None
        if base_path is None:
            raise doc.error(("extends",), f"extends names {base_name!r}, which is not a device on the search path")
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
        for key_name in _OWN_KEYS:
            base.pop(key_name, None)
        own = {key_name: value for key_name, value in doc.data.items() if key_name != "extends"}
        merged = merge_description(base, own)
    top = chain[0]
    document = Document(merged, top.path, top.lines)
    _documents[key] = document
    return document


def preload(path: Path, beside_scenario: Sequence[Path], document: Document, model: DeviceModel) -> None:
    """Take ``document`` and ``model`` (its encoding) as what the file ``path`` holds, for a
    file the caller has just written from ``document`` (``vfiolab scenario import`` stages the
    host it imports that way, instead of parsing and encoding again the texts it has just made).
    The entry is keyed like every other (file, modification time, size): once the file changes,
    it is read again."""
    key = (_file_key(path), tuple(beside_scenario))
    _documents[key] = document
    _models[key] = model


def _encoded(path: Path, beside_scenario: tuple[Path, ...]) -> DeviceModel:
    key = (_file_key(path), beside_scenario)
    model = _models.get(key)
    if model is None:
        model = _models[key] = encode(_document(path, beside_scenario))
    return model


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
    beside_scenario: Sequence[Path] = (),
) -> DeviceModel:
    """A fresh copy of device ``name`` (looked up along :func:`search_path`, with the
    ``devices/`` directories ``beside_scenario`` first), with ``override`` merged in.

    ``where`` (file, line) locates the reference in the host file for error messages.
    """
    path, line = where or ("<host>", 0)
    search = tuple(beside_scenario)
    try:
        found = find_device(name, search)
    except names.BadName as problem:
        raise SourceError(path, line, str(problem)) from None
    if found is None:
        raise SourceError(path, line, unknown_device_message(name, search))
    if not override:
        return _encoded(found, search).copy()
    base = _document(found, search)
    merged = merge_description(base.data, override)
    if where is None:
        path = base.path
    # Errors in merged data point at the host's override, which is where the user can act.
    return encode(Document(merged, path, {(): line}))


def description(name: str, beside_scenario: Sequence[Path] = ()) -> Mapping[str, Any]:
    """The merged description of device ``name`` (its ``extends:`` chain resolved)."""
    search = tuple(beside_scenario)
    data: Mapping[str, Any] = _document(device_path(name, search), search).data
    return data
