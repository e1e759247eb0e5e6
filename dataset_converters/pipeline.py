"""The conversion pipeline: every record through the same stages — find the video, find its duration, check
the gold moments, build and validate the ground truth, build the prompt — keeping the row or saying why not.

Gold moments are kept as the dataset published them. Three things are repaired or noted rather than
dropped, each counted in the summary: an end past the video's stated duration (Charades-STA ends up to
seconds past ``Charades_v1``'s lengths, NExT-GQA states whole-second durations) is kept as annotated; an
end past it by float noise only (``70.29`` vs ``70.28999999999999``, at most :data:`FLOAT_NOISE_REL`
relative) is not an end past the video at all; a start a little below 0 (NExT-GQA test has −0.1 s and
−0.2 s, from its frame-to-time table) is clamped to 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataset_converters.prompts import build_prompt, lettered_options
from dataset_converters.records import (
    OPTION_LETTERS,
    SKIP_REASONS,
    Annotation,
    ConversionError,
    ConvertConfig,
    Moment,
    Skip,
    SkipReason,
)
from dataset_converters.videos import VideoIndex, probe_duration, unchecked_video_path

logger = logging.getLogger(__name__)

#: An end past the duration by at most this fraction of it is float noise in the annotation, not an error.
FLOAT_NOISE_REL = 1e-6
#: A start at most this many seconds below 0 is clamped to 0 (annotation rounding); further down is an error.
START_CLAMP_S = 0.5

GROUNDING_TASKS = frozenset({"tvg", "gqa", "multi_tvg"})

#: What each counted repair or observation means, in the summary.
NOTES: dict[str, str] = {
    "end_past_video": "rows with a gold end past the video's duration (kept as annotated)",
    "start_clamped": f"rows with a gold start in [-{START_CLAMP_S}, 0) s clamped to 0",
    "clipped_to_duration": "rows with a gold end clipped to the duration (--segment-tolerance)",
    "duplicated_options": "rows with two identical options (the answer still names one option)",
}


def _s(seconds: float) -> str:
    """Seconds as Python writes the float back: every digit that tells two values apart."""
    return repr(float(seconds))


@dataclass(frozen=True)
class CheckedMoments:
    moments: tuple[Moment, ...]
    notes: frozenset[str]  # :data:`NOTES` keys the moments earned


def check_moments(
    moments: Sequence[Moment], duration: float | None, tolerance: float | None
) -> CheckedMoments | tuple[SkipReason, str]:
    """The gold moments to write and the notes they earn, or why the row cannot be kept.

    >>> checked = check_moments([(-0.1, 5.0), (8.0, 30.4)], 30.0, None)
    >>> checked.moments, sorted(checked.notes)
    (((0.0, 5.0), (8.0, 30.4)), ['end_past_video', 'start_clamped'])
    >>> check_moments([(8.0, 30.4)], 30.0, 0.0)
    ('segment_outside_video', 'gold moment [8.0, 30.4] ends 0.3999999999999986 s past the video (duration 30.0 s, --segment-tolerance 0.0 s)')
    """
    kept: list[Moment] = []
    notes: set[str] = set()
    for start, end in moments:
        where = f"gold moment [{_s(start)}, {_s(end)}]"
        if not (math.isfinite(start) and math.isfinite(end)):
            return "bad_segment", f"{where} is not a pair of finite numbers"
        if start < 0:
            if start < -START_CLAMP_S:
                return "bad_segment", f"{where} starts more than {START_CLAMP_S} s before the video"
            start = 0.0
            notes.add("start_clamped")
        if start >= end:
            return "bad_segment", f"{where} must satisfy start < end"
        if duration is not None:
            if start >= duration:
                return (
                    "segment_outside_video",
                    f"{where} starts at or after the video's end ({_s(duration)} s)",
                )
            noise = duration * FLOAT_NOISE_REL
            if tolerance is None:
                if end > duration + noise:
                    notes.add("end_past_video")
            elif end > duration + tolerance + noise:
                return (
                    "segment_outside_video",
                    f"{where} ends {_s(end - duration)} s past the video (duration {_s(duration)} s, "
                    f"--segment-tolerance {_s(tolerance)} s)",
                )
            elif end > duration:
                end = duration
                notes.add("clipped_to_duration")
        kept.append((start, end))
    return CheckedMoments(tuple(kept), frozenset(notes))


@dataclass
class ConversionResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    notes: Counter[str] = field(default_factory=Counter)  # kept rows per :data:`NOTES` key

    @property
    def clipped(self) -> int:
        return self.notes["clipped_to_duration"]

    def counts(self) -> dict[str, int]:
        """``kept``, ``skipped``, one entry per :data:`NOTES` key and one ``skipped:<reason>`` per reason seen."""
        by_reason: Counter[str] = Counter(s.reason for s in self.skipped)
        out = {"kept": len(self.rows), "skipped": len(self.skipped)}
        out.update({note: self.notes[note] for note in NOTES})
        out.update({f"skipped:{reason}": by_reason[reason] for reason in SKIP_REASONS if by_reason[reason]})
        return out

    def summary(self, data_source: str) -> str:
        counts = self.counts()
        lines = [f"{data_source}: kept {counts['kept']}, skipped {counts['skipped']}"]
        lines += [f"  kept    {counts[note]:>6}  {text}" for note, text in NOTES.items() if counts[note]]
        lines += [
            f"  skipped {n:>6}  {key.split(':', 1)[1]}"
            for key, n in counts.items()
            if key.startswith("skipped:")
        ]
        return "\n".join(lines)


class _RowBuilder:
    """The per-record stages; holds the per-run caches (video index, probed durations)."""

    def __init__(self, config: ConvertConfig, videos: VideoIndex | None) -> None:
        from video_rewards import parse_ground_truth

        self._parse_ground_truth = parse_ground_truth
        self.config = config
        self.videos = videos
        self._probed: dict[Path, float | str] = {}  # probed duration, or the probe's error
        self.notes: Counter[str] = Counter()

    def __call__(self, ann: Annotation) -> dict[str, Any] | Skip:
        def skip(reason: SkipReason, detail: str) -> Skip:
            return Skip(ann.source, ann.ordinal, reason, detail)

        path: Path | None = None
        if self.videos is not None:
            found = self.videos.find(ann.video_id, ann.video_path)
            if not isinstance(found, Path):
                return skip(*found)
            path = found
            video = str(found.resolve())
        else:
            video = unchecked_video_path(self.config.video_root, ann.video_id, ann.video_path)
        truth_task = ann.ground_truth.get("task") if ann.ground_truth is not None else ann.task
        duration = self._duration(ann, path, needed=bool(ann.gold_moments) or truth_task in GROUNDING_TASKS)
        if isinstance(duration, Skip):
            return duration
        checked = check_moments(ann.gold_moments, duration, self.config.segment_tolerance)
        if not isinstance(checked, CheckedMoments):
            return skip(*checked)
        moments, notes = checked.moments, set(checked.notes)
        if len(ann.options) > len(OPTION_LETTERS):
            return skip(
                "malformed_row", f"{len(ann.options)} options; at most {len(OPTION_LETTERS)} are supported"
            )
        if ann.answer_index is not None and not 0 <= ann.answer_index < len(ann.options):
            return skip("bad_answer_index", f"answer index {ann.answer_index} for {len(ann.options)} options")

        truth = self._ground_truth(ann, moments, duration)
        try:
            self._parse_ground_truth(truth)
        except ValueError as err:
            return skip("invalid_ground_truth", f"{err}")
        if len(set(ann.options)) < len(ann.options):
            notes.add("duplicated_options")
        self.notes.update(notes)
        task = str(truth["task"])
        prompt = ann.prompt if ann.prompt is not None else build_prompt(task, ann.text, ann.options)
        if "<video>" not in prompt:
            prompt = "<video>\n" + prompt
        index = self.config.index_offset + ann.ordinal
        return {
            "data_source": self.config.data_source,
            "prompt": [{"role": "user", "content": prompt}],
            "videos": [self.config.video.video_entry(video)],
            "reward_model": {"style": "rule", "ground_truth": json.dumps(truth, sort_keys=True)},
            "extra_info": {
                "index": index,
                "uid": f"{self.config.data_source}/{self.config.split}/{index}",
                "split": self.config.split,
                "video_id": ann.video_id,
                "duration": duration,
                "task": task,
                "question": ann.text,
                "source": ann.source,
            },
        }

    def _duration(self, ann: Annotation, path: Path | None, *, needed: bool) -> float | Skip | None:
        """The annotation's duration, else the table's, else (when the row needs one) the container's."""
        if ann.duration is not None:
            return ann.duration
        table = self.config.durations
        if table is not None:
            for key in (
                ann.video_id,
                Path(ann.video_path).stem if ann.video_path else None,
                path.stem if path is not None else None,
            ):
                if key is not None and key in table:
                    return table[key]
        if not needed:
            return None  # a multiple-choice row has no use for a duration: don't open the video for one
        if path is None:
            return Skip(
                ann.source,
                ann.ordinal,
                "no_duration",
                f"no duration for video {ann.video_id!r} in the annotation or --durations "
                "(the videos are not read with --no-video-check)",
            )
        if path not in self._probed:
            try:
                self._probed[path] = probe_duration(path)
            except Exception as err:  # PyAV raises its own error tree (av.error.*) for broken files
                self._probed[path] = f"{type(err).__name__}: {err}"
        probed = self._probed[path]
        if isinstance(probed, str):
            return Skip(ann.source, ann.ordinal, "unreadable_video", f"{path}: {probed}")
        if probed <= 0:
            return Skip(ann.source, ann.ordinal, "no_duration", f"{path}: container duration {probed}")
        return probed

    @staticmethod
    def _ground_truth(ann: Annotation, moments: tuple[Moment, ...], duration: float | None) -> dict[str, Any]:
        truth: dict[str, Any]
        if ann.ground_truth is not None:
            truth = dict(ann.ground_truth)
            if truth.get("task") in GROUNDING_TASKS and "duration" not in truth and duration is not None:
                truth["duration"] = duration
            if moments and "segment" in truth:
                truth["segment"] = list(moments[0])
            elif moments and "segments" in truth:
                truth["segments"] = [list(m) for m in moments]
            return truth
        truth = {"task": ann.task}
        if ann.task in ("mcq", "gqa"):
            if ann.answer_index is None:
                raise ValueError(f"{ann.source}: a {ann.task} record needs an answer index")
            truth["options"] = lettered_options(ann.options)
            truth["answer"] = OPTION_LETTERS[ann.answer_index]
        if ann.task in ("tvg", "gqa"):
            if not moments:
                raise ValueError(f"{ann.source}: a {ann.task} record needs a gold moment")
            # One moment keeps the one-segment spelling every consumer reads; several use ``segments``.
            if len(moments) == 1:
                truth["segment"] = list(moments[0])
            else:
                truth["segments"] = [list(m) for m in moments]
            truth["duration"] = duration
        return truth


def convert(records: Iterable[Annotation | Skip], config: ConvertConfig) -> ConversionResult:
    """Run every record through the checks; keep the valid rows, record the others with their reason."""
    videos: VideoIndex | None = None
    if config.video_check and config.video_root is not None:  # ConvertConfig requires the root to check
        videos = VideoIndex(config.video_root)
        logger.info("found %d video files under %s", len(videos), config.video_root)
    builder = _RowBuilder(config, videos)
    result = ConversionResult()
    seen: dict[int, str] = {}
    for record in records:
        outcome = builder(record) if isinstance(record, Annotation) else record
        if isinstance(outcome, Skip):
            if config.strict:
                raise ConversionError(f"{outcome.source}: {outcome.reason}: {outcome.detail}", (outcome,))
            result.skipped.append(outcome)
            continue
        index = outcome["extra_info"]["index"]
        if index in seen:
            raise ConversionError(
                f"{outcome['extra_info']['source']}: index {index} already used by {seen[index]}",
                tuple(result.skipped),
            )
        seen[index] = outcome["extra_info"]["source"]
        result.rows.append(outcome)
    result.notes = builder.notes
    return result
