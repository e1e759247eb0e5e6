"""The task registry and the built-in tasks: ``mcq``, ``tvg``, ``gqa``, ``numeric``, ``multi_tvg``.

A task is a ground-truth model plus a scorer ``(answer_text, truth, config) -> TaskOutcome`` and its
default weights. Scorers only compose a parser with a metric; they never raise on model output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from video_rewards.config import TaskWeights
from video_rewards.geometry import Span, best_assignment, shape_iou, temporal_iou
from video_rewards.parsing import (
    _choice,
    find_spans,
    parse_grounded_answer,
    parse_number,
    parse_span,
    span_failure,
)
from video_rewards.registry import Registry
from video_rewards.truth import (
    ChoiceTruth,
    GroundedQATruth,
    GroundingTruth,
    GroundTruth,
    MultiGroundingTruth,
    NumericTruth,
)

if TYPE_CHECKING:
    from video_rewards.config import RewardConfig

__all__ = [
    "TASKS",
    "BatchOutcome",
    "TaskOutcome",
    "TaskSpec",
    "clear_caches",
    "get_task",
    "known_tasks",
    "parse_ground_truth",
    "register_task",
]


class TaskOutcome(NamedTuple):
    """What a task scorer found: components in ``[0, 1]`` (``None`` where the task has none)."""

    accuracy: float | None = None
    iou: float | None = None  # the raw tIoU (a metric)
    iou_reward: float | None = None  # the IoU component after shaping / thresholding (what is weighted)
    prediction: str | None = None
    failure: str | None = None
    span: Span | None = None  # tvg / gqa: the span as parsed, before clipping (read by evaluation)


class BatchOutcome(NamedTuple):
    """A task's components for many answers: float arrays (NaN where the task has no accuracy / IoU;
    ``iou_reward`` 0 there) and object arrays of predictions and failures."""

    accuracy: npt.NDArray[np.float64]
    iou: npt.NDArray[np.float64]
    iou_reward: npt.NDArray[np.float64]
    prediction: npt.NDArray[np.object_]
    failure: npt.NDArray[np.object_]

    def take(self, rows: npt.NDArray[np.intp]) -> BatchOutcome:
        return BatchOutcome(
            self.accuracy[rows],
            self.iou[rows],
            self.iou_reward[rows],
            self.prediction[rows],
            self.failure[rows],
        )


class Distinct:
    """The distinct ``(answer, truth)`` pairs of a batch, and ``inverse`` mapping each row to its pair.

    GRPO rollouts of one prompt share the truth object and often the answer, so tasks score each pair once.
    """

    def __init__(self, answers: Sequence[str], truths: Sequence[Any]) -> None:
        ids = list(map(id, truths))
        keys = list(zip(answers, ids, strict=True))
        first = dict.fromkeys(keys)
        position = {key: j for j, key in enumerate(first)}
        self.inverse = np.fromiter(map(position.__getitem__, keys), dtype=np.intp, count=len(keys))
        by_id = dict(zip(ids, truths, strict=True))
        self.answers: list[str] = [a for a, _ in first]
        self.truths: list[Any] = [by_id[t] for _, t in first]


def _objects(values: Sequence[str | None]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


Scorer = Callable[[str, Any, "RewardConfig"], TaskOutcome]
BatchScorer = Callable[[Sequence[str], Sequence[Any], "RewardConfig"], BatchOutcome]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its ground-truth model, scorer, default weights and which components it has."""

    name: str
    truth: type[GroundTruth]
    scorer: Scorer
    default_weights: TaskWeights
    has_accuracy: bool
    has_iou: bool
    batch_scorer: BatchScorer | None = None

    def score_many(self, answers: Sequence[str], truths: Sequence[Any], cfg: RewardConfig) -> BatchOutcome:
        """Score many answers: the task's vectorised scorer if it has one, else the scorer once per
        distinct ``(answer, truth)`` pair. Values are identical to calling :attr:`scorer` per item."""
        distinct = Distinct(answers, truths)
        if self.batch_scorer is not None:
            return self.batch_scorer(distinct.answers, distinct.truths, cfg).take(distinct.inverse)
        scorer = self.scorer
        outs = [scorer(a, t, cfg) for a, t in zip(distinct.answers, distinct.truths, strict=True)]
        nan = math.nan
        unique = BatchOutcome(
            np.array([nan if o.accuracy is None else o.accuracy for o in outs], dtype=np.float64),
            np.array([nan if o.iou is None else o.iou for o in outs], dtype=np.float64),
            np.array([0.0 if o.iou_reward is None else o.iou_reward for o in outs], dtype=np.float64),
            _objects([o.prediction for o in outs]),
            _objects([o.failure for o in outs]),
        )
        return unique.take(distinct.inverse)

    def empty_outcome(self, failure: str) -> TaskOutcome:
        """Outcome when there is nothing to parse (no answer block, over-long answer)."""
        return TaskOutcome(
            accuracy=0.0 if self.has_accuracy else None,
            iou=0.0 if self.has_iou else None,
            iou_reward=0.0 if self.has_iou else None,
            failure=failure,
        )


TASKS: Registry[TaskSpec] = Registry("task")


def register_task(
    name: str,
    *,
    truth: type[GroundTruth],
    weights: TaskWeights,
    has_accuracy: bool,
    has_iou: bool,
    batch_scorer: BatchScorer | None = None,
) -> Callable[[Scorer], Scorer]:
    """Register a task scorer under ``name`` (a decorator). A taken name is an error.

    The truth model should subclass :class:`~video_rewards.truth.GroundTruth` with
    ``task: Literal[name]``. Weights with no component the task has are rejected. ``batch_scorer``
    (optional) scores many answers at once and must give the scorer's values item by item.
    """
    if (weights.accuracy and not has_accuracy) or (weights.iou and not has_iou):
        raise ValueError(f"task {name!r}: weights {weights} name a component the task does not have")

    def wrap(scorer: Scorer) -> Scorer:
        TASKS.register(name, TaskSpec(name, truth, scorer, weights, has_accuracy, has_iou, batch_scorer))
        return scorer

    return wrap


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; unknown names fail with the known ones and the closest match."""
    return TASKS.get(name)


def known_tasks() -> tuple[str, ...]:
    return TASKS.names()


# ------------------------------------------------------------------------------------- ground truth


_SCALARS = (str, int, float, bool, type(None))

#: How deep a ground truth may nest (``{"segments": [[s, e]]}`` is 3): deeper input is an error naming
#: its field, never a RecursionError from the JSON decoder, the conversion below or pydantic.
MAX_TRUTH_DEPTH = 8


def _to_plain(value: Any, field: str = "ground_truth", depth: int = 1) -> Any:
    """numpy arrays / scalars (verl's parquet structs) to Python lists / numbers, recursively.

    Raises ``ValueError`` naming ``field`` past :data:`MAX_TRUTH_DEPTH` levels.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_TRUTH_DEPTH:
        raise ValueError(f"{field}: nested more than {MAX_TRUTH_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        if depth + value.ndim > MAX_TRUTH_DEPTH + 1:
            raise ValueError(f"{field}: nested more than {MAX_TRUTH_DEPTH} levels deep")
        if value.dtype != object:
            return value.tolist()
        return [_to_plain(v, field, depth + 1) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _to_plain(v, field, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v, field, depth + 1) for k, v in value.items()}
    return value


def _deepest_field(text: str) -> str:
    """The top-level key of a JSON object text whose value nests past :data:`MAX_TRUTH_DEPTH` (for the
    error message after the decoder gave up); a linear scan, no recursion."""
    depth, key, in_string, escaped, start = 0, "?", False, False, 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1 and text[i + 1 :].lstrip().startswith(":"):
                    key = text[start:i]
        elif ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_TRUTH_DEPTH:
                return f"ground_truth.{key}"
        elif ch in "]}":
            depth -= 1
    return "ground_truth"


def parse_ground_truth(
    obj: Mapping[str, Any] | str | GroundTruth,
    *,
    data_source: str | None = None,
    duration: float | None = None,
) -> GroundTruth:
    """Validate a ground truth: a dict, its JSON string, or a model instance.

    Keys whose value is ``None`` are dropped (a parquet struct column holds every task's keys). Without a
    ``task`` key, a ``data_source`` that names a task is used. ``duration`` (e.g. from ``extra_info``)
    fills in a missing ``duration``. Raises ``ValueError`` naming the field.

    >>> parse_ground_truth('{"task": "tvg", "segment": [2, 9.5], "duration": 30}').segment
    Span(start=2.0, end=9.5)
    >>> parse_ground_truth({"task": "tvg", "segment": [9, 2]})
    Traceback (most recent call last):
    ...
    ValueError: ground_truth (task 'tvg'): segment must satisfy 0 <= start < end, got [9.0, 2.0]
    """
    if isinstance(obj, GroundTruth):
        if (
            duration is not None
            and "duration" in type(obj).model_fields
            and getattr(obj, "duration", None) is None
        ):
            return _validate(obj.model_dump(), data_source, duration)
        return obj
    if isinstance(obj, str):
        return _parse_json_truth(obj, data_source, duration)
    if not isinstance(obj, Mapping):
        raise ValueError(f"ground_truth must be a dict or its JSON string, got {type(obj).__name__}")
    plain = _plain_fields(obj)
    try:
        # verl hands over a fresh dict per call: its JSON text is the cache key of the validated model.
        key = json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError):
        return _validate(plain, data_source, duration)  # not JSON-able: validate (and report) directly
    return _parse_json_truth(key, data_source, duration)


def _plain_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ground truth's fields as plain Python values, ``None`` values dropped."""
    return {str(k): _to_plain(v, f"ground_truth.{k}") for k, v in obj.items() if v is not None}


@lru_cache(maxsize=65_536)
def _parse_json_truth(text: str, data_source: str | None, duration: float | None) -> GroundTruth:
    try:
        obj = json.loads(text)
    except RecursionError:
        raise ValueError(f"{_deepest_field(text)}: nested more than {MAX_TRUTH_DEPTH} levels deep") from None
    except ValueError as exc:
        raise ValueError(f"ground_truth: not valid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"ground_truth: JSON must be an object, got {type(obj).__name__}")
    return _validate(obj, data_source, duration)


def validate_truth(
    obj: Mapping[str, Any] | str | GroundTruth, data_source: str | None, duration: float | None
) -> GroundTruth:
    """:func:`parse_ground_truth` without the JSON-text cache for dicts (for callers that deduplicate)."""
    if isinstance(obj, GroundTruth | str) or not isinstance(obj, Mapping):
        return parse_ground_truth(obj, data_source=data_source, duration=duration)
    return _validate(obj, data_source, duration)


def _validate(obj: Mapping[str, Any], data_source: str | None, duration: float | None) -> GroundTruth:
    data = _plain_fields(obj)
    task = data.get("task")
    if task is None:
        if data_source is not None and data_source in TASKS:
            task = data["task"] = data_source
        else:
            raise ValueError(f"ground_truth.task: missing; known tasks: {', '.join(known_tasks())}")
    try:
        spec = TASKS.get(str(task))
    except ValueError as exc:
        raise ValueError(f"ground_truth.task: {exc}") from None
    if duration is not None and "duration" not in data and "duration" in spec.truth.model_fields:
        data["duration"] = duration
    try:
        return spec.truth.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(_error_text(e) for e in exc.errors())
        raise ValueError(f"ground_truth (task {task!r}): {detail}") from None


def _error_text(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Model-level validators already name their field in the message.
    return f"{loc}: {msg}" if loc else msg


# -------------------------------------------------------------------------------------- shared bits

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
