"""TRL adapter: the dual reward as reward functions for ``trl.GRPOTrainer(reward_funcs=[...])``.

TRL calls every reward function with keyword arguments ``prompts``, ``completions``, ``completion_ids``,
one list per dataset column (so the ground truth comes in as a column, ``ground_truth`` by default) and
a few trainer hooks (``trainer_state``, ``log_metric``, ``log_extra``); a completion is a string, or a
list of chat messages for conversational datasets. A function returns one ``float | None`` per
completion, ``None`` meaning "does not apply here" (TRL averages over the others).

Pick either the combined reward or the components, not both (TRL sums all ``reward_funcs``)::

    from trl import GRPOTrainer
    from video_rewards.integrations.trl import DualReward, component_rewards

    GRPOTrainer(..., reward_funcs=[DualReward()])            # one reward: the paper's weighted sum
    funcs, weights = component_rewards()                     # format / accuracy / iou, logged apart
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=weights, ...))

The functions are small callable classes holding only their configuration, so they pickle (TRL's
multi-process launchers, Ray) and TRL logs them under their ``__name__``
(``rewards/dual_reward/mean``, ``rewards/format_reward/mean``, ...). This module imports no TRL or torch.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

import video_rewards as vr

__all__ = [
    "AccuracyReward",
    "DualReward",
    "FormatReward",
    "IoUReward",
    "VideoReward",
    "completion_text",
    "component_rewards",
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
            raise TypeError(f"a chat completion must be a list of message dicts, got {type(message).__name__}")
        if message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, Sequence):
            parts.extend(
                block["text"]
                for block in content
                if isinstance(block, Mapping) and block.get("type") == "text" and isinstance(block.get("text"), str)
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
        # Only one function of a set needs to log parse failures; by default the combined one does.
        self.log_failures = component == "score" if log_failures is None else log_failures

    def __repr__(self) -> str:
        return f"{type(self).__name__}(component={self.component!r}, name={self.__name__!r})"

    def _ground_truths(self, n: int, kwargs: Mapping[str, Any]) -> list[Any]:
        column = kwargs.get(self.ground_truth_key)
        if column is None and isinstance(kwargs.get("reward_model"), Sequence):
            column = [row.get("ground_truth") if isinstance(row, Mapping) else None for row in kwargs["reward_model"]]
        if column is None:
            hooks = {"trainer_state", "log_metric", "log_extra", "environments", "completion_ids"}
            columns = sorted(k for k in kwargs if k not in hooks)
            raise ValueError(
                f"{self.__name__}: no ground-truth column {self.ground_truth_key!r} (nor 'reward_model') in the "
                f"dataset; columns passed by the trainer: {columns}. Pass ground_truth_key=... to name it."
            )
        if len(column) != n:
            raise ValueError(f"{self.__name__}: {len(column)} ground truths for {n} completions")
        truths = []
        for row, raw in enumerate(column):
            try:
                truths.append(vr.parse_ground_truth(raw))
            except ValueError as exc:
                raise ValueError(f"{self.__name__}: bad ground truth in batch row {row}: {exc}") from exc
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
        truths = self._ground_truths(len(responses), kwargs)
        sources = kwargs.get(self.data_source_key)
        columns = vr.score_batch(
            responses,
            truths,
            config=self.config,
            data_sources=list(sources) if sources is not None else None,
        )
        if self.log_failures:
            self._log_failures(columns["failure"], kwargs.get("log_metric"))
        values: np.ndarray = columns[self.component]
        return [None if math.isnan(v) else float(v) for v in values.tolist()]

    def _log_failures(self, failures: Sequence[str | None], log_metric: Callable[[str, float], None] | None) -> None:
        """Report the share of completions per parse-failure reason (``failures/<reason>``) to TRL."""
        if log_metric is None or len(failures) == 0:
            return
        counts = Counter(f for f in failures if f is not None)
        for reason, count in counts.items():
            log_metric(f"failures/{reason}", count / len(failures))


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
    """The temporal reward alone (the configured IoU shaping, in [0, 1]); ``None`` for rows with no span."""

    def __init__(self, *, config: vr.RewardConfig | None = None, **kwargs: Any) -> None:
        super().__init__("iou", config=config, **kwargs)


def component_rewards(
    config: vr.RewardConfig | None = None, **kwargs: Any
) -> tuple[list[VideoReward], list[float]]:
    """The format, accuracy and IoU rewards and the ``reward_weights`` that make TRL's sum the dual reward.

    TRL adds ``weight · reward`` over the functions that apply (``None`` counts as 0 in the sum), so with
    these weights the total equals ``score`` for every task. Pass the weights as
    ``GRPOConfig(reward_weights=...)``.
    """
    raise NotImplementedError
