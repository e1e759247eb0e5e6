"""The task registry and the built-in tasks: ``mcq``, ``tvg``, ``gqa``, ``numeric``, ``multi_tvg``.

A task is a ground-truth model plus a scorer ``(answer_text, truth, config) -> TaskOutcome`` and its
default weights. Scorers only compose a parser with a metric; they never raise on model output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np
from pydantic import ValidationError

from video_rewards.config import TaskWeights
from video_rewards.geometry import Span, _max_weight_assignment, iou_matrix, shape_iou, temporal_iou
from video_rewards.parsing import (
    OptionSet,
    _choice,
    _iter_spans,
    parse_grounded_answer,
    parse_number,
    parse_span,
    span_failure,
    tokenize,
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
    "TaskOutcome",
    "TaskSpec",
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


TruthT = TypeVar("TruthT", bound=GroundTruth)
Scorer = Callable[[str, Any, "RewardConfig"], TaskOutcome]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its ground-truth model, scorer, default weights and which components it has."""

    name: str
    truth: type[GroundTruth]
    scorer: Scorer
    default_weights: TaskWeights
    has_accuracy: bool
    has_iou: bool

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
) -> Callable[[Scorer], Scorer]:
    """Register a task scorer under ``name`` (a decorator). A taken name is an error.

    The truth model should subclass :class:`~video_rewards.truth.GroundTruth` with
    ``task: Literal[name]``. Weights with no component the task has are rejected.
    """
    if (weights.accuracy and not has_accuracy) or (weights.iou and not has_iou):
        raise ValueError(f"task {name!r}: weights {weights} name a component the task does not have")

    def wrap(scorer: Scorer) -> Scorer:
        TASKS.register(name, TaskSpec(name, truth, scorer, weights, has_accuracy, has_iou))
        return scorer

    return wrap


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; unknown names fail with the known ones and the closest match."""
    return TASKS.get(name)


def known_tasks() -> tuple[str, ...]:
    return TASKS.names()


# ------------------------------------------------------------------------------------- ground truth


def _to_plain(value: Any) -> Any:
    """numpy arrays / scalars (verl's parquet structs) to Python lists / numbers, recursively."""
    if isinstance(value, np.ndarray):
        return [_to_plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


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
        if duration is not None and "duration" in type(obj).model_fields and getattr(obj, "duration") is None:
            return _validate(obj.model_dump(), data_source, duration)
        return obj
    if isinstance(obj, str):
        return _parse_json_truth(obj, data_source, duration)
    if not isinstance(obj, Mapping):
        raise ValueError(f"ground_truth must be a dict or its JSON string, got {type(obj).__name__}")
    return _validate(obj, data_source, duration)


@lru_cache(maxsize=65_536)
def _parse_json_truth(text: str, data_source: str | None, duration: float | None) -> GroundTruth:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"ground_truth: not valid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"ground_truth: JSON must be an object, got {type(obj).__name__}")
    return _validate(obj, data_source, duration)


def _validate(obj: Mapping[str, Any], data_source: str | None, duration: float | None) -> GroundTruth:
    data = {str(k): _to_plain(v) for k, v in obj.items() if v is not None}
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


def _fmt_span(span: Span) -> str:
    return f"[{span[0]:g}, {span[1]:g}]"


def _iou_components(
    span: Span | None, gold: Span, duration: float | None, cfg: RewardConfig
) -> tuple[float, float, Span | None, str | None]:
    """``(iou, iou_reward, clipped_prediction, failure)`` for one predicted span."""
    failure = span_failure(span, duration)
    if failure is not None or span is None:
        return 0.0, 0.0, None, failure
    pred = span.clip(duration)
    iou = temporal_iou(pred, gold)
    reward = shape_iou(pred, gold, mode=cfg.iou_mode, duration=duration)
    if cfg.iou_threshold is not None:
        reward = 1.0 if iou >= cfg.iou_threshold else 0.0
    return iou, reward, pred, None


# ------------------------------------------------------------------------------------------- tasks


@register_task(
    "mcq", truth=ChoiceTruth, weights=TaskWeights(format=0.5, accuracy=0.5), has_accuracy=True, has_iou=False
)
def score_mcq(answer: str, truth: ChoiceTruth, cfg: RewardConfig) -> TaskOutcome:
    """Multiple choice: accuracy 1 if the parsed letter is the answer's."""
    letter, failure = _choice_cached(answer, truth.option_set)
    return TaskOutcome(accuracy=float(letter == truth.answer), prediction=letter, failure=failure)


@register_task(
    "tvg", truth=GroundingTruth, weights=TaskWeights(format=0.5, iou=0.5), has_accuracy=False, has_iou=True
)
def score_tvg(answer: str, truth: GroundingTruth, cfg: RewardConfig) -> TaskOutcome:
    """Temporal grounding: the first span, clipped to ``[0, duration]``, against the gold segment."""
    iou, reward, pred, failure = _iou_components(_first_span_cached(answer), truth.segment, truth.duration, cfg)
    return TaskOutcome(
        iou=iou, iou_reward=reward, prediction=None if pred is None else _fmt_span(pred), failure=failure
    )


@register_task(
    "gqa",
    truth=GroundedQATruth,
    weights=TaskWeights(format=1 / 3, accuracy=1 / 3, iou=1 / 3),
    has_accuracy=True,
    has_iou=True,
)
def score_gqa(answer: str, truth: GroundedQATruth, cfg: RewardConfig) -> TaskOutcome:
    """Grounded QA: accuracy of ``"answer"`` and IoU of the span, scored independently."""
    parsed = _grounded_cached(answer)
    if parsed.answer is None:
        letter, choice_failure = None, "no_answer_field"
    else:
        letter, choice_failure = _choice_cached(parsed.answer, truth.option_set)
    iou, reward, pred, span_fail = _iou_components(parsed.span, truth.segment, truth.duration, cfg)
    prediction = f"{letter or '?'} @ {_fmt_span(pred) if pred is not None else '?'}"
    return TaskOutcome(
        accuracy=float(letter == truth.answer),
        iou=iou,
        iou_reward=reward,
        prediction=prediction,
        failure=choice_failure or span_fail,
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
    found = [m.span for m in _iter_spans(tokenize(answer), None)]
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
    ious = iou_matrix(valid, list(truth.segments))
    pairs = _max_weight_assignment(ious)
    iou_sum = sum(float(ious[r, c]) for r, c in pairs)
    if cfg.iou_threshold is not None:
        reward_sum = float(sum(1 for r, c in pairs if ious[r, c] >= cfg.iou_threshold))
    else:
        reward_sum = sum(
            shape_iou(valid[r], truth.segments[c], mode=cfg.iou_mode, duration=duration) for r, c in pairs
        )
    prediction = "[" + ", ".join(_fmt_span(s) for s in valid) + "]"
    return TaskOutcome(
        iou=min(1.0, iou_sum / denom),
        iou_reward=min(1.0, reward_sum / denom),
        prediction=prediction,
        failure=failure,
    )


def outcome_for(spec: TaskSpec, answer: str, truth: GroundTruth, cfg: RewardConfig) -> TaskOutcome:
    """Run a task's scorer on an answer text."""
    return spec.scorer(answer, truth, cfg)


# Keep the option-set type importable from here for custom tasks.
OptionSet = OptionSet
