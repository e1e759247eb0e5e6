"""verl dataset class that keeps the rows chosen by variance-aware selection (``data.custom_cls``).

::

    data.custom_cls.path=pkg://video_rlt.verl_dataset data.custom_cls.name=SelectedVideoDataset \\
    +data.selection.min_std=0.05 +data.selection.top_k=32000 \\
    '+data.selection.keep_reasons=["reward_std>=0.05"]'

It reads the score columns that ``selection select`` attaches to the verl parquet (``sel_reward_std``,
``sel_reward_mean``, ``sel_pass_rate``, ``sel_keep_reason``, …; see ``docs/architecture.md``), keeps the rows
that pass every configured rule (:class:`SelectionFilterConfig`), logs how many rows were kept and dropped
per reason and per ``data_source``, and raises if nothing is left. It also checks, without decoding, that
every local video file exists, and names the rows whose file is missing.

The rules apply to the training files; a validation file (``data.val_files`` differing from
``data.train_files``) is only checked for videos unless ``data.selection.apply_to_val=true``. Video decoding
goes through :class:`selection.video.verl_hook.QwenVideoMixin` (the project's video loader).
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

logger = logging.getLogger(__name__)
# verl configures the root logger at WARNING; the kept/dropped report is what a user checks first.
logger.setLevel(os.getenv("VIDEO_RLT_LOGGING_LEVEL", "INFO"))

__all__ = ["SelectedVideoDataset", "SelectionFilterConfig", "SelectionReport", "select_rows"]

#: Drop reasons, in the order the rules are applied (a row is counted under the first rule it fails).
DROP_REASONS: tuple[str, ...] = (
    "missing_video",
    "unscored",
    "keep_reason",
    "low_std",
    "pass_rate_out_of_band",
    "below_top_k",
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
    #: keep rows with ``min_pass_rate <= sel_pass_rate <= max_pass_rate`` (drop all-right / all-wrong).
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_pass_rate: float | None = Field(default=None, ge=0, le=1)
    #: keep rows whose ``sel_keep_reason`` is one of these.
    keep_reasons: tuple[str, ...] | None = None
    #: then keep the ``top_k`` rows with the highest ``rank_by`` value (ties: earlier row first).
    top_k: int | None = Field(default=None, gt=0)
    rank_by: str = "sel_reward_std"
    #: rows with no score (null ``sel_reward_std``): ``"drop"`` them (counted as ``unscored``) or ``"error"``.
    unscored: Literal["drop", "error"] = "error"
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

    def required_columns(self) -> list[str]:
        cols = []
        if self.min_std is not None or self.top_k is not None:
            cols.append("sel_reward_std")
        if self.min_pass_rate is not None or self.max_pass_rate is not None:
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

    def summary(self) -> str:
        return (
            f"kept {self.kept} of {self.total} rows; dropped by reason {self.dropped_by_reason}; "
            f"kept by data_source {self.kept_by_source}; dropped by data_source {self.dropped_by_source}"
        )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _local_video_paths(item: Any) -> list[str]:
    """Local file paths referenced by one ``videos`` element (dict, path, or list of frame paths)."""
    if isinstance(item, Mapping):
        item = item.get("video")
    if isinstance(item, str | os.PathLike):
        path = os.fspath(item)
        if "://" in path and not path.startswith("file://"):
            return []  # remote: cannot be checked cheaply
        return [path.removeprefix("file://")]
    if isinstance(item, Sequence) and not isinstance(item, bytes):
        return [
            p for frame in item for p in _local_video_paths(frame) if isinstance(frame, str | os.PathLike)
        ]
    return []


def select_rows(
    columns: Mapping[str, Sequence[Any]],
    config: SelectionFilterConfig,
    *,
    apply_rules: bool = True,
    video_key: str = "videos",
) -> tuple[list[int], SelectionReport]:
    """Indices of the kept rows and the report; pure (no verl), so it is unit-testable on plain columns.

    >>> cols = {"data_source": ["a", "a", "b"], "sel_reward_std": [0.0, 0.3, 0.2]}
    >>> kept, report = select_rows(cols, SelectionFilterConfig(min_std=0.1, check_videos=False))
    >>> kept, report.dropped_by_reason
    ([1, 2], {'low_std': 1})
    """
    n = len(next(iter(columns.values()))) if columns else 0
    sources = [str(s) for s in columns.get("data_source", ["<none>"] * n)]
    reasons: list[str | None] = [None] * n
    missing: list[str] = []

    if config.check_videos and video_key in columns:
        for i, videos in enumerate(columns[video_key]):
            for item in videos or []:
                for path in _local_video_paths(item):
                    if not os.path.exists(path):
                        missing.append(f"row {i} (data_source={sources[i]!r}): {path}")
                        reasons[i] = "missing_video"
        if missing and config.missing_videos == "error":
            shown = "\n  ".join(missing[:20])
            more = f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise FileNotFoundError(
                f"{len(missing)} video file(s) not found (set data.selection.missing_videos=drop to drop "
                f"those rows):\n  {shown}{more}"
            )

    rules = apply_rules and config.has_rules
    if rules:
        absent = [c for c in config.required_columns() if c not in columns]
        if absent:
            raise ValueError(
                f"data.selection rules need column(s) {absent}, not in the data (columns: {sorted(columns)}); "
                "write the file with `python -m selection select` or drop those rules"
            )
        std = columns.get("sel_reward_std")
        for i in range(n):
            if reasons[i] is not None:
                continue
            if std is not None and _is_missing(std[i]):
                if config.unscored == "error":
                    raise ValueError(
                        f"row {i} (data_source={sources[i]!r}) has no sel_reward_std; set "
                        "data.selection.unscored=drop to drop unscored rows"
                    )
                reasons[i] = "unscored"
            elif config.keep_reasons is not None and columns["sel_keep_reason"][i] not in config.keep_reasons:
                reasons[i] = "keep_reason"
            elif config.min_std is not None and float(columns["sel_reward_std"][i]) < config.min_std:
                reasons[i] = "low_std"
            elif config.min_pass_rate is not None or config.max_pass_rate is not None:
                rate = columns["sel_pass_rate"][i]
                lo = config.min_pass_rate if config.min_pass_rate is not None else 0.0
                hi = config.max_pass_rate if config.max_pass_rate is not None else 1.0
                if _is_missing(rate) or not lo <= float(rate) <= hi:
                    reasons[i] = "pass_rate_out_of_band"
        if config.top_k is not None:
            survivors = [i for i in range(n) if reasons[i] is None]
            ranked = sorted(survivors, key=lambda i: (-float(columns[config.rank_by][i]), i))
            for i in ranked[config.top_k :]:
                reasons[i] = "below_top_k"

    kept = [i for i in range(n) if reasons[i] is None]
    by_reason = Counter(r for r in reasons if r is not None)
    dropped_by_source: dict[str, Counter[str]] = {}
    for i, reason in enumerate(reasons):
        if reason is not None:
            dropped_by_source.setdefault(sources[i], Counter())[reason] += 1
    report = SelectionReport(
        total=n,
        kept=len(kept),
        dropped_by_reason={r: by_reason[r] for r in DROP_REASONS if by_reason[r]},
        kept_by_source=dict(sorted(Counter(sources[i] for i in kept).items())),
        dropped_by_source={s: dict(c) for s, c in sorted(dropped_by_source.items())},
        missing_videos=missing,
        rules_applied=rules,
    )
    return kept, report


def _dataset_base() -> type:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from selection.video.verl_hook import QwenVideoMixin

    class _Base(QwenVideoMixin, RLHFDataset):
        pass

    return _Base


class SelectedVideoDataset(_dataset_base()):  # type: ignore[misc]
    """``RLHFDataset`` (with the project's video loader) that keeps the selected rows.

    The filter runs when the files are read (before verl's optional prompt-length filter), in the driver;
    ``self.selection_report`` holds what it did.
    """

    selection_report: SelectionReport | None = None

    def _is_validation_files(self) -> bool:
        def as_list(v: Any) -> list[str]:
            if v is None:
                return []
            return [os.fspath(x) for x in ([v] if isinstance(v, str | os.PathLike) else list(v))]

        files = as_list(getattr(self, "original_data_files", self.data_files))
        val = as_list(self.config.get("val_files"))
        train = as_list(self.config.get("train_files"))
        return bool(val) and files == val and files != train

    def maybe_filter_out_long_prompts(self, dataframe: Any = None) -> Any:
        config = SelectionFilterConfig.from_data_config(self.config)
        is_val = self._is_validation_files()
        apply_rules = config.apply_to_val or not is_val
        needed = set(config.required_columns()) | {"data_source"}
        if config.check_videos:
            needed.add(self.video_key)
        columns = {c: dataframe[c] for c in needed if c in dataframe.column_names}
        kept, report = select_rows(columns, config, apply_rules=apply_rules, video_key=self.video_key)
        self.selection_report = report
        label = "validation" if is_val else "training"
        if report.total and not report.kept:
            raise ValueError(
                f"data.selection kept no rows of the {label} files {list(self.data_files)}: {report.summary()}"
            )
        logger.info("selection filter (%s files %s): %s", label, list(self.data_files), report.summary())
        if report.missing_videos:
            logger.warning(
                "%d video file(s) missing: %s", len(report.missing_videos), report.missing_videos[:20]
            )
        if len(kept) != report.total:
            dataframe = dataframe.select(kept)
        return super().maybe_filter_out_long_prompts(dataframe)
