"""Guest assets without a guest: the newc writer, the vmlinux inside a bzImage, module
dependencies from ``.modinfo`` and busybox's ``modules.dep``, apt resolution and the cache.

Real kernels judge these in the live tests (the guest boots the initramfs and loads the
modules); here synthetic inputs pin the formats and every error path.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from harness.live import assets as assets_module
from harness.live import debian
from harness.live.assets import GuestAssets, cached_assets, guest_assets, resolve_inputs
from harness.live.cache import locked
from harness.live.cpio import NewcWriter
from harness.live.errors import AssetError
from harness.live.kernelimage import compressed_payload, extract_vmlinux
from harness.live.kmod import ModuleTree, modinfo, modules_dep

# --- newc -------------------------------------------------------------------------------------


def _read_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """(name, mode, data, rdev) of each entry: an independent reader of the format the kernel
    unpacks (Documentation/driver-api/early-userspace/buffer-format.rst)."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = []
    offset = 0
    while True:
        assert data[offset : offset + 6] == b"070701"
        fields = [int(data[offset + 6 + 8 * index : offset + 14 + 8 * index], 16) for index in range(13)]
        mode, size, rdev_major, rdev_minor, name_size = fields[1], fields[6], fields[9], fields[10], fields[11]
        name_start = offset + 110
        name = data[name_start : name_start + name_size - 1].decode()
        body_start = name_start + name_size + (-(110 + name_size) % 4)
        body = data[body_start : body_start + size]
        offset = body_start + size + (-size % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append((name, mode, body, (rdev_major, rdev_minor)))


def test_newc_archive_holds_directories_files_links_and_device_nodes_owned_by_root() -> None:
    out = io.BytesIO()
    archive = NewcWriter(out)
    archive.directory("bin")
    archive.file("bin/busybox", b"\x7fELF...", 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.char_device("dev/console", 5, 1)
    size = archive.close()
    data = out.getvalue()
    assert size == len(data) and len(data) % 4 == 0
    entries = {name: (mode, body, rdev) for name, mode, body, rdev in _read_newc(data)}
    assert stat.S_ISDIR(entries["bin"][0])
    assert entries["bin/busybox"] == (stat.S_IFREG | 0o755, b"\x7fELF...", (0, 0))
    assert stat.S_ISLNK(entries["bin/sh"][0]) and entries["bin/sh"][1] == b"busybox"
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][2] == (5, 1)
    # uid, gid and mtime are zero: the same inputs give the same bytes.
    assert data[22:30] == b"00000000" and data[30:38] == b"00000000"


def test_newc_refuses_an_entry_written_twice() -> None:
    archive = NewcWriter(io.BytesIO())
    archive.file("init", b"")
    with pytest.raises(ValueError, match="written twice"):
        archive.file("/init", b"")


# --- vmlinux from a bzImage ---------------------------------------------------------------------

ELF = b"\x7fELF" + bytes(60) + b"kernel text" * 100


def _bzimage(payload: bytes, protocol: int = 0x20F, setup_sectors: int = 3) -> bytes:
    """A bzImage as the x86 boot protocol lays it out: setup sectors with the header, then the
    protected-mode part holding the payload at payload_offset."""
    image = bytearray((setup_sectors + 1) * 512)
    image[0x1F1] = setup_sectors
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, protocol)
    offset = 100
    struct.pack_into("<II", image, 0x248, offset, len(payload))
    return bytes(image) + bytes(offset) + payload + b"trailing setup data"


def _with_size(compressed: bytes, size: int) -> bytes:
    return compressed + struct.pack("<I", size)


def test_xz_payload_gives_the_elf_kernel(tmp_path: Path) -> None:
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(_bzimage(_with_size(lzma.compress(ELF, format=lzma.FORMAT_XZ), len(ELF))))
    assert extract_vmlinux(vmlinuz, tmp_path / "vmlinux") == len(ELF)
    assert (tmp_path / "vmlinux").read_bytes() == ELF


def test_zstd_payload_is_unpacked_with_the_zstd_tool(tmp_path: Path) -> None:
    zstd = shutil.which("zstd")
    if zstd is None:
        pytest.fail("zstd is not installed: run ci/install-system-packages.sh (zstd)")
    compressed = subprocess.run([zstd, "-q", "-c"], input=ELF, capture_output=True, check=True).stdout
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(_bzimage(_with_size(compressed, len(ELF))))
    extract_vmlinux(vmlinuz, tmp_path / "vmlinux")
    assert (tmp_path / "vmlinux").read_bytes() == ELF


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"MZ" + bytes(1000), "not an x86 bzImage"),
        (_bzimage(b"x" * 64, protocol=0x206), "has no payload fields"),
        (_bzimage(b"\x04\x22\x4d\x18" + b"x" * 60), "unknown compression"),
        (_bzimage(_with_size(b"BZh9" + b"x" * 60, 10)), "bzip2-compressed kernels are not supported"),
        (_bzimage(_with_size(gzip.compress(ELF), len(ELF) + 1)), "the header says"),
        (_bzimage(_with_size(gzip.compress(b"not an ELF"), 10)), "not a vmlinux"),
    ],
)
def test_images_that_are_not_what_they_claim_are_one_line_errors(tmp_path: Path, image: bytes, message: str) -> None:
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(image)
    with pytest.raises(AssetError, match=message):
        extract_vmlinux(vmlinuz, tmp_path / "vmlinux")


def test_payload_past_the_end_of_the_file_is_refused() -> None:
    image = bytearray(_bzimage(b"x" * 64))
    struct.pack_into("<I", image, 0x24C, 10**6)
    with pytest.raises(AssetError, match="runs past the end"):
        compressed_payload(bytes(image))


# --- modules ----------------------------------------------------------------------------------


def _module_elf(**info: str) -> bytes:
    """A minimal 64-bit little-endian ELF with a .modinfo section (and the section-name table)."""
    modinfo_section = b"".join(f"{key}={value}".encode() + b"\0" for key, value in info.items())
    names = b"\0.modinfo\0.shstrtab\0"
    header_size = 64
    modinfo_at = header_size
    names_at = modinfo_at + len(modinfo_section)
    sections_at = names_at + len(names)
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, modinfo_at, len(modinfo_section), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, names_at, len(names), 0, 0, 1, 0),
    ]
    header = bytearray(header_size)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x28, sections_at)
    struct.pack_into("<HHH", header, 0x3A, 64, len(sections), 2)
    return bytes(header) + modinfo_section + names + b"".join(sections)


def test_modinfo_reads_the_key_value_strings() -> None:
    info = modinfo(_module_elf(name="ahci", depends="libahci,libata", license="GPL"))
    assert info["name"] == ["ahci"] and info["depends"] == ["libahci,libata"]
    with pytest.raises(AssetError, match="not a 64-bit"):
        modinfo(b"\x7fELF\x01\x01" + bytes(100), "old.ko")


def _module_tree(root: Path) -> Path:
    """ahci -> libahci -> libata -> scsi_mod -> scsi_common; ahci's file is compressed as in
    Debian's 6.12 packages; vfio-pci has a dash in its file name; virtio_pci is built in."""
    tree = root / "lib/modules/6.12.0-test"
    files = {
        "kernel/drivers/ata/ahci.ko.xz": lzma.compress(_module_elf(name="ahci", depends="libahci,libata")),
        "kernel/drivers/ata/libahci.ko": _module_elf(name="libahci", depends="libata"),
        "kernel/drivers/ata/libata.ko": _module_elf(name="libata", depends="scsi_mod"),
        "kernel/drivers/scsi/scsi_mod.ko": _module_elf(name="scsi_mod", depends="scsi_common"),
        "kernel/drivers/scsi/scsi_common.ko": _module_elf(name="scsi_common", depends=""),
        "kernel/drivers/vfio/pci/vfio-pci.ko": _module_elf(name="vfio_pci", depends="vfio", softdep="pre: irqbypass"),
        "kernel/drivers/vfio/vfio.ko": _module_elf(name="vfio", depends=""),
        "kernel/virt/lib/irqbypass.ko": _module_elf(name="irqbypass", depends=""),
    }
    for relative, data in files.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_bytes(data)
    (tree / "modules.builtin").write_text("kernel/drivers/virtio/virtio_pci.ko\n")
    return tree


def test_closure_is_in_load_order_with_builtins_apart(tmp_path: Path) -> None:
    tree = ModuleTree(_module_tree(tmp_path))
    modules, builtin = tree.closure(["ahci", "vfio-pci", "virtio_pci"])
    names = [module.name for module in modules]
    assert names == ["scsi_common", "scsi_mod", "libata", "libahci", "ahci", "vfio", "irqbypass", "vfio_pci"]
    assert builtin == ["virtio_pci"]
    # The compressed module is installed uncompressed.
    ahci = modules[names.index("ahci")]
    assert ahci.installed_as == "kernel/drivers/ata/ahci.ko" and ahci.elf.startswith(b"\x7fELF")
    with pytest.raises(AssetError, match="module nvme is not in"):
        tree.closure(["nvme"])


def test_modules_dep_lines_hold_the_whole_closure_deepest_last(tmp_path: Path) -> None:
    modules, _ = ModuleTree(_module_tree(tmp_path)).closure(["ahci", "vfio-pci"])
    lines = {name: deps for name, _, deps in (line.partition(":") for line in modules_dep(modules).splitlines())}
    # busybox modprobe loads a line from its end: scsi_common first, ahci last.
    assert lines["kernel/drivers/ata/ahci.ko"].split() == [
        "kernel/drivers/ata/libahci.ko",
        "kernel/drivers/ata/libata.ko",
        "kernel/drivers/scsi/scsi_mod.ko",
        "kernel/drivers/scsi/scsi_common.ko",
    ]
    assert lines["kernel/drivers/vfio/pci/vfio-pci.ko"].split() == [
        "kernel/virt/lib/irqbypass.ko",
        "kernel/drivers/vfio/vfio.ko",
    ]
    assert lines["kernel/drivers/scsi/scsi_common.ko"].strip() == ""


# --- apt and the cache ------------------------------------------------------------------------


def _package(name: str, depends: str = "") -> debian.Package:
    return debian.Package(name, "1.0", "ab" * 32, f"pool/{name}.deb", depends)


def _fake_apt(monkeypatch: pytest.MonkeyPatch, known: dict[str, debian.Package], calls: list[list[str]]) -> None:
    def show(names: list[str]) -> dict[str, debian.Package]:
        calls.append(list(names))
        return {name: known[name] for name in names if name in known}

    monkeypatch.setattr(debian, "show", show)
    monkeypatch.setattr(debian, "lists_fingerprint", lambda: "lists-v1")


def test_the_abi_is_resolved_through_the_meta_package_and_remembered_until_apt_lists_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    known = {
        "linux-image-amd64": _package("linux-image-amd64", "linux-image-6.1.0-57-amd64 (= 6.1.192-3)"),
        "linux-image-6.1.0-57-amd64": _package("linux-image-6.1.0-57-amd64"),
        "busybox-static": _package("busybox-static"),
    }
    _fake_apt(monkeypatch, known, calls)
    inputs = resolve_inputs("6.1", tmp_path)
    assert inputs.kernel.name == "linux-image-6.1.0-57-amd64" and inputs.busybox.name == "busybox-static"
    asked = len(calls)
    assert resolve_inputs("6.1", tmp_path) == inputs and len(calls) == asked
    monkeypatch.setattr(debian, "lists_fingerprint", lambda: "lists-v2")
    resolve_inputs("6.1", tmp_path)
    assert len(calls) > asked


def test_a_meta_package_that_moved_to_another_series_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = {
        "linux-image-amd64": _package("linux-image-amd64", "linux-image-6.12.38+deb13-amd64"),
        "busybox-static": _package("busybox-static"),
    }
    _fake_apt(monkeypatch, known, [])
    with pytest.raises(AssetError, match=r"not a 6.1 kernel image package"):
        resolve_inputs("6.1", tmp_path)


def test_unknown_package_says_to_update_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_apt(monkeypatch, {}, [])
    with pytest.raises(AssetError, match=r"apt knows no package linux-image-6.12-amd64; run apt-get update"):
        resolve_inputs("6.12", tmp_path)


def _cached(root: Path, name: str, key: str) -> Path:
    directory = root / "assets" / key
    directory.mkdir(parents=True)
    (directory / "vmlinux").write_bytes(b"\x7fELF")
    (directory / "initramfs.cpio").write_bytes(b"070701")
    manifest = {
        "series": name,
        "kernel_package": f"linux-image-{name}-test",
        "kernel_version": "1",
        "kernel_release": f"{name}.0-test",
        "busybox_version": "1",
        "modules": ["ahci"],
        "builtin": [],
        "key": key,
        "build_seconds": 1.0,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_offline_uses_the_cache_or_says_in_one_line_that_there_is_nothing(tmp_path: Path) -> None:
    with pytest.raises(
        AssetError, match=r"no 6.1 guest in the cache .*; run vfiolab live assets --kernel 6.1 once online"
    ):
        guest_assets("6.1", root=tmp_path, offline=True)
    _cached(tmp_path, "6.1", "k1")
    found = guest_assets("6.1", root=tmp_path, offline=True)
    assert isinstance(found, GuestAssets) and found.vmlinux == tmp_path / "assets/k1/vmlinux"
    assert [item.key for item in cached_assets("6.12", tmp_path)] == []


def test_when_apt_cannot_answer_the_newest_cached_build_is_used_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(name: str, root: Path | None = None) -> None:
        raise AssetError("apt-get download failed (offline?): Temporary failure resolving 'deb.debian.org'")

    monkeypatch.setattr(assets_module, "resolve_inputs", offline)
    with pytest.raises(AssetError, match=r"cannot build the 6.12 guest: apt-get download failed"):
        guest_assets("6.12", root=tmp_path)
    _cached(tmp_path, "6.12", "k2")
    found = guest_assets("6.12", root=tmp_path)
    assert found.key == "k2" and "using the cached build" in found.note


def test_loadable_drops_builtins_and_names_what_the_initramfs_has(tmp_path: Path) -> None:
    assets = GuestAssets("6.12", "p", "v", "r", "b", tmp_path, ("ahci", "vfio_pci"), ("virtio_pci",), "k")
    assert assets.loadable(["ahci", "virtio_pci", "vfio-pci"]) == ["ahci", "vfio_pci"]
    with pytest.raises(AssetError, match="module e1000 is not in the guest's initramfs"):
        assets.loadable(["e1000"])


def test_the_build_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    with (
        locked("build-6.1", tmp_path),
        pytest.raises(AssetError, match=r"held .*build-6\.1\.lock"),
        locked("build-6.1", tmp_path, timeout=0.3),
    ):
        pass
    with locked("build-6.1", tmp_path):  # released: taken at once
        pass
