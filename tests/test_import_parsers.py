"""The IOMMU group listing and kernel log parsers of ``scenario import``: the paste forms people
use, and properties (hypothesis) over generated and arbitrary text: a listing or a log that was
generated reads back the same in every paste form; any text is parsed without an exception other
than the documented too-large error, in bounded time."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import PasteError
from harness.scenario.importer.dmesg import LogEntry, parse_log, worth_expecting
from harness.scenario.importer.groups import looks_like_groups, parse_groups
from harness.scenario.importer.sources import split_text

TITLE = "03:00.0 SATA controller [0106]: ASMedia Technology Inc. ASM1062 Serial ATA Controller [1b21:0612] (rev 02)"


def test_the_group_listing_forms() -> None:
    listing = parse_groups(
        "IOMMU Group 0:\n"
        "\t00:02.0 VGA compatible controller [0300]: Intel Corporation Alder Lake-N [UHD Graphics] [8086:46d1]\n"
        f"IOMMU Group 12: {TITLE}\n"
        "IOMMU group 13 04:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd [144d:a809]\n"
        "> Group 14: 0000:05:00.0\n"
        "/sys/kernel/iommu_groups/2/devices/0000:00:14.0\n"
        "/sys/kernel/iommu_groups/2/devices/0000:00:14.2\n",
        "groups.txt",
    )
    assert listing.groups == {
        0: ["0000:00:02.0"],
        12: ["0000:03:00.0"],
        13: ["0000:04:00.0"],
        14: ["0000:05:00.0"],
        2: ["0000:00:14.0", "0000:00:14.2"],
    }
    assert listing.titles["0000:03:00.0"] == (3, TITLE)
    assert listing.problems == []


def test_a_wrapped_member_title_is_joined_and_a_complete_one_is_not() -> None:
    listing = parse_groups(
        "IOMMU Group 12: 03:00.0 SATA controller [0106]: ASMedia Technology Inc. ASM1062 Serial\n"
        "ATA Controller [1b21:0612] (rev 02)\n"
        f"IOMMU Group 13: {TITLE.replace('03:00.0', '04:00.0')}\n"
        "Thanks for looking\n",
        "mail.txt",
    )
    assert listing.titles["0000:03:00.0"][1].endswith("Serial ATA Controller [1b21:0612] (rev 02)")
    assert listing.titles["0000:04:00.0"][1].endswith("(rev 02)")
    assert 4 not in listing.lines


def test_a_listing_that_cannot_be_used_is_reported_line_by_line() -> None:
    listing = parse_groups(
        "IOMMU Group 99999999: 03:00.0 x\nIOMMU Group 1: 03:00.0 SATA\n"
        "IOMMU Group 2: 03:00.0 SATA\nIOMMU Group 3: zz\n",
        "g.txt",
    )
    assert listing.groups == {1: ["0000:03:00.0"]}
    assert [line for line, _ in listing.problems] == [1, 3, 4]
    assert "listed again in another group (first at line 2)" in listing.problems[1][1]


def test_the_kernel_log_forms() -> None:
    excerpt = parse_log(
        "> [   12.345] pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s\n"
        "Aug 16 10:00:00 pve kernel: vfio-pci 0000:03:00.0: not ready 65535ms after bus reset; giving up\n"
        "2024-08-16T10:00:00+0200 pve kernel: [  100.000001] DMAR: DRHD: handling fault status reg 3\n"
        "<4>[    1.5] ACPI BIOS Error (bug): Could not resolve symbol\n"
        "kern  :warn  : [    2.000000] ahci 0000:00:17.0: AHCI 0001.0301\n"
        "[Mon Mar 13 10:00:00 2023] nvme nvme0: pci function 0000:04:00.0\n"
        "\tControl: I/O+ Mem+\n"
        "PCI bridge to [bus 01]\n"
        "Hello\n",
        "log.txt",
    )
    assert [(entry.line, entry.time_us, entry.text) for entry in excerpt.entries] == [
        (1, 12_345_000, "pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s"),
        (2, None, "vfio-pci 0000:03:00.0: not ready 65535ms after bus reset; giving up"),
        (3, 100_000_001, "DMAR: DRHD: handling fault status reg 3"),
        (4, 1_500_000, "ACPI BIOS Error (bug): Could not resolve symbol"),
        (5, 2_000_000, "ahci 0000:00:17.0: AHCI 0001.0301"),
        (6, None, "nvme nvme0: pci function 0000:04:00.0"),
    ]
    assert excerpt.entries[0].formatted() == (
        "[   12.345000] pcieport 0000:00:1c.6: broken device, retraining non-functional downstream link at 2.5GT/s"
    )
    assert worth_expecting(excerpt.entries[1].text) is not None
    assert worth_expecting(excerpt.entries[5].text) is None


def test_a_mixed_paste_gives_each_line_to_one_parser() -> None:
    text = (
        "Subject: help\n\n"
        f"{TITLE}\n\tSubsystem: ASMedia Technology Inc. Device [1b21:1060]\n\n"
        f"IOMMU Group 12: {TITLE}\n\n"
        "[  900.1] vfio-pci 0000:03:00.0: not ready 65535ms after bus reset; giving up\n"
    )
    split = split_text("mixed.txt", text)
    assert split.groups is not None and split.groups.lines == {6}
    assert split.log is not None and split.log.lines == {8}
    assert split.lspci is not None
    remaining = split.lspci.split("\n")
    assert remaining[5] == "" and remaining[7] == "" and remaining[2] == TITLE


# --- Properties ----------------------------------------------------------------------------------

address = st.builds(
    lambda domain, bus, device, function: f"{domain:04x}:{bus:02x}:{device:02x}.{function}",
    st.sampled_from([0, 0, 0, 1]),
    st.integers(0, 255),
    st.integers(0, 31),
    st.integers(0, 7),
)
groups = st.dictionaries(st.integers(0, 65535), st.lists(address, min_size=1, max_size=4, unique=True), max_size=12)
forms = st.sampled_from(["one line", "header and members", "sysfs paths"])
paste_forms = st.sampled_from(["", "> ", ">> ", "> > "])


def _unique(listed: dict[int, list[str]]) -> dict[int, list[str]]:
    seen: set[str] = set()
    result: dict[int, list[str]] = {}
    for number, members in listed.items():
        kept = [member for member in members if member not in seen]
        seen.update(kept)
        if kept:
            result[number] = kept
    return result


def _listing(listed: dict[int, list[str]], form: str, quote: str) -> str:
    lines: list[str] = []
    for number, members in listed.items():
        if form == "header and members":
            lines.append(f"IOMMU Group {number}:")
        for member in members:
            title = f"{member} Non-Volatile memory controller [0108]: Vendor Device [144d:a809]"
            if form == "one line":
                lines.append(f"IOMMU Group {number}: {title}")
            elif form == "header and members":
                lines.append(f"\t{title}")
            else:
                lines.append(f"/sys/kernel/iommu_groups/{number}/devices/{member}")
    return "".join(f"{quote}{line}\r\n" for line in lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups.map(_unique), forms, paste_forms)
def test_a_generated_listing_reads_back_in_every_paste_form(
    listed: dict[int, list[str]], form: str, quote: str
) -> None:
    text = _listing(listed, form, quote)
    assert looks_like_groups(text) == bool(listed)
    assert parse_groups(text, "g.txt").groups == listed


log_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40).map(
    lambda text: f"pci 0000:03:00.0: {text}"
)
log_entries = st.lists(st.tuples(st.integers(0, 10**9), log_text), max_size=20)
log_forms = st.sampled_from(["dmesg", "dmesg -r", "syslog", "journal iso", "dmesg -x"])


def _log(entries: list[tuple[int, str]], form: str, quote: str) -> str:
    lines = []
    for micro, text in entries:
        stamp = f"[{micro // 1_000_000:5d}.{micro % 1_000_000:06d}] {text}"
        lines.append(
            {
                "dmesg": stamp,
                "dmesg -r": f"<6>{stamp}",
                "syslog": f"Mar  3 10:00:00 host kernel: {stamp}",
                "journal iso": f"2025-03-03T10:00:00+0100 host kernel: {stamp}",
                "dmesg -x": f"kern  :info  : {stamp}",
            }[form]
        )
    return "\n".join(f"{quote}{line}" for line in lines)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_entries, log_forms, paste_forms)
def test_a_generated_log_reads_back_in_every_form(entries: list[tuple[int, str]], form: str, quote: str) -> None:
    excerpt = parse_log(_log(entries, form, quote), "log.txt")
    assert [(entry.time_us, entry.text) for entry in excerpt.entries] == entries
    assert all(isinstance(entry, LogEntry) for entry in excerpt.entries)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000))
def test_any_text_is_parsed_without_surprises(text: str) -> None:
    started = time.monotonic()
    listing = parse_groups(text, "fuzz.txt")
    excerpt = parse_log(text, "fuzz.txt")
    split = split_text("fuzz.txt", text)
    assert time.monotonic() - started < 5
    assert all(0 <= number <= 65535 for number in listing.groups)
    assert all(member.count(":") == 2 for members in listing.groups.values() for member in members)
    lines = text.split("\n")
    for entry in excerpt.entries:
        assert 1 <= entry.line <= len(lines) and "\n" not in entry.text and "\x00" not in entry.text
    if split.lspci is not None:
        assert split.lspci.count("\n") == text.count("\n")


def test_too_large_a_paste_is_refused_with_its_line() -> None:
    with pytest.raises(PasteError, match=r"^big\.txt:1: "):
        parse_log("x" * (16 * 1024 * 1024 + 1), "big.txt")
