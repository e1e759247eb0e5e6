"""Property tests: geometry invariants, parsers total on any string, score range, batch == single."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import video_rewards as vr
from video_rewards import Span, match_segments, temporal_iop, temporal_iou
from video_rewards.geometry import shape_iou
from video_rewards.span_shortcuts import plain_range, plain_range_list
from video_rewards.spans import _iter_spans, read_span
from video_rewards.tags import split_response
from video_rewards.tokens import tokenize

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
any_float = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def valid_spans(draw: st.DrawFn) -> Span:
    s = draw(st.floats(min_value=0, max_value=1e4, allow_nan=False))
    length = draw(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False))
    return Span(s, s + length)


@given(st.tuples(any_float, any_float), st.tuples(any_float, any_float))
def test_iou_in_unit_interval_and_symmetric(a: tuple[float, float], b: tuple[float, float]) -> None:
    iou = temporal_iou(a, b)
    assert 0.0 <= iou <= 1.0
    assert iou == temporal_iou(b, a)
    assert 0.0 <= temporal_iop(a, b) <= 1.0


@given(valid_spans())
def test_iou_is_one_on_identity(a: Span) -> None:
    assert temporal_iou(a, a) == 1.0
    assert temporal_iop(a, a) == 1.0


@given(valid_spans(), st.floats(min_value=0, max_value=1e3, allow_nan=False))
def test_iou_is_zero_on_disjoint(a: Span, gap: float) -> None:
    b = Span(a.end + gap, a.end + gap + 1.0)
    assert temporal_iou(a, b) == 0.0


@given(
    valid_spans(), valid_spans(), st.sampled_from(["iou", "giou", "distance"]), st.none() | st.floats(1, 1e4)
)
def test_shaped_iou_in_unit_interval(a: Span, b: Span, mode: str, duration: float | None) -> None:
    assert 0.0 <= shape_iou(a, b, mode=mode, duration=duration) <= 1.0  # type: ignore[arg-type]


@given(st.lists(valid_spans(), max_size=7), st.lists(valid_spans(), min_size=1, max_size=7), st.randoms())
def test_matching_in_unit_interval_and_order_free(preds: list[Span], golds: list[Span], rnd: object) -> None:
    total, pairs = match_segments(preds, golds)
    assert 0.0 <= total <= 1.0
    shuffled = list(preds)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert math.isclose(match_segments(shuffled, golds)[0], total, abs_tol=1e-9)
    assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})


PIECES = [
    "<think>", "</think>", "<answer>", "</answer>", "<", ">", " ", "\n", "C", "A", "B", "a", "(", ")", "[", "]",
    "{", "}", ",", "-", "–", ".", ":", '"', "'", "to", "and", "between", "from", "or", "option", "The answer is",
    "1", "2", "12.5", "0:30", "1:02:03.5", "99999999999999999999", "s", "seconds", "min", '"start_time"',
    '"end_time"', '"answer"', "three", "é", "\x00", "Start Time: ", "End Time: ", "the start time is ",
    "ends at ", "approximately ", "N/A", "none of the above", "Final answer: ", "1e999", "٣", "😀", "-0", "{", "[",
    "Therefore, ", "occurs at ", " is correct", "\n\n",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join) | st.text(max_size=200)


@given(texts)
@settings(max_examples=300)
def test_parsers_never_raise(text: str) -> None:
    vr.parse_span(text)
    vr.find_spans(text)
    vr.parse_choice(text, ["A. a red cup", "B. a blue cup", "C. nothing"])
    vr.parse_choice(text)
    vr.parse_choice(text, ["three", "six", "two"], index_base=0)
    vr.parse_choice(text, index_base=1)
    vr.parse_number(text)
    vr.parse_time(text)
    vr.parse_grounded_answer(text)
    vr.parse_answer_block(text)
    assert split_response(text) == (vr.check_format(text), vr.parse_answer_block(text))


SPAN_PIECES = ["12", "3.5", "0:30", "1:75", " ", " ", "-", "−", "–", "to", "and", ",", "[", "(", "]", "between",
               "from", "s", "seconds", "min", "x", ".", '"start_time": ', '"end_time": ', "{", "}", '"']  # fmt: skip
span_texts = st.lists(st.sampled_from(SPAN_PIECES), min_size=1, max_size=12).map("".join)


@given(texts | span_texts)
@settings(max_examples=1000)
def test_fast_span_path_agrees_with_the_general_scanner(text: str) -> None:
    fast = plain_range(text)
    if fast is not None:
        general = read_span(tokenize(text))
        assert general is not None
        assert all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(general, fast, strict=True))


# Lists of ranges in the spellings multi-moment answers use, plus near misses (a bare "12, 18" is not a
# range; trailing words defer to the scanner).
LIST_NUMBERS = st.sampled_from(["2", "6", "12", "3.5", "-1"])
LIST_ITEM = st.tuples(
    st.sampled_from(
        ["{}-{}", "{} - {}", "{} to {}", "[{}, {}]", "({},{})", "{}, {}", "[{} - {}]", "{}s-{}s"]
    ),
    LIST_NUMBERS,
    LIST_NUMBERS,
).map(lambda t: t[0].format(t[1], t[2]))
list_texts = st.tuples(
    st.sampled_from(["", "[", " "]),
    st.lists(LIST_ITEM, min_size=1, max_size=5),
    st.sampled_from([", ", ",", "; ", " and ", " ", ""]),
    st.sampled_from(["", "]", ".", " x", " seconds"]),
).map(lambda t: t[0] + t[2].join(t[1]) + t[3])


@given(texts | span_texts | list_texts)
@settings(max_examples=1000)
def test_fast_span_list_path_agrees_with_the_general_scanner(text: str) -> None:
    fast = plain_range_list(text)
    if fast is not None:
        assert fast == [m.span for m in _iter_spans(tokenize(text), None)]


TRUTHS: list[dict[str, Any]] = [
    {"task": "mcq", "answer": "C", "options": ["A. red cup", "B. blue cup", "C. nothing", "D. a cup falls"]},
    {"task": "tvg", "segment": [10.0, 20.0], "duration": 30.0},
    {"task": "tvg", "segment": [0.5, 2.0]},
    {"task": "gqa", "answer": "B", "options": ["A. x", "B. y"], "segment": [4.0, 10.0], "duration": 24.0},
    {"task": "numeric", "answer": 12.5},
    {"task": "multi_tvg", "segments": [[1.0, 2.0], [12.0, 13.0]], "duration": 60.0},
]
configs = st.builds(
    vr.RewardConfig,
    iou_mode=st.sampled_from(["iou", "giou", "distance"]),
    iou_threshold=st.none() | st.floats(0.1, 1.0),
    require_format=st.booleans(),
    require_answer_tag=st.booleans(),
)


@given(st.lists(st.tuples(texts, st.sampled_from(range(len(TRUTHS)))), max_size=12), configs)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_score_in_range_and_batch_equals_single(rows: list[tuple[str, int]], cfg: vr.RewardConfig) -> None:
    responses = [r for r, _ in rows]
    truths = [TRUTHS[k] for _, k in rows]
    cols = vr.score_batch(responses, truths, config=cfg)
    for i, (resp, gt) in enumerate(zip(responses, truths, strict=True)):
        r = vr.score(resp, gt, config=cfg)
        total = cfg.weights_for(r.task).total
        assert math.isfinite(r.score) and 0.0 <= r.score <= total + 1e-12
        assert r.format in (0.0, 1.0)
        assert r.accuracy in (None, 0.0, 1.0)
        assert r.iou is None or 0.0 <= r.iou <= 1.0
        assert cols["score"][i] == r.score  # bit-identical
        assert cols["failure"][i] == r.failure and cols["prediction"][i] == r.prediction
        assert (r.iou is None and math.isnan(cols["iou"][i])) or cols["iou"][i] == r.iou
