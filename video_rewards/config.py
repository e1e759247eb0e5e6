"""The reward configuration: per-task weights and scoring options, frozen and validated once.

It sits above the task registry (:mod:`video_rewards.tasks`): partial per-task weights are merged with the
registered task's defaults, and an unknown task name fails here, when the config is built.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from video_rewards.geometry import IouMode
from video_rewards.tags import MAX_ANSWER_CHARS, MAX_RESPONSE_CHARS
from video_rewards.tasks import get_task
from video_rewards.weights import TaskWeights

__all__ = ["RewardConfig", "TaskWeights"]


def _plain(obj: Any) -> Any:
    """Mappings (OmegaConf's DictConfig included) and sequences to plain dicts / lists."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


class RewardConfig(BaseModel):
    """How rewards are computed. Frozen and hashable; build it from verl's ``reward_kwargs`` with
    :meth:`from_kwargs`.

    * ``weights``: per-task overrides of the task's default weights; a partial entry
      (``{"tvg": {"iou": 0.7}}``) keeps the other defaults of that task.
    * ``iou_mode``: ``"iou"`` (plain tIoU), ``"giou"`` (``(1+GIoU)/2``) or ``"distance"``
      (IoU × boundary-distance penalties), see :func:`video_rewards.geometry.shape_iou`.
    * ``iou_threshold``: if set, the IoU component becomes a 0/1 hit (``iou >= threshold``).
    * ``require_format``: the whole score is 0 when the format check fails.
    * ``require_answer_tag``: if False, a response without an answer block is read as a whole (the text
      after its last ``</think>`` when there is any): the lenient mode for plain-text answers.
    * ``mcq_index_base``: ``None`` (default) reads no integer as an option; ``0`` or ``1`` reads an integer
      answer (``<answer>3</answer>``, ``the answer is 3``) as the option at that index (NExT-QA prompts
      ask for ``0``–``4``).
    * ``max_response_chars`` / ``max_answer_chars``: input bounds; longer text is not parsed and scores 0
      with failure ``response_too_long`` / ``answer_too_long``.
    * ``numeric_abs_tol`` / ``numeric_rel_tol``: default tolerances of the numeric task.
    * ``max_predicted_segments``: multi_tvg reads at most this many predicted spans for matching (all
      found spans still count as predictions when penalising extra ones).

    >>> cfg = RewardConfig.from_kwargs(weights={"tvg": {"iou": 0.7, "format": 0.3}}, iou_threshold=0.5)
    >>> cfg.weights_for("tvg")
    TaskWeights(format=0.3, accuracy=0.0, iou=0.7)
    >>> cfg.weights_for("mcq")
    TaskWeights(format=0.5, accuracy=0.5, iou=0.0)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: Mapping[str, TaskWeights] = Field(default_factory=dict)
    iou_mode: IouMode = "iou"
    iou_threshold: float | None = Field(default=None, gt=0, le=1)
    require_format: bool = False
    require_answer_tag: bool = True
    max_response_chars: int = Field(default=MAX_RESPONSE_CHARS, gt=0)
    max_answer_chars: int = Field(default=MAX_ANSWER_CHARS, gt=0)
    numeric_abs_tol: float = Field(default=1e-6, ge=0, allow_inf_nan=False)
    numeric_rel_tol: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_predicted_segments: int = Field(default=16, ge=1, le=64)
    mcq_index_base: Literal[0, 1] | None = None

    @model_validator(mode="before")
    @classmethod
    def _merge_weights(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("weights") is None:
            return data
        raw = data["weights"]
        if not isinstance(raw, Mapping):
            raise ValueError(f"weights must be a mapping task -> weights, got {type(raw).__name__}")
        merged: dict[str, TaskWeights] = {}
        for task, value in raw.items():
            default = get_task(str(task)).default_weights
            if isinstance(value, TaskWeights):
                merged[str(task)] = value
            elif isinstance(value, Mapping):
                try:
                    merged[str(task)] = default.model_copy(update={}).model_validate(
                        {**default.model_dump(), **_plain(value)}
                    )
                except ValidationError as exc:
                    raise ValueError(f"weights.{task}: {_errors(exc)}") from exc
            else:
                raise ValueError(f"weights.{task} must be a mapping of component -> weight, got {value!r}")
        return {**data, "weights": merged}

    @field_validator("mcq_index_base", mode="before")
    @classmethod
    def _index_base(cls, value: Any) -> Any:
        # String-only channels (a CLI, a ``config`` JSON string written by hand) give "0" / "none".
        if isinstance(value, str):
            text = value.strip().lower()
            return None if text in ("", "none", "null") else int(text) if text in ("0", "1") else value
        return value

    @field_validator("weights")
    @classmethod
    def _freeze(cls, weights: Mapping[str, TaskWeights]) -> Mapping[str, TaskWeights]:
        return dict(sorted(weights.items()))

    def __hash__(self) -> int:
        return hash(self.model_dump_json())

    def weights_for(self, task: str) -> TaskWeights:
        """This task's weights: the override if any, else the task's registered default."""
        override = self.weights.get(task)
        if override is not None:
            return override
        return get_task(task).default_weights

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> RewardConfig:
        """Validate verl ``reward_kwargs`` (or any keyword overrides); unknown keys are rejected.

        A ``config`` key holding a JSON string or mapping is accepted too (for ``reward_kwargs`` that can
        only carry strings).
        """
        if not kwargs:
            return _DEFAULT
        kw = _plain(kwargs)
        if "config" in kw:
            inner = kw.pop("config")
            inner = json.loads(inner) if isinstance(inner, str) else inner
            kw = {**inner, **kw}
        unknown = sorted(set(kw) - set(cls.model_fields))
        if unknown:
            raise ValueError(
                f"unknown reward option(s) {unknown}; known: {', '.join(sorted(cls.model_fields))}"
            )
        try:
            return cls.model_validate(kw)
        except ValidationError as exc:
            raise ValueError(f"reward config: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )


_DEFAULT = RewardConfig()
