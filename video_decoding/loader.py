"""The video loader: frames a Qwen2-VL / Qwen2.5-VL processor takes, chosen by timestamp, uint8, cached.

``load_video(path, VideoSampling(fps=2.0, max_pixels=...))`` returns a :class:`VideoClip`: uint8 frames
``(T, 3, H, W)``, each frame's presentation time, and the metadata dict the HF processor and vLLM take.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .backends import BACKENDS, Backend, StreamIndex, decode_frames, index_stream
from .clip import VideoClip
from .errors import VideoOpenError
from .sampling import (
    VideoSampling,
    frame_range,
    select_frames,
    smart_nframes,
    target_size,
)

if TYPE_CHECKING:
    from .cache import FrameCache

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BACKEND", "VideoClip", "default_backend", "load_video", "plan_clip"]

# Chosen by measurement (benchmarks/bench_video.py) and robustness (both raise on truncated files here;
# pyav also skips decoding unused non-reference frames). Override with $VIDEO_RLT_VIDEO_BACKEND.
DEFAULT_BACKEND: Backend = "pyav"


def default_backend() -> Backend:
    """``$VIDEO_RLT_VIDEO_BACKEND`` if set (``pyav`` or ``decord``), else :data:`DEFAULT_BACKEND`."""
    name = os.environ.get("VIDEO_RLT_VIDEO_BACKEND", DEFAULT_BACKEND)
    if name not in BACKENDS:
        raise ValueError(f"VIDEO_RLT_VIDEO_BACKEND={name!r}: known backends are {', '.join(BACKENDS)}")
    return name


@dataclass(frozen=True)
class ClipPlan:
    """Which frames to take and at what size: everything but the pixels."""

    positions: np.ndarray  # display-order frame numbers in the whole video, one per sampled frame
    span_first: int  # first frame of the video_start..video_end span
    span_frames: int  # frames in the span (qwen-vl-utils' ``total_num_frames``)
    height: int  # resized
    width: int
    average_fps: float  # the container's rate (used for the frame-count rule, as qwen-vl-utils does)


def plan_clip(index: StreamIndex, sampling: VideoSampling) -> ClipPlan:
    """Frame count, frame choice and output size for ``sampling`` (qwen-vl-utils' rules, by timestamp)."""
    try:
        first, last = _span(index, sampling)
        span_frames = last - first + 1
        nframes = smart_nframes(sampling, span_frames, index.average_fps)
        chosen = select_frames(index.timestamps[first : last + 1], nframes, first_index=first) + first
        height, width = target_size(sampling, index.height, index.width, nframes)
    except ValueError as err:
        raise VideoOpenError(index.path, str(err)) from None
    return ClipPlan(chosen, first, span_frames, height, width, index.average_fps)


def _span(index: StreamIndex, sampling: VideoSampling) -> tuple[int, int]:
    if sampling.video_start is None and sampling.video_end is None:
        return 0, index.total_frames - 1
    # Same frame rule as qwen-vl-utils on a constant-rate file, expressed in time so it holds on VFR.
    ts = index.timestamps
    first, last = frame_range(sampling, index.total_frames, index.average_fps)
    if sampling.video_start is not None:
        first = int(np.searchsorted(ts, sampling.video_start - 1e-9, side="left"))
    if sampling.video_end is not None:
        last = int(np.searchsorted(ts, sampling.video_end + 1e-9, side="right")) - 1
    if first >= last:
        raise ValueError(
            f"empty time range: video_start={sampling.video_start} s, video_end={sampling.video_end} s "
            f"(video is {ts[-1]:.2f} s)"
        )
    return first, last


def _span_rate(timestamps: np.ndarray, fallback: float) -> float:
    """Mean frame rate of a span from its timestamps; the container's rate when they agree (CFR)."""
    if len(timestamps) < 2 or timestamps[-1] <= timestamps[0]:
        return fallback
    measured = (len(timestamps) - 1) / float(timestamps[-1] - timestamps[0])
    # Keep the container's exact rational rate on constant-rate files (bit-equal second_per_grid_ts
    # with qwen-vl-utils); the timestamps round to the time base, hence the tolerance.
    return fallback if abs(measured - fallback) <= 1e-3 * fallback else measured


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops in this thread with ``n`` intra-op threads, then restore the previous count.

    torch's thread count is OpenMP's per-thread setting, so this does not touch other threads (verl calls
    the loader from a thread pool). A single frame's resize spread over 2 threads costs 6-10x the CPU time
    of one thread (measured: 25-44 ms vs 4 ms for a 360p frame): the frames are small work items.
    """
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


ResizeMode = Literal["exact", "fast"]
RESIZE_MODES: tuple[ResizeMode, ...] = ("exact", "fast")


def make_resize(height: int, width: int, mode: ResizeMode = "exact") -> Callable[[np.ndarray], np.ndarray]:
    """uint8 HWC RGB -> uint8 CHW at ``(height, width)``, bicubic with antialias.

    ``exact``: torchvision's float kernel then rounding, the arithmetic qwen-vl-utils applies: bit-identical
    frames. ``fast``: torch's uint8 kernel (same filter, fixed-point weights), 6-10x cheaper; pixels differ
    from ``exact`` by a few levels at most, token counts and timestamps are the same.
    """
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as tvf

    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; known: {', '.join(RESIZE_MODES)}")

    def resize(frame: np.ndarray) -> np.ndarray:
        chw = torch.from_numpy(frame).permute(2, 0, 1)
        if chw.shape[1] == height and chw.shape[2] == width:
            return np.ascontiguousarray(chw.numpy())
        if mode == "fast":
            out = torch.nn.functional.interpolate(
                chw[None], size=(height, width), mode="bicubic", antialias=True, align_corners=False
            )[0]
        else:
            out = tvf.resize(chw, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
        return np.ascontiguousarray(out.numpy())

    return resize


def load_video(
    path: str | os.PathLike[str],
    sampling: VideoSampling | None = None,
    *,
    backend: Backend | None = None,
    threads: int = 1,
    resize: ResizeMode = "exact",
    cache: FrameCache | None = None,
) -> VideoClip:
    """Sample ``path`` for a Qwen-VL model: one index pass, one forward decode pass, uint8 frames.

    Raises a :class:`~video_decoding.errors.VideoError` subclass naming the file on any failure; the
    clip always has exactly the frames the qwen-vl-utils rule asks for.
    """
    path = _local_path(path)
    sampling = sampling or VideoSampling()
    backend = backend or default_backend()
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if cache is not None:
        hit = cache.get(path, sampling, backend, resize)
        if hit is not None:
            return hit
    index = index_stream(path, backend, threads=threads)
    plan = plan_clip(index, sampling)
    with torch_threads(threads):
        frames = decode_frames(
            index, plan.positions, make_resize(plan.height, plan.width, resize), threads=threads
        )
    span_ts = index.timestamps[plan.span_first : plan.span_first + plan.span_frames]
    fps = _span_rate(span_ts, index.average_fps)
    clip = VideoClip(
        path=path,
        frames=frames,
        timestamps=index.timestamps[plan.positions],
        source_indices=plan.positions,
        fps=fps,
        total_num_frames=plan.span_frames,
        duration=plan.span_frames / fps,
        source_width=index.width,
        source_height=index.height,
        backend=backend,
        image_patch_size=sampling.image_patch_size,
        extra={"resize": resize},
    )
    if cache is not None:
        cache.put(clip, sampling, resize)
    return clip


def _local_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    if text.startswith("file://"):
        return text[len("file://") :]
    if text.startswith(("http://", "https://")):
        raise VideoOpenError(text, "remote URLs are not decoded here: download the file first")
    return text
