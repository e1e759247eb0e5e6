"""Turn annotation records into verl ``RLHFDataset`` parquet rows, validating each against the reward contract.

The converters under ``recipes/data/`` are thin command lines over this package: a *reader*
(:mod:`dataset_converters.formats`) turns one public annotation format into :class:`Annotation` records (or
:class:`Skip` records for rows it cannot read), and :func:`convert` runs every record through the same
stages (:mod:`~dataset_converters.pipeline`) — find the video, find its duration, check the gold moments,
build and validate the ground truth, build the prompt — keeping the row or recording why it was skipped.
Nothing is dropped silently: every skip carries a reason code and a detail naming the annotation row, the
summary counts them, and the CLI always writes them to ``<output>.skipped.jsonl``.

Modules: :mod:`~dataset_converters.records` (records and settings), :mod:`~dataset_converters.prompts`,
:mod:`~dataset_converters.videos` (finding videos and durations), :mod:`~dataset_converters.pipeline`,
:mod:`~dataset_converters.parquet` (schema and writing), :mod:`~dataset_converters.cli`.

Row layout (one fixed pyarrow schema, :func:`row_schema`, for every dataset and task, so parquet files from
different converters concatenate and verl's ``datasets`` reader sees one struct type):

* ``prompt``: ``[{"role": "user", "content": "<video>\\n…task instruction…"}]``;
* ``videos``: ``[{"video": path, "fps", "max_frames", "min_pixels", "max_pixels", "total_pixels"}]`` —
  the keys go straight to ``qwen_vl_utils.fetch_video``;
* ``data_source``; ``reward_model``: ``{"style": "rule", "ground_truth": <contract JSON string>}`` — a JSON
  string rather than a struct because the contract's task dicts have different keys, and a parquet struct
  would fill the missing ones with nulls;
* ``extra_info``: ``index`` (stable: position of the record in the annotation file plus
  ``--index-offset``, so re-converting after a video goes missing renumbers nothing), ``uid``, ``split``,
  ``video_id``, ``duration`` (null for a multiple-choice row whose duration nobody stated), ``task``,
  ``question``, ``source`` (file and line/key of the annotation).
"""

from __future__ import annotations

from dataset_converters.cli import add_common_arguments, config_from_args, main, run
from dataset_converters.parquet import (
    ROW_SCHEMA_FIELDS,
    merge_parquets,
    row_schema,
    skipped_path,
    write_parquet,
    write_skipped,
)
from dataset_converters.pipeline import (
    FLOAT_NOISE_REL,
    NOTES,
    START_CLAMP_S,
    CheckedMoments,
    ConversionResult,
    check_moments,
    convert,
)
from dataset_converters.prompts import THINK_ANSWER, build_prompt, lettered_options
from dataset_converters.records import (
    OPTION_LETTERS,
    SKIP_REASONS,
    VIDEO_EXTENSIONS,
    Annotation,
    ConversionError,
    ConvertConfig,
    Moment,
    Skip,
    SkipReason,
    VideoSettings,
)
from dataset_converters.videos import VideoIndex, probe_duration, read_duration_table, unchecked_video_path

__all__ = [
    "FLOAT_NOISE_REL",
    "NOTES",
    "OPTION_LETTERS",
    "ROW_SCHEMA_FIELDS",
    "SKIP_REASONS",
    "START_CLAMP_S",
    "THINK_ANSWER",
    "VIDEO_EXTENSIONS",
    "Annotation",
    "CheckedMoments",
    "ConversionError",
    "ConversionResult",
    "ConvertConfig",
    "Moment",
    "Skip",
    "SkipReason",
    "VideoIndex",
    "VideoSettings",
    "add_common_arguments",
    "build_prompt",
    "check_moments",
    "config_from_args",
    "convert",
    "lettered_options",
    "main",
    "merge_parquets",
    "probe_duration",
    "read_duration_table",
    "row_schema",
    "run",
    "skipped_path",
    "unchecked_video_path",
    "write_parquet",
    "write_skipped",
]
