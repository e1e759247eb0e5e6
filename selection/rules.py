"""``selection select``: the selection rules as a chain of small filters over the score table.

Each stage has one job, looks only at the rows still alive, and returns *why* it drops each row it drops
(a ``drop_reason``); the pipeline counts drops per reason. Stages, in order:

1. ``failed`` — the sample has no rollouts because its video/prompt failed (``failure`` is set);
2. saturation — all n values of the rule's metric are equal: ``all_correct`` (every rollout passed / IoU 1),
   ``all_wrong`` (none did / IoU 0), else ``zero_variance``;
3. ``low_variance`` — the metric's std is below ``min_std`` (the paper's rule);
4. ``pass_band`` — pass rate outside ``[low, high]`` (tasks without a pass rate are not affected);
5. ``rank`` — only the ``top_k`` highest-std samples, or those at or above a std ``quantile``;
6. ``quota`` — at most so many samples per task or per data source;
7. ``target_size`` — at most so many samples overall.

Ranked stages (5–7) keep rows in the order ``order``: highest metric std first (ties: lower sample id), or
a seeded random order. The metric is ``reward`` (the combined reward) or ``task`` (the task's raw metric:
accuracy for tasks that have one, else temporal IoU).

>>> import pandas as pd
>>> scores = pd.DataFrame({"sample_id": [1, 2, 3], "task": ["mcq"] * 3, "data_source": ["d"] * 3,
...     "n": [4, 4, 4], "reward_std": [0.0, 0.5, 0.01], "reward_min": [1.0, 0.0, 0.9],
...     "reward_max": [1.0, 1.0, 0.92], "pass_rate": [1.0, 0.5, 0.25], "iou_mean": [float("nan")] * 3,
...     "accuracy_std": [0.0, 0.5, 0.43], "iou_std": [float("nan")] * 3, "failure": [None] * 3})
>>> run_rules(scores, SelectConfig(variance=VarianceRule(min_std=0.05))).drop_reason.tolist()
['all_correct', None, 'low_variance']
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)

__all__ = [
    "DROP_REASONS",
    "PassBandRule",
    "QuotaRule",
    "RankRule",
    "SelectConfig",
    "SelectionResult",
    "VarianceRule",
    "build_stages",
    "load_select_config",
    "metric_std",
    "run_rules",
    "validation_message",
]

DROP_REASONS = (
    "failed",
    "all_correct",
    "all_wrong",
    "zero_variance",
    "low_variance",
    "pass_band",
    "rank",
    "quota",
    "target_size",
    "unscored",
)
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


def metric_std(scores: pd.DataFrame, metric: Metric) -> pd.Series:
    """Per-row std of the rule's metric: the reward, or the task's own (accuracy, else IoU)."""
    if metric == "reward":
        return scores["reward_std"].astype(float)
    return scores["accuracy_std"].where(scores["accuracy_std"].notna(), scores["iou_std"]).astype(float)


class Stage(Protocol):
    """A filter: for the alive rows, a Series of drop reasons (``None`` = keep), same index."""

    @property
    def name(self) -> str: ...

    def __call__(self, alive: pd.DataFrame) -> pd.Series: ...


def _keep_all(alive: pd.DataFrame) -> pd.Series:
    return pd.Series([None] * len(alive), index=alive.index, dtype=object)


@dataclass(frozen=True)
class FailedStage:
    name: str = "failed"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        out[alive["failure"].notna() | (alive["n"] <= 0)] = "failed"
        return out


@dataclass(frozen=True)
class SaturationStage:
    """All n values equal: no GRPO advantage. Named by what the rollouts agreed on."""

    metric: Metric
    name: str = "saturation"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        if self.metric == "reward":
            flat = (alive["reward_max"] <= alive["reward_min"]) | (alive["n"] < 2)
        else:
            flat = metric_std(alive, "task").fillna(0.0) <= 0.0
        pass_rate = alive["pass_rate"]
        iou = alive["iou_mean"] if "iou_mean" in alive else pd.Series(np.nan, index=alive.index)
        correct = (pass_rate == 1.0) | (pass_rate.isna() & (iou == 1.0))
        wrong = (pass_rate == 0.0) | (pass_rate.isna() & (iou == 0.0))
        out[flat] = "zero_variance"
        out[flat & wrong] = "all_wrong"
        out[flat & correct] = "all_correct"
        return out


@dataclass(frozen=True)
class LowVarianceStage:
    metric: Metric
    min_std: float
    name: str = "low_variance"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        out[metric_std(alive, self.metric).fillna(0.0) < self.min_std] = "low_variance"
        return out


@dataclass(frozen=True)
class PassBandStage:
    rule: PassBandRule
    name: str = "pass_band"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        pr = alive["pass_rate"]
        out[pr.notna() & ((pr < self.rule.low) | (pr > self.rule.high))] = "pass_band"
        return out


def _ranked(alive: pd.DataFrame, config: SelectConfig) -> pd.Index:
    """Row labels of ``alive`` in keep-first order."""
    if config.order == "random":
        rng = np.random.default_rng(config.seed)
        return alive.index[rng.permutation(len(alive))]
    key = pd.DataFrame({"std": metric_std(alive, config.metric).fillna(-1.0), "id": alive["sample_id"]})
    return key.sort_values(["std", "id"], ascending=[False, True], kind="stable").index


@dataclass(frozen=True)
class RankStage:
    rule: RankRule
    config: SelectConfig
    name: str = "rank"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        if self.rule.top_k is not None:
            out[_ranked(alive, self.config)[self.rule.top_k :]] = "rank"
        else:
            std = metric_std(alive, self.config.metric).fillna(0.0)
            if len(std) and self.rule.quantile is not None:
                cut = float(np.quantile(std.to_numpy(), self.rule.quantile))
                out[std < cut] = "rank"
        return out


@dataclass(frozen=True)
class QuotaStage:
    rule: QuotaRule
    config: SelectConfig
    name: str = "quota"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        order = _ranked(alive, self.config)
        groups = alive.loc[order, self.rule.by].astype(str)
        rank_in_group = groups.groupby(groups, sort=False).cumcount()
        limits = groups.map(lambda g: self.rule.limit(g))
        over = limits.notna() & (rank_in_group >= limits.fillna(np.inf))
        out[over[over].index] = "quota"
        return out


@dataclass(frozen=True)
class TargetSizeStage:
    size: int
    config: SelectConfig
    name: str = "target_size"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        out = _keep_all(alive)
        if len(alive) < self.size:
            logger.warning(
                "target_size %d not reached: only %d samples survive the rules", self.size, len(alive)
            )
        out[_ranked(alive, self.config)[self.size :]] = "target_size"
        return out


def build_stages(config: SelectConfig) -> list[Stage]:
    """The filter chain a config describes, in the order of the module docstring."""
    stages: list[Stage] = [FailedStage()]
    if config.variance is not None:
        if config.variance.drop_saturated:
            stages.append(SaturationStage(config.variance.metric))
        if config.variance.min_std > 0:
            stages.append(LowVarianceStage(config.variance.metric, config.variance.min_std))
    if config.pass_band is not None:
        stages.append(PassBandStage(config.pass_band))
    if config.rank is not None:
        stages.append(RankStage(config.rank, config))
    if config.quota is not None:
        stages.append(QuotaStage(config.quota, config))
    if config.target_size is not None:
        stages.append(TargetSizeStage(config.target_size, config))
    return stages


@dataclass
class SelectionResult:
    """The score table with a ``drop_reason`` column (null = kept) and the counts per reason."""

    table: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> pd.DataFrame:
        return self.table[self.table["drop_reason"].isna()]

    @property
    def drop_reason(self) -> pd.Series:
        return self.table["drop_reason"]


RULE_COLUMNS = (
    "sample_id",
    "task",
    "data_source",
    "n",
    "reward_std",
    "reward_min",
    "reward_max",
    "pass_rate",
    "failure",
)


def run_rules(
    scores: pd.DataFrame, config: SelectConfig, stages: Sequence[Stage] | None = None
) -> SelectionResult:
    """Apply the stages in order to ``scores`` (one row per sample); returns every row with its reason."""
    missing = [c for c in RULE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing} (is this the output of `selection score`?)")
    table = scores.reset_index(drop=True).copy()
    reasons = pd.Series([None] * len(table), index=table.index, dtype=object)
    counts: Counter[str] = Counter()
    for stage in stages if stages is not None else build_stages(config):
        alive = table[reasons.isna()]
        if alive.empty:
            break
        dropped = stage(alive).dropna()
        reasons[dropped.index] = dropped
        counts.update(dropped.tolist())
        logger.info("stage %s: dropped %d of %d", stage.name, len(dropped), len(alive))
    table["drop_reason"] = reasons
    out: dict[str, Any] = {r: counts.get(r, 0) for r in DROP_REASONS if counts.get(r, 0)}
    out.update({r: c for r, c in counts.items() if r not in out})
    return SelectionResult(table=table, counts=out)
