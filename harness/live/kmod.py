"""Kernel modules for the guest: what a module depends on, the closure of the modules a guest
needs, and the ``modules.dep`` busybox's ``modprobe`` reads.

Debian's kernel packages ship no ``modules.dep`` (their postinst runs depmod), so dependencies
are read from each module's ``.modinfo`` ELF section (``depends=`` and ``softdep=pre:``), as
``depmod``/``modinfo`` do; only the modules in the closure are opened. Modules compressed by the
package (Debian 12's 6.12 ships ``.ko.xz``) are decompressed here: busybox's ``insmod`` passes the
file to ``init_module`` as it is, and the kernel only decompresses for ``finit_module`` callers
that ask for it.

busybox ``modprobe`` (``modutils/modprobe.c``) does not recurse: it loads the files of a module's
``modules.dep`` line from the last to the first, so each line lists the whole closure with the
deepest dependencies last, as kmod's depmod writes it.
"""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.live.errors import AssetError

_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")


def module_name(text: str) -> str:
    """The kernel's name for a module: ``vfio-pci`` and ``vfio_pci`` are the same module."""
    return text.replace("-", "_")


def _stem(filename: str) -> str | None:
    for suffix in _SUFFIXES:
        if filename.endswith(suffix):
            return filename[: -len(suffix)]
    return None


def decompressed(path: Path) -> bytes:
    """A module file's ELF bytes, decompressing ``.ko.xz``/``.ko.zst``/``.ko.gz``."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data, format=lzma.FORMAT_XZ)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        tool = shutil.which("zstd")
        if tool is None:
            raise AssetError(f"{path} is zstd-compressed and the zstd tool is missing (apt-get install zstd)")
        return subprocess.run([tool, "-d", "-c", "-q"], input=data, capture_output=True, check=True).stdout
    return data


def modinfo(elf: bytes, source: str = "module") -> dict[str, list[str]]:
    """The ``key=value`` strings of a module's ``.modinfo`` section, by key."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise AssetError(f"{source}: not a 64-bit little-endian ELF module")
    (section_offset,) = struct.unpack_from("<Q", elf, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQ", elf, section_offset + index * entry_size) for index in range(count)]
    names_at = sections[names_index][4]
    for name_offset, _type, _flags, _address, offset, size in sections:
        end = elf.index(b"\0", names_at + name_offset)
        if elf[names_at + name_offset : end] == b".modinfo":
            info: dict[str, list[str]] = {}
            for item in elf[offset : offset + size].split(b"\0"):
                key, separator, value = item.decode(errors="replace").partition("=")
                if separator:
                    info.setdefault(key, []).append(value)
            return info
    raise AssetError(f"{source}: no .modinfo section")


@dataclass
class Module:
    name: str
    #: Path inside the module directory, e.g. ``kernel/drivers/ata/ahci.ko.xz``.
    relative: str
    depends: list[str] = field(default_factory=list)
    elf: bytes = b""

    @property
    def installed_as(self) -> str:
        """Where it goes in the initramfs's module directory: always an uncompressed ``.ko``."""
        stem = _stem(self.relative)
        assert stem is not None
        return stem + ".ko"


class ModuleTree:
    """A kernel's extracted module directory (``lib/modules/VERSION``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, str] = {}
        for path in sorted(directory.rglob("*.ko*")):
            stem = _stem(path.name)
            if stem is not None:
                self.files.setdefault(module_name(stem), str(path.relative_to(directory)))
        builtin = directory / "modules.builtin"
        self.builtin: set[str] = set()
        if builtin.is_file():
            for line in builtin.read_text().splitlines():
                stem = _stem(Path(line.strip()).name)
                if stem:
                    self.builtin.add(module_name(stem))
        self._loaded: dict[str, Module] = {}

    def module(self, name: str) -> Module:
        name = module_name(name)
        if name not in self._loaded:
            relative = self.files.get(name)
            if relative is None:
                raise AssetError(f"module {name} is not in {self.directory} (nor built in)")
            elf = decompressed(self.directory / relative)
            info = modinfo(elf, relative)
            depends = [module_name(item) for value in info.get("depends", []) for item in value.split(",") if item]
            for softdep in info.get("softdep", []):
                words = softdep.split()
                if words[:1] == ["pre:"]:
                    depends += [module_name(word) for word in words[1:] if module_name(word) in self.files]
            self._loaded[name] = Module(name, relative, depends, elf)
        return self._loaded[name]

    def closure(self, wanted: Iterable[str]) -> tuple[list[Module], list[str]]:
        """(modules in load order, each after what it needs; wanted names that are built in)."""
        order: list[Module] = []
        seen: set[str] = set()
        builtin: list[str] = []

        def visit(name: str, chain: tuple[str, ...]) -> None:
            if name in seen:
                return
            if name in chain:
                raise AssetError(f"module dependency cycle: {' -> '.join((*chain, name))}")
            module = self.module(name)
            for dependency in module.depends:
                if dependency not in self.builtin:
                    visit(dependency, (*chain, name))
            seen.add(name)
            order.append(module)

        for name in (module_name(item) for item in wanted):
            if name in self.builtin and name not in self.files:
                builtin.append(name)
            else:
                visit(name, ())
        return order, builtin


def modules_dep(modules: list[Module]) -> str:
    """``modules.dep`` for ``modules`` (in load order): each line the module's whole closure,
    deepest dependencies last (busybox modprobe loads a line from its end)."""
    by_name = {module.name: module for module in modules}
    position = {module.name: index for index, module in enumerate(modules)}
    lines = []
    for module in modules:
        needed: set[str] = set()
        stack = list(module.depends)
        while stack:
            name = stack.pop()
            if name in by_name and name not in needed:
                needed.add(name)
                stack.extend(by_name[name].depends)
        ordered = sorted(needed, key=lambda name: position[name], reverse=True)
        lines.append(f"{module.installed_as}: " + " ".join(by_name[name].installed_as for name in ordered))
    return "".join(line.rstrip() + "\n" for line in lines)
