"""Property tests of the lspci text importer: any text is either imported or refused with the
documented error (PasteError, exit code 65), never another exception, and in bounded time."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.capture import ImportedPaste, parse_lspci
from harness.errors import PasteError

DATA = Path(__file__).resolve().parent / "data" / "import"
#: Real lines of several pciutils versions and paste forms, to mutate and recombine.
REAL_LINES = [
    line
    for name in (
        "03-rk3399-asm1184e/lspci-vvxxx.txt",
        "16-hpe-connectx5-sriov/lspci-vvv.txt",
        "21-iommu-groups-trees/lspci-tv-amd-raphael.txt",
        "probe-b550-aorus-elite-ax-v2/lspci-vvnn.txt",
    )
    for line in (DATA / name).read_text(encoding="utf-8").splitlines()[:400]
]

mutated_line = st.builds(
    lambda line, cut, junk, prefix: prefix + line[:cut] + junk,
    st.sampled_from(REAL_LINES),
    st.integers(0, 200),
    st.text(max_size=12),
    st.sampled_from(["", "> ", ">> ", "\t", "        ", "[  12.345] ", "```\n"]),
)
paste_text = st.lists(st.one_of(st.sampled_from(REAL_LINES), mutated_line, st.text(max_size=120)), max_size=80).map(
    "\n".join
)


def import_or_refuse(text: str) -> ImportedPaste | None:
    try:
        return parse_lspci(text, "fuzz.txt", ids=None)
    except PasteError as error:
        assert str(error).startswith("fuzz.txt:")
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_arbitrary_text_is_imported_or_refused(text: str) -> None:
    import_or_refuse(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paste_text)
def test_mangled_lspci_output_is_imported_or_refused(text: str) -> None:
    paste = import_or_refuse(text)
    if paste is not None:
        for device in paste.devices:
            assert device.bdf.count(":") == 2
            assert all(item.line >= 0 for item in device.assumptions)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["a", "0", "-", "+", "[", "(", "00: ", "DevCap: ", ":", "\t"]), st.integers(1, 4000))
def test_long_repetitive_lines_take_linear_time(unit: str, count: int) -> None:
    text = "00:00.0 Host bridge: x\n\t" + unit * count + "\n"
    started = time.perf_counter()
    import_or_refuse(text)
    assert time.perf_counter() - started < 1.0
