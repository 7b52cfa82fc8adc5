"""fakesys applies a quirk entry younger than its kernel profile only in the releases that carry
it: the first mainline release and the stable backports (fakesys.kernel.quirks.Since)."""

from __future__ import annotations

import pytest

from fakesys.kernel import quirks
from harness.pci.release import Release

AMD, MARVELL = quirks.VENDOR_AMD, quirks.VENDOR_MARVELL_EXT


@pytest.mark.parametrize(
    ("entry", "release", "profile", "carried"),
    [
        # quirk_no_flr for AMD Starship 148c: v5.8 (5727043c73fd); Fedora 32's 5.6.13 lacks it.
        ((quirks.NO_FLR, AMD, 0x148C), "5.6.13-300.fc32.x86_64", "5.10", False),
        ((quirks.NO_FLR, AMD, 0x148C), "5.8.0", "5.10", True),
        ((quirks.NO_FLR, AMD, 0x149C), "5.6.14", "5.10", False),
        # quirk_no_flr for AMD FCH AHCI 7901: v6.3, stable 6.1.16 and 5.10.173.
        ((quirks.NO_FLR, AMD, 0x7901), "6.1.12", "6.1", False),
        ((quirks.NO_FLR, AMD, 0x7901), "6.1.16", "6.1", True),
        ((quirks.NO_FLR, AMD, 0x7901), "5.10.172", "5.10", False),
        ((quirks.NO_FLR, AMD, 0x7901), "5.10.173", "5.10", True),
        ((quirks.NO_FLR, AMD, 0x7901), "6.2.9", "6.1", False),
        ((quirks.NO_FLR, AMD, 0x7901), "6.8.12-4-pve", "6.8", True),
        # quirk_dma_func1_alias for Marvell 9235: v6.5, stable 5.10.188, 6.1.40, 6.4.5.
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9235), "6.2.2", "6.1", False),
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9235), "6.1.40", "6.1", True),
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9235), "6.5.0", "6.8", True),
        # and for 9125: v5.17, stable 5.10.94.
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9125), "5.10.80", "5.10", False),
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9125), "5.10.94", "5.10", True),
        # Entries older than every profile do not depend on the release.
        ((quirks.DMA_ALIAS_FUNCTION1, MARVELL, 0x9123), "5.4.0", "5.10", True),
    ],
)
def test_entry_applies_in_the_releases_that_carry_it(
    entry: tuple[list[quirks.DeviceMatch], int, int], release: str, profile: str, carried: bool
) -> None:
    table, vendor, device = entry
    parsed = quirks.parse_release(release)
    assert quirks.matches(table, vendor, device, 0x010601, profile, release=parsed) is carried


def test_without_a_release_the_profile_decides() -> None:
    assert quirks.matches(quirks.NO_FLR, AMD, 0x7901, 0x010601, "6.1")


@pytest.mark.parametrize(("text", "parsed"), [("6.8.12-4-pve", (6, 8, 12)), ("6.5", (6, 5, 0)), ("vmlinuz", None)])
def test_parse_release(text: str, parsed: Release | None) -> None:
    assert quirks.parse_release(text) == parsed


@pytest.mark.parametrize(
    ("has_cap", "release", "runs"),
    [
        # 52fbf5bdeeef (v5.9) skipped the enable quirks for devices without an ACS capability until
        # "PCI: Always enable ACS even if no ACS Capability" (v5.10, stable 5.9.9).
        (False, (5, 8, 18), True),
        (False, (5, 9, 0), False),
        (False, (5, 9, 8), False),
        (False, (5, 9, 9), True),
        (False, (5, 10, 0), True),
        (True, (5, 9, 1), True),
    ],
)
def test_the_acs_enable_quirk_runs_except_in_the_5_9_window(has_cap: bool, release: Release, runs: bool) -> None:
    assert quirks.acs_enable_quirk_runs(has_cap, release) is runs
    # pci_quirk_intel_pch_acs: an X99 PCH root port (8086:8d10) isolates only when it ran.
    assert quirks.acs_quirk(quirks.VENDOR_INTEL, 0x8D10, 4, True, enabled_by_quirk=runs) is runs


@pytest.mark.parametrize(
    ("release", "carried"),
    [("6.12.9", False), ("6.12.15", False), ("6.12.16", True), ("6.12.118+deb13-amd64", True), ("6.13.2", False)],
)
def test_the_mt7922_no_flr_quirk_follows_its_stable_backport(release: str, carried: bool) -> None:
    # 81f64e925c29 "PCI: Avoid FLR for Mediatek MT7922 WiFi": v6.14, stable 6.12.16.
    numbers = quirks.parse_release(release)
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x0616, 0x028000, "6.12", release=numbers) is carried
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x0616, 0x028000, "6.12", release=(6, 14, 0))
    # An entry without releases matches its whole profile.
    assert quirks.matches(quirks.NO_FLR, 0x14C3, 0x7925, 0x028000, "6.12", release=(6, 12, 0))
