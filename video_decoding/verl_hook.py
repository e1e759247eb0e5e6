"""verl 0.9.1 hook: ``RLHFDataset`` video decoding through :mod:`video_decoding`.

verl's agent-loop workers (and ``filter_overlong_prompts`` at dataset build time) call the dataset class's
classmethods ``process_multi_modal_info`` / ``_process_multi_modal_info``, which call
``qwen_vl_utils.process_vision_info``. Mixing :class:`QwenVideoMixin` in front of ``RLHFDataset`` routes
them through :func:`video_decoding.process_vision_info`: frames by timestamp, uint8, typed errors naming
the file, and the decode-once frame cache when ``$VIDEO_RLT_FRAME_CACHE`` is set in every process
(e.g. ``+ray_kwargs.ray_init.runtime_env.env_vars.VIDEO_RLT_FRAME_CACHE=/path``)::

    from verl.utils.dataset.rl_dataset import RLHFDataset
    from video_decoding.verl_hook import QwenVideoMixin

    class VideoRLHFDataset(QwenVideoMixin, RLHFDataset):
        pass

This module does not import verl: the mixin only relies on the classmethod names above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["QwenVideoMixin", "has_visual_content"]


def has_visual_content(messages: Sequence[Mapping[str, Any]]) -> bool:
    """True when any message carries an image or video element (verl's own test, kept identical).

    >>> has_visual_content([{"role": "user", "content": [{"type": "video", "video": "a.mp4"}]}])
    True
    >>> has_visual_content([{"role": "user", "content": "text only"}])
    False
    """
    return any(
        isinstance(message.get("content"), list)
        and any(
            isinstance(item, dict) and item.get("type") in {"image", "video"} for item in message["content"]
        )
        for message in messages
    )


class QwenVideoMixin:
    """Overrides ``RLHFDataset``'s multi-modal classmethods; put it first in the bases.

    Returns what verl expects: ``(images, videos, audios)`` with ``videos`` a list of
    ``(uint8 tensor (T, 3, H, W), metadata dict)`` pairs.
    """

    @classmethod
    def _process_multi_modal_info(
        cls, messages: list[dict[str, Any]], image_patch_size: int, config: Any
    ) -> tuple[Any, Any, Any]:
        from . import process_vision_info

        images: Any = None
        videos: Any = None
        if has_visual_content(messages):
            images, videos = process_vision_info(
                messages, image_patch_size=int(image_patch_size), return_video_metadata=True
            )
        extract_audio = getattr(super(), "_extract_audio_info", None)
        audios = extract_audio(messages) if extract_audio is not None else None
        return images, videos, audios

    @classmethod
    async def process_multi_modal_info(
        cls, messages: list[dict[str, Any]], image_patch_size: int, config: Any
    ) -> tuple[Any, Any, Any]:
        # Decoding is CPU work: keep the agent loop's event loop free (verl does the same).
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: cls._process_multi_modal_info(messages, image_patch_size, config)
        )

    @classmethod
    async def process_vision_info(
        cls, messages: list[dict[str, Any]], image_patch_size: int, config: Any
    ) -> tuple[Any, Any]:
        images, videos, _ = await cls.process_multi_modal_info(messages, image_patch_size, config)
        return images, videos

    @classmethod
    def video_token_count(cls, messages: Sequence[Mapping[str, Any]], image_patch_size: int = 14) -> int:
        """Video tokens of a prompt from container metadata alone (no decode), for length filtering."""
        from .budget import messages_video_tokens

        return messages_video_tokens(messages, image_patch_size=image_patch_size)

    def estimated_prompt_length(self, doc: dict[str, Any]) -> int:
        """Prompt tokens of a dataset row as the processor will count them, without decoding its videos.

        The chat template renders each video as one ``<|video_pad|>`` that the processor expands to the
        video's tokens, so the length is the tokenised template plus ``tokens - 1`` per video (exact on
        constant-frame-rate files; see :mod:`video_decoding.budget`). Rows with images fall back to
        verl's own decoding count. Uses the ``RLHFDataset`` attributes (``processor``, ``prompt_key``,
        ``apply_chat_template_kwargs``, ``image_patch_size``).
        """
        from .qwen import extract_vision_info

        ds: Any = self
        messages = ds._build_messages(doc, key=ds.prompt_key)
        infos = extract_vision_info(messages)
        if any(info.get("video") is None for info in infos):
            raise ValueError("estimated_prompt_length handles video-only rows; images need verl's own count")
        raw_prompt = ds.processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False, **dict(ds.apply_chat_template_kwargs)
        )
        text_tokens = len(ds.processor.tokenizer(text=raw_prompt, add_special_tokens=False)["input_ids"])
        video_tokens = self.video_token_count(messages, image_patch_size=int(ds.image_patch_size))
        return text_tokens + video_tokens - len(infos)
