"""Reading the cells of annotation files: numbers, time pairs, JSON, table rows, video references."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataset_converters.records import VIDEO_EXTENSIONS, Moment


def number(value: Any) -> float | None:
    """A finite number, or ``None`` (also for booleans, which JSON readers turn into ints)."""
    if isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def positive(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and result > 0 else None


def pair(value: Any) -> Moment | None:
    """``[start, end]`` as two finite numbers, else ``None`` (order is checked later, with a reason)."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        start, end = number(value[0]), number(value[1])
        if start is not None and end is not None:
            return start, end
    return None


def pairs(value: Any) -> list[Moment] | None:
    """Several moments ``[[s, e], …]`` (or one ``[s, e]``), else ``None``."""
    single = pair(value)
    if single is not None:
        return [single]
    if isinstance(value, list) and value:
        found = [pair(v) for v in value]
        if all(p is not None for p in found):
            return [p for p in found if p is not None]
    return None


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def table_rows(path: Path) -> list[Any]:
    """Rows of a csv, a JSON list of objects, or a JSONL file (csv cells stay strings)."""
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
    data = load_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of question objects")
    return data


def row_source(path: Path, i: int) -> str:
    """``file:line`` for a csv row (the header is line 1), ``file[i]`` for a JSON list item."""
    return f"{path.name}:{i + 2}" if path.suffix.lower() == ".csv" else f"{path.name}[{i}]"


def video_ref(row: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """``(video_id, relative path or None)`` from ``video_id`` / ``video``.

    A value with a video extension is a path relative to ``--video-root`` (VideoChat-R1 writes NExT's
    ``1104/4882821564.mp4``); its stem is the id. Anything else is an id, looked up by file name.

    >>> video_ref({"video": "1104/4882821564.mp4"}), video_ref({"video_id": 2574374895})
    (('4882821564', '1104/4882821564.mp4'), ('2574374895', None))
    """
    value = row.get("video_id", row.get("video"))
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if Path(text).suffix.lower() in VIDEO_EXTENSIONS:
        return Path(text).stem, text
    return text, None
