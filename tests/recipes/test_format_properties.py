"""Property tests: the readers never raise on a row's content; every non-empty row becomes a record."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dataset_converters import Annotation, Skip
from dataset_converters.formats import _answer_index, merge_segments, read_charades_sta, read_jsonl

# One scratch directory for all examples (hypothesis runs a test body many times per fixture).
SCRATCH = Path(tempfile.mkdtemp(prefix="video-rlt-formats-"))

lines = st.text(
    # No line breaks of any kind (str.splitlines' set): one generated string is one line of the file.
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    max_size=80,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(lines, max_size=8))
def test_charades_reader_accounts_for_every_line(rows: list[str]) -> None:
    path = SCRATCH / "charades_sta_test.txt"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    records = list(read_charades_sta(path))
    assert len(records) == sum(1 for r in rows if r.strip())
    assert [r.ordinal for r in records] == list(range(len(records)))
    for record in records:
        assert isinstance(record, Annotation | Skip)
        if isinstance(record, Annotation):
            assert record.segment is not None and record.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.lists(json_values, max_size=6))
def test_jsonl_reader_accounts_for_every_line(values: list[object]) -> None:
    path = SCRATCH / "custom.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in values), encoding="utf-8")
    records = list(read_jsonl(path))
    assert len(records) == len(values)
    assert all(isinstance(r, Annotation | Skip) for r in records)


@given(json_values, st.lists(st.text(max_size=6), max_size=5))
def test_answer_index_never_raises(answer: object, options: list[str]) -> None:
    index = _answer_index(answer, options)
    assert index is None or isinstance(index, int)


@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.floats(0, 100)).map(lambda p: (min(p), max(p))),
        min_size=1,
        max_size=5,
    )
)
def test_span_policy_covers_every_segment(segments: list[tuple[float, float]]) -> None:
    start, end = merge_segments(segments, "span") or (0.0, 0.0)
    assert all(start <= s and e <= end for s, e in segments)
    assert merge_segments(segments, "first") == segments[0]
