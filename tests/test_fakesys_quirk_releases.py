"""fakesys applies a quirk entry younger than its kernel profile only in the releases that carry
it: the first mainline release and the stable backports (fakesys.kernel.quirks.Since)."""

from __future__ import annotations

import pytest

from fakesys.kernel import quirks

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
def test_parse_release(text: str, parsed: quirks.Release | None) -> None:
    assert quirks.parse_release(text) == parsed
