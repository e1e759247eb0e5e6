"""Span parsing and the temporal-grounding (tvg) reward: every spelling of the issue, R1 and Qwen styles."""

from __future__ import annotations

import math

import pytest

import video_rewards as vr
from video_rewards import Span, compute_score, find_spans, parse_span, parse_time, score
from video_rewards.span_shortcuts import plain_range
from video_rewards.spans import read_span
from video_rewards.tokens import tokenize

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
    assert read_span(tokenize(text)) == got, "fast path and general reader disagree"


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
        fast = plain_range(text)
        assert fast is None or fast == read_span(tokenize(text)), text


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
    ("<think>...</think><answer>[14, 14]</answer>", 0.0, None),  # a point: read, IoU 0
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


# Every plain-text spelling the reward reads (README "Spellings" table), with the precedence and window
# rules: a labelled start/end pair wins over any other span (the last pair when a reply revises itself),
# else the last span after an answer cue, else the first span; windows read as the outer span.
READER_CASES = [
    ("Start Time: 00:00:05\nEnd Time: 00:00:09", (5.0, 9.0)),
    ("Start time: 6.0s\nEnd time: 7.0s\n\nReasoning: at 1.0s to 2.0s nothing happens", (6.0, 7.0)),
    ("Start: 00:00:00\nEnd: 00:00:03", (0.0, 3.0)),
    ("start_time: 14.026146, end_time: 17.75", (14.026146, 17.75)),
    ('{\n"start_time": 0.0s,\n"end_time": 6.0s\n}', (0.0, 6.0)),
    ('{"start": "00:00:02", "end": "00:00:04"}', (2.0, 4.0)),
    ("The start time of the query is 00:00:00 and the end time is 00:00:05.", (0.0, 5.0)),
    (
        "the start time of the query is approximately 0:09 and the end time is approximately 0:13.",
        (9.0, 13.0),
    ),
    ("the start time is around 12 seconds and the end time is around 15 seconds", (12.0, 15.0)),
    ('the start time of the query "2 men fell" is at 0:01 and the end time is at 0:04.', (1.0, 4.0)),
    ("The start time of the query from the video is 0:00 and the end time is 0:06.", (0.0, 6.0)),
    ("The funny moment in the video is at the start time of 00:00:00 and ends at 00:00:07.", (0.0, 7.0)),
    ("The funny moment starts at 1:04 and ends at 1:10.", (64.0, 70.0)),
    ("It begins at 3.5 s and finishes at 7 s.", (3.5, 7.0)),
    ("The action begins at around 0:12, then the man finishes at 0:20.", (12.0, 20.0)),
    ("The boy starts flapping his arms at 0:00 and continues until 0:05.", (0.0, 5.0)),
    (
        "the funny moment occurs at the 0:25 mark, when he dances. The end time of the query is 0:35.",
        (25.0, 35.0),
    ),
    ("the funny moment occurs at around 00:08 - 00:10. The video ends at around 00:15.", (8.0, 10.0)),
    ("the timestamps are provided as 0:00 and 0:03.", (0.0, 3.0)),
    # windows: the outer reading, never the first window alone
    ("the start time is 0–3 s, the end time is 5–8 s", (0.0, 8.0)),
    (
        "the start time is approximately 0:00 - 0:05 and the end time is approximately 0:06 - 0:10.",
        (0.0, 10.0),
    ),
    ("Start time: 0.0s - 2.0s\nEnd time: 3.0s", (0.0, 3.0)),
    # a span quoted from the reasoning never wins over a labelled answer
    (
        "Between 1 and 2 s the man walks. From 3 to 4 he sits.\nStart Time: 00:00:10\nEnd Time: 00:00:15",
        (10.0, 15.0),
    ),
    (
        "the start time is approximately 0:00 - 0:05 and the end time is 0:10 - 0:15.\nAt 0:05, a car merges."
        "\nTherefore, the query start time is approximately 0:05 and end time is approximately 0:10.",
        (5.0, 10.0),
    ),
    # the final-answer statement, when nothing is labelled
    ("Maybe 1 to 2. Hmm, 3 to 4? The answer is 12 - 18.", (12.0, 18.0)),
    ("At 2 - 3 s he walks. Answer: [12, 18]", (12.0, 18.0)),
    # a point is read (its IoU is 0), and so is a reversed span (rejected when scored)
    ("Start Time: 00:00:00\nEnd Time: 00:00:00", (0.0, 0.0)),
    ("The start time is 9 and the end time is 4.", (9.0, 4.0)),
    # not labelled pairs
    ("The start and end times of the query are in JSON format.", None),
    ("The video starts with a man spinning in a chair.", None),
    ("The funny moment in the video occurs at 1:12 when the cow runs.", None),  # one time
]


@pytest.mark.parametrize(("text", "expected"), READER_CASES, ids=[c[0][:50] for c in READER_CASES])
def test_reader_spellings_and_precedence(text: str, expected: tuple[float, float] | None) -> None:
    got = parse_span(text)
    assert (None if got is None else tuple(got)) == pytest.approx(expected)
    # In lenient mode the same reader reads the whole untagged reply (after its </think>, if any).
    gt = {"task": "tvg", "segment": [0.0, 100.0]}
    lenient = score(
        f"<think>Between 40 and 50 s.</think> {text}", gt, config=vr.RewardConfig(require_answer_tag=False)
    )
    tagged = score(f"<think>Between 40 and 50 s.</think><answer>{text}</answer>", gt)
    assert lenient.prediction == tagged.prediction


@pytest.mark.parametrize(
    ("text", "failure"),
    [
        ('{"start_time": "1e999", "end_time": 5}', "non_finite_span"),
        ("1e999 to 5", "non_finite_span"),
        ("9" * 4000 + " to 5", "non_finite_span"),
        ("Start Time: 00:00:00\nEnd Time: 00:00:00", None),  # a point: read, prediction recorded
        ("-0 to 5", None),
    ],
)
def test_numbers_that_do_not_fit_are_failures_not_exceptions(text: str, failure: str | None) -> None:
    r = score(f"<answer>{text}</answer>", {"task": "tvg", "segment": [1.0, 5.0]})
    assert r.failure == failure
    assert math.isfinite(r.score) and r.iou is not None and math.isfinite(r.iou)
    if failure is None:
        assert r.prediction is not None and not r.prediction.startswith("[-")
