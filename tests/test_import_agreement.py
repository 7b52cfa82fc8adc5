"""The lspci text importer judged by the real lspci, on our own trees and on public reports.

1. Round trip: every shipped scenario is rendered, the real ``lspci -vvv -nn`` reads it, the text
   is imported, each device description is encoded again (fakesys), and (a) every bit the text
   showed is the same in the re-encoded bytes as in the rendered ``config``, (b) the real lspci on a
   tree of the re-encoded devices prints the same text, apart from the lines it takes from outside
   config space (driver, IOMMU group).
2. Public reports (tests/data/import, each with its SOURCE.md): imported, encoded, rendered, read
   by the real lspci and compared line by line with the report (tests/import_support.py says how
   versions of pciutils are allowed to differ); where the report has hex dumps as well, the
   re-encoded bytes are compared with the dump field by field. Each device must agree on at least
   95% of its lines / fields. The default run takes a few representative reports; ``-m
   import_corpus`` runs all of them (tox env ``import-corpus``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture import ImportedDevice, ImportedPaste, coverage, parse_lspci
from tests.conftest import REPO, RenderRoot, RunLspci
from tests.import_support import DeviceAgreement, encode_device, lspci_arguments, render_and_compare

DATA = Path(__file__).resolve().parent / "data" / "import"
SCENARIOS = sorted(path.stem for path in (REPO / "scenarios").glob("*.yaml"))
BAR = 0.95

#: Devices below the bar for a reason the import cannot remove, with that reason; the test fails
#: if such a device reaches the bar (then the entry goes) or another device falls below it.
KNOWN_BELOW = {
    ("04-cometlake-laptop/lspci-vv.txt", "0000:00:19.0"): (
        "its name and that of 00:15.1 each stand for two IDs in pci.ids (the paste has no -nn); the "
        "import takes the same ID for both, so the subsystem names the paste printed for the two "
        "collide in the pci.ids the test renders with"
    ),
}

#: (report file, lspci options that print what it shows; None: as the paste shows it).
REPORTS: dict[str, list[str] | None] = {
    "01-x99-acs-quirk/lspci-vvvv.txt": None,
    "02-n1sdp-plx/lspci-vvxxx.txt": None,
    "03-rk3399-asm1184e/lspci-vvxxx.txt": None,
    "04-cometlake-laptop/lspci-vv.txt": None,
    "05-x99-i210-radeon/lspci-vvv.txt": None,
    "06-kabylake-laptop/lspci-vvnn-01-bootup-without.txt": None,
    "07-imac-navi14-titanridge/lspci-vvnnPP.txt": None,
    "08-ich10-gtx1650/lspci-vvv.txt": None,
    "08-ich10-gtx1650/lspci-vv-quoted-fragment.txt": None,
    "09-raven-wx3100/lspci-vvxxx.txt": None,
    "10-quadro-p1000-vfio/lspci-vvxxx-quoted.txt": None,
    "11-thinkpad-t560/lspci-vvv-quoted.txt": None,
    "12-renoir-laptop/lspci-vvv-flattened.txt": None,
    "13-ax210-switch/lspci-vv.txt": None,
    "14-amd500-sata/lspci-nnvvvvxxxxks.txt": None,
    "15-kabylake-tbdock/lspci-nnvvv.txt": None,
    "16-hpe-connectx5-sriov/lspci-vvv.txt": None,
    "17-x99-bd4-navi23/lspci-nnvvvxxxx.txt": None,
    "18-perc-h310/lspci-vvv.txt": None,
    "19-terramaster-f4-424-pro/lspci-nnvv-clean-reboot.txt": None,
    "19-terramaster-f4-424-pro/lspci-nnvv-after-vm-start.txt": None,
    "probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt": None,
    "probe-beelink-eq13/lspci-vvnn.txt": None,
    "probe-asrock-n100dc-itx/lspci-vvnn.txt": None,
    "samsung-pm991-two-machines/lspci-vvnn-lx2160a.txt": None,
    "samsung-pm991-two-machines/lspci-vvnn-ryzen3600.txt": None,
}
#: Reports the default run takes: wrapped (Gmail) with hex, quoted and wrapped, indentation lost,
#: the reference device, and a probe of a whole machine.
QUICK = (
    "03-rk3399-asm1184e/lspci-vvxxx.txt",
    "11-thinkpad-t560/lspci-vvv-quoted.txt",
    "12-renoir-laptop/lspci-vvv-flattened.txt",
    "19-terramaster-f4-424-pro/lspci-nnvv-clean-reboot.txt",
    "probe-beelink-eq13/lspci-vvnn.txt",
)
#: Reports with hex dumps of the devices their text shows.
WITH_HEX = (
    "02-n1sdp-plx/lspci-vvxxx.txt",
    "03-rk3399-asm1184e/lspci-vvxxx.txt",
    "09-raven-wx3100/lspci-vvxxx.txt",
    "10-quadro-p1000-vfio/lspci-vvxxx-quoted.txt",
    "14-amd500-sata/lspci-nnvvvvxxxxks.txt",
    "17-x99-bd4-navi23/lspci-nnvvvxxxx.txt",
)


def _table(title: str, scores: dict[str, DeviceAgreement]) -> str:
    rows = [f"{title}: {len(scores)} devices"]
    for bdf, score in scores.items():
        rows.append(
            f"  {bdf}  {score.matched}/{score.lines} lines {score.ratio:6.1%}  "
            f"exact {score.exact}/{score.exact_lines} {score.exact_ratio:6.1%}  "
            f"(runtime {score.runtime}, newer-version {score.version})"
        )
    return "\n".join(rows)


def _report(name: str, tmp_path: Path) -> tuple[ImportedPaste, dict[str, DeviceAgreement]]:
    text = (DATA / name).read_text(encoding="utf-8")
    paste = parse_lspci(text, name)
    arguments = REPORTS[name] or lspci_arguments(paste)
    _, scores = render_and_compare(paste, text, tmp_path, *arguments)
    print(_table(f"{name} (lspci {' '.join(arguments)})", scores))
    return paste, scores


def _assert_bar(name: str, scores: dict[str, DeviceAgreement]) -> None:
    known = {bdf for report, bdf in KNOWN_BELOW if report == name}
    below = {bdf: score for bdf, score in scores.items() if score.ratio < BAR and bdf not in known}
    assert all(scores[bdf].ratio < BAR for bdf in known), f"{name}: a known exception now passes; remove it"
    details = "\n".join(
        f"{bdf} {score.ratio:.1%}: " + "; ".join(f"{line!r} -> {got!r}" for line, got in score.mismatches[:3])
        for bdf, score in below.items()
    )
    assert not below, f"{name}: devices below {BAR:.0%}:\n{details}"


# --- 1. Round trip on our own trees --------------------------------------------------------


def _shown_bits_equal(device: ImportedDevice, original: bytes, encoded: bytes) -> list[str]:
    """Facts whose bits differ between the rendered config and the re-encoded one."""
    return [fact.path for fact in device.facts if not fact.assumed and fact.reader(encoded) != fact.reader(original)]


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_scenario_round_trips_through_lspci_text(
    name: str, scenario_root: RenderRoot, lspci: RunLspci, tmp_path: Path
) -> None:
    root = scenario_root(name)
    text = lspci(root, "-vvv", "-nn")
    paste = parse_lspci(text, name)
    assert paste.devices and paste.unparsed == []
    shown_bits = total_bits = 0
    for device in paste.devices:
        original = (root / "sys" / "bus" / "pci" / "devices" / device.bdf / "config").read_bytes()
        encoded = bytes(encode_device(device).config)
        assert device.disagreements == [], device.bdf  # the text against the rendered bytes
        assert _shown_bits_equal(device, original, encoded) == [], device.bdf
        if device.condition == "dead":
            continue  # its config reads all-ones; lspci showed what the kernel cached
        mask = coverage((fact for fact in device.facts if not fact.assumed), len(original))
        shown_bits += sum(bin(byte & bits).count("1") for byte, bits in zip(original, mask, strict=True))
        total_bits += sum(bin(byte).count("1") for byte in original)
    _, scores = render_and_compare(paste, text, tmp_path, "-vvv", "-nn")
    print(_table(f"{name}: lspci showed {shown_bits} of the {total_bits} bits set in config space", scores))
    for bdf, score in scores.items():
        assert score.exact_ratio == 1.0 and score.ratio == 1.0, (bdf, score.mismatches)


# --- 2. Public reports ------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUICK)
def test_a_public_report_is_reproduced_by_the_real_lspci(name: str, tmp_path: Path) -> None:
    _, scores = _report(name, tmp_path)
    _assert_bar(name, scores)


@pytest.mark.import_corpus
@pytest.mark.parametrize("name", sorted(set(REPORTS) - set(QUICK)))
def test_every_public_report_is_reproduced_by_the_real_lspci(name: str, tmp_path: Path) -> None:
    _, scores = _report(name, tmp_path)
    _assert_bar(name, scores)


def test_the_corpus_has_at_least_twenty_reports() -> None:
    sources = {name.split("/")[0] for name in REPORTS}
    assert len(sources) >= 20
    assert all((DATA / source / "SOURCE.md").is_file() for source in sources)


def _field_agreement(device: ImportedDevice) -> tuple[int, int, list[str]]:
    """Shown fields of the re-encoded device that equal the hex dump's, of those the dump holds."""
    assert device.hexdump is not None
    dump = bytes(device.hexdump.data)
    encoded = bytes(encode_device(device).config)
    compared = equal = 0
    differ: list[str] = []
    for fact in device.facts:
        if fact.assumed or not all(device.hexdump.covers(offset, width) for offset, width, _ in fact.bits):
            continue
        compared += 1
        if fact.reader(encoded) == fact.reader(dump):
            equal += 1
        else:
            differ.append(fact.path)
    return equal, compared, differ


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.import_corpus) if name.startswith("17-") else name for name in WITH_HEX],
)
def test_text_encoded_again_equals_the_hex_dump_of_the_same_report(name: str) -> None:
    paste = parse_lspci((DATA / name).read_text(encoding="utf-8"), name)
    checked = [device for device in paste.devices if device.hexdump is not None and device.decoded]
    assert checked
    rows = [f"{name}: {len(checked)} devices with text and hex"]
    below = []
    for device in checked:
        equal, compared, differ = _field_agreement(device)
        rows.append(f"  {device.bdf}  {equal}/{compared} fields equal  {', '.join(differ[:4])}")
        if compared and equal / compared < BAR:
            below.append(device.bdf)
    print("\n".join(rows))
    assert not below, "\n".join(rows)
