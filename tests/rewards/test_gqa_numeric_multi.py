"""Grounded QA (gqa), numeric answers and multi-segment grounding (multi_tvg)."""

from __future__ import annotations

import numpy as np
import pytest

from video_rewards import (
    RewardConfig,
    Span,
    compute_score,
    match_segments,
    parse_grounded_answer,
    parse_number,
    score,
    score_batch,
)

OPTIONS = [
    "A. Because the dog barks",
    "B. To answer the phone",
    "C. The kettle boils",
    "D. To greet a visitor",
]
GQA = {"task": "gqa", "answer": "B", "options": OPTIONS, "segment": [4.0, 10.0], "duration": 24.0}

GQA_CASES = [
    # (answer block, accuracy, iou, failure)
    ('{"answer": "B", "start_time": 4, "end_time": 10}', 1.0, 1.0, None),
    ('{"answer": "(B)", "start_time": "0:04", "end_time": "0:07"}', 1.0, 0.5, None),
    ('{"answer": "C", "start_time": 4, "end_time": 10}', 0.0, 1.0, None),  # scored independently
    ('{"answer": "To answer the phone", "start_time": "4s", "end_time": "10 seconds"}', 1.0, 1.0, None),
    ("{'answer': 'B', 'start_time': 4, 'end_time': 7}", 1.0, 0.5, None),  # Python-style quotes
    ('```json\n{"answer": "B", "start_time": 4, "end_time": 10}\n```', 1.0, 1.0, None),
    ('{"answer": "B"}', 1.0, 0.0, "no_span"),
    ('{"answer": "B", "time": [4, 10]}', 1.0, 1.0, None),
    ('{"start_time": 4, "end_time": 10}', 0.0, 1.0, "no_answer_field"),
    ('{"answer": "B", "start_time": 10, "end_time": 4}', 1.0, 0.0, "reversed_span"),
    ('{"answer": "B or C", "start_time": 4, "end_time": 10}', 0.0, 1.0, "ambiguous_choice"),
    ("B, from 4 to 10 seconds", 1.0, 1.0, None),  # free text
]


@pytest.mark.parametrize(("answer", "accuracy", "iou", "failure"), GQA_CASES)
def test_gqa(answer: str, accuracy: float, iou: float, failure: str | None) -> None:
    r = score(f"<think>\nThe phone rings at 4 s.\n</think>\n<answer>{answer}</answer>", GQA)
    assert (r.accuracy, r.failure) == (accuracy, failure)
    assert r.iou == pytest.approx(iou)
    assert r.score == pytest.approx((1.0 + accuracy + iou) / 3)


def test_gqa_parse() -> None:
    assert parse_grounded_answer('{"answer": "B", "start_time": 1, "end_time": 2}') == ("B", Span(1.0, 2.0))


NUMERIC_CASES = [
    ("3", 1.0), ("3.0", 1.0), ("There are 3 people.", 1.0), ("three", 1.0), ("Three people.", 1.0),
    ("4", 0.0), ("-3", 0.0), ("3,000", 0.0), ("about 2.9999999", 1.0), ("several", 0.0),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "accuracy"), NUMERIC_CASES)
def test_numeric(answer: str, accuracy: float) -> None:
    r = score(f"<think></think><answer>{answer}</answer>", {"task": "numeric", "answer": 3})
    assert r.accuracy == accuracy
    assert r.failure == ("no_number" if answer == "several" else None)


def test_numeric_tolerances() -> None:
    resp = "<think></think><answer>10.4</answer>"
    assert score(resp, {"task": "numeric", "answer": 10}).accuracy == 0.0
    assert score(resp, {"task": "numeric", "answer": 10, "abs_tol": 0.5}).accuracy == 1.0
    assert score(resp, {"task": "numeric", "answer": 10, "rel_tol": 0.05}).accuracy == 1.0
    assert (
        compute_score(None, resp, {"task": "numeric", "answer": 10}, numeric_rel_tol=0.05)["accuracy"] == 1.0
    )


def test_parse_number() -> None:
    assert parse_number("1,234,567.5 frames") == 1234567.5
    assert parse_number("12,34") == 12.0  # a thousands group has exactly three digits
    assert parse_number("12, 345") == 12.0  # and no space
    assert parse_number("-2.5") == -2.5
    assert parse_number("none") is None


MULTI = {"task": "multi_tvg", "segments": [[2.0, 6.0], [14.0, 18.0]], "duration": 30.0}

MULTI_CASES = [
    ("2 - 6, 14 - 18", 1.0, None),
    ("[[14, 18], [2, 6]]", 1.0, None),  # order does not matter: optimal matching
    ("[2, 6]", 0.5, None),  # one of two found
    ("2-6, 14-18, 22-26, 27-29", 0.5, None),  # two extra predictions
    ("2 - 6, 18 - 14", 0.5, "reversed_span"),  # an invalid prediction counts but matches nothing
    ("at the start", 0.0, "no_span"),
    ("[4, 8]", 1 / 3 / 2, None),  # IoU 1/3 with [2, 6], one of two
]


@pytest.mark.parametrize(("answer", "iou", "failure"), MULTI_CASES)
def test_multi_tvg(answer: str, iou: float, failure: str | None) -> None:
    r = score(f"<think></think><answer>{answer}</answer>", MULTI)
    assert r.iou == pytest.approx(iou)
    assert r.failure == failure


def test_matching_is_optimal_not_greedy() -> None:
    # Greedy on the first prediction would take its best gold (IoU .6) and leave the second with 0.
    preds = [Span(0, 10), Span(8, 12)]
    golds = [Span(4, 10), Span(0, 6)]
    total, pairs = match_segments(preds, golds)
    assert pairs == [(0, 1), (1, 0)]
    assert total == pytest.approx((0.6 + 2 / 8) / 2)


def test_matching_large_uses_hungarian() -> None:
    preds = [Span(float(k), k + 0.9) for k in range(12)]
    golds = list(reversed(preds))
    total, pairs = match_segments(preds, golds)
    assert total == pytest.approx(1.0)
    assert len(pairs) == 12


# ---------------------------------------------------- several gold moments for tvg / gqa (max IoU)

GOLD_MOMENTS = [[2.0, 6.0], [14.0, 18.0]]
TVG_MOMENTS = {"task": "tvg", "segments": GOLD_MOMENTS, "duration": 30.0}
GQA_MOMENTS = {"task": "gqa", "answer": "B", "options": OPTIONS, "segments": GOLD_MOMENTS, "duration": 30.0}

MOMENT_CASES = [
    # (span written, reward config, iou, iou_reward), values worked out by hand
    ("2 to 6", {}, 1.0, 1.0),
    ("14 to 18", {}, 1.0, 1.0),  # the second moment counts as much as the first
    ("15 to 19", {}, 3 / 5, 3 / 5),  # [14, 18]: 3 of 5
    ("4 to 16", {}, 1 / 7, 1 / 7),  # 2 of 14 with either moment: never their sum
    ("20 to 25", {}, 0.0, 0.0),
    ("15 to 19", {"iou_threshold": 0.5}, 3 / 5, 1.0),
    ("4 to 16", {"iou_threshold": 0.5}, 1 / 7, 0.0),
    # giou: (1 + IoU - (hull - union) / hull) / 2, the max over moments: [2, 6] (hull 8, union 6) gives
    # 0.375, [14, 18] (hull 10, union 6) gives 0.3.
    ("8 to 10", {"iou_mode": "giou"}, 0.0, 0.375),
]


@pytest.mark.parametrize(("span", "kwargs", "iou", "iou_reward"), MOMENT_CASES)
def test_several_gold_moments_score_the_closest(
    span: str, kwargs: dict[str, object], iou: float, iou_reward: float
) -> None:
    config = RewardConfig.from_kwargs(**kwargs)
    tvg = score(f"<think>t</think><answer>{span}</answer>", TVG_MOMENTS, config=config)
    assert tvg.iou == pytest.approx(iou)
    w = config.weights_for("tvg")
    assert tvg.score == pytest.approx(w.format + w.iou * iou_reward)
    s, e = span.split(" to ")
    reply = f'<think>t</think><answer>{{"answer": "B", "start_time": {s}, "end_time": {e}}}</answer>'
    gqa = score(reply, GQA_MOMENTS, config=config)
    assert (gqa.accuracy, gqa.iou) == (1.0, pytest.approx(iou))


def test_gold_moments_past_the_video_end_are_clipped_for_the_reward() -> None:
    truth = {"task": "tvg", "segments": [[2.0, 6.0], [25.0, 34.0]], "duration": 30.0}
    # The prediction [26, 40] and the moment [25, 34] are both clipped to 30 s: 4 of 5.
    assert score("<answer>26 to 40</answer>", truth).iou == pytest.approx(0.8)


def test_batch_equals_single_with_several_gold_moments() -> None:
    spans = [case[0] for case in MOMENT_CASES] + ["7 to 7", "6 to 2", "none", "26 to 40", "-5 to 3"]
    replies = [f"<think>t</think><answer>{s}</answer>" for s in spans]
    gqa_replies = [
        f'<think>t</think><answer>{{"answer": "{a}", "start_time": {s[0]}, "end_time": {s[-1]}}}</answer>'
        for s, a in zip((sp.split(" to ") for sp in spans), "ABCD" * 4, strict=False)
    ]
    truths: list[dict[str, object]] = [
        TVG_MOMENTS,
        {"task": "tvg", "segment": [2.0, 6.0], "duration": 30.0},
        {"task": "tvg", "segments": [[2.0, 6.0], [25.0, 34.0]], "duration": 30.0},
        GQA_MOMENTS,
    ]
    for kwargs in ({}, {"iou_mode": "giou"}, {"iou_mode": "distance"}, {"iou_threshold": 0.5}):
        config = RewardConfig.from_kwargs(**kwargs)
        responses, gts = [], []
        for truth in truths:
            batch_replies = gqa_replies if truth["task"] == "gqa" else replies
            responses += batch_replies
            gts += [truth] * len(batch_replies)
        columns = score_batch(responses, gts, config=config)
        for i, (response, gt) in enumerate(zip(responses, gts, strict=True)):
            single = score(response, gt, config=config)
            assert columns["score"][i] == single.score, (kwargs, response, gt)
            assert columns["iou"][i] == single.iou, (kwargs, response, gt)
            assert columns["failure"][i] == single.failure
            assert columns["prediction"][i] == single.prediction


def test_verl_struct_with_several_gold_moments() -> None:
    # A parquet struct column: "segment" is None on multi-moment rows, "segments" a (nested) array.
    nested = np.empty(2, dtype=object)
    nested[:] = [np.array([2.0, 6.0]), np.array([14.0, 18.0])]
    for segments in (nested, np.array(GOLD_MOMENTS)):
        gt = {
            **GQA_MOMENTS,
            "options": np.array(OPTIONS, dtype=object),
            "segment": None,
            "segments": segments,
            "duration": np.float64(30.0),
        }
        reply = '<think>t</think><answer>{"answer": "B", "start_time": 15, "end_time": 19}</answer>'
        assert score(reply, gt).iou == pytest.approx(0.6)
        assert score_batch([reply], [gt])["iou"][0] == pytest.approx(0.6)
