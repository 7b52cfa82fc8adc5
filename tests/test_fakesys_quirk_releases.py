"""fakesys applies a quirk entry younger than its kernel profile only in the releases that carry
it: the first mainline release and the stable backports (fakesys.kernel.quirks.Since)."""

from __future__ import annotations

import pytest

from fakesys.kernel import quirks
from harness.pci.release import Release, leading_release, running_release

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
    parsed = leading_release(release)
    assert quirks.matches(table, vendor, device, 0x010601, profile, release=parsed) is carried


def test_without_a_release_the_profile_decides() -> None:
    assert quirks.matches(quirks.NO_FLR, AMD, 0x7901, 0x010601, "6.1")


@pytest.mark.parametrize(("text", "parsed"), [("6.8.12-4-pve", (6, 8, 12)), ("6.5", (6, 5, 0)), ("vmlinuz", None)])
def test_leading_release(text: str, parsed: Release | None) -> None:
    assert leading_release(text) == parsed


@pytest.mark.parametrize(
    ("release", "proc_version", "running"),
    [
        # Debian's ABI name hides the sublevel; /proc/version names the package (5.10.218-1).
        (
            "5.10.0-30-amd64",
            "Linux version 5.10.0-30-amd64 #1 SMP Debian 5.10.218-1 (2024-06-01)",
            (5, 10, 218),
        ),
        (
            "6.8.12-4-pve",
            "Linux version 6.8.12-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)",
            (6, 8, 12),
        ),
        ("6.12.9", "Linux version 6.12.9 #1 SMP PREEMPT_DYNAMIC Fri Jan 10 12:00:00 UTC 2025", (6, 12, 9)),
        ("5.10.0-30-amd64", "", (5, 10, 0)),
    ],
)
def test_running_release_prefers_the_package_version(release: str, proc_version: str, running: Release) -> None:
    assert running_release(release, proc_version) == running


def test_a_debian_abi_name_gets_the_backports_of_its_package_version() -> None:
    # quirk_no_flr for AMD FCH AHCI 7901 is in 6.1 stable from 6.1.16 (table above): Debian 12's
    # 6.1.76-1 (uname -r 6.1.0-18-amd64) carries it, though its ABI name reads 6.1.0.
    debian = running_release("6.1.0-18-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)")
    assert debian == (6, 1, 76)
    assert quirks.matches(quirks.NO_FLR, AMD, 0x7901, 0x010601, "6.1", release=debian)
    abi_only = leading_release("6.1.0-18-amd64")
    assert not quirks.matches(quirks.NO_FLR, AMD, 0x7901, 0x010601, "6.1", release=abi_only)
