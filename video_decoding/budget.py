"""Video token budgets from container metadata alone: no packet is read, no frame decoded.

verl's ``filter_overlong_prompts`` decodes every video at dataset build time to count tokens; the count only
depends on the frame count, frame rate and frame size, which the container header holds. On a
constant-frame-rate file with a frame count in its header (mp4, mov) the estimate is exact; otherwise the
frame count is estimated from duration × rate (``exact=False``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .backends import probe_header
from .errors import VideoOpenError
from .sampling import VideoSampling, frame_range, smart_nframes, target_size, video_token_count

__all__ = ["VideoBudget", "estimate_video", "messages_video_tokens"]


@dataclass(frozen=True)
class VideoBudget:
    path: str
    nframes: int
    height: int
    width: int
    video_tokens: int
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate_video(path: str | os.PathLike[str], sampling: VideoSampling | None = None) -> VideoBudget:
    """Frames, resized size and LLM tokens the loader will produce for ``path``, from the header only."""
    from .loader import _local_path

    path = _local_path(path)
    sampling = sampling or VideoSampling()
    info = probe_header(path)
    try:
        first, last = frame_range(sampling, info.frames, info.average_fps)
        nframes = smart_nframes(sampling, last - first + 1, info.average_fps)
        height, width = target_size(sampling, info.height, info.width, nframes)
    except ValueError as err:
        raise VideoOpenError(path, str(err)) from None
    tokens = video_token_count(nframes, height, width, sampling.image_patch_size)
    return VideoBudget(path, nframes, height, width, tokens, info.frames_exact)


def messages_video_tokens(messages: Sequence[Mapping[str, Any]], *, image_patch_size: int = 14) -> int:
    """Sum of :func:`estimate_video` tokens over the video-file elements of a chat message list.

    >>> messages_video_tokens([{"role": "user", "content": "no video here"}])
    0
    """
    from .qwen import extract_vision_info

    total = 0
    for ele in extract_vision_info(list(messages)):
        video = ele.get("video")
        if isinstance(video, str | os.PathLike):
            sampling = VideoSampling.from_element(ele, image_patch_size=image_patch_size)
            total += estimate_video(video, sampling).video_tokens
    return total
