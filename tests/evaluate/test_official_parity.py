"""``evaluate`` equals the official metric definitions, re-implemented here independently.

The reference below is written from the published evaluation code, not from this project's code:

* NExT-GQA ``code/TempGQA/eval_ground.py`` (``get_tIoU`` and ``eval_ground``): IoU = intersection / union,
  IoP = intersection / prediction length; a zero-length prediction has IoU 0 and IoP 1 when
  ``gold_start <= point <= gold_end``; per question the max IoU and the max IoP over the gold moments
  (starting from 0, so a negative overlap counts 0); ``>=`` thresholds; Acc@GQA counts a right answer
  whose max IoP is ``>= 0.5``.
* Charades-STA / ActivityNet (lmms-eval ``tasks/charades_sta/eval_tvg.py``, TimeZero ``evaluate.py``):
  ``iou = max(min(e, ep) - max(s, sp), 0) / (max(e, ep) - min(s, sp))``, ``R1@t`` counts ``iou >= t``,
  an unreadable answer scores 0 and stays in the denominator; nothing is clipped to the video.

Rows whose answer cannot be read (or whose span is reversed) are predictions of "nothing" here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import video_rewards as vr
from video_rewards.evaluate import Prediction, evaluate_predictions

OPTIONS = ["A. left", "B. right", "C. up"]


@dataclass(frozen=True)
class Case:
    """One synthetic prediction: ``span`` as written in the reply (``None``: unreadable text)."""

    task: str  # "tvg" or "gqa"
    span: tuple[float, float] | None
    golds: tuple[tuple[float, float], ...]
    duration: float
    answer: str = "A"  # the letter written (gqa); the truth is always "A"

    def response(self) -> str:
        if self.span is None:
            text = (
                "somewhere in the middle, I think" if self.task == "tvg" else f'{{"answer": "{self.answer}"}}'
            )
            return f"<think>t</think><answer>{text}</answer>"
        s, e = self.span
        if self.task == "tvg":
            return f"<think>t</think><answer>{s} to {e}</answer>"
        body = json.dumps({"answer": self.answer, "start_time": s, "end_time": e})
        return f"<think>t</think><answer>{body}</answer>"

    def truth(self) -> vr.GroundTruth:
        gt: dict[str, object] = {"task": self.task, "duration": self.duration}
        gt["segments"] = [list(g) for g in self.golds]
        if self.task == "gqa":
            gt |= {"answer": "A", "options": OPTIONS}
        return vr.parse_ground_truth(gt)


# ------------------------------------------------------------------------ the reference, by hand


def ref_iou_iop(pred: tuple[float, float], gold: tuple[float, float]) -> tuple[float, float]:
    ps, pe = pred
    gs, ge = gold
    if ps == pe:
        return 0.0, (1.0 if gs <= ps <= ge else 0.0)
    inter = min(pe, ge) - max(ps, gs)
    union = max(pe, ge) - min(ps, gs)
    iou = inter / union if union > 0 else 0.0
    iop = inter / (pe - ps) if pe > ps else 0.0
    return iou, iop


def ref_row(case: Case) -> tuple[float, float]:
    best_iou, best_iop = 0.0, 0.0
    if case.span is None:
        return best_iou, best_iop
    for gold in case.golds:
        iou, iop = ref_iou_iop(case.span, gold)
        if iou > best_iou:
            best_iou = iou
        if iop > best_iop:
            best_iop = iop
    return best_iou, best_iop


def reference_metrics(cases: list[Case]) -> dict[str, float]:
    n = len(cases)
    ious, iops, right = [], [], []
    for case in cases:
        iou, iop = ref_row(case)
        ious.append(iou)
        iops.append(iop)
        right.append(case.task == "gqa" and case.answer == "A")  # a reply without a span still answers "A"
    if cases[0].task == "tvg":
        out = {f"R1@{t}": 100 * sum(1 for v in ious if v >= t) / n for t in (0.3, 0.5, 0.7)}
        out["mIoU"] = 100 * sum(ious) / n
        return out
    return {
        "accuracy": 100 * sum(right) / n,
        "mIoU": 100 * sum(ious) / n,
        "mIoP": 100 * sum(iops) / n,
        "IoU@0.3": 100 * sum(1 for v in ious if v >= 0.3) / n,
        "IoU@0.5": 100 * sum(1 for v in ious if v >= 0.5) / n,
        "IoP@0.3": 100 * sum(1 for v in iops if v >= 0.3) / n,
        "IoP@0.5": 100 * sum(1 for v in iops if v >= 0.5) / n,
        "Acc@GQA": 100 * sum(1 for r, p in zip(right, iops, strict=True) if r and p >= 0.5) / n,
    }


def evaluated(cases: list[Case]) -> dict[str, float]:
    rows = [Prediction(i + 1, c.response(), c.truth(), "x") for i, c in enumerate(cases)]
    return evaluate_predictions(rows)["x"]


def assert_parity(cases: list[Case]) -> None:
    got = evaluated(cases)
    want = reference_metrics(cases)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=0.01), key
    assert got["count"] == len(cases)


# ------------------------------------------------------------------------------- every case, by name

G = ((0.0, 10.0),)
TVG_CASES = {
    "exact": Case("tvg", (0.0, 10.0), G, 30),
    "tie at 0.3": Case("tvg", (0.0, 3.0), G, 30),  # 3/10 == 0.3 exactly
    "tie at 0.5": Case("tvg", (0.0, 5.0), G, 30),
    "tie at 0.7": Case("tvg", (0.0, 7.0), G, 30),
    "float noise below 0.3": Case("tvg", (1.1, 4.1), G, 30),  # (4.1 - 1.1) / 10 = 0.29999999999999993
    "float noise above 0.3": Case("tvg", (1.4, 4.4), G, 30),  # (4.4 - 1.4) / 10 = 0.30000000000000004
    "past the video end": Case("tvg", (25.0, 40.0), ((20.0, 31.0),), 30),  # gold ends past it too
    "disjoint": Case("tvg", (12.0, 14.0), G, 30),
    "point inside": Case("tvg", (5.0, 5.0), G, 30),
    "reversed": Case("tvg", (8.0, 4.0), G, 30),
    "unparsable": Case("tvg", None, G, 30),
    "several gold moments": Case("tvg", (21.0, 25.0), ((1.0, 3.0), (20.0, 24.0), (30.0, 40.0)), 45),
}
M = ((4.0, 8.0), (12.0, 16.0))
GQA_CASES = {
    "first moment": Case("gqa", (4.0, 8.0), M, 20),
    "second moment, wrong answer": Case("gqa", (12.0, 16.0), M, 20, answer="B"),
    "IoP tie at 0.5": Case("gqa", (6.0, 10.0), M, 20),  # 2/4 inside [4, 8]
    "IoP 0.5 from the other moment": Case("gqa", (14.0, 18.0), M, 20),
    "point inside": Case("gqa", (5.0, 5.0), M, 20),
    "point on the start bound": Case("gqa", (12.0, 12.0), M, 20),
    "point on the end bound": Case("gqa", (8.0, 8.0), M, 20),
    "point between the moments": Case("gqa", (10.0, 10.0), M, 20),
    "spanning both moments": Case("gqa", (4.0, 16.0), M, 20),  # IoU 4/12 with each, IoP 1/3
    "past the video end": Case("gqa", (15.0, 30.0), ((14.0, 22.0),), 20),
    "reversed": Case("gqa", (8.0, 4.0), M, 20),
    "no span": Case("gqa", None, M, 20),
}


@pytest.mark.parametrize("name", list(TVG_CASES))
def test_each_grounding_case(name: str) -> None:
    assert_parity([TVG_CASES[name]])


@pytest.mark.parametrize("name", list(GQA_CASES))
def test_each_gqa_case(name: str) -> None:
    assert_parity([GQA_CASES[name]])


def test_all_cases_together() -> None:
    assert_parity(list(TVG_CASES.values()))
    assert_parity(list(GQA_CASES.values()))


def test_the_cases_mean_what_their_names_say() -> None:
    """The reference itself, on values a person computes: guards the reference against slips."""
    assert ref_row(TVG_CASES["tie at 0.7"]) == (0.7, 1.0)
    assert (
        ref_row(TVG_CASES["float noise below 0.3"])[0] < 0.3 < ref_row(TVG_CASES["float noise above 0.3"])[0]
    )
    assert ref_row(TVG_CASES["past the video end"])[0] == pytest.approx(6 / 20)  # raw [25, 40] ∩ [20, 31]
    assert ref_row(TVG_CASES["several gold moments"])[0] == pytest.approx(3 / 5)
    assert ref_row(GQA_CASES["point on the end bound"]) == (0.0, 1.0)
    assert ref_row(GQA_CASES["point between the moments"]) == (0.0, 0.0)
    assert ref_row(GQA_CASES["spanning both moments"]) == pytest.approx((1 / 3, 1 / 3))
    assert ref_row(GQA_CASES["reversed"]) == (0.0, 0.0)


def test_unparsed_rows_stay_in_the_denominator() -> None:
    cases = [TVG_CASES["exact"], TVG_CASES["unparsable"], TVG_CASES["reversed"]]
    got = evaluated(cases)
    assert (got["count"], got["unparsed"]) == (3, 2)
    assert got["mIoU"] == pytest.approx(100 / 3)


# ------------------------------------------------------------------------------ random predictions

_t = st.integers(0, 400).map(lambda k: k / 10)  # one decimal, as models write them


@st.composite
def cases(draw: st.DrawFn, task: str) -> Case:
    duration = draw(st.sampled_from([15.0, 30.0, 45.0]))
    golds = []
    for _ in range(draw(st.integers(1, 3))):
        s = draw(st.integers(0, int(duration * 10) - 1)) / 10
        golds.append((s, s + draw(st.integers(1, 150)) / 10))  # may end past the video
    kind = draw(st.sampled_from(["span", "span", "span", "point", "reversed", "none"]))
    span: tuple[float, float] | None = None
    if kind == "span":
        s = draw(_t)
        span = (s, s + draw(st.integers(1, 200)) / 10)
    elif kind == "point":
        span = (p := draw(st.sampled_from([draw(_t), golds[0][0], golds[0][1]])), p)
    elif kind == "reversed":
        s = draw(_t)
        span = (s + draw(st.integers(1, 50)) / 10, s)
    answer = draw(st.sampled_from("AB"))
    return Case(task, span, tuple(golds), duration, answer)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(cases("tvg"), min_size=1, max_size=30))
def test_random_grounding_predictions(rows: list[Case]) -> None:
    assert_parity(rows)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(cases("gqa"), min_size=1, max_size=30))
def test_random_gqa_predictions(rows: list[Case]) -> None:
    assert_parity(rows)
