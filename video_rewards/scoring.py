"""The dual reward: ``score`` (one response), ``compute_score`` (verl's signature), ``score_batch``.

``score = w.format · format + w.accuracy · accuracy + w.iou · iou_reward`` with the task's weights
(:class:`~video_rewards.config.TaskWeights`); every component is in ``[0, 1]``, so ``score`` is in
``[0, w.total]`` — ``[0, 1]`` for every built-in default.
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from video_rewards.config import RewardConfig
from video_rewards.tags import lenient_answer_text, split_response
from video_rewards.tasks import TaskOutcome, TaskSpec, get_task
from video_rewards.truth import GroundTruth
from video_rewards.truth_parsing import parse_ground_truth

__all__ = ["COMPONENT_KEYS", "Reward", "RewardResult", "compute_score", "score", "score_batch"]

#: The keys of :meth:`RewardResult.components`, identical for every task.
COMPONENT_KEYS = ("score", "format", "accuracy", "iou", "parse_failed")

_DEFAULT_CONFIG = RewardConfig()

# Answers up to this length are parsed with the garbage collector left alone (see _outcome).
_SHORT_ANSWER = 256


class RewardResult(BaseModel):
    """One scored response.

    * ``score``: the combined reward; ``format``: 0/1; ``accuracy``: 0/1 or ``None`` (task has none);
      ``iou``: raw temporal IoU in ``[0, 1]`` or ``None``. (With ``iou_mode``/``iou_threshold`` set, the
      score uses the shaped IoU; ``iou`` stays the raw metric.)
    * ``prediction``: the parsed prediction in canonical form (``"C"``, ``"[12.5, 18]"``, …).
    * ``failure``: why the answer could not be (fully) parsed: ``no_answer_tag``, ``no_choice``,
      ``ambiguous_choice``, ``refusal``, ``no_span``, ``reversed_span``, ``non_finite_span``,
      ``span_outside_video``, ``no_number``, ``no_answer_field``, ``answer_too_long``,
      ``response_too_long``, ``not_a_string``; ``None`` when parsing succeeded (a zero-length span is a
      point: read, recorded as the prediction, IoU 0).
    """

    model_config = ConfigDict(frozen=True)

    score: float
    format: float
    accuracy: float | None
    iou: float | None
    task: str
    prediction: str | None = None
    failure: str | None = None

    def to_dict(self) -> dict[str, float]:
        """The ``compute_score`` dict: ``score``, ``format``, and the task's ``accuracy`` and/or ``iou``."""
        out = {"score": self.score, "format": self.format}
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        if self.iou is not None:
            out["iou"] = self.iou
        return out

    def components(self) -> dict[str, float]:
        """The same keys for every task (for logging batches that mix tasks, e.g. verl's
        ``reward_extra_info``): ``score``, ``format``, ``accuracy`` and ``iou`` (NaN where the task has
        no such component) and ``parse_failed`` (1.0 if ``failure`` is set, else 0.0).

        >>> r = score("<think>t</think><answer>C</answer>", {"task": "mcq", "answer": "B"})
        >>> r.components()
        {'score': 0.5, 'format': 1.0, 'accuracy': 0.0, 'iou': nan, 'parse_failed': 0.0}
        """
        return {
            "score": self.score,
            "format": self.format,
            "accuracy": math.nan if self.accuracy is None else self.accuracy,
            "iou": math.nan if self.iou is None else self.iou,
            "parse_failed": 0.0 if self.failure is None else 1.0,
        }


def _outcome(
    response: str, spec: TaskSpec, truth: GroundTruth, cfg: RewardConfig
) -> tuple[float, TaskOutcome]:
    """``(format, outcome)`` of one response (the shared core of the single and the batch paths)."""
    if len(response) > cfg.max_response_chars:
        return 0.0, spec.empty_outcome("response_too_long")
    well_formed, answer = split_response(response)
    fmt = 1.0 if well_formed else 0.0
    if answer is None:
        if cfg.require_answer_tag:
            return fmt, spec.empty_outcome("no_answer_tag")
        answer = lenient_answer_text(response)
    if len(answer) > cfg.max_answer_chars:
        return fmt, spec.empty_outcome("answer_too_long")
    if len(answer) <= _SHORT_ANSWER:
        return fmt, spec.scorer(answer, truth, cfg)
    # A long answer allocates thousands of short-lived (acyclic) tokens; a collection of the caller's
    # whole heap triggered by them would cost more than the parsing itself (measured: 5 ms → 26 ms in a
    # process holding 10⁵ rollouts). Pause the collector while parsing, restore its state after.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fmt, spec.scorer(answer, truth, cfg)
    finally:
        if enabled:
            gc.enable()


def _combine(fmt: float, outcome: TaskOutcome, spec: TaskSpec, cfg: RewardConfig) -> float:
    if cfg.require_format and not fmt:
        return 0.0
    w = cfg.weights_for(spec.name)
    total = w.format * fmt
    if outcome.accuracy is not None:
        total += w.accuracy * outcome.accuracy
    if outcome.iou_reward is not None:
        total += w.iou * outcome.iou_reward
    return total


def _score_truth(response: object, truth: GroundTruth, cfg: RewardConfig) -> RewardResult:
    spec = get_task(truth.task)
    if not isinstance(response, str):
        fmt, outcome = 0.0, spec.empty_outcome("not_a_string")
    else:
        fmt, outcome = _outcome(response, spec, truth, cfg)
    # model_construct: every field was computed here, re-validating would only cost time.
    return RewardResult.model_construct(
        score=_combine(fmt, outcome, spec, cfg),
        format=fmt,
        accuracy=outcome.accuracy,
        iou=outcome.iou,
        task=spec.name,
        prediction=outcome.prediction,
        failure=outcome.failure,
    )


def score(
    response: str,
    ground_truth: Mapping[str, Any] | str | GroundTruth,
    *,
    config: RewardConfig | None = None,
    data_source: str | None = None,
    duration: float | None = None,
) -> RewardResult:
    """Score one response against its ground truth.

    ``duration`` fills in a ground truth without one (verl rows may carry it in ``extra_info``).

    >>> gt = {"task": "tvg", "segment": [10, 20], "duration": 60}
    >>> r = score("<think>He sits at 0:12.</think><answer>from 12 to 20 seconds</answer>", gt)
    >>> r.score, r.iou, r.prediction
    (0.9, 0.8, '[12, 20]')
    >>> score("<answer>between 25 and 15</answer>", gt).failure
    'reversed_span'
    """
    truth = parse_ground_truth(ground_truth, data_source=data_source, duration=duration)
    return _score_truth(response, truth, config or _DEFAULT_CONFIG)


@lru_cache(maxsize=256)
def _config_from_json(key: str) -> RewardConfig:
    return RewardConfig.from_kwargs(**json.loads(key))


def config_from_kwargs(reward_kwargs: Mapping[str, Any]) -> RewardConfig:
    """A cached :meth:`RewardConfig.from_kwargs` (verl passes the same ``reward_kwargs`` every call)."""
    if not reward_kwargs:
        return _DEFAULT_CONFIG
    from video_rewards.config import _plain

    return _config_from_json(json.dumps(_plain(reward_kwargs), sort_keys=True, default=str))


def _duration_from(extra_info: object) -> float | None:
    if isinstance(extra_info, Mapping):
        value = extra_info.get("duration")
        if value is not None:
            try:
                d = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"extra_info.duration: not a number: {value!r}") from None
            return d if math.isfinite(d) and d > 0 else None
    return None


def compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Mapping[str, Any] | str | GroundTruth,
    extra_info: Mapping[str, Any] | None = None,
    **reward_kwargs: Any,
) -> dict[str, float]:
    """verl's custom reward function: ``fn(data_source=, solution_str=, ground_truth=, extra_info=, **kw)``.

    Returns ``{"score", "format", "accuracy"?, "iou"?}`` (numbers only). ``reward_kwargs`` are
    :class:`RewardConfig` fields; with ``stable_keys=True`` the keys are always
    :data:`COMPONENT_KEYS` (NaN for a component the task lacks), for batches mixing tasks.
    ``ground_truth`` may be a dict (numpy arrays inside, as verl reads parquet), its JSON string, or a
    :class:`~video_rewards.truth.GroundTruth`; ``extra_info["duration"]`` fills in a missing duration.

    >>> compute_score("nextgqa", "<think>…</think><answer>{\\"answer\\": \\"B\\", \\"start_time\\": 4,"
    ...               " \\"end_time\\": 8}</answer>",
    ...               {"task": "gqa", "answer": "B", "options": ["A. no", "B. yes"], "segment": [4, 10]})
    {'score': 0.8888888888888888, 'format': 1.0, 'accuracy': 1.0, 'iou': 0.6666666666666666}
    """
    stable = bool(reward_kwargs.pop("stable_keys", False))
    cfg = config_from_kwargs(reward_kwargs)
    truth = parse_ground_truth(ground_truth, data_source=data_source, duration=_duration_from(extra_info))
    result = _score_truth(solution_str, truth, cfg)
    return result.components() if stable else result.to_dict()


def score_batch(
    responses: Sequence[str],
    ground_truths: Sequence[Mapping[str, Any] | str | GroundTruth],
    *,
    config: RewardConfig | None = None,
    data_sources: Sequence[str | None] | None = None,
    durations: Sequence[float | None] | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """Score many responses; returns columns (numpy arrays of equal length).

    ``score``, ``format``, ``accuracy`` (NaN where the task has none), ``iou`` (NaN where none),
    ``parse_failed`` (0/1) — float64; ``failure``, ``task``, ``prediction`` — object. Identical values to
    :func:`score` item by item. Ground truths are validated once per distinct object / JSON string.

    >>> cols = score_batch(["<think></think><answer>B</answer>", "B"],
    ...                    [{"task": "mcq", "answer": "B"}, {"task": "mcq", "answer": "B"}])
    >>> cols["score"].tolist(), cols["failure"].tolist()
    ([1.0, 0.0], [None, 'no_answer_tag'])
    """
    from video_rewards.batch import score_batch_columns

    return score_batch_columns(
        responses,
        ground_truths,
        config=config or _DEFAULT_CONFIG,
        data_sources=data_sources,
        durations=durations,
    )


class Reward:
    """A configured reward as a picklable callable with verl's ``compute_score`` signature.

    ``Reward(config)(data_source=…, solution_str=…, ground_truth=…, extra_info=…)``; ``__name__`` is set
    for frameworks that log reward functions by name (TRL).

    >>> import pickle
    >>> r = pickle.loads(pickle.dumps(Reward(RewardConfig(iou_threshold=0.5))))
    >>> r(None, "<think></think><answer>2 to 4</answer>", {"task": "tvg", "segment": [2, 5]})
    {'score': 1.0, 'format': 1.0, 'iou': 0.6666666666666666}
    """

    def __init__(self, config: RewardConfig | None = None, *, stable_keys: bool = False) -> None:
        self.config = config or _DEFAULT_CONFIG
        self.stable_keys = stable_keys
        self.__name__ = "video_rewards"

    def __call__(
        self,
        data_source: str | None,
        solution_str: str,
        ground_truth: Mapping[str, Any] | str | GroundTruth,
        extra_info: Mapping[str, Any] | None = None,
        **unused: Any,
    ) -> dict[str, float]:
        if unused:
            raise TypeError(f"Reward is already configured; unexpected keyword arguments {sorted(unused)}")
        truth = parse_ground_truth(ground_truth, data_source=data_source, duration=_duration_from(extra_info))
        result = _score_truth(solution_str, truth, self.config)
        return result.components() if self.stable_keys else result.to_dict()

    def score(self, response: str, ground_truth: Mapping[str, Any] | str | GroundTruth) -> RewardResult:
        return score(response, ground_truth, config=self.config)

    def score_batch(
        self, responses: Sequence[str], ground_truths: Sequence[Mapping[str, Any] | str | GroundTruth]
    ) -> dict[str, npt.NDArray[Any]]:
        return score_batch(responses, ground_truths, config=self.config)

    def __repr__(self) -> str:
        return f"Reward({self.config!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reward) and (self.config, self.stable_keys) == (
            other.config,
            other.stable_keys,
        )

    def __hash__(self) -> int:
        return hash((self.config, self.stable_keys))
