"""Turning a dataset row into model inputs exactly as verl does for training.

verl 0.9.1 (``RLHFDataset._build_messages`` + the agent loop): each ``<video>`` in a message's string
content becomes ``{"type": "video", **row["videos"][i]}`` (so the row's ``fps`` / ``nframes`` /
``min_pixels`` / ``max_pixels`` / ``total_pixels`` reach the frame sampler), text between placeholders
becomes ``{"type": "text"}`` parts; the prompt text is ``processor.apply_chat_template(messages,
add_generation_prompt=True, tokenize=False)``; frames come from ``process_vision_info(messages,
image_patch_size=processor.image_processor.patch_size, return_video_metadata=True)`` and go to the
processor with their metadata and ``do_sample_frames=False``. Rollouts made here therefore see the same
frames, pixels and tokens as the policy will during GRPO.

A failure attributable to the sample (missing or undecodable video, malformed prompt) is returned as a
:class:`SampleFailure` with a reason code; the run records it and goes on.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["PreparedSample", "SampleFailure", "build_messages", "prepare_sample"]

_PLACEHOLDER = re.compile(r"(<image>|<video>)")


@dataclass(frozen=True)
class SampleFailure:
    """Why a sample produced no rollouts. ``reason`` is a code (``video_missing``, …); ``detail`` says more."""

    sample_id: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass
class PreparedSample:
    """One sample ready for an engine: prompt text, decoded frames with their metadata, sampling seed."""

    sample_id: int
    seed: int
    messages: list[dict[str, Any]]
    prompt: str
    images: list[Any] | None = None
    videos: list[tuple[Any, dict[str, Any]]] | None = None
    mm_kwargs: dict[str, Any] = field(default_factory=dict)


def build_messages(prompt: Any, videos: Any, *, sample_id: int) -> list[dict[str, Any]]:
    """verl's ``_build_messages`` for video rows: placeholders → structured content parts.

    >>> build_messages([{"role": "user", "content": "<video>\\nWhen?"}], [{"video": "a.mp4", "fps": 2.0}],
    ...                sample_id=0)
    [{'role': 'user', 'content': [{'type': 'video', 'video': 'a.mp4', 'fps': 2.0}, {'type': 'text', 'text': '\\nWhen?'}]}]
    """
    if not isinstance(prompt, list) or not all(isinstance(m, dict) and "content" in m for m in prompt):
        raise ValueError(f"sample {sample_id}: prompt must be a list of chat messages with 'content'")
    messages = copy.deepcopy(prompt)
    videos = list(videos or [])
    used = 0
    for message in messages:
        content = message["content"]
        if not videos or not isinstance(content, str):
            continue
        parts: list[dict[str, Any]] = []
        for segment in (s for s in _PLACEHOLDER.split(content) if s != ""):
            if segment == "<video>":
                if used >= len(videos):
                    raise ValueError(
                        f"sample {sample_id}: more <video> placeholders than videos ({len(videos)})"
                    )
                video = videos[used]
                if isinstance(video, dict):
                    parts.append({"type": "video", **video})
                elif isinstance(video, str | os.PathLike):
                    parts.append({"type": "video", "video": os.fspath(video)})
                else:
                    raise ValueError(
                        f"sample {sample_id}: videos[{used}] must be a dict or a path, got {type(video)}"
                    )
                used += 1
            elif segment == "<image>":
                raise ValueError(f"sample {sample_id}: <image> placeholders are not supported by selection")
            else:
                parts.append({"type": "text", "text": segment})
        message["content"] = parts
    if used != len(videos):
        raise ValueError(f"sample {sample_id}: {len(videos)} videos but {used} <video> placeholders")
    return messages


def _video_paths(messages: list[dict[str, Any]]) -> list[str]:
    paths = []
    for message in messages:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "video" and isinstance(part.get("video"), str):
                path = part["video"]
                paths.append(path[len("file://") :] if path.startswith("file://") else path)
    return paths


def prepare_sample(
    row: dict[str, Any], sample_id: int, seed: int, processor: Any
) -> PreparedSample | SampleFailure:
    """Build messages, prompt text and decoded video for one dataset row (failures are returned, not raised)."""
    from video_decoding import process_vision_info

    try:
        messages = build_messages(row.get("prompt"), row.get("videos"), sample_id=sample_id)
    except ValueError as exc:
        return SampleFailure(sample_id, "bad_prompt", str(exc))
    for path in _video_paths(messages):
        if "://" not in path and not os.path.exists(path):
            return SampleFailure(sample_id, "video_missing", f"no such file: {path}")
    try:
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # a template error names the row's content problem
        return SampleFailure(sample_id, "bad_prompt", f"chat template failed: {type(exc).__name__}: {exc}")
    patch = getattr(getattr(processor, "image_processor", None), "patch_size", 14)
    try:
        images, videos = process_vision_info(messages, image_patch_size=patch, return_video_metadata=True)[:2]
    except (
        Exception
    ) as exc:  # decoders raise many types for a corrupt file; the sample fails, the run goes on
        return SampleFailure(sample_id, "video_decode_error", f"{type(exc).__name__}: {exc}")
    return PreparedSample(
        sample_id=sample_id,
        seed=seed,
        messages=messages,
        prompt=prompt,
        images=images or None,
        videos=list(videos) if videos else None,
    )
