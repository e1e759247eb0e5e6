"""verl 0.9.1 ``RLHFDataset`` hook: route video decoding through ``selection.video``."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["QwenVideoMixin"]


class QwenVideoMixin:
    """Mix in before ``RLHFDataset``: ``class MyDataset(QwenVideoMixin, RLHFDataset)``."""

    @classmethod
    def _process_multi_modal_info(
        cls, messages: list[dict[str, Any]], image_patch_size: int, config: Any
    ) -> tuple[Any, Any, Any]:
        from selection.video import process_vision_info

        has_visual = any(
            isinstance(m.get("content"), list)
            and any(isinstance(i, dict) and i.get("type") in {"image", "video"} for i in m["content"])
            for m in messages
        )
        images, videos = (
            process_vision_info(messages, image_patch_size=image_patch_size, return_video_metadata=True)
            if has_visual
            else (None, None)
        )
        audios = super()._extract_audio_info(messages)  # type: ignore[misc]
        return images, videos, audios

    @classmethod
    async def process_multi_modal_info(
        cls, messages: list[dict[str, Any]], image_patch_size: int, config: Any
    ) -> tuple[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: cls._process_multi_modal_info(messages, image_patch_size, config)
        )
