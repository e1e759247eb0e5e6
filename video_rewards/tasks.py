"""The task registry: what a task is (:class:`TaskSpec`) and :func:`register_task` / :func:`get_task`.

A task is a ground-truth model plus a scorer ``(answer_text, truth, config) -> TaskOutcome`` and its
default weights. Scorers only compose a parser with a metric; they never raise on model output. The
built-in tasks (``mcq``, ``tvg``, ``gqa``, ``numeric``, ``multi_tvg``) are registered by
:mod:`video_rewards.builtin_tasks`; reading and validating ground truth is :mod:`video_rewards.truth_parsing`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from video_rewards.geometry import Span
from video_rewards.registry import Registry
from video_rewards.truth import GroundTruth
from video_rewards.weights import TaskWeights

__all__ = [
    "TASKS",
    "BatchOutcome",
    "Distinct",
    "TaskOutcome",
    "TaskSpec",
    "get_task",
    "known_tasks",
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


#: The caller's :class:`~video_rewards.config.RewardConfig`, handed to scorers unread. ``Any`` here because
#: the config sits above this registry (it validates per-task weights against it); scorers annotate it exactly.
ScoringConfig = Any
Scorer = Callable[[str, Any, ScoringConfig], TaskOutcome]
BatchScorer = Callable[[Sequence[str], Sequence[Any], ScoringConfig], BatchOutcome]


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

    def score_many(self, answers: Sequence[str], truths: Sequence[Any], cfg: ScoringConfig) -> BatchOutcome:
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
