"""harness.paste on its own: every value is one shell word on one line, comments stay comments,
and the validators accept what Proxmox, udev and the kernel accept and nothing that could change
a command."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import paste


@given(st.text())
def test_any_value_is_one_word_on_one_line(value: str) -> None:
    quoted = paste.quote(value)
    assert len(quoted.splitlines()) <= 1
    assert shlex.split(f"cmd {quoted}") == ["cmd", paste.printable(value)]


@given(st.lists(st.text(), min_size=1, max_size=6))
def test_a_command_splits_back_into_its_words(words: list[str]) -> None:
    line = paste.command(*words)
    assert "\n" not in line and "\r" not in line
    assert shlex.split(line) == [paste.printable(word) for word in words]


@given(st.text())
def test_a_comment_is_one_line(text: str) -> None:
    line = paste.comment(text)
    assert line.startswith("# ") and len(line.splitlines()) == 1
    assert line.isprintable()


def test_printable_leaves_ordinary_text_alone_and_escapes_the_rest() -> None:
    assert paste.printable("WDC WD40EFPX-68C6CN0 'ok' $x") == "WDC WD40EFPX-68C6CN0 'ok' $x"
    assert paste.printable("a\nb\x1b[2J\u2028c\td") == "a\\nb\\x1b[2J\\u2028c\\td"


@pytest.mark.parametrize("name", ["pve", "pve1", "node-2", "A", "a" * 63])
def test_node_names_proxmox_accepts(name: str) -> None:
    assert paste.is_node_name(name)


@pytest.mark.parametrize(
    "name", ["", "-pve", "pve-", "pve.example.com", "a" * 64, "pve node", "pve;reboot", "$(id)", "pve\n", "p_ve"]
)
def test_node_names_proxmox_rejects(name: str) -> None:
    assert not paste.is_node_name(name)


def test_hostnames_and_the_node_proxmox_derives() -> None:
    assert paste.is_hostname("truenas") and paste.is_hostname("vm-1.lab.example")
    assert not paste.is_hostname("vm..lab") and not paste.is_hostname("vm_1") and not paste.is_hostname("a b")
    assert paste.node_from_hostname("pve.example.com\n") == "pve"
    assert paste.node_from_hostname("pve\nsecond line") == "pve"
    assert paste.node_from_hostname("") == ""


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("100", True),
        ("999999999", True),
        ("99", False),
        ("0100", False),
        ("1000000000", False),
        ("-1", False),
        ("1e3", False),
        ("", False),
    ],
)
def test_vm_ids_in_proxmox_range(text: str, valid: bool) -> None:
    assert paste.is_vmid(text) is valid


@pytest.mark.parametrize(
    "name",
    [
        "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680",
        "nvme-eui.002538b911b2c1a3",
        "wwn-0x50014ee2b5d6c1a3",
        "usb-Generic_Flash_Disk_12345678-0:0",
        "ata-A#B=C+D@E:F",
        "ata-Überdisk_1",
    ],
)
def test_disk_ids_udev_writes(name: str) -> None:
    assert paste.is_disk_id(name)


@pytest.mark.parametrize(
    "name", ["ata-x y", "ata-x'y", 'ata-x"y', "ata-$(id)", "ata-`id`", "ata-x;y", "ata-x\ny", "ata-x,y", "..", ""]
)
def test_disk_ids_udev_never_writes(name: str) -> None:
    assert not paste.is_disk_id(name)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("ahci", True),
        ("snd_hda_intel", True),
        ("xhci-pci", True),
        ("ahci;reboot", False),
        ("a b", False),
        ("", False),
        ("a" * 56, False),
    ],
)
def test_module_names(name: str, valid: bool) -> None:
    assert paste.is_module_name(name) is valid
