"""TRL adapter: the dual reward as reward functions for ``trl.GRPOTrainer(reward_funcs=[...])``.

TRL calls every reward function with keyword arguments ``prompts``, ``completions``, ``completion_ids``,
one list per dataset column (so the ground truth comes in as a column, ``ground_truth`` by default) and
a few trainer hooks (``trainer_state``, ``log_metric``, ``log_extra``); a completion is a string, or a
list of chat messages for conversational datasets. A function returns one ``float | None`` per
completion, ``None`` meaning "does not apply here" (TRL averages over the others).

TRL adds up ``reward_weights[i] · reward_i`` over all functions, so train on the combined reward and
log the parts with weight 0, or weigh the parts yourself::

    from trl import GRPOConfig, GRPOTrainer
    from video_rewards.integrations.trl import AccuracyReward, FormatReward, IoUReward, dual_reward_funcs

    funcs, weights = dual_reward_funcs()    # [dual, format, accuracy, iou], weights [1, 0, 0, 0]
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))
    GRPOTrainer(..., reward_funcs=[FormatReward(), AccuracyReward(), IoUReward()],
                args=GRPOConfig(reward_weights=[0.2, 0.4, 0.4], ...))   # TRL's weights are global

``IoUReward`` is the raw temporal IoU (the metric); with ``iou_mode`` / ``iou_threshold`` set, only
``DualReward`` carries the shaped IoU.

The functions are small callable classes holding only their configuration, so they pickle (TRL's
multi-process launchers, Ray) and TRL logs them under their ``__name__``
(``rewards/dual_reward/mean``, ``rewards/format_reward/mean``, ...). This module imports no TRL or torch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import video_rewards as vr

__all__ = [
    "AccuracyReward",
    "DualReward",
    "FormatReward",
    "IoUReward",
    "VideoReward",
    "completion_text",
    "dual_reward_funcs",
]

logger = logging.getLogger(__name__)

Component = Literal["score", "format", "accuracy", "iou"]
Completion = str | Sequence[Mapping[str, Any]]


def completion_text(completion: Completion) -> str:
    """The text a model produced, from a TRL completion (a string or a list of chat messages).

    Message content may be a string or a list of content blocks; the text blocks of the assistant
    messages are joined (tool messages and images are ignored).

    >>> completion_text("<answer>A</answer>")
    '<answer>A</answer>'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>B</answer>"}]}])
    '<answer>B</answer>'
    """
    if isinstance(completion, str):
        return completion
    parts: list[str] = []
    for message in completion:
        if not isinstance(message, Mapping):
            raise TypeError(
                f"a chat completion must be a list of message dicts, got {type(message).__name__}"
            )
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            parts.extend(
                block["text"]
                for block in content
                if isinstance(block, Mapping)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            )
    return "".join(parts)


class VideoReward:
    """One column of the dual reward as a TRL reward function.

    ``component``: ``"score"`` (the combined reward), ``"format"``, ``"accuracy"`` or ``"iou"``.
    ``accuracy`` and ``iou`` return ``None`` for completions whose task has no such part (an IoU for a
    multiple-choice question), so TRL's per-function mean covers only the rows it applies to.

    ``ground_truth_key`` names the dataset column with the ground truth (a dict or its JSON string in
    the reward contract). A verl-style ``reward_model`` column (``{"ground_truth": ...}``) is read too, so
    the same parquet trains with verl and TRL. ``data_source_key`` names the optional data-source column.

    >>> reward = VideoReward("iou")
    >>> reward.__name__
    'iou_reward'
    >>> reward(prompts=["p"], completions=["<answer>A</answer>"],
    ...        ground_truth=[{"task": "mcq", "answer": "A", "options": ["A. cat", "B. dog"]}])
    [None]
    """

    def __init__(
        self,
        component: Component = "score",
        *,
        config: vr.RewardConfig | None = None,
        ground_truth_key: str = "ground_truth",
        data_source_key: str = "data_source",
        name: str | None = None,
        log_failures: bool | None = None,
    ) -> None:
        if component not in ("score", "format", "accuracy", "iou"):
            raise ValueError(f"component must be 'score', 'format', 'accuracy' or 'iou', got {component!r}")
        self.component: Component = component
        self.config = config
        self.ground_truth_key = ground_truth_key
        self.data_source_key = data_source_key
        self.__name__ = name or ("dual_reward" if component == "score" else f"{component}_reward")
        # One function of a set is enough to log parse failures; by default the combined one does.
        self.log_failures = component == "score" if log_failures is None else log_failures

    def __repr__(self) -> str:
        return f"{type(self).__name__}(component={self.component!r}, name={self.__name__!r})"

    def _ground_truths(
        self, n: int, sources: Sequence[str | None], kwargs: Mapping[str, Any]
    ) -> list[vr.GroundTruth | None]:
        """The validated ground truth of each row; ``None`` (and a warning naming the row and field) for a
        row whose ground truth is invalid: one bad dataset row never stops training."""
        column = kwargs.get(self.ground_truth_key)
        if column is None and isinstance(kwargs.get("reward_model"), Sequence):
            column = [
                row.get("ground_truth") if isinstance(row, Mapping) else None
                for row in kwargs["reward_model"]
            ]
        if column is None:
            hooks = {"trainer_state", "log_metric", "log_extra", "environments", "completion_ids"}
            columns = sorted(k for k in kwargs if k not in hooks)
            raise ValueError(
                f"{self.__name__}: no ground-truth column {self.ground_truth_key!r} (nor 'reward_model') in the "
                f"dataset; columns passed by the trainer: {columns}. Pass ground_truth_key=... to name it."
            )
        if len(column) != n:
            raise ValueError(f"{self.__name__}: {len(column)} ground truths for {n} completions")
        truths: list[vr.GroundTruth | None] = []
        for row, (raw, source) in enumerate(zip(column, sources, strict=True)):
            try:
                truths.append(vr.parse_ground_truth(raw, data_source=source))
            except ValueError as exc:
                logger.warning(
                    "%s: batch row %d has a bad ground truth, scored None: %s", self.__name__, row, exc
                )
                truths.append(None)
        return truths

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Completion] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        if completions is None:
            raise ValueError(f"{self.__name__}: TRL passes `completions`; got none")
        responses = [completion_text(c) for c in completions]
        sources = kwargs.get(self.data_source_key)
        if sources is None:
            sources = [None] * len(responses)
        elif len(sources) != len(responses):
            raise ValueError(f"{self.__name__}: {len(sources)} data sources for {len(responses)} completions")
        truths = self._ground_truths(len(responses), sources, kwargs)
        good = [i for i, t in enumerate(truths) if t is not None]
        valid = [t for t in truths if t is not None]
        columns = vr.score_batch([responses[i] for i in good], valid, config=self.config)
        values: list[float | None] = [None] * len(responses)
        failures: list[str | None] = ["bad_ground_truth"] * len(responses)
        for i, value, failure in zip(
            good, columns[self.component].tolist(), columns["failure"].tolist(), strict=True
        ):
            values[i] = None if math.isnan(value) else float(value)
            failures[i] = failure
        if self.log_failures:
            self._log_failures(failures, kwargs.get("log_metric"), kwargs.get("log_extra"))
        return values

    @staticmethod
    def _log_failures(
        failures: Sequence[str | None],
        log_metric: Callable[[str, float], None] | None,
        log_extra: Callable[[str, list[str | None]], None] | None,
    ) -> None:
        """Report parse failures to TRL: the share as metric ``parse_failed`` (logged every batch, so
        TRL's average over a logging window is unbiased), the share of rows with an invalid ground truth
        (scored ``None``) as ``bad_ground_truth``, and each completion's reason as the completions-table
        column ``parse_failure``."""
        if not failures:
            return
        if log_metric is not None:
            log_metric("parse_failed", sum(f is not None for f in failures) / len(failures))
            log_metric("bad_ground_truth", sum(f == "bad_ground_truth" for f in failures) / len(failures))
        if log_extra is not None:
            log_extra("parse_failure", list(failures))


class DualReward(VideoReward):
    """The combined reward (``score``: the paper's weighted format + task reward)."""

    def __init__(self, *, config: vr.RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__("score", config=config, **kwargs)


class FormatReward(VideoReward):
    """The format reward alone: 1.0 for a well-formed ``<think>…</think><answer>…</answer>``."""

    def __init__(self, *, config: vr.RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__("format", config=config, **kwargs)


class AccuracyReward(VideoReward):
    """The semantic reward alone (1.0 right answer, 0.0 wrong); ``None`` for pure grounding rows."""

    def __init__(self, *, config: vr.RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__("accuracy", config=config, **kwargs)


class IoUReward(VideoReward):
    """The raw temporal IoU alone (in [0, 1]); ``None`` for rows whose task has no span."""

    def __init__(self, *, config: vr.RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__("iou", config=config, **kwargs)


def dual_reward_funcs(
    config: vr.RewardConfig | None = None, **kwargs: Any
) -> tuple[list[VideoReward], list[float]]:
    """The reward functions and ``reward_weights`` that train on the dual reward and log its parts.

    Returns ``[DualReward, FormatReward, AccuracyReward, IoUReward]`` with weights ``[1, 0, 0, 0]``:
    TRL's advantage comes from the exact combined score (per-task weights, IoU shaping and
    ``require_format`` included), and each component is still logged as ``rewards/<name>/mean``.
    ``kwargs`` go to every function (``ground_truth_key=...``, ``data_source_key=...``).

    >>> funcs, weights = dual_reward_funcs()
    >>> [f.__name__ for f in funcs], weights
    (['dual_reward', 'format_reward', 'accuracy_reward', 'iou_reward'], [1.0, 0.0, 0.0, 0.0])
    """
    funcs: list[VideoReward] = [
        DualReward(config=config, **kwargs),
        FormatReward(config=config, **kwargs),
        AccuracyReward(config=config, **kwargs),
        IoUReward(config=config, **kwargs),
    ]
    return funcs, [1.0, 0.0, 0.0, 0.0]
