"""Generic JSONL: each line carries its ground truth in the reward contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from dataset_converters.formats.choice import strip_letters
from dataset_converters.formats.tables import number, pair, pairs
from dataset_converters.records import VIDEO_EXTENSIONS, Annotation, Skip

Record = Annotation | Skip


def read_jsonl(path: Path) -> Iterator[Record]:
    """``{"video": …, "question": …, "ground_truth": {...}}`` per line, optional ``prompt``, ``duration``,
    ``video_id``.

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
        options = truth.get("options")
        several = pairs(truth.get("segments")) if "segment" not in truth else None
        yield Annotation(
            source,
            ordinal,
            str(row.get("video_id", Path(video).stem)),
            task,
            str(question or ""),
            options=tuple(strip_letters([str(o) for o in options])) if isinstance(options, list) else (),
            segment=pair(truth.get("segment")),
            segments=tuple(several) if several else (),
            duration=number(row.get("duration", truth.get("duration"))),
            video_path=video if has_ext else None,
            ground_truth=truth,
            prompt=None if prompt is None else str(prompt),
        )
