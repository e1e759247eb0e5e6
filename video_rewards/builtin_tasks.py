"""The built-in tasks, registered on import: ``mcq``, ``tvg``, ``gqa``, ``numeric``, ``multi_tvg``.

Each scorer composes a parser (:mod:`video_rewards.parsing`) with a metric (:mod:`video_rewards.geometry`);
tvg and gqa also have vectorised batch scorers that give the same values item by item.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from video_rewards.geometry import Span, best_assignment, shape_iou, temporal_iou
from video_rewards.parsing import (
    _choice,
    find_spans,
    parse_grounded_answer,
    parse_number,
    parse_span,
    span_failure,
)
from video_rewards.tasks import BatchOutcome, TaskOutcome, _objects, register_task
from video_rewards.truth import (
    ChoiceTruth,
    GroundedQATruth,
    GroundingTruth,
    MultiGroundingTruth,
    NumericTruth,
)
from video_rewards.truth_parsing import _parse_json_truth
from video_rewards.weights import TaskWeights

if TYPE_CHECKING:
    from video_rewards.config import RewardConfig

__all__ = ["clear_caches"]

# Parsed answers repeat a lot within GRPO groups; parsers are pure, so results are cached by value.
_choice_cached = lru_cache(maxsize=32_768)(_choice)
_first_span_cached = lru_cache(maxsize=32_768)(parse_span)
_grounded_cached = lru_cache(maxsize=32_768)(parse_grounded_answer)
_number_cached = lru_cache(maxsize=32_768)(parse_number)


def clear_caches() -> None:
    """Empty the parse caches (benchmarks measuring cold parsing; tests)."""
    for cached in (_choice_cached, _first_span_cached, _grounded_cached, _number_cached, _parse_json_truth):
        cached.cache_clear()


def _iou_of_valid(pred: Span, gold: Span) -> float:
    """:func:`temporal_iou` for spans already known to be valid (the same operations, no checks)."""
    inter = min(pred[1], gold[1]) - max(pred[0], gold[0])
    if inter <= 0.0:
        return 0.0
    return min(1.0, inter / (max(pred[1], gold[1]) - min(pred[0], gold[0])))


def _fmt_span(span: tuple[float, float]) -> str:
    return "[%g, %g]" % span  # noqa: UP031  (faster than an f-string in the batch path)


def _iou_components(
    span: Span | None, golds: Sequence[Span], duration: float | None, cfg: RewardConfig
) -> tuple[float, float, Span | None, str | None]:
    """``(iou, iou_reward, clipped_prediction, failure)`` for one predicted span against the gold
    moments (already clipped to the video): the max IoU and the max shaped IoU over the moments."""
    failure = span_failure(span, duration)
    if failure == "zero_length_span" and span is not None:
        return 0.0, 0.0, span.clip(duration), None  # a point: read and recorded, but it covers no time
    if failure is not None or span is None:
        return 0.0, 0.0, None, failure
    pred = span.clip(duration)
    iou = reward = 0.0
    for gold in golds:
        iou = max(iou, temporal_iou(pred, gold))
        if cfg.iou_threshold is None:
            reward = max(reward, shape_iou(pred, gold, mode=cfg.iou_mode, duration=duration))
    if cfg.iou_threshold is not None:
        reward = 1.0 if iou >= cfg.iou_threshold else 0.0
    return iou, reward, pred, None


# Code 4, a zero-length span, is a point: read (no failure), IoU 0 (see _iou_components).
_SPAN_FAILURES = np.array(
    [None, "no_span", "non_finite_span", "reversed_span", None, "span_outside_video"],
    dtype=object,
)


def _span_columns(
    spans: Sequence[Span | None], truths: Sequence[Any], cfg: RewardConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str | None], list[str | None]]:
    """Vectorised :func:`_iou_components` over many predicted spans (``truths`` have ``reward_segments``
    and ``duration``): ``(iou, iou_reward, failure, prediction)``. Same operations, same order, same floats.

    A truth with several gold moments repeats its prediction once per moment; the row keeps the max.
    """
    n = len(spans)
    no_span = (math.nan, math.nan)
    golds = [t.reward_segments for t in truths]
    counts = np.fromiter(map(len, golds), dtype=np.intp, count=n)
    m = int(counts.sum())
    missing = np.fromiter((sp is None for sp in spans), dtype=bool, count=n)
    # fromiter over flattened pairs: ~4x faster than np.array on a list of tuples.
    pred = np.fromiter(
        chain.from_iterable([no_span if sp is None else sp for sp in spans]), dtype=np.float64, count=2 * n
    ).reshape(n, 2)
    gold = np.fromiter(chain.from_iterable(chain.from_iterable(golds)), dtype=np.float64, count=2 * m)
    gold = gold.reshape(m, 2)
    dur = np.fromiter(
        (math.inf if t.duration is None else t.duration for t in truths), dtype=np.float64, count=n
    )
    if m == n:  # one gold moment per row (the usual case)
        return _span_arrays(pred[:, 0], pred[:, 1], missing, gold[:, 0], gold[:, 1], dur, cfg)
    rows = np.repeat(np.arange(n), counts)
    iou, reward, failure, prediction = _span_arrays(
        pred[rows, 0], pred[rows, 1], missing[rows], gold[:, 0], gold[:, 1], dur[rows], cfg
    )
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return (
        np.maximum.reduceat(iou, first),
        np.maximum.reduceat(reward, first),
        [failure[i] for i in first.tolist()],
        [prediction[i] for i in first.tolist()],
    )


def _span_arrays(
    ps: npt.NDArray[np.float64],
    pe: npt.NDArray[np.float64],
    missing: npt.NDArray[np.bool_],
    gs: npt.NDArray[np.float64],
    ge: npt.NDArray[np.float64],
    dur: npt.NDArray[np.float64],
    cfg: RewardConfig,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str | None], list[str | None]]:
    """:func:`_span_columns` on arrays: predicted ``ps``/``pe`` (ignored where ``missing``), gold
    ``gs``/``ge`` and durations (``inf`` when unknown)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        finite = np.isfinite(ps) & np.isfinite(pe)
        reversed_ = finite & (ps > pe)
        zero = finite & (ps == pe)
        outside = finite & (ps < pe) & ((pe <= 0.0) | (ps >= dur))
        code = np.select([missing, ~finite, reversed_, zero, outside], [1, 2, 3, 4, 5], 0)
        ok = code == 0
        cs = np.minimum(np.maximum(ps, 0.0), dur)
        ce = np.minimum(np.maximum(pe, 0.0), dur)
        inter = np.minimum(ce, ge) - np.maximum(cs, gs)
        hull = np.maximum(ce, ge) - np.minimum(cs, gs)
        hit = ok & (inter > 0.0)
        iou = np.where(hit, np.minimum(1.0, inter / hull), 0.0)
        if cfg.iou_threshold is not None:
            reward = np.where(ok & (iou >= cfg.iou_threshold), 1.0, 0.0)
        elif cfg.iou_mode == "iou":
            reward = iou
        elif cfg.iou_mode == "giou":
            inter0 = np.maximum(0.0, inter)
            union = (ce - cs) + (ge - gs) - inter0
            giou = iou - (hull - union) / hull
            reward = np.where(ok, np.minimum(1.0, np.maximum(0.0, (1.0 + giou) / 2.0)), 0.0)
        else:
            scale = np.where(np.isfinite(dur) & (dur > 0), dur, hull)
            ds = np.minimum(1.0, np.abs(cs - gs) / scale)
            de = np.minimum(1.0, np.abs(ce - ge) / scale)
            reward = np.where(ok, iou * (1.0 - ds) * (1.0 - de), 0.0)
    failure: list[str | None] = _SPAN_FAILURES[code].tolist()
    prediction: list[str | None] = [
        _fmt_span((s, e)) if good else None
        for s, e, good in zip(cs.tolist(), ce.tolist(), (ok | (code == 4)).tolist(), strict=True)
    ]
    return iou, reward, failure, prediction


def _tvg_batch(answers: Sequence[str], truths: Sequence[GroundingTruth], cfg: RewardConfig) -> BatchOutcome:
    # Answers are already distinct here: the per-answer cache would only add its own bookkeeping.
    iou, reward, failure, prediction = _span_columns([parse_span(a) for a in answers], truths, cfg)
    return BatchOutcome(np.full(len(answers), math.nan), iou, reward, _objects(prediction), _objects(failure))


def _gqa_batch(answers: Sequence[str], truths: Sequence[GroundedQATruth], cfg: RewardConfig) -> BatchOutcome:
    parsed = [parse_grounded_answer(a) for a in answers]
    choices = [
        (None, "no_answer_field")
        if p.answer is None
        else _choice_cached(p.answer, t.option_set, cfg.mcq_index_base)
        for p, t in zip(parsed, truths, strict=True)
    ]
    iou, reward, span_failures, spans = _span_columns([p.span for p in parsed], truths, cfg)
    accuracy = np.array(
        [float(c[0] == t.answer) for c, t in zip(choices, truths, strict=True)], dtype=np.float64
    )
    prediction = [f"{c[0] or '?'} @ {sp or '?'}" for c, sp in zip(choices, spans, strict=True)]
    failure = [c[1] or f for c, f in zip(choices, span_failures, strict=True)]
    return BatchOutcome(accuracy, iou, reward, _objects(prediction), _objects(failure))


# ------------------------------------------------------------------------------------------- tasks


@register_task(
    "mcq", truth=ChoiceTruth, weights=TaskWeights(format=0.5, accuracy=0.5), has_accuracy=True, has_iou=False
)
def score_mcq(answer: str, truth: ChoiceTruth, cfg: RewardConfig) -> TaskOutcome:
    """Multiple choice: accuracy 1 if the parsed letter is the answer's."""
    letter, failure = _choice_cached(answer, truth.option_set, cfg.mcq_index_base)
    return TaskOutcome(accuracy=float(letter == truth.answer), prediction=letter, failure=failure)


@register_task(
    "tvg",
    truth=GroundingTruth,
    weights=TaskWeights(format=0.5, iou=0.5),
    has_accuracy=False,
    has_iou=True,
    batch_scorer=_tvg_batch,
)
def score_tvg(answer: str, truth: GroundingTruth, cfg: RewardConfig) -> TaskOutcome:
    """Temporal grounding: the first span, clipped to ``[0, duration]``, against the closest gold moment
    (max IoU; gold moments clipped to the video too)."""
    span = _first_span_cached(answer)
    iou, reward, pred, failure = _iou_components(span, truth.reward_segments, truth.duration, cfg)
    return TaskOutcome(
        iou=iou,
        iou_reward=reward,
        prediction=None if pred is None else _fmt_span(pred),
        failure=failure,
        span=span,
    )


@register_task(
    "gqa",
    truth=GroundedQATruth,
    weights=TaskWeights(format=1 / 3, accuracy=1 / 3, iou=1 / 3),
    has_accuracy=True,
    has_iou=True,
    batch_scorer=_gqa_batch,
)
def score_gqa(answer: str, truth: GroundedQATruth, cfg: RewardConfig) -> TaskOutcome:
    """Grounded QA: accuracy of ``"answer"`` and IoU of the span (max over the gold moments, clipped as
    in ``tvg``), scored independently."""
    parsed = _grounded_cached(answer)
    letter: str | None = None
    choice_failure: str | None = "no_answer_field"
    if parsed.answer is not None:
        letter, choice_failure = _choice_cached(parsed.answer, truth.option_set, cfg.mcq_index_base)
    iou, reward, pred, span_fail = _iou_components(parsed.span, truth.reward_segments, truth.duration, cfg)
    prediction = f"{letter or '?'} @ {_fmt_span(pred) if pred is not None else '?'}"
    return TaskOutcome(
        accuracy=float(letter == truth.answer),
        iou=iou,
        iou_reward=reward,
        prediction=prediction,
        failure=choice_failure or span_fail,
        span=parsed.span,
    )


@register_task(
    "numeric",
    truth=NumericTruth,
    weights=TaskWeights(format=0.5, accuracy=0.5),
    has_accuracy=True,
    has_iou=False,
)
def score_numeric(answer: str, truth: NumericTruth, cfg: RewardConfig) -> TaskOutcome:
    """Numeric answer: correct within ``max(abs_tol, rel_tol · |answer|)``."""
    value = _number_cached(answer)
    if value is None or not math.isfinite(value):
        return TaskOutcome(accuracy=0.0, failure="no_number")
    abs_tol = cfg.numeric_abs_tol if truth.abs_tol is None else truth.abs_tol
    rel_tol = cfg.numeric_rel_tol if truth.rel_tol is None else truth.rel_tol
    ok = abs(value - truth.answer) <= max(abs_tol, rel_tol * abs(truth.answer))
    return TaskOutcome(accuracy=float(ok), prediction=f"{value:g}")


@register_task(
    "multi_tvg",
    truth=MultiGroundingTruth,
    weights=TaskWeights(format=0.5, iou=0.5),
    has_accuracy=False,
    has_iou=True,
)
def score_multi_tvg(answer: str, truth: MultiGroundingTruth, cfg: RewardConfig) -> TaskOutcome:
    """Several moments: optimal one-to-one matching by IoU; ``Σ matched / max(#pred, #gold)``.

    Every span written counts as a prediction (extra ones lower the score); invalid ones match nothing.
    Only the first ``max_predicted_segments`` take part in the matching.
    """
    found = find_spans(answer)
    if not found:
        return TaskOutcome(iou=0.0, iou_reward=0.0, failure="no_span")
    duration = truth.duration
    valid: list[Span] = []
    failure: str | None = None
    for span in found[: cfg.max_predicted_segments]:
        why = span_failure(span, duration)
        if why is None:
            valid.append(span.clip(duration))
        elif failure is None:
            failure = why
    denom = max(len(found), len(truth.segments))
    if not valid:
        return TaskOutcome(iou=0.0, iou_reward=0.0, failure=failure)
    golds = truth.reward_segments
    ious = [[_iou_of_valid(p, g) for g in golds] for p in valid]
    pairs = best_assignment(ious)
    iou_sum = sum(ious[r][c] for r, c in pairs)
    if cfg.iou_threshold is not None:
        reward_sum = float(sum(1 for r, c in pairs if ious[r][c] >= cfg.iou_threshold))
    elif cfg.iou_mode == "iou":
        reward_sum = iou_sum
    else:
        reward_sum = sum(
            shape_iou(valid[r], golds[c], mode=cfg.iou_mode, duration=duration) for r, c in pairs
        )
    prediction = "[" + ", ".join(_fmt_span(s) for s in valid) + "]"
    return TaskOutcome(
        iou=min(1.0, iou_sum / denom),
        iou_reward=min(1.0, reward_sum / denom),
        prediction=prediction,
        failure=failure,
    )
