"""Quirk entries the simulated kernel applies from a given release of its profile on (a stable
backport): the MediaTek MT7922's quirk_no_flr, in 6.12.16 and v6.14, not in 6.12.0-6.12.15."""

from __future__ import annotations

import pytest

from fakesys.kernel import quirks


@pytest.mark.parametrize(
    ("release", "carried"),
    [("6.12.9", False), ("6.12.15", False), ("6.12.16", True), ("6.12.118+deb13-amd64", True), ("6.13.2", False)],
)
def test_the_mt7922_no_flr_quirk_follows_its_stable_backport(release: str, carried: bool) -> None:
    numbers = quirks.release_numbers(release)
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x0616, 0x028000, "6.12", release=numbers) is carried


def test_mainline_from_v6_14_and_entries_without_releases_match_the_whole_profile() -> None:
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x0616, 0x028000, "6.12", release=(6, 14, 0))
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x7925, 0x028000, "6.12", release=(6, 12, 0))
    assert not quirks.matches(quirks.NO_FLR, 0x14C3, 0x0616, 0x028000, "6.8", release=(6, 14, 0))


def test_release_numbers_of_odd_strings() -> None:
    assert quirks.release_numbers("6.8.12-4-pve") == (6, 8, 12)
    assert quirks.release_numbers("6.14") == (6, 14, 0)
    assert quirks.release_numbers("vmlinuz") == ()
