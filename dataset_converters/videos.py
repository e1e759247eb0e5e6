"""Videos: find the file for a video id, read its duration from the container (no frame decoding), or
from a duration table."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dataset_converters.records import VIDEO_EXTENSIONS, SkipReason


class VideoIndex:
    """Video files under a root, found by exact relative path or by file stem (the dataset's video id).

    The root is scanned once; ActivityNet's ``v_<id>`` and bare ``<id>`` spellings both match.
    """

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ValueError(f"--video-root {root} is not a directory")
        self.root = root
        self._by_stem: dict[str, list[Path]] = {}
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
                self._by_stem.setdefault(path.stem, []).append(path)

    def __len__(self) -> int:
        return sum(len(paths) for paths in self._by_stem.values())

    def find(self, video_id: str, relative_path: str | None = None) -> Path | tuple[SkipReason, str]:
        """The video's path, or why there is none (``missing_video`` / ``ambiguous_video`` and a detail)."""
        if relative_path is not None:
            path = Path(relative_path)
            path = path if path.is_absolute() else self.root / path
            return path if path.is_file() else ("missing_video", f"no file {path}")
        candidates = [video_id]
        candidates += [video_id[2:]] if video_id.startswith("v_") else [f"v_{video_id}"]
        for stem in candidates:
            paths = self._by_stem.get(stem, [])
            dirs = {p.parent for p in paths}
            if len(dirs) > 1:
                return (
                    "ambiguous_video",
                    f"video id {video_id!r} matches files in several directories: {sorted(map(str, paths))}",
                )
            if paths:
                # Same directory, several containers: prefer the more common one.
                return min(paths, key=lambda p: VIDEO_EXTENSIONS.index(p.suffix.lower()))
        return (
            "missing_video",
            f"no video file named {video_id!r}.* (extensions {', '.join(VIDEO_EXTENSIONS)}) under {self.root}",
        )


def unchecked_video_path(root: Path | None, video_id: str, relative_path: str | None) -> str:
    """The path written when videos are not checked: the annotation's own path, else ``<video_id>.mp4``,
    under ``root`` when one is given (nothing is resolved, so a later run with the videos can check it).

    >>> unchecked_video_path(Path("/v"), "4882821564", "1104/4882821564.mp4"), unchecked_video_path(None, "3MSZA", None)
    ('/v/1104/4882821564.mp4', '3MSZA.mp4')
    """
    name = relative_path if relative_path is not None else f"{video_id}.mp4"
    return str(root / name) if root is not None else name


def probe_duration(path: Path) -> float:
    """Duration in seconds from the container metadata (PyAV); frames are not decoded.

    The video stream's own duration wins over the container's (the audio track may be longer).
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        if stream.frames and stream.average_rate:
            return float(stream.frames / stream.average_rate)
    raise ValueError(f"{path}: the container states no duration")


def read_duration_table(path: Path) -> dict[str, float]:
    """Video durations from a CSV (``id``/``video_id``/``video`` + ``length``/``duration`` columns, as in
    Charades' ``Charades_v1_*.csv``) or a JSON object ``{video_id: seconds}``."""
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object {{video_id: seconds}}")
        return {str(k): _seconds(v, f"{path}[{k!r}]") for k, v in raw.items()}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        id_col = _pick_column(reader.fieldnames or (), ("id", "video_id", "video"), path)
        dur_col = _pick_column(reader.fieldnames or (), ("length", "duration"), path)
        return {
            row[id_col]: _seconds(row[dur_col], f"{path.name}:{reader.line_num} column {dur_col!r}")
            for row in reader
        }


def _pick_column(columns: Iterable[str], names: Sequence[str], path: Path) -> str:
    present = list(columns)
    for name in names:
        if name in present:
            return name
    raise ValueError(f"{path}: needs one of the columns {list(names)}, has {present}")


def _seconds(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{where}: duration must be a positive number of seconds, got {value!r}")
    return seconds
