"""Drop-in for ``qwen_vl_utils.process_vision_info`` whose video files go through :func:`load_video`.

Same arguments and return shapes as qwen-vl-utils 0.0.14, so the HF processor, verl and vLLM take the
result unchanged; videos come back as uint8 ``(T, 3, H, W)`` tensors (the processor rescales them itself)
with truthful metadata. Images and lists of frame images are handed to qwen-vl-utils itself: nothing is
decoded there.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .backends import Backend
from .cache import FrameCache, cache_from_env
from .loader import VideoClip, load_video
from .sampling import VideoSampling

__all__ = ["extract_vision_info", "fetch_video", "process_vision_info"]

_FROM_ENV: Any = object()  # sentinel: "use $VIDEO_RLT_FRAME_CACHE"


@functools.lru_cache(maxsize=8)
def _env_cache(root: str | None, max_bytes: str | None) -> FrameCache | None:
    return cache_from_env()


def _resolve_cache(cache: FrameCache | Any | None) -> FrameCache | None:
    if cache is _FROM_ENV:
        return _env_cache(
            os.environ.get("VIDEO_RLT_FRAME_CACHE"), os.environ.get("VIDEO_RLT_FRAME_CACHE_MAX_BYTES")
        )
    return cache


def extract_vision_info(conversations: Sequence[Any]) -> list[dict[str, Any]]:
    """The image/video elements of one conversation or a batch of them, in order (as qwen-vl-utils).

    >>> extract_vision_info([{"role": "user", "content": [{"type": "video", "video": "a.mp4"}, {"type": "text", "text": "?"}]}])
    [{'type': 'video', 'video': 'a.mp4'}]
    """
    if not conversations:
        return []
    batch = [conversations] if isinstance(conversations[0], Mapping) else conversations
    infos: list[dict[str, Any]] = []
    for conversation in batch:
        for message in conversation:
            content = message["content"]
            if not isinstance(content, list):
                continue
            for ele in content:
                if (
                    "image" in ele
                    or "image_url" in ele
                    or "video" in ele
                    or ele.get("type", "text") in ("image", "image_url", "video")
                ):
                    infos.append(ele)
    return infos


def fetch_video(
    ele: Mapping[str, Any],
    *,
    image_patch_size: int = 14,
    backend: Backend | None = None,
    threads: int = 1,
    cache: FrameCache | Any | None = _FROM_ENV,
) -> VideoClip:
    """Load the video of one message element (``{"type": "video", "video": path, "fps": ..., ...}``)."""
    video = ele.get("video")
    if not isinstance(video, str | os.PathLike):
        raise TypeError(f"fetch_video takes a file path in 'video', got {type(video).__name__}")
    sampling = VideoSampling.from_element(ele, image_patch_size=image_patch_size)
    return load_video(video, sampling, backend=backend, threads=threads, cache=_resolve_cache(cache))


def process_vision_info(
    conversations: Sequence[Any],
    *,
    image_patch_size: int = 14,
    return_video_kwargs: bool = False,
    return_video_metadata: bool = False,
    backend: Backend | None = None,
    threads: int = 1,
    cache: FrameCache | Any | None = _FROM_ENV,
) -> tuple[Any, ...]:
    """``(images, videos)`` or ``(images, videos, video_kwargs)``, shaped exactly as qwen-vl-utils returns.

    ``videos`` holds uint8 ``(T, 3, H, W)`` tensors, or ``(tensor, metadata)`` pairs with
    ``return_video_metadata``; ``video_kwargs`` is ``{"do_sample_frames": False}`` plus, without metadata,
    ``"fps"``: the sampled frame rate of each video (Qwen2.5-VL's ``second_per_grid_ts`` comes from it).
    ``cache`` defaults to ``$VIDEO_RLT_FRAME_CACHE`` (no cache when unset); pass ``None`` to bypass it.
    """
    images: list[Any] = []
    videos: list[Any] = []
    sample_fps: list[float] = []
    for info in extract_vision_info(conversations):
        if info.get("video") is not None:
            if isinstance(info["video"], str | os.PathLike):
                clip = fetch_video(
                    info, image_patch_size=image_patch_size, backend=backend, threads=threads, cache=cache
                )
                tensor = clip.to_torch()
                videos.append((tensor, clip.qwen_metadata()) if return_video_metadata else tensor)
                sample_fps.append(clip.sampled_fps)
            else:  # a list of frame images: qwen-vl-utils resizes them, nothing to decode
                from qwen_vl_utils import fetch_video as qwen_fetch_video

                out, fps = qwen_fetch_video(
                    dict(info),
                    image_patch_size=image_patch_size,
                    return_video_sample_fps=True,
                    return_video_metadata=return_video_metadata,
                )
                videos.append(out)
                sample_fps.append(float(fps))
        elif info.get("image") is not None or info.get("image_url") is not None:
            from qwen_vl_utils import fetch_image

            images.append(fetch_image(dict(info), image_patch_size=image_patch_size))
        else:
            raise ValueError(
                f"a vision element needs an 'image', 'image_url' or 'video' value, got keys {sorted(info)}"
            )
    video_kwargs: dict[str, Any] = {"do_sample_frames": False}
    if not return_video_metadata:  # qwen-vl-utils keeps this for Qwen2.5-VL without metadata
        video_kwargs["fps"] = sample_fps
    result: tuple[Any, ...] = (images or None, videos or None)
    return (*result, video_kwargs) if return_video_kwargs else result
