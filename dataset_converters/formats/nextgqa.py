"""NExT-GQA grounded QA: the QA csv joined with ``gsub_{val,test}.json``, or VideoChat-R1's JSON list
(``video``, ``options`` ``(A) …``, ``answer`` ``(C)``, ``duration``, ``glue`` = the gold moments)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from dataset_converters.formats.choice import choice_fields
from dataset_converters.formats.tables import load_json, pairs, positive, row_source, table_rows
from dataset_converters.records import Annotation, Moment, Skip

Record = Annotation | Skip
#: What a question with several gold moments becomes: ``all`` of them (default; the official metric takes
#: the best IoU/IoP over them), one ``span`` covering them, the ``first``, or a ``skip``.
MultiSegmentPolicy = Literal["all", "span", "first", "skip"]


def merge_segments(segments: Sequence[Moment], policy: Literal["span", "first", "skip"]) -> Moment | None:
    """One moment from a question's gold moments, for users who want one (``--multi-segment``).

    ``span`` covers them all, ``first`` keeps the first, ``skip`` returns ``None`` when there are several.

    >>> merge_segments([(3.0, 5.0), (8.0, 9.5)], "span"), merge_segments([(3.0, 5.0), (8.0, 9.5)], "first")
    ((3.0, 9.5), (3.0, 5.0))
    """
    if len(segments) == 1:
        return segments[0]
    if policy == "skip":
        return None
    if policy == "first":
        return segments[0]
    return min(s for s, _ in segments), max(e for _, e in segments)


def _gold(
    source: str, ordinal: int, moments: list[Moment], policy: MultiSegmentPolicy
) -> dict[str, Any] | Skip:
    """The Annotation keywords holding the gold moment(s) under ``policy``."""
    if len(moments) == 1:
        return {"segment": moments[0]}
    if policy == "all":
        return {"segments": tuple(moments)}
    merged = merge_segments(moments, policy)
    if merged is None:
        return Skip(source, ordinal, "bad_segment", f"{len(moments)} gold moments and --multi-segment skip")
    return {"segment": merged}


def read_nextgqa(
    path: Path, gsub_path: Path | None = None, multi_segment: MultiSegmentPolicy = "all"
) -> Iterator[Record]:
    """NExT-GQA: ``path`` is the QA csv (with ``gsub_path``) or VideoChat-R1's ``nextgqa_{val,test}.json``."""
    if gsub_path is None:
        if path.suffix.lower() == ".csv":
            raise ValueError(f"{path}: a NExT-GQA csv needs its segment file (--gsub gsub_<split>.json)")
        yield from _read_videochat_json(path, multi_segment)
        return
    gsub = load_json(gsub_path)
    if not isinstance(gsub, dict):
        raise ValueError(f"{gsub_path}: expected a JSON object keyed by video id")
    for i, row in enumerate(table_rows(path)):
        source = row_source(path, i)
        fields = choice_fields(row, source, i)
        if isinstance(fields, Skip):
            yield fields
            continue
        video_id, video_path, question, options, index = fields
        qid = str(row.get("qid", "")).strip()
        if not qid:
            yield Skip(source, i, "malformed_row", "needs a 'qid' to find the question's gold moments")
            continue
        entry = gsub.get(video_id)
        locations = entry.get("location", {}) if isinstance(entry, dict) else {}
        moments = pairs(locations.get(qid)) if isinstance(locations, dict) else None
        if moments is None:
            detail = f"no gold moment for video {video_id!r} qid {qid!r} in {gsub_path.name}"
            yield Skip(source, i, "missing_segment", detail)
            continue
        gold = _gold(source, i, moments, multi_segment)
        if isinstance(gold, Skip):
            yield gold
            continue
        duration = positive(entry.get("duration")) if isinstance(entry, dict) else None
        yield Annotation(
            source,
            i,
            video_id,
            "gqa",
            question,
            options=tuple(options),
            answer_index=index,
            duration=duration,
            video_path=video_path,
            **gold,
        )


def _read_videochat_json(path: Path, multi_segment: MultiSegmentPolicy) -> Iterator[Record]:
    for i, row in enumerate(table_rows(path)):
        source = row_source(path, i)
        fields = choice_fields(row, source, i)
        if isinstance(fields, Skip):
            yield fields
            continue
        video_id, video_path, question, options, index = fields
        moments = pairs(row.get("glue"))
        if moments is None:
            yield Skip(source, i, "missing_segment", f"no gold moments ('glue'), got {row.get('glue')!r}")
            continue
        gold = _gold(source, i, moments, multi_segment)
        if isinstance(gold, Skip):
            yield gold
            continue
        yield Annotation(
            source,
            i,
            video_id,
            "gqa",
            question,
            options=tuple(options),
            answer_index=index,
            duration=positive(row.get("duration")),
            video_path=video_path,
            **gold,
        )
