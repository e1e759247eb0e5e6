"""verl dataset class that keeps the rows chosen by variance-aware selection (``data.custom_cls``).

::

    data.custom_cls.path=pkg://verl_plugins.dataset data.custom_cls.name=SelectedVideoDataset \\
    +data.selection.min_std=0.05 +data.selection.top_k=32000 \\
    '+data.selection.keep_reasons=["reward_std>=0.05"]'

It reads the score columns that ``selection select`` attaches to the verl parquet (``sel_reward_std``,
``sel_reward_mean``, ``sel_pass_rate``, ``sel_keep_reason``, …; see ``docs/architecture.md``), keeps the rows
that pass every configured rule (:class:`SelectionFilterConfig`, rules and checks in
:mod:`verl_plugins.selection_filter`), logs how many rows were kept and dropped per reason and per
``data_source``, and raises if nothing is left. It also checks, without decoding, that every local video
file exists, that ``extra_info.index`` does not repeat and that the statistics are valid numbers, naming
the bad rows; and that each file written by ``selection select`` still holds the rows it recorded.

:class:`VideoRLHFDataset` is the same dataset without the filter (the project's video loader only).

The rules apply to the training files; a validation file (``data.val_files`` differing from
``data.train_files``) is only checked for videos unless ``data.selection.apply_to_val=true``. Video decoding
goes through :class:`video_decoding.verl_hook.QwenVideoMixin` (the project's video loader).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from verl_plugins.selection_filter import (
    SEL_STAT_RULES,
    SelectionFilterConfig,
    SelectionReport,
    select_rows,
    verify_selected_file,
)

logger = logging.getLogger(__name__)
# verl configures the root logger at WARNING; the kept/dropped report is what a user checks first.
logger.setLevel(os.getenv("VIDEO_RLT_LOGGING_LEVEL", "INFO"))

__all__ = [
    "SelectedVideoDataset",
    "SelectionFilterConfig",
    "SelectionReport",
    "VideoRLHFDataset",
    "select_rows",
]


def _dataset_base() -> type:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from video_decoding.verl_hook import QwenVideoMixin

    class VideoRLHFDataset(QwenVideoMixin, RLHFDataset):
        """verl's ``RLHFDataset`` with the project's video loader and nothing else: every row is kept.

        For data that is already selected (or not to be): ``data.custom_cls.name=VideoRLHFDataset``. Without a
        ``data.custom_cls``, verl decodes each video with qwen-vl-utils, once per rollout, and
        ``$VIDEO_RLT_FRAME_CACHE`` is not used.
        """

    VideoRLHFDataset.__module__ = __name__
    VideoRLHFDataset.__qualname__ = "VideoRLHFDataset"  # pickled by reference (Ray) under its public name
    return VideoRLHFDataset


VideoRLHFDataset = _dataset_base()


class SelectedVideoDataset(VideoRLHFDataset):  # type: ignore[misc,valid-type]
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

    def _verify_files(self, config: SelectionFilterConfig, columns: list[str]) -> None:
        """Each ``select`` output must still hold the rows it recorded; unverifiable ``sel_*`` files are named."""
        if not config.verify_fingerprint:
            logger.warning("data.selection.verify_fingerprint=false: the data files are not checked")
            return
        unverified = [f for f in map(os.fspath, self.data_files) if not verify_selected_file(f)]
        if unverified and any(c.startswith("sel_") for c in columns):
            logger.warning(
                "data file(s) %s have sel_* columns but no fingerprint from `selection select`: the scores "
                "in them cannot be checked against their rows",
                unverified,
            )

    def maybe_filter_out_long_prompts(self, dataframe: Any = None) -> Any:
        config = SelectionFilterConfig.from_data_config(self.config)
        is_val = self._is_validation_files()
        apply_rules = config.apply_to_val or not is_val
        self._verify_files(config, list(dataframe.column_names))
        needed = set(config.required_columns()) | {"data_source", "extra_info"}
        if apply_rules and config.has_rules:
            needed |= {r.column for r in SEL_STAT_RULES}
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
        for line in report.source_lines():
            logger.info("selection filter (%s): %s", label, line)
        for row in report.invalid_rows[:20]:
            logger.warning("selection filter dropped %s", row)
        if report.missing_videos:
            logger.warning(
                "%d video file(s) missing: %s", len(report.missing_videos), report.missing_videos[:20]
            )
        if len(kept) != report.total:
            dataframe = dataframe.select(kept)
        return super().maybe_filter_out_long_prompts(dataframe)
