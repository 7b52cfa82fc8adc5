"""``vfiolab fakesys devices``: every device a scenario can name, and where it comes from.

The devices are listed in the device search path's order (:func:`fakesys.hw.library.search_path`);
a name in several directories is used from the first, the others are shadowed. ``--verbose`` adds
the search path itself, each device's title and behaviours, the shadowed files, and files that do
not load (with their error, so a broken description in a user's directory is found here rather
than in the middle of a scenario run). The behaviours are fakesys's, built in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from fakesys.errors import FakesysError
from fakesys.hw import library
from fakesys.hw.behaviour import REGISTRY
from harness.exitcodes import OK
from harness.scenario.loader import find_scenario


def _describe(path: Path, beside: tuple[Path, ...]) -> tuple[str, list[str], str | None]:
    """(title, behaviour names, error) of a description file."""
    try:
        description = library.description(path.stem, beside)
    except FakesysError as error:
        return "", [], str(error)
    title = str(description.get("title", "")) if isinstance(description, Mapping) else ""
    behaviours = description.get("behaviours") if isinstance(description, Mapping) else None
    names = [str(item.get("name")) for item in behaviours or [] if isinstance(item, Mapping)]
    return title, names, None


def write_listing(stream: TextIO, scenario: str | None, verbose: bool = False) -> int:
    beside: tuple[Path, ...] = ()
    if scenario is not None:
        beside = library.beside([find_scenario(scenario)])
    directories = library.search_path(beside)
    if verbose:
        stream.write("search path (first match wins):\n")
        for directory in directories:
            exists = "" if directory.path.is_dir() else "  (does not exist)"
            stream.write(f"  {directory.origin:<22} {directory.path}{exists}\n")
        stream.write("\n")
    index = library.device_index(beside)
    width = max((len(name) for name in index), default=10)
    stream.write(f"{'DEVICE':<{width}}  {'FROM':<22} FILE\n")
    for name, files in index.items():
        used = files[0]
        stream.write(f"{name:<{width}}  {used.directory.origin:<22} {used.path}\n")
        if not verbose:
            continue
        title, behaviours, error = _describe(used.path, beside)
        if error is not None:
            stream.write(f"{'':<{width}}    does not load: {error}\n")
        if title:
            stream.write(f"{'':<{width}}    {title}\n")
        if behaviours:
            stream.write(f"{'':<{width}}    behaviours: {', '.join(behaviours)}\n")
        for shadowed in files[1:]:
            stream.write(f"{'':<{width}}    shadows {shadowed.path} ({shadowed.directory.origin})\n")
    stream.write("\nbehaviours (built in, fakesys/hw/behaviour.py; a host or description names them):\n")
    for name in sorted(REGISTRY):
        behaviour = REGISTRY[name]
        description = getattr(behaviour, "description", "")
        parameters = getattr(behaviour, "parameters", {})
        shown = f" {{{', '.join(parameters)}}}" if parameters else ""
        stream.write(f"  {name}{shown}: {description}\n")
    return OK
