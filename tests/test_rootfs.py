"""The confined reader (harness.rootfs) against real trees with hostile content, in both of its
ways of resolving (openat2 through ctypes, and the component walk that replaces it where the
kernel does not allow it), against the kernel as the judge of the walk, and under pyfakefs.

What must hold: nothing outside the root is ever read (a canary file outside it never shows up),
symlinks resolve inside the root as openat2(RESOLVE_IN_ROOT) resolves them, only regular files
are read, every read is capped, and nothing blocks.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.fake_filesystem_unittest import Patcher

from harness.rootfs import (
    CONFIG_SPACE_LIMIT,
    MAX_SYMLINKS,
    DirectoryRoot,
    Kind,
    LinkLoop,
    NotADirectory,
    NotFound,
    NotRegular,
    RootError,
    Unreadable,
)
from harness.sysfs import HostView
from tests.helpers import deadline

CANARY = "CANARY-7f3a-outside-the-root"
Reader = Callable[[Path], DirectoryRoot]


def _openat2_available(root: Path) -> bool:
    try:
        DirectoryRoot(root, use_openat2=True).close()
    except Unreadable:
        return False
    return True


@pytest.fixture(params=["openat2", "walk"])
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reader]:
    """A factory for DirectoryRoot in one resolution mode; openat2 is skipped where the kernel
    refuses it (the walk then is what runs in production too)."""
    use = request.param == "openat2"
    if use and not _openat2_available(tmp_path):
        pytest.skip("openat2(2) is not available on this kernel or under this seccomp filter")
    opened: list[DirectoryRoot] = []

    def make(root: Path) -> DirectoryRoot:
        fs = DirectoryRoot(root, use_openat2=use)
        assert fs.uses_openat2 is use
        opened.append(fs)
        return fs

    yield make
    for fs in opened:
        fs.close()


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A root two levels below a directory holding the canary, with links that try to reach it
    (and the reading machine's /etc) every way a captured root could."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_text(CANARY)
    root = tmp_path / "deep" / "root"
    for directory in ("proc", "etc", "sys/devices/pci0000:00/0000:00:17.0", "sys/bus/pci/devices", "dev"):
        (root / directory).mkdir(parents=True)
    (root / "etc/passwd").write_text("root-inside:x:0:0\n")
    (root / "proc/cmdline").symlink_to("/etc/shadow")
    (root / "proc/relative").symlink_to("../../../../etc/passwd")
    (root / "proc/canary-absolute").symlink_to(outside / "canary")
    (root / "proc/canary-relative").symlink_to("../../../outside/canary")
    (root / "proc/zero").symlink_to("/dev/zero")
    (root / "sys/escape").symlink_to("../../..")
    (root / "sys/outside-dir").symlink_to(outside)
    (root / "sys/self-loop").symlink_to("self-loop")
    (root / "sys/ping").symlink_to("pong")
    (root / "sys/pong").symlink_to("ping")
    (root / "sys/bus/pci/devices/0000:00:17.0").symlink_to("../../../devices/pci0000:00/0000:00:17.0")
    device = root / "sys/devices/pci0000:00/0000:00:17.0"
    os.mkfifo(device / "config")
    (device / "vendor").write_text("0x8086\n")
    return root


# --- Confinement ----------------------------------------------------------------------------------


def test_absolute_link_is_re_rooted_not_followed_to_this_machine(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    with pytest.raises(NotFound):
        fs.read("proc/cmdline", 4096)  # /etc/shadow of the root, which has none
    (hostile / "etc/shadow").write_text("the root's own shadow\n")
    assert fs.read("proc/cmdline", 4096).data == b"the root's own shadow\n"
    assert fs.resolve("proc/cmdline") == "etc/shadow"


def test_dotdot_cannot_climb_above_the_root(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    assert fs.read("proc/relative", 4096).data == b"root-inside:x:0:0\n"
    assert fs.resolve("proc/relative") == "etc/passwd"
    assert fs.resolve("sys/escape") == ""
    assert fs.resolve("../../../..") == ""
    assert fs.listdir("sys/escape").names == sorted(os.listdir(hostile))


@pytest.mark.parametrize("link", ["proc/canary-absolute", "proc/canary-relative", "sys/outside-dir/canary"])
def test_the_canary_outside_the_root_is_never_read(reader: Reader, hostile: Path, link: str) -> None:
    fs = reader(hostile)
    with pytest.raises(NotFound):
        fs.read(link, 4096)
    assert fs.kind(link) is None


def test_a_link_to_dev_zero_is_not_a_device_inside_a_root(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    with pytest.raises(NotFound):
        fs.read("proc/zero", 4096)


def test_device_nodes_are_refused_without_being_opened(reader: Reader) -> None:
    fs = reader(Path("/"))
    with deadline(5), pytest.raises(NotRegular, match=r"character device"):
        fs.read("dev/zero", 4096)
    with pytest.raises(NotRegular, match=r"directory"):
        fs.read("proc", 4096)


def test_a_fifo_is_refused_without_blocking(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    with deadline(5), pytest.raises(NotRegular, match=r"FIFO"):
        fs.read("sys/bus/pci/devices/0000:00:17.0/config", CONFIG_SPACE_LIMIT)
    assert fs.kind("sys/bus/pci/devices/0000:00:17.0/config") is Kind.FIFO


def test_a_socket_is_refused(reader: Reader, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sock"))
        with pytest.raises(NotRegular, match=r"socket"):
            reader(root).read("sock", 10)
    finally:
        server.close()


def test_link_loops_end_in_a_loop_error(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    for path in ("sys/self-loop", "sys/ping", "sys/ping/below"):
        with pytest.raises(LinkLoop):
            fs.resolve(path)
        with pytest.raises(LinkLoop):
            fs.read(path, 10)
    assert fs.kind("sys/self-loop") is None
    assert fs.kind("sys/self-loop", follow=False) is Kind.SYMLINK
    assert fs.readlink("sys/self-loop") == "self-loop"


def test_forty_links_resolve_and_forty_one_do_not(reader: Reader, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "end").write_text("reached")
    for index in range(MAX_SYMLINKS + 1):
        (root / f"l{index}").symlink_to("end" if index == 0 else f"l{index - 1}")
    fs = reader(root)
    assert fs.read(f"l{MAX_SYMLINKS - 1}", 100).data == b"reached"
    with pytest.raises(LinkLoop):
        fs.read(f"l{MAX_SYMLINKS}", 100)


@pytest.mark.parametrize("path", ["etc/pass\x00wd", "etc\x00/../../x", "\x00"])
def test_a_nul_byte_in_a_name_from_data_is_refused(reader: Reader, hostile: Path, path: str) -> None:
    fs = reader(hostile)
    for call in (lambda: fs.read(path, 10), lambda: fs.resolve(path), lambda: fs.readlink(path)):
        with pytest.raises(NotFound, match="NUL"):
            call()
    assert fs.kind(path) is None and not fs.lexists(path)


def test_a_file_in_the_middle_of_a_path_is_not_a_directory(reader: Reader, hostile: Path) -> None:
    with pytest.raises(NotADirectory):
        reader(hostile).read("etc/passwd/x", 10)


# --- Bounds ---------------------------------------------------------------------------------------


def test_a_2_gb_sparse_config_is_read_only_to_the_cap(reader: Reader, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with open(root / "config", "wb") as handle:
        handle.write(b"\x86\x80")
        handle.truncate(2 * 1024**3)
    blob = reader(root).read("config", CONFIG_SPACE_LIMIT)
    assert len(blob.data) == CONFIG_SPACE_LIMIT and blob.truncated
    assert blob.data[:2] == b"\x86\x80"


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 70_000])
def test_reads_stop_at_the_limit_and_say_so(reader: Reader, tmp_path: Path, size: int) -> None:
    root = tmp_path / "root"
    root.mkdir()
    content = bytes(range(256)) * (size // 256 + 1)
    (root / "file").write_bytes(content[:size])
    blob = reader(root).read("file", 4096)
    assert blob.data == content[: min(size, 4096)]
    assert blob.truncated is (size > 4096)


def test_listings_are_capped(reader: Reader, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "many").mkdir(parents=True)
    for index in range(10):
        (root / "many" / f"{index:02d}").touch()
    listing = reader(root).listdir("many", limit=4)
    assert len(listing.names) == 4 and listing.truncated
    assert reader(root).listdir("many").names == [f"{index:02d}" for index in range(10)]


def _answer(result: object) -> tuple[str, object]:
    if isinstance(result, RootError):
        return type(result).__name__, result.reason
    return "blob", result


def test_read_files_answers_as_read_does_for_every_kind_of_entry(reader: Reader, hostile: Path) -> None:
    """One call per directory (the checker's per-device read) gives, name by name, what read()
    gives: a file, a link followed inside the root, a missing name, a FIFO not opened, a
    directory, a link out of the root, a loop, a capped read."""
    device = "sys/bus/pci/devices/0000:00:17.0"
    (hostile / "sys/devices/pci0000:00/0000:00:17.0/big").write_bytes(b"x" * 5000)
    (hostile / "sys/devices/pci0000:00/0000:00:17.0/sub").mkdir()
    (hostile / "sys/devices/pci0000:00/0000:00:17.0/passwd").symlink_to("/etc/passwd")
    (hostile / "sys/devices/pci0000:00/0000:00:17.0/canary").symlink_to("../../../../../outside/canary")
    (hostile / "sys/devices/pci0000:00/0000:00:17.0/loop").symlink_to("loop")
    wanted = [(name, 4096) for name in ("vendor", "config", "missing", "sub", "passwd", "canary", "loop", "big")]
    fs = reader(hostile)
    with deadline(5):
        found = fs.read_files(device, wanted)
    expected = {}
    for name, limit in wanted:
        try:
            expected[name] = _answer(fs.read(f"{device}/{name}", limit))
        except RootError as error:
            expected[name] = _answer(error)
    assert {name: _answer(result) for name, result in found.files.items()} == expected
    assert expected["vendor"] == ("blob", (b"0x8086\n", False))
    assert expected["big"] == ("blob", (b"x" * 4096, True))
    assert expected["passwd"] == ("blob", (b"root-inside:x:0:0\n", False))
    assert expected["config"][0] == "NotRegular" and expected["missing"][0] == "NotFound"
    assert found.names is not None and "loop" in found.names and "missing" not in found.names


# --- Both modes agree, and agree with the kernel --------------------------------------------------


def test_mtime_and_kind_follow_links_inside_the_root(reader: Reader, hostile: Path) -> None:
    fs = reader(hostile)
    os.utime(hostile / "etc/passwd", (1_000_000, 1_000_000))
    assert fs.mtime("proc/relative") == 1_000_000
    assert fs.kind("proc/relative") is Kind.FILE
    assert fs.kind("proc/relative", follow=False) is Kind.SYMLINK
    assert fs.is_dir("sys/escape") and not fs.is_file("sys/escape")
    assert fs.lexists("proc/cmdline") and not fs.lexists("proc/nothing")


_NAMES = st.sampled_from(["a", "b", "c", "d"])
_TARGET_PARTS = st.sampled_from(["a", "b", "c", "d", "..", "."])


@st.composite
def _trees(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    """Entries (kind, path, link target) of a small tree: directories, files and symlinks whose
    targets are relative or absolute, climb with .., and may loop or dangle."""
    entries: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    for _ in range(draw(st.integers(3, 14))):
        parent = draw(st.sampled_from(["", *[path for kind, path, _ in entries if kind == "dir"]]))
        path = f"{parent}/{draw(_NAMES)}".lstrip("/")
        if path in taken:
            continue
        taken.add(path)
        kind = draw(st.sampled_from(["dir", "dir", "file", "link"]))
        target = ""
        if kind == "link":
            target = "/".join(draw(st.lists(_TARGET_PARTS, min_size=1, max_size=4)))
            if draw(st.booleans()):
                target = "/" + target
        entries.append((kind, path, target))
    return entries


def _build(root: Path, entries: list[tuple[str, str, str]]) -> None:
    root.mkdir()
    for kind, path, target in entries:
        where = root / path
        if kind == "dir":
            where.mkdir()
        elif kind == "file":
            where.write_text(path)
        else:
            where.symlink_to(target)


def _outcome(fs: DirectoryRoot, method: str, *args: object) -> object:
    """What ``fs.method(*args)`` returns, or the name of the refusal it raises."""
    try:
        result: object = getattr(fs, method)(*args)
    except RootError as error:
        return type(error).__name__
    return result


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=_trees(), paths=st.lists(st.lists(_TARGET_PARTS, min_size=1, max_size=5), min_size=1, max_size=6))
def test_the_walk_resolves_exactly_as_the_kernel_does(
    tmp_path_factory: pytest.TempPathFactory, entries: list[tuple[str, str, str]], paths: list[list[str]]
) -> None:
    """openat2(RESOLVE_IN_ROOT) is the judge of the component walk: for random trees of
    directories, files and links (relative, absolute, climbing, looping, dangling), both give
    the same canonical path, the same bytes and the same kind of refusal."""
    base = tmp_path_factory.mktemp("tree")
    if not _openat2_available(base):
        pytest.skip("openat2(2) is not available: nothing to compare the walk with")
    root = base / "root"
    _build(root, entries)
    with DirectoryRoot(root, use_openat2=True) as kernel, DirectoryRoot(root, use_openat2=False) as walk:
        for parts in paths:
            path = "/".join(parts)
            resolved = _outcome(kernel, "resolve", path)
            assert _outcome(walk, "resolve", path) == resolved
            content = _outcome(kernel, "read", path, 100)
            assert _outcome(walk, "read", path, 100) == content
            if isinstance(resolved, str) and not isinstance(content, str):
                # Each file holds its own path: what was read is the file the path resolves to.
                assert content == (resolved.encode(), False)
            for method in ("listdir", "readlink", "kind", "lexists"):
                assert _outcome(walk, method, path) == _outcome(kernel, method, path), method
            assert walk.kind(path, follow=False) == kernel.kind(path, follow=False)


# --- HostView on top of the reader ----------------------------------------------------------------


def test_hostview_records_refusals_with_their_reason(reader: Reader, hostile: Path) -> None:
    view = HostView(hostile, reader(hostile))
    with deadline(5):
        assert view.read_bytes("sys/bus/pci/devices/0000:00:17.0/config", note_missing=True) is None
    assert view.read_text("proc/cmdline", note_missing=True) is None
    assert view.read_text("sys/ping") is None
    reasons = dict(view.unseen)
    assert reasons["/sys/bus/pci/devices/0000:00:17.0/config"] == "not a regular file (FIFO)"
    assert "leaves the root" in reasons["/proc/cmdline"] and "/etc/shadow" in reasons["/proc/cmdline"]
    assert reasons["/sys/ping"].startswith("symlink loop")
    assert CANARY not in repr(view.unseen)


def test_a_reader_opened_under_pyfakefs_refuses_to_be_used_outside_it(tmp_path: Path) -> None:
    with Patcher() as patcher:
        assert patcher.fs is not None
        patcher.fs.create_file("/root/etc/hostname", contents="fake\n")
        fs = DirectoryRoot("/root")
        assert not fs.uses_openat2  # a raw syscall would read the real file system
        assert fs.read("etc/hostname", 100).data == b"fake\n"
    with pytest.raises(Unreadable, match="swapped"):
        fs.read("etc/hostname", 100)


def test_the_walk_under_pyfakefs(fs: FakeFilesystem) -> None:
    """The same rules on pyfakefs, where only the walk can run (openat2 would bypass the fake)."""
    fs.create_file("/outside/canary", contents=CANARY)
    fs.create_file("/root/etc/passwd", contents="inside\n")
    fs.create_symlink("/root/proc/cmdline", "/etc/passwd")
    fs.create_symlink("/root/proc/up", "../../../../outside/canary")
    fs.create_symlink("/root/proc/loop", "loop")
    fs.create_symlink("/root/sys/escape", "/outside")
    reader = DirectoryRoot("/root")
    assert not reader.uses_openat2
    assert reader.read("proc/cmdline", 100).data == b"inside\n"
    assert reader.resolve("proc/cmdline") == "etc/passwd"
    for path in ("proc/up", "sys/escape/canary"):
        with pytest.raises(NotFound):
            reader.read(path, 100)
    with pytest.raises(LinkLoop):
        reader.read("proc/loop", 100)
    assert reader.listdir("proc").names == ["cmdline", "loop", "up"]
    reader.close()


def test_kind_names_every_file_type() -> None:
    assert Kind.of(stat.S_IFIFO) is Kind.FIFO
    assert Kind.of(stat.S_IFCHR) is Kind.CHARACTER_DEVICE
    assert Kind.of(stat.S_IFBLK) is Kind.BLOCK_DEVICE
    assert Kind.of(stat.S_IFSOCK) is Kind.SOCKET
    assert Kind.of(0) is Kind.OTHER
