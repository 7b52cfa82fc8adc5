"""The bundle reader (harness.rootfs_bundle): a capture bundle read as a root without extracting it.

* Every hostile bundle of tests/hostile_bundles.py (names that climb, links out, hard links and
  device nodes, lying headers, a tar bomb and a gzip bomb) is one line and exit 65 from ``check``,
  ``generate`` and ``capture``, and nothing is written.
* The committed corpus (tests/data/hostile-bundles) is what the builders make.
* What a bundle holds reads as the host did: absolute links re-rooted inside the bundle, files
  kept in part read as truncated, files the host refused refused with the host's reason.
* A bundle made by GNU tar from a rendered root checks like the root.
* Hypothesis: damaged bundles raise only the documented errors, and whatever loads is confined.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker import check_root, run_checks
from harness.report import to_json
from harness.rootfs import Kind, NotFound, RootError, Unreadable
from harness.rootfs_bundle import (
    MEMBER_SIZE_LIMIT,
    TRUNCATED_KEY,
    UNREAD_KEY,
    BundleError,
    BundleRoot,
    Member,
    MemoryRoot,
    link_target_problem,
    member_name_problem,
)
from harness.sysfs import read_host
from tests.canary import make_canary, run_cli, snapshot
from tests.conftest import RenderRoot
from tests.hostile_bundles import CASES, GENERATED_ONLY, bundle, end, gz, header, member, write_corpus

CORPUS = Path(__file__).resolve().parent / "data" / "hostile-bundles"
_BUILT: dict[str, bytes] = {}


def built(name: str) -> bytes:
    """Each case built once per session (the bombs take a few seconds)."""
    if name not in _BUILT:
        _BUILT[name] = CASES[name][0]()
    return _BUILT[name]


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_bundle_is_one_line_and_exit_65_and_nothing_is_written(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.tar.gz"
    path.write_bytes(built(case))
    canary = make_canary(tmp_path / "canary")
    before = snapshot(tmp_path)
    outcome = run_cli("check", "--root", str(path), "--json")
    outcome.assert_one_line_error(65, CASES[case][1])
    assert outcome.stdout == ""
    assert snapshot(tmp_path) == before
    assert (canary / "secret").read_text() == "do not read or replace me\n"


@pytest.mark.parametrize("case", ["symlink-out", "hard-link", "longer-than-header"])
def test_generate_and_capture_refuse_a_hostile_bundle_the_same_way(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.tar.gz"
    path.write_bytes(built(case))
    fragment = CASES[case][1]
    run_cli("generate", "modprobe", "--root", str(path), "--device", "0000:00:17.0").assert_one_line_error(65, fragment)
    out = tmp_path / "again.tar.gz"
    run_cli("capture", "--root", str(path), "--out", str(out)).assert_one_line_error(65, fragment)
    assert not out.exists()
    assert sorted(item.name for item in tmp_path.iterdir()) == [path.name]


def test_the_committed_corpus_is_what_the_builders_make(tmp_path: Path) -> None:
    fresh = {path.name: path.read_bytes() for path in write_corpus(tmp_path)}
    committed = {path.name: path.read_bytes() for path in CORPUS.glob("*.tar.gz")}
    assert committed == fresh, "run: python -m tests.hostile_bundles tests/data/hostile-bundles"
    assert len(fresh) == len(CASES) - len(GENERATED_ONLY)


# --- What a bundle holds reads as the host did ---------------------------------------------------


def _bundle_with(tmp_path: Path, members: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in members:
            info, data = item if isinstance(item, tuple) else (item, b"")
            tar.addfile(info, io.BytesIO(data) if data else None)
    path = tmp_path / "made.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    return path


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, target: str = "", pax: dict[str, str] | None = None
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mtime = 1_700_000_000.25
    info.linkname = target
    info.pax_headers = dict(pax or {})
    return info


def test_absolute_links_are_rerooted_and_markers_read_as_the_host_did(tmp_path: Path) -> None:
    path = _bundle_with(
        tmp_path,
        [
            _info("etc", tarfile.DIRTYPE),
            (_info("etc/shadow", size=8), b"bundled\n"),
            _info("proc", tarfile.DIRTYPE),
            _info("proc/cmdline", tarfile.SYMTYPE, target="/etc/shadow"),
            _info("proc/version", tarfile.SYMTYPE, target="/etc/passwd"),
            (_info("var/log/dmesg", size=4, pax={TRUNCATED_KEY: "1"}), b"[0] "),
            _info("sys/firmware/acpi/tables/DMAR", pax={UNREAD_KEY: "Permission denied"}),
            _info("etc/pve", tarfile.DIRTYPE, pax={UNREAD_KEY: "Permission denied"}),
        ],
    )
    fs = BundleRoot(path)
    # The link names the captured host's /etc/shadow: the bundle's, never this machine's.
    assert fs.read("proc/cmdline", 100).data == b"bundled\n"
    with pytest.raises(NotFound):
        fs.read("proc/version", 100)
    assert fs.resolve("proc/cmdline") == "etc/shadow"
    log = fs.read("var/log/dmesg", 100)
    assert log.data == b"[0] " and log.truncated
    with pytest.raises(Unreadable, match="Permission denied"):
        fs.read("sys/firmware/acpi/tables/DMAR", 100)
    assert fs.kind("sys/firmware/acpi/tables/DMAR") is Kind.FILE
    with pytest.raises(Unreadable, match="Permission denied"):
        fs.listdir("etc/pve")
    assert fs.mtime("etc/shadow") == 1_700_000_000.25
    assert fs.listdir("").names == ["etc", "proc", "sys", "var"]


def test_a_bundle_made_by_gnu_tar_checks_like_its_root(scenario_root: RenderRoot, tmp_path: Path) -> None:
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("GNU tar is not installed")
    root = scenario_root("terramaster-f4-424-pro")
    path = tmp_path / "gnu.tar.gz"
    subprocess.run([tar, "-czf", str(path), "--format=gnu", "-C", str(root), "."], check=True)
    expected = to_json(check_root(root))
    found = to_json(check_root(path))
    expected.pop("root")
    found.pop("root")
    assert found == expected


def test_an_unreadable_or_missing_bundle_is_a_root_that_cannot_be_read(tmp_path: Path) -> None:
    outcome = run_cli("check", "--root", str(tmp_path / "missing.tar.gz"))
    outcome.assert_one_line_error(3, "no such directory")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    run_cli("check", "--root", str(fifo)).assert_one_line_error(3, "not a regular file (FIFO)")


def test_the_manifest_and_command_outputs_are_members_like_any_other(tmp_path: Path) -> None:
    data = gz(
        member("vfiolab-capture.json", json.dumps({"format": 1}).encode())
        + member("vfiolab-commands", kind=b"5")
        + member("vfiolab-commands/dmesg.txt", b"[    0.000000] Linux version\n")
        + end()
    )
    path = tmp_path / "b.tar.gz"
    path.write_bytes(data)
    fs = BundleRoot(path)
    assert fs.listdir("vfiolab-commands").names == ["dmesg.txt"]


def test_a_huge_member_keeps_its_first_bytes_and_reads_as_truncated(tmp_path: Path) -> None:
    """A real member beyond the largest read the checker makes (not only a header that says so):
    its first MEMBER_SIZE_LIMIT bytes are kept, the rest is decompressed and dropped."""
    size = MEMBER_SIZE_LIMIT + 4096
    path = tmp_path / "big.tar.gz"
    path.write_bytes(bundle(member("var/log", kind=b"5"), member("var/log/dmesg", b"[0] x\n" * (size // 6 + 1))))
    fs = BundleRoot(path)
    blob = fs.read("var/log/dmesg", 1 << 30)
    assert len(blob.data) == MEMBER_SIZE_LIMIT and blob.truncated
    assert fs.read("proc/cmdline", 100).data == b"quiet\n"
    # The bundle loads: check gets as far as the root's content (which holds no PCI device).
    run_cli("check", "--root", str(path)).assert_one_line_error(3, "no PCI devices could be read")


# --- Property-based: damaged bundles, random trees -------------------------------------------------


def _valid_tar() -> bytes:
    return (
        member("proc", kind=b"5")
        + member("proc/cmdline", b"quiet intel_iommu=on\n")
        + member("sys/bus/pci/devices/0000:00:17.0", kind=b"2", linkname="../../../devices/pci0000:00/0000:00:17.0")
        + member("sys/devices/pci0000:00/0000:00:17.0/vendor", b"0x8086\n")
        + end()
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4095), st.integers(min_value=0, max_value=255)), max_size=8
    ),
    cut=st.integers(min_value=0, max_value=4096),
)
def test_a_damaged_bundle_loads_confined_or_raises_a_documented_error(
    edits: list[tuple[int, int]], cut: int, tmp_path: Path
) -> None:
    data = bytearray(_valid_tar())
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    path = tmp_path / "damaged.tar.gz"
    path.write_bytes(gzip.compress(bytes(data[: max(cut, 512)] if cut < len(data) else data), mtime=0))
    try:
        fs = BundleRoot(path)
    except (BundleError, RootError):
        return
    _assert_confined(fs)
    # Whatever loads is a root the checker reads without an exception of its own.
    run_checks(read_host(path, fs))


def _assert_confined(fs: MemoryRoot) -> None:
    for name, item in fs.members():
        assert member_name_problem(name) is None, name
        if item.kind is Kind.SYMLINK:
            assert link_target_problem(name, item.target or "") is None
            try:
                resolved = fs.resolve(name)
            except RootError:
                continue
            assert resolved == "" or fs.member(resolved) is not None


_NAME_PARTS = st.sampled_from(["a", "b", "..", ".", "", "/", "sys", "c\n", "d\x00", "é"])


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            st.lists(_NAME_PARTS, min_size=1, max_size=5).map("/".join),
            st.sampled_from([Kind.FILE, Kind.DIRECTORY, Kind.SYMLINK, Kind.FIFO]),
            st.lists(_NAME_PARTS, max_size=6).map("/".join),
        ),
        max_size=12,
    ),
    lookups=st.lists(st.lists(_NAME_PARTS, max_size=6).map("/".join), max_size=6),
)
def test_a_memory_root_refuses_bad_entries_and_resolves_inside_itself(
    entries: list[tuple[str, Kind, str]], lookups: list[str]
) -> None:
    fs = MemoryRoot("random")
    for name, kind, target in entries:
        try:
            fs.add(name, Member(kind, b"x" if kind is Kind.FILE else b"", target if kind is Kind.SYMLINK else None))
        except ValueError:
            continue
    _assert_confined(fs)
    for path in lookups:
        try:
            resolved = fs.resolve(path)
        except RootError:
            continue
        assert resolved == "" or fs.member(resolved) is not None


def test_the_builders_write_what_they_say(tmp_path: Path) -> None:
    """The block builder agrees with tarfile on an ordinary member (so a hostile case differs from
    a good bundle only where it means to)."""
    raw = bundle(member("etc/hostname", b"node\n"))
    path = tmp_path / "good.tar.gz"
    path.write_bytes(raw)
    assert BundleRoot(path).read("etc/hostname", 10).data == b"node\n"
    info = tarfile.TarInfo.frombuf(header("x/y", size=3), "utf-8", "strict")
    assert (info.name, info.size) == ("x/y", 3)
