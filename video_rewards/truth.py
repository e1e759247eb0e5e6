"""Ground-truth models, validated once when a row is loaded and trusted afterwards.

Invalid ground truth raises ``ValueError`` naming the field (``segment``, ``answer``, …).

Gold moments are stored as annotated. One that ends past the video's ``duration`` is kept (15% of
Charades-STA test ends past the ``Charades_v1`` length, and the published protocol scores them raw); the
*reward* clips gold and prediction to ``[0, duration]`` (:attr:`GroundingTruth.reward_segments`), while
``python -m video_rewards.evaluate`` does not. A moment that *starts* at or after the end of the video,
or before 0, is an error.
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
    if duration is not None and s >= duration:
        raise ValueError(f"{field} starts at {s} s, at or after the video's duration {duration} s")
    return Span(float(s), float(e))


def _clip_end(seg: Span, duration: float | None) -> Span:
    # Validation guarantees start < duration, so the clipped moment keeps a positive length.
    return seg if duration is None or seg.end <= duration else Span(seg.start, duration)


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
                # str() of a >4300-digit int raises: describe a huge index by its size instead.
                shown = idx if abs(idx) < 10**12 else f"of {idx.bit_length()} bits"
                raise ValueError(f"answer: index {shown} is outside the {len(options)} options")
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


class _HasGoldMoments(_HasDuration):
    """``segment: [s, e]`` (one gold moment) or ``segments: [[s, e], ...]`` (several, e.g. NExT-GQA).

    After validation ``segments`` always holds every gold moment, and ``segment`` the moment when there
    is exactly one (``None`` when there are several, so code written for one moment cannot silently
    score only the first). Both may be given only when they name the same single moment (a model
    dumped and validated again carries both).
    """

    segment: Span | None = None
    segments: tuple[Span, ...] = Field(default=(), max_length=MAX_GOLD_SEGMENTS)

    @model_validator(mode="after")
    def _gold_moments(self) -> _HasGoldMoments:
        given = self.model_fields_set
        if self.segment is None and not self.segments:
            if "segments" in given:
                raise ValueError("segments must hold at least one [start, end] moment")
            raise ValueError("segment: Field required (or 'segments': [[start, end], ...])")
        segments = tuple(
            _check_segment(seg, self.duration, f"segments[{k}]") for k, seg in enumerate(self.segments)
        )
        if self.segment is not None:
            one = _check_segment(self.segment, self.duration, "segment")
            if segments and segments != (one,):
                raise ValueError(
                    f"segment {list(one)} and segments {[list(s) for s in segments]} disagree: "
                    "give 'segment' for one gold moment or 'segments' for several, not both"
                )
            segments = (one,)
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "segment", segments[0] if len(segments) == 1 else None)
        return self

    @cached_property
    def reward_segments(self) -> tuple[Span, ...]:
        """The gold moments as the reward scores them: each end clipped to the video's duration."""
        return tuple(_clip_end(seg, self.duration) for seg in self.segments)


class GroundingTruth(_HasGoldMoments):
    """Temporal grounding: ``{"task": "tvg", "segment": [start_s, end_s], "duration": seconds}``.

    ``"segments": [[s, e], ...]`` gives several gold moments; a prediction is scored against the
    closest one (max IoU, as the NExT-GQA and Charades-STA evaluation code do).

    >>> t = GroundingTruth(segments=[[2, 5], [20, 31]], duration=30)
    >>> t.segments, t.segment, t.reward_segments[1]
    ((Span(start=2.0, end=5.0), Span(start=20.0, end=31.0)), None, Span(start=20.0, end=30.0))
    """

    task: Literal["tvg"] = "tvg"


class GroundedQATruth(_HasOptions, _HasGoldMoments):
    """Grounded QA: ``{"task": "gqa", "answer": "B", "options": [...], "segment": [s, e], "duration": d}``
    (or ``"segments": [[s, e], ...]`` for several gold moments)."""

    task: Literal["gqa"] = "gqa"


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

    @cached_property
    def reward_segments(self) -> tuple[Span, ...]:
        """The gold moments as the reward scores them: each end clipped to the video's duration."""
        return tuple(_clip_end(seg, self.duration) for seg in self.segments)
