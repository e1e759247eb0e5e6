"""Video preprocessing for Qwen2-VL / Qwen2.5-VL: exact in time, uint8, decoded once, loud on bad files.

* :func:`load_video` → :class:`VideoClip` (frames chosen by timestamp with qwen-vl-utils' frame-count,
  pixel-budget and resize rules; one forward decode pass; typed errors naming the file).
* :func:`process_vision_info`: drop-in for ``qwen_vl_utils.process_vision_info``.
* :class:`FrameCache`: decode-once cache shared by worker processes (``$VIDEO_RLT_FRAME_CACHE``).
* :func:`estimate_video` / :func:`messages_video_tokens`: token budgets from metadata alone.
* ``python -m video_decoding inspect|budget|parity PATH``.
* :mod:`video_decoding.verl_hook`: ``QwenVideoMixin`` for verl's ``RLHFDataset``.

Importing this package is light (numpy + pydantic); torch, PyAV and decord load when a video is decoded.
"""

from __future__ import annotations

from .backends import BACKENDS, Backend
from .budget import VideoBudget, estimate_video, messages_video_tokens
from .cache import FrameCache, cache_from_env
from .clip import VideoClip
from .errors import VideoDecodeError, VideoError, VideoNotFoundError, VideoOpenError, VideoTruncatedError
from .loader import DEFAULT_BACKEND, default_backend, load_video
from .qwen import extract_vision_info, fetch_video, process_vision_info
from .sampling import VideoSampling, smart_nframes, smart_resize, video_token_count

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Backend",
    "FrameCache",
    "VideoBudget",
    "VideoClip",
    "VideoDecodeError",
    "VideoError",
    "VideoNotFoundError",
    "VideoOpenError",
    "VideoSampling",
    "VideoTruncatedError",
    "cache_from_env",
    "default_backend",
    "estimate_video",
    "extract_vision_info",
    "fetch_video",
    "load_video",
    "messages_video_tokens",
    "process_vision_info",
    "smart_nframes",
    "smart_resize",
    "video_token_count",
]
