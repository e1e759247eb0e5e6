"""What Qwen2-VL / Qwen2.5-VL expect from a video: frame count, pixel budget, resize, token count.

The rules are those of ``qwen-vl-utils`` 0.0.14 (``smart_nframes``, ``smart_resize``, the per-frame pixel cap
in ``fetch_video``), re-stated here as pure functions so that the token count of a video can be computed
from its metadata alone, and so that the loader matches qwen-vl-utils to the token. What differs is *which*
frames are taken: :func:`select_frames` picks the frame nearest in presentation time to each of the
evenly spaced targets, which on a constant-frame-rate file is exactly qwen-vl-utils' ``linspace().round()``
and on a variable-frame-rate file keeps the samples evenly spaced in seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "FPS",
    "FPS_MAX_FRAMES",
    "FPS_MIN_FRAMES",
    "FRAME_FACTOR",
    "SPATIAL_MERGE_SIZE",
    "VideoSampling",
    "frame_pixel_budget",
    "frame_range",
    "linspace_like_torch",
    "select_frames",
    "smart_nframes",
    "smart_resize",
    "video_token_count",
]

# qwen-vl-utils 0.0.14 constants (vision_process.py).
MAX_RATIO = 200
SPATIAL_MERGE_SIZE = 2
VIDEO_MIN_TOKEN_NUM = 128
VIDEO_MAX_TOKEN_NUM = 768
FPS = 2.0
FRAME_FACTOR = 2
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
TEMPORAL_PATCH_SIZE = 2
DEFAULT_MODEL_SEQ_LEN = 128000


def model_seq_len() -> int:
    """``MODEL_SEQ_LEN`` as qwen-vl-utils reads it (it sets the default total pixel budget)."""
    return int(float(os.environ.get("MODEL_SEQ_LEN", DEFAULT_MODEL_SEQ_LEN)))


def _round_by(x: float, f: int) -> int:
    return round(x / f) * f


def _ceil_by(x: float, f: int) -> int:
    return math.ceil(x / f) * f


def _floor_by(x: float, f: int) -> int:
    return math.floor(x / f) * f


class VideoSampling(BaseModel):
    """The per-video settings of a qwen-vl-utils video element (``{"type": "video", "video": path, ...}``).

    ``None`` means "not given" (parquet structs fill absent keys with ``None``), so rows mixing ``fps`` and
    ``nframes`` work. Unknown keys are rejected: a typo such as ``max_pixel`` would otherwise silently fall
    back to the default budget.

    >>> VideoSampling.from_element({"type": "video", "video": "a.mp4", "fps": 1.0, "nframes": None}).fps
    1.0
    >>> VideoSampling.from_element({"video": "a.mp4", "max_pixel": 10})
    Traceback (most recent call last):
    ...
    ValueError: video element a.mp4: unknown key 'max_pixel' (did you mean 'max_pixels'?); known: fps, image_patch_size, max_frames, max_pixels, min_frames, min_pixels, nframes, resized_height, resized_width, total_pixels, video_end, video_start
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: float | None = Field(default=None, gt=0)
    nframes: int | None = Field(default=None, ge=1)
    min_frames: int | None = Field(default=None, ge=1)
    max_frames: int | None = Field(default=None, ge=1)
    min_pixels: float | None = Field(default=None, gt=0)
    max_pixels: float | None = Field(default=None, gt=0)
    total_pixels: float | None = Field(default=None, gt=0)
    resized_height: int | None = Field(default=None, ge=1)
    resized_width: int | None = Field(default=None, ge=1)
    video_start: float | None = Field(default=None, ge=0)
    video_end: float | None = Field(default=None, ge=0)
    image_patch_size: int = Field(default=14, ge=1)

    @model_validator(mode="after")
    def _exclusive(self) -> VideoSampling:
        if self.fps is not None and self.nframes is not None:
            raise ValueError("give either 'fps' or 'nframes', not both")
        if (self.resized_height is None) != (self.resized_width is None):
            raise ValueError("'resized_height' and 'resized_width' go together")
        return self

    @classmethod
    def from_element(cls, ele: Mapping[str, Any], *, image_patch_size: int = 14) -> VideoSampling:
        """Parse a message content element; errors name the video and the bad key."""
        name = ele.get("video", "<no 'video' key>")
        name = name if isinstance(name, str) else f"<{type(name).__name__}>"
        fields = {k: v for k, v in ele.items() if k not in ("type", "video") and v is not None}
        known = sorted(cls.model_fields)
        for key in fields:
            if key not in cls.model_fields:
                import difflib

                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"video element {name}: unknown key {key!r}{hint}; known: {', '.join(known)}"
                )
        fields.setdefault("image_patch_size", image_patch_size)
        try:
            return cls(**fields)
        except ValueError as err:
            raise ValueError(f"video element {name}: {err}") from None

    @property
    def image_factor(self) -> int:
        """Side of one merged visual token in pixels (28 for a 14-pixel patch)."""
        return self.image_patch_size * SPATIAL_MERGE_SIZE

    def cache_token(self) -> str:
        """A canonical string of every setting that changes the frames (part of the frame-cache key)."""
        return self.model_dump_json()


def smart_nframes(sampling: VideoSampling, total_frames: int, video_fps: float) -> int:
    """Number of frames qwen-vl-utils samples from ``total_frames`` frames at ``video_fps``.

    >>> smart_nframes(VideoSampling(), total_frames=1500, video_fps=25.0)  # 60 s at 2 fps
    120
    >>> smart_nframes(VideoSampling(), total_frames=15000, video_fps=25.0)  # capped at 768
    768
    """
    if sampling.nframes is not None:
        nframes = _round_by(sampling.nframes, FRAME_FACTOR)
    else:
        fps = sampling.fps if sampling.fps is not None else FPS
        min_frames = _ceil_by(
            sampling.min_frames if sampling.min_frames is not None else FPS_MIN_FRAMES, FRAME_FACTOR
        )
        max_frames = _floor_by(
            sampling.max_frames if sampling.max_frames is not None else min(FPS_MAX_FRAMES, total_frames),
            FRAME_FACTOR,
        )
        wanted = total_frames / video_fps * fps
        nframes = _floor_by(min(min(max(wanted, min_frames), max_frames), total_frames), FRAME_FACTOR)
    if not (FRAME_FACTOR <= nframes <= total_frames):
        raise ValueError(
            f"nframes should be in [{FRAME_FACTOR}, {total_frames}] (the video's frames), got {nframes}"
        )
    return nframes


def frame_range(sampling: VideoSampling, total_frames: int, video_fps: float) -> tuple[int, int]:
    """First and last frame (inclusive) inside ``video_start``/``video_end``, by qwen-vl-utils' rule.

    >>> frame_range(VideoSampling(video_start=1.0, video_end=2.0), total_frames=100, video_fps=10.0)
    (10, 20)
    """
    if video_fps <= 0 or total_frames <= 0:
        raise ValueError(
            f"need a positive frame rate and frame count, got {video_fps} fps, {total_frames} frames"
        )
    if sampling.video_start is None and sampling.video_end is None:
        return 0, total_frames - 1
    max_duration = total_frames / video_fps
    start = 0
    if sampling.video_start is not None:
        start = math.ceil(max(0.0, min(sampling.video_start, max_duration)) * video_fps)
    end = total_frames - 1
    if sampling.video_end is not None:
        end = min(math.floor(max(0.0, min(sampling.video_end, max_duration)) * video_fps), total_frames - 1)
    if start >= end:
        raise ValueError(
            f"empty time range: video_start={sampling.video_start} s, video_end={sampling.video_end} s "
            f"(video is {max_duration:.2f} s)"
        )
    return start, end


def frame_pixel_budget(sampling: VideoSampling, nframes: int) -> tuple[float, float]:
    """``(min_pixels, max_pixels)`` for one frame when ``nframes`` frames share the total budget."""
    f = sampling.image_factor
    min_pixels = sampling.min_pixels if sampling.min_pixels is not None else VIDEO_MIN_TOKEN_NUM * f * f
    total = sampling.total_pixels if sampling.total_pixels is not None else model_seq_len() * f * f * 0.9
    max_pixels = max(min(VIDEO_MAX_TOKEN_NUM * f * f, total / nframes * FRAME_FACTOR), int(min_pixels * 1.05))
    if sampling.max_pixels is not None:
        max_pixels = min(sampling.max_pixels, max_pixels)
    return min_pixels, max_pixels


def smart_resize(
    height: int, width: int, factor: int, min_pixels: float, max_pixels: float
) -> tuple[int, int]:
    """qwen-vl-utils' ``smart_resize``: sides divisible by ``factor``, area in budget, aspect kept.

    >>> smart_resize(360, 640, 28, 128 * 784, 768 * 784)
    (364, 644)
    """
    if max_pixels < min_pixels:
        raise ValueError(f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(
            f"aspect ratio must be below {MAX_RATIO}, got {max(height, width) / min(height, width)}"
        )
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = _floor_by(height / beta, factor)
        w_bar = _floor_by(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


def target_size(sampling: VideoSampling, height: int, width: int, nframes: int) -> tuple[int, int]:
    """Resized ``(height, width)`` of every sampled frame, as qwen-vl-utils computes it."""
    f = sampling.image_factor
    if sampling.resized_height is not None and sampling.resized_width is not None:
        return smart_resize(
            sampling.resized_height, sampling.resized_width, f, 4 * f * f, 16384 * f * f
        )  # qwen-vl-utils' image defaults apply here
    min_pixels, max_pixels = frame_pixel_budget(sampling, nframes)
    return smart_resize(height, width, f, min_pixels, max_pixels)


def video_token_count(nframes: int, height: int, width: int, image_patch_size: int = 14) -> int:
    """LLM tokens of a video after the 2×2 spatial merge and 2-frame temporal patches.

    >>> video_token_count(120, 336, 616)
    15840
    """
    grid_t = math.ceil(nframes / TEMPORAL_PATCH_SIZE)
    return grid_t * (height // image_patch_size) * (width // image_patch_size) // (SPATIAL_MERGE_SIZE**2)


def linspace_like_torch(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps)`` (float32, as qwen-vl-utils computes it) as float64.

    qwen-vl-utils rounds a float32 linspace to pick frames; its half-way cases are only reproduced with
    torch's own kernel, so torch computes it (it is needed for the resize anyway).

    >>> linspace_like_torch(0, 9, 4).tolist()
    [0.0, 3.0, 6.0, 9.0]
    """
    import torch

    return torch.linspace(float(start), float(end), steps, dtype=torch.float32).double().numpy()


def select_frames(timestamps: np.ndarray, nframes: int, first_index: int = 0) -> np.ndarray:
    """Positions in ``timestamps`` of the frames nearest in time to ``nframes`` evenly spaced targets.

    Targets are qwen-vl-utils' ``linspace(first, last, nframes)`` positions turned into times along the
    span; each frame's time is mapped onto that index scale, so on a constant-frame-rate span frame ``i``
    sits exactly at ``i`` and the choice equals ``linspace().round()`` (ties to the even index, as torch
    rounds). ``first_index`` is the span's first frame number in the whole video (``video_start``): the
    float32 linspace depends on it.

    >>> select_frames(np.arange(10) / 25.0, 4).tolist()                    # constant frame rate
    [0, 3, 6, 9]
    >>> ts = np.r_[np.arange(0, 2, 1 / 50), np.arange(2, 4, 1 / 5)]          # 50 fps, then 5 fps
    >>> (ts[select_frames(ts, 4)]).round(2).tolist()                        # evenly spaced in time
    [0.0, 1.26, 2.6, 3.8]
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    n_total = len(ts)
    if not (1 <= nframes <= n_total):
        raise ValueError(f"cannot select {nframes} frames out of {n_total}")
    last = first_index + n_total - 1
    targets = linspace_like_torch(first_index, last, nframes)
    span = ts[-1] - ts[0]
    if n_total == 1 or span <= 0:
        pos = np.arange(n_total, dtype=np.float64) + first_index
    else:
        pos = first_index + (ts - ts[0]) / span * (n_total - 1)
        # Timestamps are rounded to the container's time base; within a millionth of a frame a frame
        # is on its constant-rate slot, so half-way targets tie exactly as in qwen-vl-utils.
        nearest = np.rint(pos)
        pos = np.where(np.abs(pos - nearest) < 1e-6, nearest, pos)
    right = (
        np.clip(np.searchsorted(pos, targets, side="left"), 1, n_total - 1)
        if n_total > 1
        else np.zeros(nframes, dtype=np.int64)
    )
    if n_total == 1:
        return right.astype(np.int64)
    left = right - 1
    d_left = targets - pos[left]
    d_right = pos[right] - targets
    choose_right = (d_right < d_left) | ((d_right == d_left) & (right % 2 == 0))
    return np.where(choose_right, right, left).astype(np.int64)
