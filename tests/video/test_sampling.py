"""The frame-count, pixel-budget and frame-choice rules against qwen-vl-utils' own functions."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_decoding.sampling import (
    VideoSampling,
    linspace_like_torch,
    select_frames,
    smart_nframes,
    smart_resize,
    target_size,
    video_token_count,
)

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
qvu = pytest.importorskip("qwen_vl_utils.vision_process")
torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("ele", "total", "fps"),
    [
        ({}, 1500, 25.0),
        ({}, 15000, 25.0),
        ({}, 120, 29.97002997002997),
        ({"fps": 1.0}, 250, 25.0),
        ({"fps": 4.0, "max_frames": 30}, 1000, 30.0),
        ({"fps": 0.1, "min_frames": 7}, 300, 30.0),
        ({"nframes": 9}, 100, 25.0),
        ({}, 5, 25.0),
    ],
)
def test_frame_count_rule_matches_qwen(ele: dict[str, float], total: int, fps: float) -> None:
    assert smart_nframes(VideoSampling(**ele), total, fps) == qvu.smart_nframes(ele, total, fps)


def test_frame_count_rule_rejects_what_qwen_rejects() -> None:
    with pytest.raises(ValueError, match="nframes should be in"):
        smart_nframes(VideoSampling(nframes=40), 20, 25.0)


@given(
    h=st.integers(8, 4000),
    w=st.integers(8, 4000),
    min_tokens=st.integers(1, 300),
    extra=st.integers(0, 20000),
)
@settings(max_examples=100, deadline=None)
def test_resize_matches_qwen(h: int, w: int, min_tokens: int, extra: int) -> None:
    if max(h, w) / min(h, w) > 200:
        return
    lo, hi = min_tokens * 784, (min_tokens + extra) * 784
    assert smart_resize(h, w, 28, lo, hi) == qvu.smart_resize(h, w, 28, lo, hi)


@pytest.mark.parametrize(
    ("ele", "nframes", "size"),
    [
        ({}, 120, (360, 640)),
        ({}, 768, (360, 640)),
        ({}, 120, (1080, 1920)),
        ({"max_pixels": 360 * 420}, 120, (1080, 1920)),
        ({"total_pixels": 20480 * 784, "min_pixels": 16 * 784}, 600, (720, 1280)),
        ({"resized_height": 100, "resized_width": 200}, 10, (720, 1280)),
    ],
)
def test_frame_size_matches_qwen_fetch_video_budget(
    ele: dict[str, int], nframes: int, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # qwen-vl-utils computes the budget inline in fetch_video: run it on a fake clip of the same shape and
    # capture the size it resizes to (the resize itself is skipped: only the arithmetic is under test).
    from types import SimpleNamespace

    h, w = size
    fake = torch.zeros((1, 3, h, w), dtype=torch.uint8).expand(nframes, 3, h, w)
    seen: list[tuple[int, int]] = []

    def reader(_ele: dict[str, object]) -> tuple[object, dict[str, object], float]:
        return fake, {"fps": 2.0, "frames_indices": list(range(nframes)), "total_num_frames": nframes}, 2.0

    def resize(video: object, hw: list[int], **_: object) -> object:
        seen.append((hw[0], hw[1]))
        return torch.zeros(1)

    monkeypatch.setitem(qvu.VIDEO_READER_BACKENDS, "decord", reader)
    monkeypatch.setattr(qvu, "get_video_reader_backend", lambda: "decord")
    monkeypatch.setattr(qvu, "transforms", SimpleNamespace(functional=SimpleNamespace(resize=resize)))
    qvu.fetch_video({"video": "x.mp4", **ele})
    assert [target_size(VideoSampling(**ele), h, w, nframes)] == seen


@given(start=st.integers(0, 500), span=st.integers(1, 20000), data=st.data())
@settings(max_examples=100, deadline=None)
def test_linspace_is_torchs_even_past_float32_limits(start: int, span: int, data: st.DataObject) -> None:
    steps = data.draw(st.integers(1, min(span + 1, 800)))
    ours = linspace_like_torch(start, start + span, steps)
    theirs = torch.linspace(start, start + span, steps).double().numpy()
    assert np.array_equal(ours, theirs)


@given(total=st.integers(2, 5000), fps=st.sampled_from([24.0, 25.0, 30000 / 1001, 50.0, 7.5]), data=st.data())
@settings(max_examples=100, deadline=None)
def test_constant_rate_choice_is_qwens_linspace_round(total: int, fps: float, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, min(total, 768)))
    # Timestamps as a container stores them: integer ticks of a 1/90000 time base.
    ticks = np.round(np.arange(total) * 90000 / fps)
    chosen = select_frames(ticks / 90000, n)
    assert chosen.tolist() == torch.linspace(0, total - 1, n).round().long().tolist()


@given(
    steps=st.lists(st.floats(0.001, 2.0), min_size=2, max_size=400),
    data=st.data(),
)
@settings(max_examples=100, deadline=None)
def test_variable_rate_choice_is_nearest_in_time(steps: list[float], data: st.DataObject) -> None:
    ts = np.concatenate([[0.0], np.cumsum(steps)])
    n = data.draw(st.integers(1, len(ts)))
    chosen = select_frames(ts, n)
    assert np.all(np.diff(chosen) >= 0)
    targets = ts[0] + linspace_like_torch(0, len(ts) - 1, n) / (len(ts) - 1) * (ts[-1] - ts[0])
    # No other frame is strictly closer in time to its target than the chosen one.
    best = np.min(np.abs(ts[None, :] - targets[:, None]), axis=1)
    assert np.allclose(np.abs(ts[chosen] - targets), best, atol=1e-9 * max(1.0, ts[-1]))


def test_token_count_matches_grid() -> None:
    # 120 frames of 336x616 -> grid (60, 24, 44) -> 60*24*44/4 tokens.
    assert video_token_count(120, 336, 616) == 60 * 24 * 44 // 4
    assert video_token_count(8, 64, 64, image_patch_size=16) == 4 * 4 * 4 // 4


@pytest.mark.parametrize(
    ("ele", "message"),
    [
        ({"video": "a.mp4", "fps": 2.0, "nframes": 4}, "either 'fps' or 'nframes'"),
        ({"video": "a.mp4", "max_pixel": 10}, "did you mean 'max_pixels'"),
        ({"video": "a.mp4", "fps": -1}, "greater than 0"),
        ({"video": "a.mp4", "resized_height": 10}, "go together"),
    ],
)
def test_bad_settings_name_the_video_and_field(ele: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        VideoSampling.from_element(ele)
    assert "a.mp4" in str(info.value)


def test_none_means_absent_as_in_parquet_structs() -> None:
    s = VideoSampling.from_element(
        {"type": "video", "video": "a.mp4", "fps": None, "nframes": 8, "max_pixels": None}
    )
    assert s.nframes == 8 and s.fps is None and s.max_pixels is None
