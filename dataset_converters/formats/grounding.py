"""Temporal-grounding annotations: Charades-STA's text lines, and the captions JSON that ActivityNet
Captions uses and TimeZero / VideoChat-R1 also ship Charades-STA in."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dataset_converters.formats.tables import load_json, number, pair, positive
from dataset_converters.records import Annotation, Skip

Record = Annotation | Skip

_CHARADES_LINE = re.compile(r"^(?P<vid>\S+)\s+(?P<start>\S+)\s+(?P<end>\S+)\s*##(?P<sentence>.*)$")


def read_charades_sta(path: Path) -> Iterator[Record]:
    """Charades-STA: ``charades_sta_{train,test}.txt`` lines, or a ``.json`` file in the captions layout
    (TimeZero's ``charades_annotation/*.json``, VideoChat-R1's ``charades_test.json``).

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "charades_sta_test.txt"
    >>> _ = f.write_text("3MSZA 24.3 30.4##person turn a light on.\\n")
    >>> [(a.video_id, a.segment, a.text) for a in read_charades_sta(f)]
    [('3MSZA', (24.3, 30.4), 'person turn a light on.')]
    """
    if path.suffix.lower() == ".json":
        yield from read_captions_json(path)
        return
    ordinal = 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            source = f"{path.name}:{line_no}"
            match = _CHARADES_LINE.match(line.strip())
            start = number(match["start"]) if match else None
            end = number(match["end"]) if match else None
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


def _not_captions(path: Path, data: Any) -> str:
    """Why a JSON file is not in the captions layout, naming the converter that reads it when we know."""
    first = next(iter(data.values()), None) if isinstance(data, dict) and data else None
    if isinstance(first, Mapping) and "actions" in first:
        return (
            f"{path}: Charades action labels ({{video_id: {{subset, duration, actions}}}}, VSLNet's "
            "charades.json), not Charades-STA sentences; convert charades_sta_{train,test}.txt instead"
        )
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        keys = set(data[0])
        if "glue" in keys or "options" in keys:
            hint = "recipes/data/nextgqa.py" if "glue" in keys else "recipes/data/multiple_choice.py"
            return f"{path}: a list of questions (keys {sorted(keys)}); convert it with {hint}"
    return (
        f"{path}: expected a JSON object {{video_id: {{duration, timestamps, sentences}}}} "
        f"(got {type(data).__name__})"
    )


def read_captions_json(path: Path) -> Iterator[Record]:
    """``{video_id: {"duration", "timestamps": [[s, e], …], "sentences": […]}}``: one grounding record per
    sentence, videos in file order (other keys such as TimeZero's ``phrases`` are ignored).

    An entry that cannot give rows (no ``timestamps``, lists of different lengths, a bad duration) becomes
    one skip naming the entry; a missing duration is left to ``--durations`` or the video.
    """
    data = load_json(path)
    if not isinstance(data, dict) or not any(
        isinstance(e, Mapping) and ("timestamps" in e or "sentences" in e) for e in data.values()
    ):
        raise ValueError(_not_captions(path, data))
    ordinal = 0
    for video_id, entry in data.items():
        where = f"{path.name}[{video_id!r}]"
        problem = _entry_problem(entry)
        if problem is not None:
            yield Skip(where, ordinal, "malformed_row", problem)
            ordinal += 1
            continue
        duration = positive(entry.get("duration"))
        for k, (stamp, sentence) in enumerate(zip(entry["timestamps"], entry["sentences"], strict=True)):
            source = f"{where}[{k}]"
            segment = pair(stamp)
            if segment is None or not isinstance(sentence, str) or not sentence.strip():
                detail = f"timestamp {stamp!r} / sentence {sentence!r} unreadable"
                yield Skip(source, ordinal, "malformed_row", detail)
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


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, Mapping):
        return "entry is not an object"
    stamps, sentences = entry.get("timestamps"), entry.get("sentences")
    if not isinstance(stamps, list) or not stamps:
        return f"entry has no 'timestamps' list (got {stamps!r}); its sentences cannot be grounded"
    if not isinstance(sentences, list) or len(stamps) != len(sentences):
        count = len(sentences) if isinstance(sentences, list) else repr(sentences)
        return f"'timestamps' ({len(stamps)}) and 'sentences' ({count}) must be lists of equal length"
    if "duration" in entry and positive(entry["duration"]) is None:
        return f"'duration' must be a positive number of seconds, got {entry['duration']!r}"
    return None


def read_activitynet_captions(path: Path) -> Iterator[Record]:
    """ActivityNet Captions (``train.json``, ``val_1.json``, ``val_2.json``; 2D-TAN's and TimeZero's copies)."""
    return read_captions_json(path)
