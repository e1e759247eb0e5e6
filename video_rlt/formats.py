"""Readers for the public annotation formats of the paper's tasks.

Each reader yields :class:`~video_rlt.convert.Annotation` records in file order (their ``ordinal`` is the
record's position, which becomes the stable ``extra_info.index``) and a
:class:`~video_rlt.convert.Skip` for a row it cannot read, naming the file and line or key. A file that is
not the expected format at all (not JSON, missing columns) raises ``ValueError``.

* Charades-STA: ``charades_sta_{train,test}.txt``, one ``<video_id> <start> <end>##<sentence>`` per line.
* ActivityNet Captions: ``train.json`` / ``val_1.json`` / ``val_2.json``,
  ``{video_id: {"duration", "timestamps": [[s, e], …], "sentences": […]}}``.
* NExT-GQA: the grounded-QA csv (``video_id, question, answer, qid, a0…a4``; ``answer`` holds the option's
  text or index) joined with ``gsub_{val,test}.json``
  (``{video_id: {"duration", "location": {qid: [[s, e], …]}}}``).
* Multiple-choice VideoQA, NExT-QA style: csv, JSON list or JSONL with ``video``/``video_id``, ``question``,
  ``answer`` (option index, the option's text, or its letter) and options ``a0…aN`` (or an ``options`` list).
* Generic JSONL: ``{"video": <id or relative path>, "question": …, "ground_truth": <reward contract>}``
  with optional ``prompt``, ``duration``, ``video_id``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from video_rlt.convert import VIDEO_EXTENSIONS, Annotation, Skip

Record = Annotation | Skip
MultiSegmentPolicy = Literal["span", "first", "skip"]

_CHARADES_LINE = re.compile(r"^(?P<vid>\S+)\s+(?P<start>\S+)\s+(?P<end>\S+)\s*##(?P<sentence>.*)$")
_LETTER_PREFIX = re.compile(r"^\s*[A-Z][.)]\s+")


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def read_charades_sta(path: Path) -> Iterator[Record]:
    """Charades-STA text annotations.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "charades_sta_test.txt"
    >>> _ = f.write_text("3MSZA 24.3 30.4##person turn a light on.\\n")
    >>> [(a.video_id, a.segment, a.text) for a in read_charades_sta(f)]
    [('3MSZA', (24.3, 30.4), 'person turn a light on.')]
    """
    ordinal = 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            source = f"{path.name}:{line_no}"
            match = _CHARADES_LINE.match(line.strip())
            start = _float(match["start"]) if match else None
            end = _float(match["end"]) if match else None
            if match is None or start is None or end is None or not match["sentence"].strip():
                yield Skip(
                    source,
                    ordinal,
                    "malformed_row",
                    f"expected '<video_id> <start> <end>##<sentence>', got {line.strip()[:120]!r}",
                )
            else:
                yield Annotation(
                    source, ordinal, match["vid"], "tvg", match["sentence"].strip(), segment=(start, end)
                )
            ordinal += 1


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        start, end = _float(value[0]), _float(value[1])
        if start is not None and end is not None:
            return start, end
    return None


def read_activitynet_captions(path: Path) -> Iterator[Record]:
    """ActivityNet Captions: one grounding record per (video, sentence), videos in file order."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by video id")
    ordinal = 0
    for video_id, entry in data.items():
        if not isinstance(entry, dict):
            yield Skip(f"{path.name}[{video_id!r}]", ordinal, "malformed_row", "entry is not an object")
            ordinal += 1
            continue
        stamps, sentences = entry.get("timestamps", []), entry.get("sentences", [])
        duration = _float(entry.get("duration"))
        n = (
            max(len(stamps), len(sentences))
            if isinstance(stamps, list) and isinstance(sentences, list)
            else 1
        )
        for k in range(n):
            source = f"{path.name}[{video_id!r}][{k}]"
            segment = _pair(stamps[k]) if isinstance(stamps, list) and k < len(stamps) else None
            sentence = sentences[k] if isinstance(sentences, list) and k < len(sentences) else None
            if (
                not isinstance(stamps, list)
                or not isinstance(sentences, list)
                or len(stamps) != len(sentences)
            ):
                yield Skip(
                    source,
                    ordinal,
                    "malformed_row",
                    "'timestamps' and 'sentences' must be lists of equal length",
                )
            elif duration is None or duration <= 0:
                yield Skip(
                    source,
                    ordinal,
                    "malformed_row",
                    f"'duration' must be a positive number, got {entry.get('duration')!r}",
                )
            elif segment is None or not isinstance(sentence, str) or not sentence.strip():
                yield Skip(
                    source,
                    ordinal,
                    "malformed_row",
                    f"timestamp {stamps[k]!r} / sentence {sentence!r} unreadable",
                )
            else:
                yield Annotation(
                    source,
                    ordinal,
                    str(video_id),
                    "tvg",
                    sentence.strip(),
                    segment=segment,
                    duration=duration,
                )
            ordinal += 1


def _answer_index(answer: Any, options: Sequence[str]) -> int | None:
    """The answer as an option index: an integer (``3``, ``"3"``), an option's exact text, or a letter.

    An option's text wins over a letter (an option may be literally ``"B"``).

    >>> _answer_index("2", ["a", "b", "c"]), _answer_index("cry", ["cry", "x"]), _answer_index("B", ["x", "y"])
    (2, 0, 1)
    >>> _answer_index("b", ["x", "b"]), _answer_index("7", ["a", "b"])  # out of range: reported by the caller
    (1, 7)
    """
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    text = str(answer).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    norm = text.casefold()
    matches = [i for i, option in enumerate(options) if option.strip().casefold() == norm]
    if len(matches) == 1:
        return matches[0]
    if not matches and len(text) == 1 and "A" <= text <= "Z":
        return ord(text) - ord("A")
    return None


def _options_of(row: Mapping[str, Any]) -> list[str] | None:
    if isinstance(row.get("options"), list):
        return [str(o) for o in row["options"]]
    options = []
    for k in range(27):  # a0..a26: one more than the contract allows, so too many options is reported
        value = row.get(f"a{k}")
        if value is None or str(value).strip() == "":
            break
        options.append(str(value))
    return options or None


def _table_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a csv, a JSON list of objects, or a JSONL file, as dicts (csv cells stay strings)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            return [dict(row) for row in csv.DictReader(fh)]
    if suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path.name}:{line_no}: not valid JSON ({err})") from None
        return rows
    data = _load_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of question objects")
    return data


def _row_source(path: Path, i: int) -> str:
    # csv: header is line 1; JSON lists: position in the list.
    return f"{path.name}:{i + 2}" if path.suffix.lower() == ".csv" else f"{path.name}[{i}]"


def _video_id(row: Mapping[str, Any]) -> str | None:
    value = row.get("video_id", row.get("video"))
    return None if value is None or str(value) == "" else str(value)


def read_multiple_choice(path: Path) -> Iterator[Record]:
    """NExT-QA-style multiple-choice VideoQA (csv, JSON list or JSONL)."""
    for i, row in enumerate(_table_rows(path)):
        source = _row_source(path, i)
        if not isinstance(row, dict):
            yield Skip(source, i, "malformed_row", "row is not an object")
            continue
        video_id, question, options = _video_id(row), row.get("question"), _options_of(row)
        if video_id is None or not question or options is None or "answer" not in row:
            yield Skip(
                source,
                i,
                "malformed_row",
                "needs 'video'/'video_id', 'question', 'answer' and options a0..aN",
            )
            continue
        index = _answer_index(row["answer"], options)
        if index is None or not 0 <= index < len(options):
            yield Skip(
                source,
                i,
                "bad_answer_index",
                f"answer {row['answer']!r} is not an index or the text of one of {len(options)} options",
            )
            continue
        yield Annotation(
            source, i, video_id, "mcq", str(question), options=tuple(options), answer_index=index
        )


def _segments(value: Any) -> list[tuple[float, float]] | None:
    """NExT-GQA locations: ``[[s, e], …]`` (or one ``[s, e]``)."""
    single = _pair(value)
    if single is not None:
        return [single]
    if isinstance(value, list) and value:
        pairs = [_pair(v) for v in value]
        if all(p is not None for p in pairs):
            return [p for p in pairs if p is not None]
    return None


def merge_segments(
    segments: Sequence[tuple[float, float]], policy: MultiSegmentPolicy
) -> tuple[float, float] | None:
    """One segment from a question's annotated segments (NExT-GQA has several for some questions).

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


def read_nextgqa(path: Path, gsub_path: Path, multi_segment: MultiSegmentPolicy = "span") -> Iterator[Record]:
    """NExT-GQA grounded QA: the QA csv joined with the ``gsub`` segment file by video id and ``qid``."""
    gsub = _load_json(gsub_path)
    if not isinstance(gsub, dict):
        raise ValueError(f"{gsub_path}: expected a JSON object keyed by video id")
    for i, row in enumerate(_table_rows(path)):
        source = _row_source(path, i)
        video_id, question, options = _video_id(row), row.get("question"), _options_of(row)
        qid = str(row.get("qid", ""))
        if video_id is None or not question or options is None or "answer" not in row or not qid:
            yield Skip(
                source, i, "malformed_row", "needs 'video_id', 'qid', 'question', 'answer' and options a0..aN"
            )
            continue
        index = _answer_index(row["answer"], options)
        if index is None or not 0 <= index < len(options):
            yield Skip(
                source,
                i,
                "bad_answer_index",
                f"answer {row['answer']!r} is not an index or the text of one of {len(options)} options",
            )
            continue
        entry = gsub.get(video_id)
        locations = entry.get("location", {}) if isinstance(entry, dict) else {}
        segments = _segments(locations.get(qid)) if isinstance(locations, dict) else None
        if segments is None:
            yield Skip(
                source,
                i,
                "missing_segment",
                f"no segment for video {video_id!r} qid {qid!r} in {gsub_path.name}",
            )
            continue
        segment = merge_segments(segments, multi_segment)
        if segment is None:
            yield Skip(source, i, "bad_segment", f"{len(segments)} segments and --multi-segment skip")
            continue
        duration = _float(entry.get("duration")) if isinstance(entry, dict) else None
        yield Annotation(
            source,
            i,
            video_id,
            "gqa",
            str(question),
            options=tuple(options),
            answer_index=index,
            segment=segment,
            duration=duration if duration is not None and duration > 0 else None,
        )


def read_jsonl(path: Path) -> Iterator[Record]:
    """Generic JSONL: each line carries its ground truth in the reward contract.

    ``video`` is a path relative to ``--video-root`` (or absolute) when it has a file extension, else a video
    id looked up like the public formats. ``question`` fills the task's instruction; ``prompt`` replaces it.
    """
    with path.open(encoding="utf-8") as fh:
        lines = [(n, line) for n, line in enumerate(fh, start=1) if line.strip()]
    for ordinal, (line_no, line) in enumerate(lines):
        source = f"{path.name}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            yield Skip(source, ordinal, "malformed_row", f"not valid JSON ({err})")
            continue
        truth = row.get("ground_truth") if isinstance(row, dict) else None
        if isinstance(truth, str):
            try:
                truth = json.loads(truth)
            except json.JSONDecodeError:
                truth = None
        video = row.get("video") if isinstance(row, dict) else None
        if not isinstance(truth, dict) or not isinstance(video, str) or not video:
            yield Skip(source, ordinal, "malformed_row", "needs 'video' (string) and 'ground_truth' (object)")
            continue
        prompt, question = row.get("prompt"), row.get("question", row.get("query"))
        task = str(truth.get("task", ""))
        if prompt is None and (task not in ("tvg", "mcq", "gqa") or not question):
            yield Skip(
                source,
                ordinal,
                "malformed_row",
                f"task {task!r} needs a 'prompt' (or 'question' for tvg/mcq/gqa)",
            )
            continue
        has_ext = Path(video).suffix.lower() in VIDEO_EXTENSIONS
        options = truth.get("options") or []
        yield Annotation(
            source,
            ordinal,
            str(row.get("video_id", Path(video).stem)),
            task,
            str(question or ""),
            options=tuple(_LETTER_PREFIX.sub("", str(o)) for o in options)
            if isinstance(options, list)
            else (),
            segment=_pair(truth.get("segment")),
            duration=_float(row.get("duration", truth.get("duration"))),
            video_path=video if has_ext else None,
            ground_truth=truth,
            prompt=None if prompt is None else str(prompt),
        )
