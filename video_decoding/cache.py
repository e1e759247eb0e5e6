"""Decode-once cache of sampled uint8 frames, shared by worker processes through the file system.

One file per (video, sampling settings, backend): a small JSON header (the clip's metadata and the video's
size and mtime when it was decoded) followed by the raw uint8 frames. Entries are written to a temporary
file in the same directory and renamed into place (atomic on POSIX), so a reader in another process sees
either no entry or a whole one. A hit is only used if the video's current size and mtime match the header;
a stale entry is deleted. Total size is bounded: after each write the least recently used entries (by mtime,
refreshed on every hit) are evicted.

Point every process at one directory with ``$VIDEO_RLT_FRAME_CACHE`` (and optionally
``$VIDEO_RLT_FRAME_CACHE_MAX_BYTES``), or pass a :class:`FrameCache` explicitly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .clip import VideoClip
from .sampling import VideoSampling

logger = logging.getLogger(__name__)

__all__ = ["FrameCache", "cache_from_env"]

_MAGIC = b"VRLTFRM1"
_FORMAT_VERSION = 1  # bump when the frame choice, resize or file layout changes
DEFAULT_MAX_BYTES = 20 * 1024**3


@dataclass(frozen=True)
class CacheStats:
    entries: int
    bytes: int


class FrameCache:
    """A bounded directory of sampled clips.

    >>> import tempfile
    >>> cache = FrameCache(tempfile.mkdtemp(), max_bytes=10_000_000)
    >>> cache.stats().entries
    0
    """

    def __init__(self, root: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FrameCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def key(self, path: str, sampling: VideoSampling, backend: str, resize: str = "exact") -> str:
        ident = json.dumps(
            [_FORMAT_VERSION, os.path.realpath(path), sampling.cache_token(), backend, resize],
            separators=(",", ":"),
        )
        return hashlib.sha256(ident.encode()).hexdigest()

    def entry_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.frames"

    def get(
        self, path: str, sampling: VideoSampling, backend: str, resize: str = "exact"
    ) -> VideoClip | None:
        """The cached clip, or ``None`` (absent, stale against the video's size/mtime, or unreadable)."""
        entry = self.entry_path(self.key(path, sampling, backend, resize))
        try:
            stat = os.stat(path)
            with open(entry, "rb") as fh:
                header = _read_header(fh)
                if header is None:
                    logger.warning("frame cache: ignoring unreadable entry %s", entry)
                    return None
                if header["size"] != stat.st_size or header["mtime_ns"] != stat.st_mtime_ns:
                    logger.info("frame cache: %s changed since it was cached; decoding again", path)
                    _unlink(entry)
                    return None
                shape = tuple(header["shape"])
                count = int(np.prod(shape))
                frames = np.fromfile(fh, dtype=np.uint8, count=count)
        except FileNotFoundError:
            return None
        if frames.size != count:
            logger.warning(
                "frame cache: entry %s is short (%d of %d bytes); dropping it", entry, frames.size, count
            )
            _unlink(entry)
            return None
        with contextlib.suppress(FileNotFoundError):
            os.utime(entry)  # LRU: a hit makes the entry young again
        return VideoClip(
            path=path,
            frames=frames.reshape(shape),
            timestamps=np.asarray(header["timestamps"], dtype=np.float64),
            source_indices=np.asarray(header["source_indices"], dtype=np.int64),
            fps=float(header["fps"]),
            total_num_frames=int(header["total_num_frames"]),
            duration=float(header["duration"]),
            source_width=int(header["source_width"]),
            source_height=int(header["source_height"]),
            backend=str(header["backend"]),
            image_patch_size=int(header["image_patch_size"]),
            extra={"resize": resize, "cache": "hit"},
        )

    def put(self, clip: VideoClip, sampling: VideoSampling, resize: str = "exact") -> Path:
        """Store ``clip`` atomically, then evict least recently used entries beyond ``max_bytes``."""
        stat = os.stat(clip.path)
        header = {
            "path": os.path.realpath(clip.path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "shape": list(clip.frames.shape),
            "timestamps": clip.timestamps.tolist(),
            "source_indices": clip.source_indices.tolist(),
            "fps": clip.fps,
            "total_num_frames": clip.total_num_frames,
            "duration": clip.duration,
            "source_width": clip.source_width,
            "source_height": clip.source_height,
            "backend": clip.backend,
            "image_patch_size": clip.image_patch_size,
        }
        blob = json.dumps(header).encode()
        entry = self.entry_path(self.key(clip.path, sampling, clip.backend, resize))
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".frames")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + struct.pack("<Q", len(blob)) + blob)
                fh.write(np.ascontiguousarray(clip.frames).data)
            os.replace(tmp, entry)
        except BaseException:
            _unlink(Path(tmp))
            raise
        self.evict()
        return entry

    def _entries(self) -> list[tuple[float, int, Path]]:
        found: list[tuple[float, int, Path]] = []
        for sub in self.root.iterdir() if self.root.exists() else ():
            if not sub.is_dir():
                continue
            for item in os.scandir(sub):
                if item.name.endswith(".frames") and not item.name.startswith(".tmp-"):
                    try:
                        st = item.stat()
                    except FileNotFoundError:  # evicted by another process meanwhile
                        continue
                    found.append((st.st_mtime, st.st_size, Path(item.path)))
        return found

    def stats(self) -> CacheStats:
        entries = self._entries()
        return CacheStats(len(entries), sum(size for _, size, _ in entries))

    def evict(self) -> int:
        """Delete the oldest entries until the total fits ``max_bytes``; returns how many were deleted."""
        entries = sorted(self._entries())
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, entry in entries:
            if total <= self.max_bytes:
                break
            _unlink(entry)
            total -= size
            removed += 1
        if removed:
            logger.info("frame cache: evicted %d entries from %s", removed, self.root)
        return removed


def _read_header(fh: BinaryIO) -> dict[str, Any] | None:
    head = fh.read(len(_MAGIC) + 8)
    if len(head) != len(_MAGIC) + 8 or head[: len(_MAGIC)] != _MAGIC:
        return None
    (length,) = struct.unpack("<Q", head[len(_MAGIC) :])
    blob = fh.read(length)
    if len(blob) != length:
        return None
    try:
        header = json.loads(blob)
    except ValueError:
        return None
    return header if isinstance(header, dict) else None


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def cache_from_env() -> FrameCache | None:
    """A :class:`FrameCache` at ``$VIDEO_RLT_FRAME_CACHE`` (bounded by ``$VIDEO_RLT_FRAME_CACHE_MAX_BYTES``)."""
    root = os.environ.get("VIDEO_RLT_FRAME_CACHE")
    if not root:
        return None
    raw = os.environ.get("VIDEO_RLT_FRAME_CACHE_MAX_BYTES")
    try:
        max_bytes = int(float(raw)) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        raise ValueError(f"VIDEO_RLT_FRAME_CACHE_MAX_BYTES={raw!r} is not a number of bytes") from None
    return FrameCache(root, max_bytes=max_bytes)
