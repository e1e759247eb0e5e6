"""The selection rule as frozen, validated config: what ``select`` / ``report`` apply (see :mod:`selection.rules`).

Loaded from YAML (:func:`load_select_config`) or built from CLI flags; recorded in every ``select`` output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Metric",
    "PassBandRule",
    "QuotaRule",
    "RankRule",
    "SelectConfig",
    "VarianceRule",
    "load_select_config",
    "validation_message",
]

Metric = Literal["reward", "task"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VarianceRule(_Frozen):
    """The paper's rule: drop samples whose rollouts all agree, and those whose spread is too small."""

    metric: Metric = "reward"
    min_std: float = Field(default=0.0, ge=0.0, description="drop when the metric's std is below this")
    drop_saturated: bool = Field(default=True, description="drop all-equal groups (all_correct/all_wrong/…)")


class PassBandRule(_Frozen):
    """Keep samples whose pass rate lies in ``[low, high]`` (PRIME-style band)."""

    low: float = Field(default=0.0, ge=0.0, le=1.0)
    high: float = Field(default=1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> PassBandRule:
        if self.low > self.high:
            raise ValueError(f"pass_band: low ({self.low}) must not exceed high ({self.high})")
        return self


class RankRule(_Frozen):
    """Keep the ``top_k`` highest-std samples, or those with std ≥ the ``quantile`` of the survivors."""

    top_k: int | None = Field(default=None, gt=0)
    quantile: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_of(self) -> RankRule:
        if (self.top_k is None) == (self.quantile is None):
            raise ValueError("rank: give exactly one of top_k or quantile")
        return self


class QuotaRule(_Frozen):
    """At most ``max_per_group`` samples per task / data source; ``per_group`` overrides single groups."""

    by: Literal["task", "data_source"] = "task"
    max_per_group: int | None = Field(default=None, ge=0)
    per_group: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_limit(self) -> QuotaRule:
        if self.max_per_group is None and not self.per_group:
            raise ValueError("quota: give max_per_group and/or per_group")
        if any(v < 0 for v in self.per_group.values()):
            raise ValueError(f"quota: per_group limits must be >= 0, got {self.per_group}")
        return self

    def limit(self, group: str) -> int | None:
        return self.per_group.get(group, self.max_per_group)


class SelectConfig(_Frozen):
    """The whole selection rule. Load from YAML with :func:`load_select_config`; recorded in the output."""

    variance: VarianceRule | None = Field(default_factory=VarianceRule)
    pass_band: PassBandRule | None = None
    rank: RankRule | None = None
    quota: QuotaRule | None = None
    target_size: int | None = Field(default=None, ge=0)
    order: Literal["std_desc", "random"] = "std_desc"
    metric: Metric = Field(default="reward", description="metric used by rank / quota / target_size ordering")
    seed: int = 0
    allow_unscored: bool = Field(
        default=False,
        description="drop dataset rows that have no score (reason 'unscored') instead of failing",
    )
    drop_invalid_stats: bool = Field(
        default=False,
        description="drop rows with NaN/infinite/negative statistics (reason 'invalid_stats') instead of failing",
    )

    def describe(self) -> str:
        """A short human-readable summary of the active rules, used as ``sel_keep_reason``.

        >>> SelectConfig(variance=VarianceRule(min_std=0.1)).describe()
        'reward_std>=0.1'
        """
        parts: list[str] = []
        if self.variance is not None:
            v = self.variance
            if v.drop_saturated and v.min_std == 0:
                parts.append(f"{v.metric}_varies")
            elif v.min_std > 0:
                parts.append(f"{v.metric}_std>={v.min_std:g}")
        if self.pass_band is not None:
            parts.append(f"pass_rate_in[{self.pass_band.low:g},{self.pass_band.high:g}]")
        if self.rank is not None:
            r = self.rank
            parts.append(f"top_{r.top_k}" if r.top_k is not None else f"std>=q{r.quantile:g}")
        if self.quota is not None:
            parts.append(f"quota_by_{self.quota.by}")
        if self.target_size is not None:
            parts.append(f"target_size_{self.target_size}")
        return ";".join(parts) or "all"


def load_select_config(path: str | Path) -> SelectConfig:
    """Read a :class:`SelectConfig` from YAML; ``ValueError`` naming the file and the bad field."""
    import yaml
    from pydantic import ValidationError

    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a selection config must be a mapping, got {type(raw).__name__}")
    try:
        return SelectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid selection config: {validation_message(exc)}") from None


def validation_message(exc: Exception) -> str:
    """A pydantic error as one line per bad field: ``variance.min_std: Input should be …``."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return str(exc)
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors())
