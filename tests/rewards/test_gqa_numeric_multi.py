"""Grounded QA (gqa), numeric answers and multi-segment grounding (multi_tvg)."""

from __future__ import annotations

import pytest

from video_rewards import Span, compute_score, match_segments, parse_grounded_answer, parse_number, score

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
