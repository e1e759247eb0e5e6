"""Video loading for Qwen2-VL / Qwen2.5-VL (early interface; the loader lands behind it)."""

from __future__ import annotations

from typing import Any

__all__ = ["process_vision_info"]


def process_vision_info(
    messages: Any,
    *,
    image_patch_size: int = 14,
    return_video_kwargs: bool = False,
    return_video_metadata: bool = False,
) -> tuple[Any, ...]:
    """Drop-in for ``qwen_vl_utils.process_vision_info`` (temporary delegation)."""
    from qwen_vl_utils import process_vision_info as _qwen

    return tuple(
        _qwen(
            messages,
            return_video_kwargs=return_video_kwargs,
            return_video_metadata=return_video_metadata,
            image_patch_size=image_patch_size,
        )
    )
