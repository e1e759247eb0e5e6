"""Decoder backends: read a file's frame timestamps, then decode the chosen frames in one forward pass.

Two backends, both tested:

* ``pyav`` (default): demuxes the packets once to learn every frame's presentation timestamp (no decode),
  then decodes front to back once. Frames nobody asked for are never converted to RGB, and those that are
  also non-reference frames are not even decoded (``skip_frame=NONREF`` set per packet; they feed no other
  frame, so the chosen frames are bit-identical). PyAV itself reads a truncated file short without a word;
  here every count is checked against the container index and against what was asked.
* ``decord``: the project's named dependency and verl's fallback. Its frame index also carries timestamps;
  ``get_batch`` is called on sorted chunks, so it walks forward and only seeks between key frames.

Both resize each frame as soon as it is decoded (uint8 in, uint8 out, torchvision bicubic + antialias, the
exact arithmetic qwen-vl-utils applies to the whole clip), so peak memory is one source frame plus the
output, not the whole clip at full resolution in float32.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np

from .errors import VideoDecodeError, VideoError, VideoNotFoundError, VideoOpenError, VideoTruncatedError

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "Backend", "StreamIndex", "decode_frames", "index_stream", "probe_header"]

Backend = Literal["pyav", "decord"]
BACKENDS: tuple[Backend, ...] = ("pyav", "decord")

# Frames fetched per decord ``get_batch`` call: bounds memory at full resolution.
_DECORD_CHUNK = 8


@dataclass(frozen=True)
class StreamIndex:
    """What the container says about the video stream, plus every frame's timestamp (display order)."""

    path: str
    width: int
    height: int
    timestamps: np.ndarray  # float64 seconds from the first frame, sorted, one per frame
    average_fps: float  # the container's average frame rate (qwen-vl-utils' ``video_fps``)
    header_frames: int | None  # frame count the container index promises, when it has one
    codec: str
    backend: Backend
    pts: np.ndarray | None = None  # pyav: raw presentation timestamps (time-base ticks), sorted

    @property
    def total_frames(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True)
class HeaderInfo:
    """Container header only: no packet is read (used for token budgets)."""

    path: str
    width: int
    height: int
    frames: int
    average_fps: float
    duration: float
    frames_exact: bool  # False when the count was estimated from duration × fps


def check_file(path: str) -> None:
    if not os.path.exists(path):
        raise VideoNotFoundError(path, "no such file")
    if not os.path.isfile(path):
        raise VideoNotFoundError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise VideoOpenError(path, "empty file (0 bytes)")


def _open_pyav(path: str) -> Any:
    import av

    check_file(path)
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.FFmpegError as err:
        raise VideoOpenError(path, f"cannot open container: {err}") from err
    if not container.streams.video:
        container.close()
        raise VideoOpenError(path, "no video stream")
    return container


def _fps_of(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None


def probe_header(path: str) -> HeaderInfo:
    """Width, height, frame count and rate from the container header alone (no packet is read)."""
    container = _open_pyav(path)
    try:
        stream = container.streams.video[0]
        fps = _fps_of(stream)
        if fps is None:
            raise VideoOpenError(path, "the container gives no frame rate")
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        frames = int(stream.frames or 0)
        exact = frames > 0
        if not exact:
            if duration is None:
                raise VideoOpenError(path, "the container gives neither a frame count nor a duration")
            frames = max(1, round(duration * fps))
        if duration is None:
            duration = frames / fps
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise VideoOpenError(path, f"invalid frame size {width}x{height}")
        return HeaderInfo(path, width, height, frames, fps, duration, exact)
    finally:
        container.close()


def index_stream(path: str, backend: Backend = "pyav", *, threads: int = 1) -> StreamIndex:
    """Every frame's timestamp, without decoding (pyav: one demux pass; decord: its frame index)."""
    if backend == "pyav":
        return _index_pyav(path)
    if backend == "decord":
        return _index_decord(path, threads)
    raise ValueError(f"unknown video backend {backend!r}; known: {', '.join(BACKENDS)}")


def _index_pyav(path: str) -> StreamIndex:
    import av

    container = _open_pyav(path)
    try:
        stream = container.streams.video[0]
        ticks: list[int] = []
        hidden = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.is_discard:  # before an edit list's start: decoded for reference, never shown
                    hidden += 1
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    raise VideoOpenError(path, f"packet {len(ticks)} has no timestamp")
                ticks.append(int(ts))
        except av.FFmpegError as err:
            raise VideoDecodeError(path, f"cannot read packets after {len(ticks)} frames: {err}") from err
        header = int(stream.frames or 0) or None
        if not ticks:
            raise VideoTruncatedError(
                path,
                f"no video frames in the file (container index lists {header or 0})",
                asked=header or 1,
                got=0,
            )
        if header is not None and len(ticks) + hidden < header:
            raise VideoTruncatedError(
                path,
                f"truncated: the container index lists {header} frames, the file holds {len(ticks) + hidden} "
                f"(asked {header} frames, got {len(ticks) + hidden})",
                asked=header,
                got=len(ticks) + hidden,
            )
        pts = np.sort(np.asarray(ticks, dtype=np.int64))
        time_base = stream.time_base or Fraction(1, 1)
        seconds = (pts - pts[0]).astype(np.float64) * float(time_base)
        fps = _fps_of(stream) or _rate_from_timestamps(seconds)
        return StreamIndex(
            path=path,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            timestamps=seconds,
            average_fps=fps,
            header_frames=header,
            codec=str(stream.codec_context.name),
            backend="pyav",
            pts=pts,
        )
    finally:
        container.close()


def _rate_from_timestamps(seconds: np.ndarray) -> float:
    if len(seconds) < 2 or seconds[-1] <= 0:
        return 1.0
    return float((len(seconds) - 1) / seconds[-1])


def _decord_reader(path: str, threads: int) -> Any:
    import decord

    check_file(path)
    try:
        return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=threads)
    except Exception as err:  # decord raises DECORDError (a RuntimeError) with FFmpeg's message
        raise VideoOpenError(path, f"decord cannot open the file: {err}") from err


def _index_decord(path: str, threads: int) -> StreamIndex:
    reader = _decord_reader(path, threads)
    total = len(reader)
    if total == 0:
        raise VideoTruncatedError(path, "no video frames in the file", asked=1, got=0)
    stamps = np.asarray(reader.get_frame_timestamp(np.arange(total)), dtype=np.float64)[:, 0]
    order = np.argsort(stamps, kind="stable")
    if not np.array_equal(order, np.arange(total)):
        raise VideoOpenError(path, "decord's frame index is not in presentation order")
    h, w = reader[0].shape[:2] if total else (0, 0)
    return StreamIndex(
        path=path,
        width=int(w),
        height=int(h),
        timestamps=stamps - stamps[0],
        average_fps=float(reader.get_avg_fps()),
        header_frames=None,
        codec="",
        backend="decord",
    )


Resize = Callable[[np.ndarray], np.ndarray]  # HWC uint8 RGB -> CHW uint8 at the target size


def decode_frames(
    index: StreamIndex, positions: np.ndarray, resize: Resize, *, threads: int = 1
) -> np.ndarray:
    """Decode the frames at ``positions`` (sorted, may repeat) in one pass; uint8 ``(T, 3, H, W)``.

    Raises :class:`VideoTruncatedError` when any asked frame does not come out of the decoder.
    """
    wanted = np.unique(positions)
    slots: dict[int, list[int]] = {}
    for slot, pos in enumerate(positions.tolist()):
        slots.setdefault(int(pos), []).append(slot)
    out: np.ndarray | None = None
    done: set[int] = set()
    decoder = _decode_pyav if index.backend == "pyav" else _decode_decord
    for pos, frame in decoder(index, wanted, threads):
        small = resize(frame)
        if out is None:  # frames are written in place: peak memory is the output plus one frame
            out = np.empty((len(positions), *small.shape), dtype=np.uint8)
        out[slots[pos]] = small
        done.add(pos)
    got = len(done)
    if out is None or got != len(wanted):
        missing = [int(p) for p in wanted if int(p) not in done]
        raise VideoTruncatedError(
            index.path,
            f"asked {len(wanted)} frames, got {got} (the decoder produced no frame at "
            f"{_fmt_times(index.timestamps[missing])})",
            asked=len(wanted),
            got=got,
        )
    return out


def _fmt_times(seconds: np.ndarray) -> str:
    shown = ", ".join(f"{t:.3f} s" for t in seconds[:5])
    return shown + (f" and {len(seconds) - 5} more" if len(seconds) > 5 else "")


def _decode_pyav(index: StreamIndex, wanted: np.ndarray, threads: int) -> Iterator[tuple[int, np.ndarray]]:
    import av

    if index.pts is None:
        raise ValueError("a pyav index carries the raw timestamps")
    pos_of = {int(index.pts[p]): int(p) for p in wanted}
    remaining = set(pos_of)
    container = _open_pyav(index.path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if threads == 1:
            stream.thread_type = "NONE"
            ctx.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            ctx.thread_count = threads
        # With frame threads a packet is decoded later than it is sent, so a per-packet skip flag would
        # apply to the wrong frame: only skip with the single-threaded decoder.
        skip_ok = threads == 1
        decoded = 0

        def take(frames: list[Any]) -> Iterator[tuple[int, np.ndarray]]:
            for frame in frames:
                ts = frame.pts if frame.pts is not None else frame.dts
                if ts in remaining:
                    remaining.discard(ts)
                    yield pos_of[ts], frame.to_ndarray(format="rgb24")

        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if skip_ok:
                    ts = packet.pts if packet.pts is not None else packet.dts
                    ctx.skip_frame = "DEFAULT" if ts in remaining else "NONREF"
                frames = ctx.decode(packet)
                decoded += len(frames)
                yield from take(frames)
                if not remaining:
                    return
            ctx.skip_frame = "DEFAULT"
            yield from take(ctx.decode(None))
        except av.FFmpegError as err:
            raise VideoDecodeError(
                index.path,
                f"decoder failed after {decoded} frames ({len(remaining)} asked frames left): {err}",
            ) from err
    finally:
        container.close()


def _decode_decord(index: StreamIndex, wanted: np.ndarray, threads: int) -> Iterator[tuple[int, np.ndarray]]:
    reader = _decord_reader(index.path, threads)
    if len(reader) != index.total_frames:
        raise VideoTruncatedError(
            index.path,
            f"frame count changed between index and decode: {index.total_frames} then {len(reader)}",
            asked=index.total_frames,
            got=len(reader),
        )
    done = 0
    try:
        for start in range(0, len(wanted), _DECORD_CHUNK):
            chunk = wanted[start : start + _DECORD_CHUNK].tolist()
            batch = reader.get_batch(chunk).asnumpy()
            if batch.shape[0] != len(chunk):
                raise VideoTruncatedError(
                    index.path,
                    f"asked {len(chunk)} frames, got {batch.shape[0]} from decord",
                    asked=len(wanted),
                    got=done + batch.shape[0],
                )
            for pos, frame in zip(chunk, batch, strict=True):
                done += 1
                yield int(pos), frame
    except VideoError:
        raise
    except Exception as err:  # decord raises DECORDError for read/decode failures
        raise VideoDecodeError(
            index.path, f"decord failed after {done} of {len(wanted)} asked frames: {err}"
        ) from err
