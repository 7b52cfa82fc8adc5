"""The lspci text importer (harness.capture) on public pastes and the forms pastes arrive in.

Every input here is real: command output from tests/data/import (see each SOURCE.md), the real
lspci on rendered trees, and paste forms (mail wrapping at 72 columns, "> " quoting, CRLF, mail
headers and prose, Markdown fences, timestamps) built from those outputs the way mail clients and
forums build them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakesys.hw.describe import encode
from fakesys.source import Document
from harness import exitcodes
from harness.capture import (
    Disagreement,
    ImportedPaste,
    combined_description,
    compact_description,
    coverage,
    parse_lspci,
)
from harness.capture.paste import MAX_PASTE_CHARS
from harness.errors import InputError, PasteError
from harness.pci import regs
from tests.conftest import RenderRoot, RunLspci
from tests.import_support import encode_device, render_and_compare

DATA = Path(__file__).resolve().parent / "data" / "import"


def source(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def disagreement(item: Disagreement) -> tuple[str, str, str, str]:
    """A disagreement without its line number (wrapping moves lines)."""
    return item.device, item.field, item.text_value, item.hex_value


def descriptions(paste: ImportedPaste) -> dict[str, dict[str, Any]]:
    return {device.bdf: device.description for device in paste.devices}


# --- Paste forms --------------------------------------------------------------------------


def wrapped(text: str, width: int = 72) -> str:
    """A mail client's hard wrap: tabs become spaces, long lines break at a space and go on at
    column 0 (Gmail's plain text)."""
    lines: list[str] = []
    for line in text.expandtabs(8).splitlines():
        indent = len(line) - len(line.lstrip(" "))
        pieces = textwrap.wrap(line.strip(), width - indent, break_long_words=False, break_on_hyphens=False)
        if not pieces:
            lines.append("")
            continue
        lines.append(" " * indent + pieces[0])
        rest = " ".join(pieces[1:])
        lines.extend(textwrap.wrap(rest, width, break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines) + "\n"


def quoted(text: str, depth: int = 1) -> str:
    prefix = "> " * depth
    return "".join(prefix + line if line else prefix.rstrip() + "\n" for line in text.splitlines(keepends=True))


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def mail(text: str) -> str:
    """The issue-14 paste: mail headers, prose, the output wrapped at 72 inside a fence, a reply
    line and a signature."""
    headers = (
        "From: A Reporter <reporter@example.org>\n"
        "To: linux-pci@vger.kernel.org\n"
        "Subject: Re: [BUG] device gone after VM start\n"
        "Date: Tue, 11 Mar 2025 09:14:03 +0100\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "On Mon, Bjorn wrote:\n> Please send lspci -vv and lspci -x of the machine.\n\n"
        "Here it is (run as root):\n\n```\n# lspci -vvxxx\n"
    )
    return headers + wrapped(text) + "```\n\nThanks,\n-- \nA Reporter\n"


def timestamped(text: str) -> str:
    return "".join(f"[12:34:{index % 60:02d}] {line}" for index, line in enumerate(text.splitlines(keepends=True)))


FORMS: dict[str, Callable[[str], str]] = {
    "wrapped at 72": wrapped,
    "quoted": quoted,
    "quoted twice and wrapped": lambda text: quoted(wrapped(text), 2),
    "CRLF": crlf,
    "mail with headers and prose": mail,
    "timestamps": timestamped,
    "tabs as spaces": lambda text: text.expandtabs(8),
}
FORM_SOURCES = (
    "19-terramaster-f4-424-pro/lspci-nnvv-clean-reboot.txt",
    "03-rk3399-asm1184e/lspci-vvxxx.txt",
    "09-raven-wx3100/lspci-vvxxx.txt",
    "probe-beelink-eq13/lspci-vvnn.txt",
)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", FORM_SOURCES)
def test_every_paste_form_decodes_like_the_output_itself(name: str, form: str) -> None:
    original = parse_lspci(source(name), name)
    pasted = parse_lspci(FORMS[form](source(name)), f"{name} ({form})")
    assert descriptions(pasted) == descriptions(original)
    assert [device.config for device in pasted.devices] == [device.config for device in original.devices]
    assert [disagreement(item) for item in pasted.disagreements] == [
        disagreement(item) for item in original.disagreements
    ]


def test_the_mail_form_reports_the_prose_around_the_output_with_line_numbers() -> None:
    text = mail(source(FORM_SOURCES[0]))
    paste = parse_lspci(text, "message.eml")
    lines = text.splitlines()
    prose = {item.line: item.text for item in paste.unparsed}
    assert prose[1] == "From: A Reporter <reporter@example.org>"
    assert prose[len(lines)] == "A Reporter"
    assert all(value.strip() in lines[number - 1] for number, value in prose.items())
    assert paste.commands == [(lines.index("# lspci -vvxxx") + 1, "-vvxxx")]


# --- What the text says, decoded ----------------------------------------------------------


def test_the_reference_asm1061_is_decoded_field_by_field() -> None:
    paste = parse_lspci(source(FORM_SOURCES[0]), "tanezky")
    (device,) = paste.devices
    description = device.description
    header = description["header"]
    assert (device.bdf, header["vendor"], header["device"], header["class"]) == (
        "0000:03:00.0",
        0x1B21,
        0x0612,
        0x010601,
    )
    assert (header["subsystem_vendor"], header["subsystem_device"], header["revision"]) == (0x1B21, 0x1060, 2)
    assert [(bar["index"], bar["kind"], bar["address"], bar["size"]) for bar in description["bars"]] == [
        (0, "io", 0x3050, 8),
        (1, "io", 0x3040, 4),
        (2, "io", 0x3030, 8),
        (3, "io", 0x3020, 4),
        (4, "io", 0x3000, 32),
        (5, "memory", 0x80510000, 512),
    ]
    assert description["rom"] == {"address": 0x80500000, "size": 0x10000, "enabled": False}
    caps = {entry["id"]: entry for entry in description["capabilities"]}
    assert [entry["id"] for entry in description["capabilities"]] == ["msi", "pm", "express"]
    assert caps["pm"]["pmcsr"]["no_soft_reset"] is False and caps["express"]["devcap"]["flr"] is False
    assert caps["express"]["flags"]["type"] == "legacy_endpoint"
    assert caps["express"]["lnkcap"]["max_speed"] == "5GT/s"
    (vc,) = description["extended_capabilities"]
    assert (vc["id"], vc["at"], vc["version"]) == ("vc", 0x100, 1)
    assert vc["vc0_control"] == {"enable": True, "vc_id": 0, "port_arbitration_select": 0, "tc_vc_map": 0xFF}
    assert (device.irq, device.driver, device.iommu_group) == (255, "vfio-pci", 12)
    assert paste.unparsed == []


def test_lspci_knn_gives_ids_names_drivers_and_modules() -> None:
    paste = parse_lspci(source("19-terramaster-f4-424-pro/lspci-knn.txt"))
    assert len(paste.devices) == 18 and paste.unparsed == []
    sata = paste.device("0000:03:00.0")
    assert sata is not None
    assert (sata.vendor_id, sata.device_id, sata.class_code >> 8 if sata.class_code else None) == (
        0x1B21,
        0x0612,
        0x0106,
    )
    assert (sata.driver, sata.modules, sata.subsystem) == ("ahci", ["ahci"], (0x1B21, 0x1060))
    assert all(device.verbosity == 1 for device in paste.devices)


def test_a_dead_device_keeps_its_identity_and_says_it_is_dead() -> None:
    paste = parse_lspci(source("19-terramaster-f4-424-pro/lspci-nnvv-after-vm-start.txt"))
    (device,) = paste.devices
    assert device.condition == "dead"
    assert (device.vendor_id, device.device_id, device.class_code) == (0x1B21, 0x0612, 0x010601)
    assert any(item.what == "config space" and item.value == "all-ones" for item in device.assumptions)


def test_capabilities_behind_access_denied_are_unknown_not_empty(scenario_root: RenderRoot, lspci: RunLspci) -> None:
    text = lspci(scenario_root("terramaster-f4-424-pro", unprivileged=True), "-vvv", "-nn")
    paste = parse_lspci(text, "lspci as a normal user")
    with_caps = [device for device in paste.devices if device.description["header"]["status"]["capabilities"]]
    assert with_caps and all(device.capabilities_unknown for device in with_caps)
    for device in with_caps:
        assert "capabilities" not in device.description
        assert device.description["header"]["status"]["capabilities"] is True
        assert any(item.what == "capabilities" for item in device.assumptions)


def test_closed_windows_are_encoded_as_firmware_leaves_them() -> None:
    b550 = parse_lspci(source("probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt"))
    # -vv shows "I/O behind bridge: [disabled] [16-bit]": the type is shown, the registers are not.
    port = next(device for device in b550.devices if device.bdf == "0000:00:01.1")
    header = port.description["header"]
    assert (header["io_base"], header["io_limit"]) == (0xF1, 0x01)
    assert (header["prefetchable_base"], header["prefetchable_limit"]) == (0xFFF1, 0x0001)
    assert {item.what for item in port.assumptions} >= {"io window", "prefetchable window"}
    # -vvv shows the registers ("0000f000-00000fff [disabled] [32-bit]"): nothing is assumed.
    coreboot = parse_lspci(source("17-x99-bd4-navi23/lspci-nnvvvxxxx.txt"))
    for device in coreboot.devices:
        if device.description["layout"] == "bridge":
            assert not [item for item in device.assumptions if item.what.endswith("window")]
            assert device.disagreements == []


def test_names_without_ids_are_looked_up_and_the_lookup_is_an_assumption() -> None:
    paste = parse_lspci(source("18-perc-h310/lspci-vvv.txt"))
    (device,) = paste.devices
    assert (device.vendor_id, device.device_id) == (0x1000, 0x0073)  # "MegaRAID SAS 2008 [Falcon]"
    lookups = [item for item in device.assumptions if item.what == "vendor:device"]
    assert len(lookups) == 1 and "looked up by the name" in lookups[0].why


def test_stderr_spliced_into_a_field_or_a_hex_row_is_cut_out() -> None:
    b550 = parse_lspci(source("probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt"))
    nic = next(device for device in b550.devices if device.vendor_id == 0x10EC and device.device_id == 0x8125)
    express = next(entry for entry in nic.description["capabilities"] if entry["id"] == "express")
    assert express["lnkcap2"] == {
        "supported_speeds": 0x03,
        "crosslink": False,
        "retimer": False,
        "two_retimers": False,
        "drs": False,
    }
    coreboot = parse_lspci(source("17-x99-bd4-navi23/lspci-nnvvvxxxx.txt"))
    realtek = coreboot.device("0000:08:00.0")
    assert realtek is not None and realtek.config is not None and len(realtek.config) == 4096


@pytest.mark.parametrize(
    "name", ["16-hpe-connectx5-sriov/lspci-vvv.txt", "probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt"]
)
def test_a_compact_description_encodes_to_the_same_bytes(name: str) -> None:
    for device in parse_lspci(source(name)).devices:
        compact = compact_description(device.description)
        assert len(str(compact)) < len(str(device.description))
        assert encode(Document(compact, "compact")).config == encode_device(device).config, device.bdf


# --- Hex dumps and their cross-check ------------------------------------------------------


def test_text_and_hex_of_the_same_devices_agree_on_every_shown_value() -> None:
    paste = parse_lspci(source("17-x99-bd4-navi23/lspci-nnvvvxxxx.txt"))
    checked = [device for device in paste.devices if device.config is not None]
    assert len(checked) == 87
    assert paste.disagreements == []
    assert sum(len(device.facts) for device in checked) > 5000


def test_a_value_the_text_and_the_hex_disagree_on_is_reported_with_both_values() -> None:
    text = source("17-x99-bd4-navi23/lspci-nnvvvxxxx.txt")
    original = parse_lspci(text)
    device = next(
        device
        for device in original.devices
        for entry in device.description.get("capabilities", [])
        if entry["id"] == "express" and entry["devcap"].get("flr")
    )
    express = next(entry for entry in device.description["capabilities"] if entry["id"] == "express")
    flr = text.index("FLReset+", text.index("\n" + device.title) + 1)
    edited = text[:flr] + "FLReset-" + text[flr + len("FLReset+") :]
    (found,) = parse_lspci(edited).disagreements
    assert (found.device, found.field, found.text_value, found.hex_value) == (
        device.bdf,
        f"express@{express['at']:#x}.devcap.flr",
        "-",
        "+",
    )
    # A fact carries the line its record starts on (the DevCap line; FLReset is on the next).
    assert found.line == edited[: edited.rindex("DevCap:", 0, flr)].count("\n") + 1


@pytest.mark.parametrize("order", ["text first", "hex first"])
def test_separate_text_and_hex_commands_make_one_device_each(order: str) -> None:
    text = source("01-x99-acs-quirk/lspci-vvvv.txt")
    dump = source("01-x99-acs-quirk/lspci-xxxx.txt")
    paste = parse_lspci(text + "\n" + dump if order == "text first" else dump + "\n" + text)
    assert [device.bdf for device in paste.devices] == ["0000:00:01.0", "0000:00:01.1", "0000:00:1c.4"]
    for device in paste.devices:
        assert device.decoded and device.config is not None and len(device.config) == 4096
        # The IDs come from the dump, not from looking the names up.
        assert not [item for item in device.assumptions if item.what == "vendor:device"]
    assert paste.disagreements == [] and paste.unparsed == []


def test_a_64_byte_dump_is_checked_against_the_header_only() -> None:
    text = source("03-rk3399-asm1184e/lspci-vvxxx.txt")
    full = parse_lspci(text)
    # The same paste with every dump cut to the 64 bytes of "lspci -x".
    short = "\n".join(
        line for line in text.splitlines() if line[:3] not in {f"{row:02x}:" for row in range(0x40, 0x100, 16)}
    )
    cut = parse_lspci(short)
    assert all(device.config is not None and len(device.config) == 64 for device in cut.devices)
    in_header = [str(item) for item in full.disagreements if all(offset < 64 for offset, _, _ in _bits(full, item))]
    assert [str(item) for item in cut.disagreements] == in_header


def test_a_64_byte_dump_and_the_decoded_text_make_one_device() -> None:
    text = source("03-rk3399-asm1184e/lspci-vvxxx.txt")
    short = "\n".join(
        line for line in text.splitlines() if line[:3] not in {f"{row:02x}:" for row in range(0x40, 0x100, 16)}
    )
    for device in parse_lspci(short).devices:
        assert device.config is not None
        model = encode(Document(combined_description(device), device.bdf))
        assert bytes(model.config[:64]) == device.config, device.bdf
        encoded_ids = [cap.cap_id for cap in model.space.capabilities()]
        assert encoded_ids == [cap.cap_id for cap in encode_device(device).space.capabilities()], device.bdf
        assert len(encoded_ids) >= 3, device.bdf


def test_virtual_regions_and_shadow_roms_are_printed_again(tmp_path: Path) -> None:
    text = source("04-cometlake-laptop/lspci-vv.txt")
    paste = parse_lspci(text)
    lpss = paste.device("0000:00:15.0")
    graphics = paste.device("0000:00:02.0")
    assert lpss is not None and lpss.description["bars"][0]["virtual"] is True
    assert graphics is not None and graphics.description["rom"]["virtual"] is True
    assert regs.read_register(encode_device(lpss).config, 0x10, 4) == 0
    paste.devices = [lpss, graphics]
    _, scores = render_and_compare(paste, text, tmp_path, "-vv")
    assert scores["0000:00:15.0"].mismatches == [] and scores["0000:00:02.0"].mismatches == []


def _bits(paste: ImportedPaste, disagreement: object) -> tuple[tuple[int, int, int], ...]:
    device = paste.device(disagreement.device)  # type: ignore[attr-defined]
    assert device is not None
    fact = next(fact for fact in device.facts if fact.path == disagreement.field)  # type: ignore[attr-defined]
    return fact.bits


def test_coverage_is_the_set_of_bits_the_text_showed() -> None:
    paste = parse_lspci(source(FORM_SOURCES[0]))
    (device,) = paste.devices
    mask = coverage(device.facts, 4096)
    assert mask[0x00:0x04] == b"\xff\xff\xff\xff"  # vendor and device, from -nn
    assert mask[0x3C] == 0  # the Interrupt Line register is never printed
    assert mask[0x3D] == 0xFF  # the pin is ("pin A")
    assert mask[0x80 + 0x04 + 3] & 0x10  # DevCap FLReset (bit 28)


# --- Trees ----------------------------------------------------------------------------------


def test_a_tree_gives_parents_and_bus_ranges() -> None:
    paste = parse_lspci(source("21-iommu-groups-trees/lspci-tv-amd-raphael.txt"))
    nodes = {node.bdf: node for node in paste.tree}
    assert len(nodes) == 51
    assert (nodes["0000:00:01.1"].secondary, nodes["0000:00:01.1"].subordinate) == (0x01, 0x03)
    assert nodes["0000:03:00.3"].parent == "0000:02:00.0"
    assert nodes["0000:02:00.0"].parent == "0000:01:00.0"
    assert nodes["0000:0b:00.0"].parent == "0000:07:03.0"
    assert nodes["0000:00:18.7"].parent is None
    assert nodes["0000:0e:00.6"].name == "Advanced Micro Devices, Inc. [AMD] Family 17h/19h/1ah HD Audio Controller"
    for node in paste.tree:
        if node.parent is not None:
            assert nodes[node.parent].secondary == int(node.bdf[5:7], 16)


def test_a_wrapped_tree_and_64_byte_dumps_make_devices_with_parents() -> None:
    tree = source("matisse-navi23-tree-x/lspci-vt.txt")
    dump = source("matisse-navi23-tree-x/lspci-x.txt")
    paste = parse_lspci(tree + "\n" + dump)
    assert len(paste.tree) == len(paste.devices) == 41
    gpu = paste.device("0000:2d:00.0")
    assert gpu is not None and gpu.parent == "0000:2c:00.0" and gpu.config is not None
    assert (gpu.vendor_id, gpu.device_id) == (0x1002, 0x73FF)


def test_plain_lspci_with_a_tree_gets_parents_and_bus_numbers(scenario_root: RenderRoot, lspci: RunLspci) -> None:
    root = scenario_root("n100-asm1184e-switch")
    paste = parse_lspci(lspci(root, "-nn") + "\n" + lspci(root, "-tv", "-nn"), "lspci and lspci -tv")
    switch = paste.device("0000:01:00.0")
    nic = paste.device("0000:05:00.0")
    assert switch is not None and nic is not None
    assert (switch.parent, nic.parent) == ("0000:00:1c.0", "0000:02:05.0")
    header = switch.description["header"]
    assert (header["primary_bus"], header["secondary_bus"], header["subordinate_bus"]) == (1, 2, 6)
    assert any(item.what == "bus numbers" and "-t tree" in item.why for item in switch.assumptions)


# --- Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "Hello,\nmy NAS does not pass its SATA controller through.\n", "00: ff ff\n", "\x00\x01\x02"],
)
def test_a_paste_without_lspci_output_is_one_input_error(text: str) -> None:
    with pytest.raises(PasteError) as raised:
        parse_lspci(text, "report.txt")
    assert isinstance(raised.value, InputError)
    assert raised.value.exit_code == exitcodes.DATA
    assert str(raised.value).startswith("report.txt:1: no lspci output found")


def test_an_oversized_paste_is_refused_before_it_is_read() -> None:
    with pytest.raises(PasteError, match="characters; at most"):
        parse_lspci("x" * (MAX_PASTE_CHARS + 1), "huge.txt")
