"""What a reader hands to the conversion, and the settings a conversion runs with.

A reader (:mod:`dataset_converters.formats`) turns each row of an annotation file into an :class:`Annotation`, or into
a :class:`Skip` naming the row and the reason it cannot be read. :class:`ConvertConfig` is validated once, at
the command line, and trusted afterwards.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

SkipReason = Literal[
    "malformed_row",  # the reader could not read the row (missing column, non-numeric time, ...)
    "missing_video",  # no file for the video id under --video-root
    "ambiguous_video",  # several files share the video id in different directories
    "unreadable_video",  # the container metadata could not be read
    "no_duration",  # a grounding row without a duration (annotation, --durations or the container)
    "bad_segment",  # start >= end, a time that is not a number, or a start well below 0
    "segment_outside_video",  # starts at/after the video's end, or ends past --segment-tolerance
    "missing_segment",  # grounded QA row without a segment in the segment file
    "bad_answer_index",  # the answer is neither an option index, letter nor an option's text
    "ambiguous_answer",  # the answer is the text of several options (a duplicated option)
    "invalid_ground_truth",  # the reward contract rejected the ground truth
]
SKIP_REASONS: tuple[str, ...] = get_args(SkipReason)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg")
OPTION_LETTERS = string.ascii_uppercase  # the reward contract allows up to 26 options

Moment = tuple[float, float]


class VideoSettings(BaseModel):
    """How the trainer samples each video (keys of ``qwen_vl_utils.fetch_video``).

    Defaults follow the paper's setup (Temporal-R1 code base): 2 frames per second, at most 768 frames
    (qwen-vl-utils' cap), a total budget of 2048 visual patches of 28×28 (≈1.6 M pixels) per video, and
    qwen-vl-utils' per-frame bounds.

    >>> VideoSettings().video_entry("/data/v.mp4")["total_pixels"]
    1605632
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: PositiveFloat = 2.0
    max_frames: PositiveInt = 768
    min_pixels: PositiveInt = 16 * 28 * 28
    max_pixels: PositiveInt = 768 * 28 * 28
    total_pixels: PositiveInt = 2048 * 28 * 28

    def video_entry(self, path: str) -> dict[str, Any]:
        return {"video": path, **self.model_dump()}


class ConvertConfig(BaseModel):
    """Settings shared by every converter (validated once, from the command line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_source: str = Field(min_length=1)
    # Where the videos are. With ``video_check`` off it only prefixes the paths written to the rows.
    video_root: Path | None = None
    # Look every video up under ``video_root`` (and read durations the annotation lacks from it). Off:
    # annotations are converted without the videos; durations come from the annotation or ``durations``.
    video_check: bool = True
    split: str = "train"
    video: VideoSettings = VideoSettings()
    index_offset: int = Field(default=0, ge=0)
    # ``None`` (default): gold moments are kept as published, also when they end past the video (counted).
    # A number: ends at most this many seconds past the video are clipped to it, further out are skipped as
    # ``segment_outside_video`` (for users who want every gold moment inside the stated duration).
    segment_tolerance: float | None = Field(default=None, ge=0.0)
    durations: Mapping[str, float] | None = None
    strict: bool = False

    @model_validator(mode="after")
    def _root_when_checking(self) -> ConvertConfig:
        if self.video_check and self.video_root is None:
            raise ValueError("video_root is required unless the video check is off (--no-video-check)")
        return self


@dataclass(frozen=True)
class Annotation:
    """One sample as a reader found it, before any check against the videos or the reward contract.

    A grounding sample carries its gold moment as ``segment``, or several gold moments as ``segments``
    (NExT-GQA), never both — the same two spellings as the reward contract.
    """

    source: str  # "<file>:<line or key>", used in every message about this record
    ordinal: int  # position in the annotation file(s): the stable ``extra_info.index`` before the offset
    video_id: str
    task: str  # a reward-contract task name ("tvg", "mcq", "gqa", ...)
    text: str  # the grounding query, or the question
    options: tuple[str, ...] = ()  # option texts, without letters
    answer_index: int | None = None
    segment: Moment | None = None
    duration: float | None = None  # when the annotation file states it
    video_path: str | None = None  # explicit (relative to --video-root) path; else looked up by id
    ground_truth: Mapping[str, Any] | None = None  # a ready contract dict (generic JSONL)
    prompt: str | None = None  # a ready prompt (generic JSONL); else built from the task instruction
    segments: tuple[Moment, ...] = ()  # several gold moments, instead of ``segment``

    def __post_init__(self) -> None:
        if self.segment is not None and self.segments:
            raise ValueError(f"{self.source}: give the gold moment as segment or segments, not both")

    @property
    def gold_moments(self) -> tuple[Moment, ...]:
        """Every gold moment of the sample (empty for a task without one)."""
        return self.segments or ((self.segment,) if self.segment is not None else ())


@dataclass(frozen=True)
class Skip:
    """A record that was not converted, and why."""

    source: str
    ordinal: int
    reason: SkipReason
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ordinal": self.ordinal, "reason": self.reason, "detail": self.detail}


class ConversionError(ValueError):
    """Raised by ``strict`` conversions at the first skipped row, and when no row survives."""

    def __init__(self, message: str, skipped: tuple[Skip, ...] = ()) -> None:
        super().__init__(message)
        self.skipped = skipped  # the rows not kept so far: still written to ``<stem>.skipped.jsonl``
