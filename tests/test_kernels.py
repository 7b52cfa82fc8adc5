"""Kernel names and version knowledge (harness.kernels): each rule of ``carries`` on a small
recorded history, and that a kernel nothing is recorded about is "could not judge", never
interpolated from its neighbours."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.kernels import (
    BranchEvent,
    Flavour,
    History,
    Kernel,
    KernelNameError,
    Presence,
    TreeRead,
    assumed_kernel,
    carries,
    parse_kernel,
    running_kernel,
)
from harness.quirks import tables

TREE_612 = TreeRead("debian:6.12.118-1", Flavour.DEBIAN, "6.12.118-1", (6, 12, 118), "linux-source-6.12")
TREE_72 = TreeRead("debian:7.2.13-1", Flavour.DEBIAN, "7.2.13-1", (7, 2, 13), "linux-source-7.2")
#: A change read in 6.12.118-1 and absent from 7.2.13-1, backported to 6.12 in 6.12.75, never in
#: a mainline release that is known, first posted 2026-01-09.
HISTORY = History(
    present_in={TREE_612: "drivers/pci/quirks.c:3812"},
    absent_in=(TREE_72,),
    first_release=None,
    backports={(6, 12): (BranchEvent((6, 12, 75), True, "ChangeLog-6.12.75"),)},
    not_before=date(2026, 1, 9),
)


def answer(name: str, history: History = HISTORY) -> Presence:
    return carries(history, parse_kernel(name)).presence


@pytest.mark.parametrize(
    ("name", "flavour", "version", "package"),
    [
        ("6.12.117", Flavour.UPSTREAM, (6, 12, 117), None),
        ("6.8", Flavour.UPSTREAM, (6, 8, 0), None),
        ("6.8.12-4-pve", Flavour.PROXMOX, (6, 8, 12), "6.8.12-4"),
        ("6.12.117-1~deb12u1", Flavour.DEBIAN, (6, 12, 117), "6.12.117-1~deb12u1"),
    ],
)
def test_kernel_names(name: str, flavour: Flavour, version: tuple[int, ...], package: str | None) -> None:
    kernel = parse_kernel(name)
    assert (kernel.flavour, kernel.version, kernel.package) == (flavour, version, package)


def test_a_build_date_suffix_is_read() -> None:
    assert parse_kernel("6.12.117@2026-01-01").built == date(2026, 1, 1)
    with pytest.raises(KernelNameError, match="not a date"):
        parse_kernel("6.12.117@2026-13-01")


@pytest.mark.parametrize("name", ["", "linux", "6.1.0-26-amd64", "six.one"])
def test_names_vfiolab_cannot_read_are_refused_with_what_it_expects(name: str) -> None:
    with pytest.raises(KernelNameError):
        parse_kernel(name)


def test_debian_abi_names_point_at_the_package_version() -> None:
    with pytest.raises(KernelNameError, match="uname -v"):
        parse_kernel("6.1.0-26-amd64")


def test_running_kernel_from_debian_and_proxmox_proc_version() -> None:
    debian = running_kernel(
        "6.1.0-26-amd64",
        "Linux version 6.1.0-26-amd64 (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 "
        "(2024-09-30)",
    )
    assert debian is not None
    assert (debian.flavour, debian.version, debian.package, debian.built) == (
        Flavour.DEBIAN,
        (6, 1, 112),
        "6.1.112-1",
        date(2024, 9, 30),
    )
    proxmox = running_kernel(
        "6.8.12-4-pve", "Linux version 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z) x86_64"
    )
    assert proxmox is not None and proxmox.flavour is Flavour.PROXMOX and proxmox.built == date(2024, 11, 6)
    assert running_kernel(None, None) is None


def test_the_running_build_named_again_keeps_its_build_date() -> None:
    running = running_kernel("6.8.12-4-pve", "#1 SMP PMX 6.8.12-4 (2024-11-06T15:04Z)")
    assert assumed_kernel(parse_kernel("6.8.12-4-pve"), running).built == date(2024, 11, 6)
    assert assumed_kernel(parse_kernel("6.8.12-5-pve"), running).built is None


def test_rule_1_a_read_tree_decides() -> None:
    assert answer("6.12.118-1") is Presence.PRESENT
    assert answer("7.2.13-1") is Presence.ABSENT


def test_rule_2_built_before_the_change_was_posted() -> None:
    assert answer("6.8.12-4-pve@2024-11-06") is Presence.ABSENT
    assert answer("6.8.12-4-pve") is Presence.COULD_NOT_JUDGE


def test_rule_3_the_stable_branch_record() -> None:
    assert answer("6.12.75") is Presence.PRESENT
    assert answer("6.12.74") is Presence.ABSENT
    reverted = History(
        backports={
            (6, 1): (BranchEvent((6, 1, 100), True, "added"), BranchEvent((6, 1, 101), False, "reverted")),
        },
        first_release=(6, 2),
    )
    assert answer("6.1.100", reverted) is Presence.PRESENT
    assert answer("6.1.101", reverted) is Presence.ABSENT


def test_rule_4_mainline() -> None:
    mainline = History(first_release=(5, 8), commit="0123456789abcdef")
    assert answer("5.8.0", mainline) is Presence.PRESENT
    assert answer("6.8.12-4-pve", mainline) is Presence.PRESENT
    assert answer("5.7.19", mainline) is Presence.COULD_NOT_JUDGE


def test_rule_5_later_debian_uploads_of_a_read_branch() -> None:
    history = History(present_in={TREE_612: "drivers/pci/quirks.c:1"}, first_release=None)
    assert answer("6.12.130-1", history) is Presence.PRESENT
    assert answer("6.12.100-1", history) is Presence.COULD_NOT_JUDGE


def test_no_interpolation_a_later_series_does_not_inherit_an_earlier_one() -> None:
    """6.12 carries the change and 7.2.13-1 was read without it: 6.19 and 7.0 are unknown."""
    for name in ("6.19.3", "7.0.1", "7.2.14", "5.15.3"):
        result = carries(HISTORY, parse_kernel(name))
        assert result.presence is Presence.COULD_NOT_JUDGE, name
        assert "its first mainline release is not known" in result.reason, result.reason
    assert "not known" in carries(HISTORY, parse_kernel("7.0.1")).reason
    assert carries(HISTORY, None).presence is Presence.COULD_NOT_JUDGE


def test_the_shipped_asm1164_entry_by_version() -> None:
    entry = tables().get("quirk_no_bus_reset:1b21:1164")
    assert entry is not None
    assert entry.carried_by(parse_kernel("6.12.117-1~deb12u1")).presence is Presence.PRESENT
    assert entry.carried_by(parse_kernel("6.12.50")).presence is Presence.ABSENT
    assert entry.carried_by(parse_kernel("6.1.165")).presence is Presence.PRESENT
    assert entry.carried_by(parse_kernel("6.19.3")).presence is Presence.COULD_NOT_JUDGE
    assert entry.carried_by(Kernel((6, 8, 12), Flavour.PROXMOX, "6.8.12-4", date(2024, 11, 6))).absent


SERIES = st.tuples(st.integers(4, 8), st.integers(0, 20))
VERSIONS = st.tuples(st.integers(4, 8), st.integers(0, 20), st.integers(0, 300))


@st.composite
def histories(draw: st.DrawFn) -> History:
    branches = draw(st.lists(SERIES, max_size=3, unique=True))
    backports = {series: (BranchEvent((*series, draw(st.integers(1, 300))), True, "ChangeLog"),) for series in branches}
    first = draw(st.none() | SERIES)
    posted = draw(st.none() | st.dates(date(2015, 1, 1), date(2026, 12, 31)))
    return History(first_release=first, backports=backports, not_before=posted)


@settings(max_examples=200, deadline=None)
@given(histories(), VERSIONS, st.none() | st.dates(date(2015, 1, 1), date(2026, 12, 31)))
def test_no_interpolation_property(history: History, version: tuple[int, int, int], built: date | None) -> None:
    """An upstream kernel gets PRESENT or ABSENT only from a fact about its own series (a stable
    event, mainline at or after the first release) or its build date; otherwise it is not judged."""
    kernel = Kernel(version, Flavour.UPSTREAM, None, built, ".".join(map(str, version)))
    result = carries(history, kernel).presence
    series = version[:2]
    own_branch = series in history.backports
    mainline = history.first_release is not None and series >= history.first_release
    built_before = built is not None and history.not_before is not None and built < history.not_before
    if not (own_branch or mainline or built_before):
        assert result is Presence.COULD_NOT_JUDGE
    if built_before:
        assert result is Presence.ABSENT
    elif mainline and not own_branch:
        assert result is Presence.PRESENT
