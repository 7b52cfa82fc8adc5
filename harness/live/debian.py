"""Debian packages through apt's own clients: which package a meta package currently resolves
to, its version and checksum (``apt-cache show``), downloading it (``apt-get download``, no root
needed, nothing installed) and unpacking it (``dpkg-deb -x``).

Every failure is an :class:`~harness.live.errors.AssetError` of one line saying what to do (no
network, apt lists out of date, a tool missing), so live tests can be skipped with it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.live.errors import AssetError

#: Where apt keeps its package lists; their state tells when a resolution must be redone.
APT_LISTS = Path("/var/lib/apt/lists")
_TIMEOUT = 600


@dataclass(frozen=True)
class Package:
    """One version of a binary package as apt's lists describe it."""

    name: str
    version: str
    sha256: str
    filename: str
    depends: str = ""

    def depends_on(self) -> list[str]:
        """Package names in ``Depends:`` (alternatives and versions dropped)."""
        names = []
        for item in self.depends.split(","):
            first = item.split("|")[0].strip()
            if first:
                names.append(first.split()[0].split(":")[0])
        return names


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise AssetError(f"{name} not found: live guests are built from Debian packages (Debian or Ubuntu with apt)")
    return found


def _apt_error(stderr: str, fallback: str) -> str:
    errors = [line[3:].strip() for line in stderr.splitlines() if line.startswith("E: ")]
    return errors[-1] if errors else (stderr.strip().splitlines() or [fallback])[-1]


def show(names: Sequence[str]) -> dict[str, Package]:
    """The candidate version of each named package (those apt does not know are absent)."""
    command = [_tool("apt-cache"), "show", "--no-all-versions", *names]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise AssetError(f"apt-cache show failed: {error}") from None
    found: dict[str, Package] = {}
    for stanza in done.stdout.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, separator, value = line.partition(": ")
            if separator and not line.startswith(" "):
                fields[key] = value.strip()
        if "Package" in fields and "SHA256" in fields and "Version" in fields:
            package = Package(
                fields["Package"],
                fields["Version"],
                fields["SHA256"],
                fields.get("Filename", ""),
                fields.get("Depends", ""),
            )
            found.setdefault(package.name, package)
    return found


def resolve(name: str) -> Package:
    """The candidate of ``name``; a one-line error when apt does not know it."""
    found = show([name])
    if name not in found:
        raise AssetError(
            f"apt knows no package {name}; run apt-get update (Debian 12 with bookworm and bookworm-security "
            "in the sources)"
        )
    return found[name]


def lists_fingerprint() -> str:
    """Changes whenever ``apt-get update`` changed the package lists ("" when unknown)."""
    try:
        entries = sorted(
            (entry.name, entry.stat().st_mtime_ns, entry.stat().st_size)
            for entry in os.scandir(APT_LISTS)
            if "Packages" in entry.name
        )
    except OSError:
        return ""
    return hashlib.sha256(repr(entries).encode()).hexdigest() if entries else ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(package: Package, directory: Path) -> Path:
    """``apt-get download NAME=VERSION`` into ``directory``; the .deb, its checksum verified."""
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.glob("*.deb"))
    command = [_tool("apt-get"), "download", "-q", f"{package.name}={package.version}"]
    if os.geteuid() == 0:
        # apt drops to its _apt user for downloads, which cannot write a root-owned directory.
        command[2:2] = ["-o", "APT::Sandbox::User=root"]
    try:
        done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise AssetError(f"apt-get download {package.name} failed: {error}") from None
    if done.returncode != 0:
        reason = _apt_error(done.stderr, f"exit status {done.returncode}")
        raise AssetError(f"apt-get download {package.name}={package.version} failed (offline?): {reason}")
    new = sorted(set(directory.glob("*.deb")) - before) or sorted(directory.glob(f"{package.name}_*.deb"))
    if not new:
        raise AssetError(f"apt-get download {package.name} wrote no .deb into {directory}")
    deb = new[-1]
    if _sha256(deb) != package.sha256:
        deb.unlink()
        raise AssetError(f"{deb.name}: SHA256 differs from apt's lists; run apt-get update and try again")
    return deb


def unpack(deb: Path, destination: Path) -> None:
    """Unpack a .deb's files under ``destination`` (``dpkg-deb -x``; nothing is installed)."""
    destination.mkdir(parents=True, exist_ok=True)
    command = [_tool("dpkg-deb"), "-x", str(deb), str(destination)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise AssetError(f"unpacking {deb.name} failed: {error}") from None
    if done.returncode != 0:
        raise AssetError(f"unpacking {deb.name} failed: {_apt_error(done.stderr, str(done.returncode))}")
