"""The guest's initramfs: busybox with one link per applet, the kernel modules a guest may load
(with their ``modules.dep``), ``/init`` and the helper scripts of ``harness/live/guest/``.

The archive is an uncompressed newc cpio (:mod:`harness.live.cpio`): the kernel unpacks it
without a decompressor, which under TCG is faster than gunzip, and the same inputs give the same
bytes (no timestamps, root ownership), so the cache can name it by content.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from harness.live.cpio import NewcWriter
from harness.live.errors import AssetError
from harness.live.kmod import Module, modules_dep

#: Files of harness/live/guest/ and where they go in the initramfs.
GUEST_FILES = {"init": "init", "snapshot.sh": "live/snapshot.sh"}
_DIRECTORIES = ("bin", "dev", "proc", "sys", "tmp", "run", "host", "live", "etc", "lib", "lib/modules")


def guest_file(name: str) -> bytes:
    """A file of ``harness/live/guest/`` (shipped in the package)."""
    return resources.files("harness.live").joinpath("guest", name).read_bytes()


def busybox_applets(busybox: Path) -> list[str]:
    """The applets this busybox binary provides (it is static and runs on the host too)."""
    try:
        listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        raise AssetError(f"{busybox} --list failed: {error}") from None
    applets = [name for name in listed.stdout.split() if name and "/" not in name]
    if "sh" not in applets or "modprobe" not in applets:
        raise AssetError(f"{busybox} lacks the sh or modprobe applet")
    return applets


def write_initramfs(
    destination: Path,
    busybox: Path,
    kernel_release: str,
    modules: Sequence[Module],
    extra_files: Mapping[str, bytes] | None = None,
) -> int:
    """Write the initramfs to ``destination``; returns its size in bytes."""
    applets = busybox_applets(busybox)
    module_root = f"lib/modules/{kernel_release}"
    with destination.open("wb") as out:
        archive = NewcWriter(out)
        for directory in _DIRECTORIES:
            archive.directory(directory)
        # The kernel opens /dev/console for init before anything is mounted.
        archive.char_device("dev/console", 5, 1)
        archive.file("bin/busybox", busybox.read_bytes(), 0o755)
        for applet in applets:
            if applet != "busybox":
                archive.symlink(f"bin/{applet}", "busybox")
        archive.symlink("sbin", "bin")
        for name, target in GUEST_FILES.items():
            archive.file(target, guest_file(name), 0o755)
        for name, data in (extra_files or {}).items():
            archive.file(name, data, 0o644)
        directories = {module_root}
        archive.directory(module_root)
        for module in modules:
            parts = f"{module_root}/{module.installed_as}".split("/")
            for depth in range(len(parts) - 1):
                parent = "/".join(parts[: depth + 1])
                if parent.startswith(module_root) and parent not in directories:
                    directories.add(parent)
                    archive.directory(parent)
            archive.file(f"{module_root}/{module.installed_as}", module.elf)
        archive.file(f"{module_root}/modules.dep", modules_dep(list(modules)).encode())
        return archive.close()
