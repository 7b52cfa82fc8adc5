"""Guest assets built from Debian packages: the kernel as an ELF ``vmlinux`` for a PVH boot and an
initramfs with busybox, the kernel modules a guest may load and the guest scripts.

Two guest kernels, so both of the simulated kernel's Debian profiles have a real counterpart:

- ``6.1``: whatever ``linux-image-amd64`` (bookworm, bookworm-security) depends on now,
  e.g. ``linux-image-6.1.0-57-amd64``; XZ-compressed image, plain ``.ko`` modules;
- ``6.12``: whatever ``linux-image-6.12-amd64`` (bookworm-security) depends on now,
  e.g. ``linux-image-6.12.117+deb12-amd64``; zstd-compressed image, ``.ko.xz`` modules.

The ABI is resolved through the meta package when assets are asked for (old ABIs leave the
archive), never written down. Builds are cached by content (:mod:`harness.live.cache`) under a
lock, so parallel workers share one; when apt cannot answer (offline, no lists), the newest
build already in the cache for that kernel is used, and without one the error says why in one
line (live tests are then skipped with it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness.live import debian
from harness.live.cache import cache_root, locked
from harness.live.errors import AssetError
from harness.live.initramfs import GUEST_FILES, guest_file, write_initramfs
from harness.live.kernelimage import extract_vmlinux
from harness.live.kmod import ModuleTree, module_name

#: Bump when the build itself changes in a way its inputs do not show.
BUILDER_VERSION = 1
BUSYBOX_PACKAGE = "busybox-static"
#: Modules a guest may load: the emulated devices' drivers, 9p for the host's root, VFIO.
GUEST_MODULES = (
    "ahci",
    "sd_mod",
    "nvme",
    "e1000",
    "e1000e",
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "9p",
    "9pnet_virtio",
    "vfio-pci",
    "vfio_iommu_type1",
)


@dataclass(frozen=True)
class KernelSeries:
    name: str
    #: The meta package whose dependency is the current kernel of the series.
    meta: str
    #: What that dependency must look like (a meta package that moved on is an error, not a surprise).
    image_pattern: str


KERNELS = {
    "6.1": KernelSeries("6.1", "linux-image-amd64", r"linux-image-6\.1\.0-\d+-amd64"),
    "6.12": KernelSeries("6.12", "linux-image-6.12-amd64", r"linux-image-6\.12\.\d+\+deb12-amd64"),
}
DEFAULT_KERNEL = "6.1"


@dataclass(frozen=True)
class GuestAssets:
    """A built guest: what QEMU boots and what is in it."""

    series: str
    kernel_package: str
    kernel_version: str
    #: ``uname -r`` in the guest.
    kernel_release: str
    busybox_version: str
    directory: Path
    #: Modules in the initramfs (kernel names, ``vfio_pci``) and wanted ones that are built in.
    modules: tuple[str, ...]
    builtin: tuple[str, ...]
    key: str
    build_seconds: float = 0.0
    #: Why an older cached build is used (apt could not answer, the download failed); else "".
    note: str = ""
    #: Built by this call (not read from the cache).
    fresh: bool = False

    @property
    def vmlinux(self) -> Path:
        return self.directory / "vmlinux"

    @property
    def initramfs(self) -> Path:
        return self.directory / "initramfs.cpio"

    def loadable(self, names: list[str]) -> list[str]:
        """The ``names`` to modprobe: built-in ones dropped; an unknown one is an error."""
        wanted = []
        for name in (module_name(item) for item in names):
            if name in self.builtin:
                continue
            if name not in self.modules:
                raise AssetError(
                    f"module {name} is not in the guest's initramfs (it has {', '.join(sorted(self.modules))})"
                )
            wanted.append(name)
        return wanted

    def describe(self) -> str:
        return f"{self.kernel_package} {self.kernel_version} (uname -r {self.kernel_release})"


@dataclass(frozen=True)
class Inputs:
    """What a build is made of, as apt's lists say now."""

    series: str
    kernel: debian.Package
    busybox: debian.Package

    def key(self) -> str:
        recipe = {
            "builder": BUILDER_VERSION,
            "series": self.series,
            "kernel": [self.kernel.name, self.kernel.version, self.kernel.sha256],
            "busybox": [self.busybox.name, self.busybox.version, self.busybox.sha256],
            "modules": list(GUEST_MODULES),
            "guest_files": {name: hashlib.sha256(guest_file(name)).hexdigest() for name in GUEST_FILES},
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:24]


def series(name: str) -> KernelSeries:
    if name not in KERNELS:
        raise AssetError(f"no guest kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return KERNELS[name]


def _resolution_file(root: Path, name: str) -> Path:
    return root / f"resolved-{name}.json"


def resolve_inputs(name: str, root: Path | None = None) -> Inputs:
    """The packages a build of kernel series ``name`` uses now. apt is asked again only when its
    lists changed since the last answer (``apt-cache`` takes about a second without a pkgcache)."""
    root = root or cache_root()
    kernel_series = series(name)
    fingerprint = debian.lists_fingerprint()
    saved = _resolution_file(root, name)
    if fingerprint:
        try:
            data = json.loads(saved.read_text())
            if data["fingerprint"] == fingerprint:
                return Inputs(name, debian.Package(**data["kernel"]), debian.Package(**data["busybox"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    found = debian.show([kernel_series.meta, BUSYBOX_PACKAGE])
    for wanted in (kernel_series.meta, BUSYBOX_PACKAGE):
        if wanted not in found:
            debian.resolve(wanted)  # raises the one-line error
    images = [dep for dep in found[kernel_series.meta].depends_on() if re.fullmatch(kernel_series.image_pattern, dep)]
    if not images:
        raise AssetError(
            f"{kernel_series.meta} depends on {found[kernel_series.meta].depends or 'nothing'}, "
            f"not a {name} kernel image package"
        )
    inputs = Inputs(name, debian.resolve(images[0]), found[BUSYBOX_PACKAGE])
    if fingerprint:
        try:
            root.mkdir(parents=True, exist_ok=True)
            record = {"fingerprint": fingerprint, "kernel": asdict(inputs.kernel), "busybox": asdict(inputs.busybox)}
            saved.write_text(json.dumps(record, indent=1))
        except OSError:
            pass
    return inputs


def _load(directory: Path) -> GuestAssets | None:
    try:
        data = json.loads((directory / "manifest.json").read_text())
        data["directory"] = directory
        data["modules"] = tuple(data["modules"])
        data["builtin"] = tuple(data["builtin"])
        assets = GuestAssets(**data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return assets if assets.vmlinux.is_file() and assets.initramfs.is_file() else None


def cached_assets(name: str, root: Path | None = None) -> list[GuestAssets]:
    """Complete builds of kernel series ``name`` in the cache, newest first."""
    directory = (root or cache_root()) / "assets"
    found = [assets for path in directory.glob("*") if (assets := _load(path)) is not None and assets.series == name]
    return sorted(found, key=lambda assets: (assets.directory / "manifest.json").stat().st_mtime, reverse=True)


def _build(inputs: Inputs, destination: Path) -> GuestAssets:
    began = time.monotonic()
    root = destination.parent.parent
    work = Path(tempfile.mkdtemp(prefix=f".build-{inputs.key()}-", dir=destination.parent))
    try:
        debs = root / "debs"
        kernel_deb = debian.download(inputs.kernel, debs)
        busybox_deb = debian.download(inputs.busybox, debs)
        debian.unpack(kernel_deb, work / "kernel")
        debian.unpack(busybox_deb, work / "busybox")
        releases = sorted(path.name for path in (work / "kernel/lib/modules").glob("*") if path.is_dir())
        vmlinuz = sorted((work / "kernel/boot").glob("vmlinuz-*"))
        if len(releases) != 1 or len(vmlinuz) != 1:
            raise AssetError(f"{kernel_deb.name}: expected one kernel and one module directory, found {releases}")
        release = releases[0]
        output = work / "out"
        output.mkdir()
        extract_vmlinux(vmlinuz[0], output / "vmlinux")
        tree = ModuleTree(work / "kernel/lib/modules" / release)
        modules, builtin = tree.closure(GUEST_MODULES)
        busybox = work / "busybox/bin/busybox"
        if not busybox.is_file():
            raise AssetError(f"{busybox_deb.name} holds no bin/busybox")
        write_initramfs(output / "initramfs.cpio", busybox, release, modules)
        assets = GuestAssets(
            series=inputs.series,
            kernel_package=inputs.kernel.name,
            kernel_version=inputs.kernel.version,
            kernel_release=release,
            busybox_version=inputs.busybox.version,
            directory=destination,
            modules=tuple(module.name for module in modules),
            builtin=tuple(builtin),
            key=inputs.key(),
            build_seconds=round(time.monotonic() - began, 2),
        )
        manifest = {key: value for key, value in asdict(assets).items() if key not in ("directory", "note", "fresh")}
        (output / "manifest.json").write_text(json.dumps(manifest, indent=1))
        os.rename(output, destination)
        # The packages are not needed again: a new build downloads what apt then names.
        kernel_deb.unlink(missing_ok=True)
        busybox_deb.unlink(missing_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _prune(inputs.series, root)
    return replace(assets, fresh=True)


def _prune(name: str, root: Path, keep: int = 2) -> None:
    """Remove all but the newest ``keep`` builds of kernel series ``name`` (a run that still
    uses an older one keeps its open files; Linux frees them when it is done)."""
    for old in cached_assets(name, root)[keep:]:
        shutil.rmtree(old.directory, ignore_errors=True)


def guest_assets(name: str = DEFAULT_KERNEL, *, root: Path | None = None, offline: bool = False) -> GuestAssets:
    """The assets for kernel series ``name``, built when the cache lacks the current ones.

    With ``offline`` (or when apt cannot answer) the newest cached build is used. Raises
    :class:`AssetError` with one line saying why when there is none and none can be built.
    """
    root = root or cache_root()
    series(name)
    if offline:
        cached = cached_assets(name, root)
        if not cached:
            raise AssetError(
                f"no {name} guest in the cache {root}; run vfiolab live assets --kernel {name} once online"
            )
        return cached[0]
    try:
        inputs = resolve_inputs(name, root)
        destination = root / "assets" / inputs.key()
        found = _load(destination)
        if found is not None:
            return found
        with locked(f"build-{name}", root):
            found = _load(destination)
            if found is not None:
                return found
            destination.parent.mkdir(parents=True, exist_ok=True)
            return _build(inputs, destination)
    except AssetError as error:
        cached = cached_assets(name, root)
        if cached:
            return replace(cached[0], note=f"using the cached build: {error}")
        raise AssetError(f"cannot build the {name} guest: {error}") from None
