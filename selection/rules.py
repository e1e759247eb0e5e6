"""``selection select``: the selection rules as a chain of small filters over the score table.

Each stage has one job, looks only at the rows still alive, and returns *why* it drops each row it drops
(a ``drop_reason``); the pipeline counts drops per reason. Stages, in order:

0. ``invalid_stats`` — NaN / infinite / negative statistics (:mod:`selection.checks`): an error naming the
   rows, unless ``drop_invalid_stats`` drops them;
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
from typing import Any, Protocol

import numpy as np
import pandas as pd

from selection.checks import invalid_stats_error, score_stat_problems
from selection.rule_config import (
    Metric,
    PassBandRule,
    QuotaRule,
    RankRule,
    SelectConfig,
    VarianceRule,
    load_select_config,
    validation_message,
)

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
    "invalid_stats",
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
class InvalidStatsStage:
    """Rows whose statistics are not valid numbers: an error naming them, or dropped when ``drop``."""

    drop: bool
    where: str = "scores"
    name: str = "invalid_stats"

    def __call__(self, alive: pd.DataFrame) -> pd.Series:
        problems = score_stat_problems(alive)
        bad = problems.notna()
        if bad.any() and not self.drop:
            raise invalid_stats_error(
                self.where,
                alive.loc[bad, "sample_id"].tolist(),
                problems[bad].tolist(),
                "--drop-invalid-stats",
            )
        for sid, problem in zip(alive.loc[bad, "sample_id"], problems[bad], strict=True):
            logger.warning("%s: dropping sample_id %s as invalid_stats: %s", self.where, sid, problem)
        out = _keep_all(alive)
        out[bad] = "invalid_stats"
        return out


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


def build_stages(config: SelectConfig, where: str = "scores") -> list[Stage]:
    """The filter chain a config describes, in the order of the module docstring."""
    stages: list[Stage] = [InvalidStatsStage(config.drop_invalid_stats, where), FailedStage()]
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
    scores: pd.DataFrame,
    config: SelectConfig,
    stages: Sequence[Stage] | None = None,
    *,
    where: str = "scores",
) -> SelectionResult:
    """Apply the stages in order to ``scores`` (one row per sample); returns every row with its reason.

    ``where`` names the scores in errors (e.g. ``"scores runs/scores.parquet"``).
    """
    missing = [c for c in RULE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {missing} (is this the output of `selection score`?)")
    table = scores.reset_index(drop=True).copy()
    reasons = pd.Series([None] * len(table), index=table.index, dtype=object)
    counts: Counter[str] = Counter()
    for stage in stages if stages is not None else build_stages(config, where):
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
