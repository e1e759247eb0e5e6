"""What the verl dataset filter keeps (:class:`SelectionFilterConfig`, from ``data.selection.*``) and what it
says about the rows it dropped (:class:`SelectionReport`); the rules themselves are
:mod:`verl_plugins.selection_filter`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from selection.checks import StatRule

__all__ = ["DROP_REASONS", "SEL_STAT_RULES", "SelectionFilterConfig", "SelectionReport"]

#: Drop reasons, in the order the rules are applied (a row is counted under the first rule it fails).
DROP_REASONS: tuple[str, ...] = (
    "missing_video",
    "duplicate_index",
    "invalid_stats",
    "unscored",
    "keep_reason",
    "low_std",
    "pass_rate_out_of_band",
    "below_top_k",
)
#: What a selection statistic may hold; NaN is allowed (unscored rows, tasks without a component).
SEL_STAT_RULES = (
    StatRule("sel_reward_std", nan_ok=True, low=0.0),
    StatRule("sel_reward_mean", nan_ok=True),
    StatRule("sel_pass_rate", nan_ok=True, low=0.0, high=1.0),
    StatRule("sel_n", nan_ok=True, low=0.0),
    StatRule("sel_format_mean", nan_ok=True),
    StatRule("sel_accuracy_mean", nan_ok=True),
    StatRule("sel_iou_mean", nan_ok=True),
)


class SelectionFilterConfig(BaseModel):
    """The row-keeping rule, from ``data.selection.*`` (validated once, when the dataset is built).

    >>> SelectionFilterConfig(min_std=0.1, top_k=2).top_k
    2
    >>> SelectionFilterConfig(min_pass_rate=0.9, max_pass_rate=0.1)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SelectionFilterConfig
      Value error, min_pass_rate (0.9) must be <= max_pass_rate (0.1) ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: keep rows with ``sel_reward_std >= min_std`` (the paper's variance rule).
    min_std: float | None = Field(default=None, ge=0)
    #: keep rows with ``min_pass_rate <= sel_pass_rate <= max_pass_rate``; rows without a pass rate are exempt.
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_pass_rate: float | None = Field(default=None, ge=0, le=1)
    #: keep rows whose ``sel_keep_reason`` is one of these.
    keep_reasons: tuple[str, ...] | None = None
    #: then keep the ``top_k`` rows with the highest ``rank_by`` value (missing values last, ties: earlier row).
    top_k: int | None = Field(default=None, gt=0)
    rank_by: str = "sel_reward_std"
    #: rows with no score (null ``sel_reward_std``): ``"drop"`` them (counted as ``unscored``) or ``"error"``.
    unscored: Literal["drop", "error"] = "error"
    #: drop rows with invalid statistics / a repeated ``extra_info.index`` instead of failing.
    drop_invalid: bool = False
    #: refuse a ``selection select`` output whose rows no longer match the fingerprint it recorded.
    verify_fingerprint: bool = True
    #: apply the rules to validation files too (by default those are only checked for videos).
    apply_to_val: bool = False
    #: look for each row's local video files; ``missing_videos``: ``"error"`` (default) or ``"drop"``.
    check_videos: bool = True
    missing_videos: Literal["error", "drop"] = "error"

    @model_validator(mode="after")
    def _band(self) -> SelectionFilterConfig:
        lo, hi = self.min_pass_rate, self.max_pass_rate
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_pass_rate ({lo}) must be <= max_pass_rate ({hi})")
        return self

    @property
    def has_rules(self) -> bool:
        return any(
            v is not None
            for v in (self.min_std, self.min_pass_rate, self.max_pass_rate, self.keep_reasons, self.top_k)
        )

    @property
    def has_pass_band(self) -> bool:
        return self.min_pass_rate is not None or self.max_pass_rate is not None

    def required_columns(self) -> list[str]:
        cols = []
        if self.min_std is not None or self.top_k is not None:
            cols.append("sel_reward_std")
        if self.has_pass_band:
            cols.append("sel_pass_rate")
        if self.keep_reasons is not None:
            cols.append("sel_keep_reason")
        if self.top_k is not None:
            cols.append(self.rank_by)
        return list(dict.fromkeys(cols))

    @classmethod
    def from_data_config(cls, data_config: Any) -> SelectionFilterConfig:
        """Validate ``data.selection`` of a verl data config (absent → no rules, videos still checked)."""
        raw = data_config.get("selection") if data_config is not None else None
        if raw is None:
            return cls()
        try:
            from omegaconf import DictConfig, OmegaConf

            if isinstance(raw, DictConfig):
                raw = OmegaConf.to_container(raw, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf ships with verl
            pass
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"data.selection: {exc}") from exc


class SelectionReport(BaseModel):
    """What the filter did to one file set: counts per reason and per data source."""

    model_config = ConfigDict(frozen=True)

    total: int
    kept: int
    dropped_by_reason: dict[str, int]
    kept_by_source: dict[str, int]
    dropped_by_source: dict[str, dict[str, int]]
    missing_videos: list[str]
    rules_applied: bool
    #: rows without a pass rate (tasks without accuracy) let through a pass-rate band, per data source.
    pass_rate_exempt_by_source: dict[str, int] = Field(default_factory=dict)
    #: what was wrong with each row dropped as ``invalid_stats`` / ``duplicate_index``.
    invalid_rows: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        return (
            f"kept {self.kept} of {self.total} rows; dropped by reason {self.dropped_by_reason}; "
            f"kept by data_source {self.kept_by_source}; dropped by data_source {self.dropped_by_source}"
        )

    def source_lines(self) -> list[str]:
        """One line per data source: kept, dropped per reason, rows exempt from the pass-rate band."""
        sources = sorted(
            set(self.kept_by_source) | set(self.dropped_by_source) | set(self.pass_rate_exempt_by_source)
        )
        lines = []
        for s in sources:
            kept, dropped = self.kept_by_source.get(s, 0), self.dropped_by_source.get(s, {})
            line = f"data_source {s!r}: kept {kept} of {kept + sum(dropped.values())}; dropped {dropped or 'none'}"
            if s in self.pass_rate_exempt_by_source:
                line += f"; {self.pass_rate_exempt_by_source[s]} without a pass rate, exempt from the pass-rate band"
            lines.append(line)
        return lines
