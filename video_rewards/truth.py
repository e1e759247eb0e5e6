"""Ground-truth models, validated once when a row is loaded and trusted afterwards.

Invalid ground truth raises ``ValueError`` naming the field (``segment``, ``answer``, …). Gold segments that
end past the video's duration are clipped to it (Charades-STA annotations do this by fractions of a second);
a segment that *starts* at or after the end of the video is an error.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from video_rewards.geometry import Span
from video_rewards.parsing import _LABEL_RE, OptionSet, _choice, _norm

__all__ = [
    "ChoiceTruth",
    "GroundTruth",
    "GroundedQATruth",
    "GroundingTruth",
    "MultiGroundingTruth",
    "NumericTruth",
]

MAX_GOLD_SEGMENTS = 32


class GroundTruth(BaseModel):
    """Base of every task's ground truth: frozen, unknown fields rejected, ``task`` names the task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str


def _check_segment(seg: Span, duration: float | None, field: str) -> Span:
    s, e = seg
    if not (math.isfinite(s) and math.isfinite(e)):
        raise ValueError(f"{field} must be finite, got {list(seg)}")
    if s < 0 or e <= s:
        raise ValueError(f"{field} must satisfy 0 <= start < end, got {list(seg)}")
    if duration is not None:
        if s >= duration:
            raise ValueError(f"{field} starts at {s} s, at or after the video's duration {duration} s")
        e = min(e, duration)
    return Span(float(s), float(e))


class _HasDuration(GroundTruth):
    duration: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class _HasOptions(GroundTruth):
    answer: str
    options: tuple[str, ...] = ()

    @field_validator("options")
    @classmethod
    def _options_distinct(cls, options: tuple[str, ...]) -> tuple[str, ...]:
        if len(options) > 26:
            raise ValueError(f"at most 26 options are supported, got {len(options)}")
        if any(not o.strip() for o in options):
            raise ValueError("options must be non-empty strings")
        return options

    @model_validator(mode="before")
    @classmethod
    def _answer_index(cls, data: Any) -> Any:
        # Some datasets (NExT-QA) store the answer as the option's index.
        if (
            isinstance(data, dict)
            and isinstance(data.get("answer"), int)
            and not isinstance(data["answer"], bool)
        ):
            idx, options = data["answer"], data.get("options") or ()
            if not 0 <= idx < len(options):
                raise ValueError(f"answer: index {idx} is outside the {len(options)} options")
            return {**data, "answer": chr(ord("A") + idx)}
        return data

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> _HasOptions:
        opts = self.option_set
        if len(self.answer) == 1 and self.answer.isascii() and self.answer.isalpha():
            upper = self.answer.upper()  # the usual case: just the letter
            if opts.labels and upper not in opts.labels:
                raise ValueError(f"answer: {upper!r} is not one of the options {list(opts.labels)}")
            object.__setattr__(self, "answer", upper)
            return self
        letter: str | None = _choice(self.answer, opts)[0] if self.answer.strip() else None
        # The gold answer must resolve by label or by option text, never by the lenient letter scan.
        bare = self.answer.strip(" \t\r\n()[]{}.:*'\"`")
        if letter is None or (len(bare) != 1 and letter not in _text_match(self.answer, opts)):
            raise ValueError(f"answer: {self.answer!r} is neither an option letter nor an option's text")
        if opts.labels and letter not in opts.labels:
            raise ValueError(f"answer: {letter!r} is not one of the options {list(opts.labels)}")
        object.__setattr__(self, "answer", letter)
        return self

    @cached_property
    def option_set(self) -> OptionSet:
        return OptionSet.from_options(self.options)


def _text_match(answer: str, opts: OptionSet) -> set[str]:
    """Labels an answer names by an option's exact text or by a leading label (``C.``, ``(C)``)."""
    norm = _norm(answer)
    out = {lab for lab, t in zip(opts.labels, opts.texts, strict=True) if t == norm}
    m = _LABEL_RE.match(answer)
    if m is not None:
        out.add((m.group(1) or m.group(2)).upper())
    return out


class ChoiceTruth(_HasOptions):
    """Multiple-choice QA: ``{"task": "mcq", "answer": "C", "options": ["A. …", …]}``.

    ``answer`` may be a letter, ``(C)``, ``C. text``, an option's text or its 0-based index; it is stored
    as the letter.

    >>> ChoiceTruth(task="mcq", answer="a cup falls", options=("A. nothing", "B. A cup falls")).answer
    'B'
    """

    task: Literal["mcq"] = "mcq"


class GroundingTruth(_HasDuration):
    """Temporal grounding: ``{"task": "tvg", "segment": [start_s, end_s], "duration": seconds}``."""

    task: Literal["tvg"] = "tvg"
    segment: Span

    @model_validator(mode="after")
    def _segment(self) -> GroundingTruth:
        object.__setattr__(self, "segment", _check_segment(self.segment, self.duration, "segment"))
        return self


class GroundedQATruth(_HasOptions, _HasDuration):
    """Grounded QA: ``{"task": "gqa", "answer": "B", "options": [...], "segment": [s, e], "duration": d}``."""

    task: Literal["gqa"] = "gqa"
    segment: Span

    @model_validator(mode="after")
    def _segment(self) -> GroundedQATruth:
        object.__setattr__(self, "segment", _check_segment(self.segment, self.duration, "segment"))
        return self


class NumericTruth(GroundTruth):
    """A numeric answer: ``{"task": "numeric", "answer": 3, "abs_tol": 0.5}``.

    Tolerances default to the config's ``numeric_abs_tol`` / ``numeric_rel_tol``.
    """

    task: Literal["numeric"] = "numeric"
    answer: float = Field(allow_inf_nan=False)
    abs_tol: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    rel_tol: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class MultiGroundingTruth(_HasDuration):
    """Several moments: ``{"task": "multi_tvg", "segments": [[s, e], ...], "duration": d}``."""

    task: Literal["multi_tvg"] = "multi_tvg"
    segments: tuple[Span, ...] = Field(min_length=1, max_length=MAX_GOLD_SEGMENTS)

    @model_validator(mode="after")
    def _segments(self) -> MultiGroundingTruth:
        checked = tuple(
            _check_segment(seg, self.duration, f"segments[{k}]") for k, seg in enumerate(self.segments)
        )
        object.__setattr__(self, "segments", checked)
        return self
