"""Tiny real mp4 clips with a known event, built offline (for tests, the demo and the learning task).

Clips are real H.264 mp4 files encoded with PyAV: a moving gradient background and, optionally, a square
visible exactly during a known ``event`` interval, so tests can check where frames land in time.
A variable-frame-rate clip (``vfr=True``) alternates fast and slow sections with true presentation
timestamps.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["clip_timestamps", "make_clip"]


def _frame(
    t: float,
    size: tuple[int, int],
    event: tuple[float, float] | None,
    colour: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    w, h = size
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), dtype=np.uint8)
    img[..., 0] = ((x + 40 * t) % 256).astype(np.uint8)
    img[..., 1] = ((y + 25 * t) % 256).astype(np.uint8)
    img[..., 2] = 64
    if event is not None and event[0] <= t < event[1]:
        s = max(4, min(w, h) // 3)
        img[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2] = colour
    return img


def clip_timestamps(seconds: float, fps: float, vfr: bool = False) -> list[float]:
    """Presentation times of the frames :func:`make_clip` writes (VFR: 4× denser in odd seconds).

    >>> clip_timestamps(1.0, 4)
    [0.0, 0.25, 0.5, 0.75]
    """
    times: list[float] = []
    t = 0.0
    while t < seconds - 1e-9:
        times.append(round(t, 6))
        step = 1.0 / fps
        if vfr and int(t) % 2 == 1:
            step /= 4
        t += step
    return times


def make_clip(
    path: str | Path,
    *,
    seconds: float = 4.0,
    fps: float = 8.0,
    size: tuple[int, int] = (64, 48),
    event: tuple[float, float] | None = None,
    vfr: bool = False,
    colour: tuple[int, int, int] = (255, 255, 255),
) -> Path:
    """Write a real H.264 mp4 (yuv420p) with PyAV; a square of ``colour`` (RGB, white by default) is
    visible during ``event`` (seconds).

    Frame ``i`` is shown at ``clip_timestamps(seconds, fps, vfr)[i]``; width and height must be even.
    """
    import av

    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"size must be even for yuv420p, got {size}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    times = clip_timestamps(seconds, fps, vfr)
    with av.open(str(tmp), mode="w") as container:
        # Millisecond time base: VFR timestamps are exact, CFR ones too for the rates used in tests.
        stream = container.add_stream("libx264", rate=round(fps) if not vfr else round(fps * 4))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        from fractions import Fraction

        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "18"}
        for t in times:
            frame = av.VideoFrame.from_ndarray(_frame(t, size, event, colour), format="rgb24")
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path
