"""A task's reward weights (:class:`TaskWeights`): the floor both the task registry and the config stand on."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TaskWeights"]


class TaskWeights(BaseModel):
    """Weights of one task's reward components; ``score = Σ weight · component``.

    >>> TaskWeights(format=0.5, iou=0.5).total
    1.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    accuracy: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    iou: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @property
    def total(self) -> float:
        return self.format + self.accuracy + self.iou
