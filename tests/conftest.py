"""Fixtures shared by every test area: the tiny offline Qwen-VL model and real tiny mp4 clips."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the property tests derandomized (a new edge case must not fail a landing at random); local runs
# explore new examples each time. No deadlines: CI machines are shared and noisy.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# qwen-vl-utils would otherwise try torchcodec first (a CUDA-linked wheel that fails on CPU).
os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """A tiny warmed-up Qwen2.5-VL build (cached under $VIDEO_RLT_CACHE or ~/.cache/video-rlt)."""
    from rlt_tools.tiny_model import build_tiny_model

    return build_tiny_model(family="qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_qwen2_vl_dir() -> Path:
    """The same recipe for Qwen2-VL."""
    from rlt_tools.tiny_model import build_tiny_model

    return build_tiny_model(family="qwen2_vl")


@pytest.fixture(scope="session")
def clip_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``clip_factory(name, **make_clip_kwargs)`` writes a real mp4 once per session and returns its path."""
    from rlt_tools.tiny_clips import make_clip

    root = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def factory(name: str, **kwargs: object) -> Path:
        if name not in made:
            made[name] = make_clip(root / f"{name}.mp4", **kwargs)  # type: ignore[arg-type]
        return made[name]

    return factory
