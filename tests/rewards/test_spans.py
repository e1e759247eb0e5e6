"""Span parsing and the temporal-grounding (tvg) reward: every spelling of the issue, R1 and Qwen styles."""

from __future__ import annotations

import math

import pytest

from video_rewards import Span, compute_score, find_spans, parse_span, parse_time, score
from video_rewards.parsing import _fast_span, _iter_spans, tokenize

SPAN_CASES = [
    ('{"start_time": 12.5, "end_time": 18}', (12.5, 18.0)),
    ('{"start_time": "12.5", "end_time": "18"}', (12.5, 18.0)),
    ('{"end_time": 18, "start_time": 12.5}', None),  # end before start key: no start→end pair
    ("{'start_time': '00:12', 'end_time': '18s'}", (12.0, 18.0)),
    ('{"start_time": 12.5, "end_time": 18.0}', (12.5, 18.0)),
    ("[12, 18]", (12.0, 18.0)),
    ("[12.5,18.25]", (12.5, 18.25)),
    ("(12, 18)", (12.0, 18.0)),
    ("12 - 18", (12.0, 18.0)),
    ("12-18", (12.0, 18.0)),
    ("12 – 18", (12.0, 18.0)),
    ("12—18", (12.0, 18.0)),
    ("12 to 18", (12.0, 18.0)),
    ("from 12 to 18 seconds", (12.0, 18.0)),
    ("From 12.0s to 18.0s.", (12.0, 18.0)),
    ("between 12 and 18", (12.0, 18.0)),
    ("The event happens between 12.5 and 18.3 seconds.", (12.5, 18.3)),
    ("12s - 18s", (12.0, 18.0)),
    ("12 sec to 18 sec", (12.0, 18.0)),
    ("00:12 - 00:18", (12.0, 18.0)),
    ("1:05 to 1:20", (65.0, 80.0)),
    ("0:01:05.5 - 0:01:20", (65.5, 80.0)),
    ("from 1 to 2 minutes", (60.0, 120.0)),
    ("1 min - 90 s", (60.0, 90.0)),
    ("The moment starts at 3 s. It spans 4 to 9.", (4.0, 9.0)),
    ("[30, 20]", (30.0, 20.0)),  # reversed: parsed as written, rejected when scored
    ("-3 to 5", (-3.0, 5.0)),
    ("12 and 18", None),  # "and" needs "between"
    ("12, 18", None),  # a comma needs a bracket
    ("at the end", None),
    ("12s", None),  # one time is not a span
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), SPAN_CASES, ids=[c[0] or "empty" for c in SPAN_CASES])
def test_parse_span(text: str, expected: tuple[float, float] | None) -> None:
    got = parse_span(text)
    assert (None if got is None else tuple(got)) == expected
    general = _iter_spans(tokenize(text), 1)
    assert (general[0].span if general else None) == got, "fast path and general scanner disagree"


def test_first_span_counts() -> None:
    assert parse_span("[3, 5] or maybe [10, 12]") == Span(3.0, 5.0)
    assert find_spans("[3, 5] or maybe [10, 12]") == [Span(3.0, 5.0), Span(10.0, 12.0)]


def test_times() -> None:
    assert parse_time("1:02:03.5") == 3723.5
    assert parse_time("12.5 seconds") == 12.5
    assert parse_time("90") == 90.0
    assert math.isnan(parse_time("1:75") or 0.0)
    assert parse_time("no time") is None


def test_fast_path_declines_what_it_cannot_prove() -> None:
    for text in ["-3 to 5", "12 and 18", "12, 18", "1:234 to 5", "12 to 18 minutes", "x - 3 to 5"]:
        fast = _fast_span(text)
        general = _iter_spans(tokenize(text), 1)
        assert fast is None or (general and fast == general[0].span), text


GT = {"task": "tvg", "segment": [10.0, 20.0], "duration": 30.0}

TVG_CASES = [
    # (model output, expected iou, expected failure) — R1-style and Qwen2.5-VL-style outputs
    (
        '<think>\nThe person opens the door at 10s.\n</think>\n<answer>{"start_time": 10, "end_time": 20}</answer>',
        1.0,
        None,
    ),
    ("<think>It begins at 0:10.</think><answer>00:10 - 00:15</answer>", 0.5, None),
    ("<think>...</think><answer>The person opens the door from 15 to 25 seconds.</answer>", 1 / 3, None),
    ("<think>...</think><answer>[25.0, 14.0]</answer>", 0.0, "reversed_span"),
    ("<think>...</think><answer>[14, 14]</answer>", 0.0, "zero_length_span"),
    ("<think>...</think><answer>between 40 and 55 seconds</answer>", 0.0, "span_outside_video"),
    ("<think>...</think><answer>30 - 40</answer>", 0.0, "span_outside_video"),
    ("<think>...</think><answer>-5 to 0</answer>", 0.0, "span_outside_video"),
    ("<think>...</think><answer>-5 to 15</answer>", 0.25, None),  # clipped to [0, 15]
    ("<think>...</think><answer>15 to 45</answer>", 0.25, None),  # clipped to [15, 30]
    ("<think>...</think><answer>" + "9" * 40 + " to 12</answer>", 0.0, "non_finite_span"),
    ("<think>...</think><answer>near the end</answer>", 0.0, "no_span"),
    ("<think>...</think>", 0.0, "no_answer_tag"),
]


@pytest.mark.parametrize(("response", "iou", "failure"), TVG_CASES)
def test_tvg_reward(response: str, iou: float, failure: str | None) -> None:
    r = score(response, GT)
    assert r.iou == pytest.approx(iou)
    assert r.failure == failure
    assert r.accuracy is None
    assert r.score == pytest.approx(0.5 * r.format + 0.5 * iou)


def test_tvg_default_is_half_iou_half_format() -> None:
    out = compute_score("charades_sta", "<think>x</think><answer>[10, 15]</answer>", GT)
    assert out == {"score": 0.75, "format": 1.0, "iou": 0.5}


def test_iou_threshold_turns_iou_into_a_hit() -> None:
    resp = "<think>x</think><answer>[10, 15]</answer>"
    assert compute_score(None, resp, GT, iou_threshold=0.5)["score"] == 1.0
    assert compute_score(None, resp, GT, iou_threshold=0.7)["score"] == 0.5
    assert compute_score(None, resp, GT, iou_threshold=0.7)["iou"] == 0.5  # the metric stays raw


@pytest.mark.parametrize(("mode", "expected"), [("iou", 0.0), ("giou", 0.375), ("distance", 0.0)])
def test_iou_shaping_modes_on_a_disjoint_prediction(mode: str, expected: float) -> None:
    # [0, 5] vs [10, 20]: IoU 0; hull 20, union 15 → GIoU = −0.25 → (1 + GIoU) / 2 = 0.375
    out = compute_score(None, "<think>x</think><answer>[0, 5]</answer>", GT, iou_mode=mode)
    assert out["score"] == pytest.approx(0.5 + 0.5 * expected)
    assert out["iou"] == 0.0


def test_distance_mode_never_negative_and_below_iou() -> None:
    for resp in ["[12, 18]", "[0, 30]", "[9, 21]"]:
        plain = score(f"<think></think><answer>{resp}</answer>", GT).score
        shaped = compute_score(None, f"<think></think><answer>{resp}</answer>", GT, iou_mode="distance")[
            "score"
        ]
        assert 0.5 <= shaped <= plain


def test_duration_from_extra_info() -> None:
    gt = {"task": "tvg", "segment": [10.0, 20.0]}
    resp = "<think></think><answer>15 to 45</answer>"
    assert compute_score(None, resp, gt)["iou"] == pytest.approx(5 / 35)  # no duration: no upper clip
    assert compute_score(None, resp, gt, extra_info={"duration": 30.0})["iou"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"extra_info\.duration"):
        compute_score(None, resp, gt, extra_info={"duration": "long"})
