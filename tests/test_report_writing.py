"""The report writers' fast paths give what the plain ways give: the JSON document is byte for
byte ``json.dumps(document, indent=2)`` however it is split into writes, and paragraphs are
filled exactly as the word-by-word loop fills them."""

from __future__ import annotations

import io
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness import report
from harness.paste import printable

_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text()
_DOCUMENTS = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.booleans() | st.none(), inner, max_size=6)
    ),
    max_leaves=40,
)


def _encoded(value: object) -> str:
    out = io.StringIO()
    parts: list[str] = []
    report._encode_json(value, parts, "\n", out)
    out.write("".join(parts))
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(_DOCUMENTS)
def test_the_json_encoder_writes_what_json_dumps_writes(document: object) -> None:
    assert _encoded(document) == json.dumps(document, indent=2)


def test_a_long_list_is_written_in_blocks_and_still_whole() -> None:
    document = {"devices": [{"bdf": f"0000:00:{index % 32:02x}.0", "n": index} for index in range(5_000)]}
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    parts: list[str] = []
    report._encode_json(document, parts, "\n", Recorder())
    writes.append("".join(parts))
    assert len(writes) >= 2
    assert "".join(writes) == json.dumps(document, indent=2)
    assert _encoded([math.nan, math.inf, -math.inf, 1e300]) == json.dumps(
        [math.nan, math.inf, -math.inf, 1e300], indent=2
    )


def _word_loop(prefix: str, text: str, width: int, indent: str) -> tuple[str, ...]:
    words = printable(text).split()
    return tuple(report._fill_words(prefix, words, width, indent)) if words else (prefix.rstrip(),)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="ab\u00e9", min_size=1, max_size=30), max_size=40),
    st.sampled_from([" ", "  ", "\t", " \u00a0 "]),
    st.sampled_from(["", "        why: ", "x" * 50, "x" * 120]),
    st.sampled_from(["", "     ", " " * 14, " " * 60]),
    st.sampled_from([5, 10, 40, 100]),
)
def test_paragraphs_are_filled_as_the_word_loop_fills_them(
    words: list[str], separator: str, prefix: str, indent: str, width: int
) -> None:
    text = separator.join(words)
    assert report._wrapped.__wrapped__(prefix, text, width, indent) == _word_loop(prefix, text, width, indent)


def test_the_human_report_is_written_in_blocks_as_it_is_made() -> None:
    writes: list[str] = []

    class Recorder(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    blocks = report._Blocks(Recorder())
    lines = [f"line {index}: " + "x" * 60 + "\n" for index in range(10_000)]
    for line in lines[:10]:
        blocks.append(line)
    assert writes == []  # small parts wait for a block
    blocks += lines[10:]
    assert len(writes) >= 4  # a block is written once it is full, before the end
    assert all(len(text) < report._BLOCK_CHARACTERS + 100 for text in writes)
    blocks.flush()
    blocks.flush()
    assert "".join(writes) == "".join(lines)
