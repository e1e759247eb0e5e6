"""Parity with qwen-vl-utils: same token count, same ``second_per_grid_ts``, same frames where it is right.

qwen-vl-utils is right on constant-frame-rate files; on variable-frame-rate ones its frame choice (by
index) is what this package fixes, so only the counts are compared there.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .backends import Backend, index_stream
from .loader import ResizeMode, VideoClip, load_video
from .sampling import TEMPORAL_PATCH_SIZE, VideoSampling, video_token_count

__all__ = ["compare_with_qwen", "is_constant_rate", "processor_outputs", "qwen_reference", "vllm_video_input"]


def is_constant_rate(timestamps: np.ndarray, tolerance: float = 0.01) -> bool:
    """True when a stream's frame intervals vary by less than ``tolerance`` of their mean.

    >>> is_constant_rate(np.arange(10) / 25.0), is_constant_rate(np.r_[0.0, 0.1, 0.5, 0.6])
    (True, False)
    """
    steps = np.diff(np.asarray(timestamps, dtype=np.float64))
    if len(steps) == 0:
        return True
    return bool(np.ptp(steps) <= tolerance * steps.mean())


def qwen_reference(path: str, sampling: VideoSampling) -> tuple[Any, dict[str, Any], float]:
    """qwen-vl-utils' ``fetch_video`` on ``path`` (decord reader): ``(float tensor, metadata, sample_fps)``."""
    # qwen-vl-utils reads this once at import; torchcodec (its first choice) is a CUDA build on CPU boxes.
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    from qwen_vl_utils import fetch_video

    ele: dict[str, Any] = {"type": "video", "video": path}
    ele.update(sampling.model_dump(exclude_none=True, exclude={"image_patch_size"}))
    (video, metadata), sample_fps = fetch_video(
        ele,
        image_patch_size=sampling.image_patch_size,
        return_video_sample_fps=True,
        return_video_metadata=True,
    )
    return video, dict(metadata), float(sample_fps)


def vllm_video_input(clip: VideoClip) -> tuple[np.ndarray, dict[str, Any]]:
    """What vLLM's ``multi_modal_data={"video": ...}`` takes: uint8 ``(T, H, W, 3)`` frames + metadata."""
    meta = clip.qwen_metadata()
    meta["duration"] = clip.duration
    return np.ascontiguousarray(clip.frames.transpose(0, 2, 3, 1)), meta


def processor_outputs(processor: Any, video: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """Run a HF Qwen-VL processor on one video the way verl does (``do_sample_frames=False``)."""
    text = "<|vision_start|><|video_pad|><|vision_end|>"
    out = processor(
        text=[text], videos=[video], video_metadata=[metadata], do_sample_frames=False, return_tensors="pt"
    )
    return dict(out)


def compare_with_qwen(
    path: str,
    sampling: VideoSampling | None = None,
    *,
    backend: Backend | None = None,
    resize: ResizeMode = "exact",
    processor_dir: str | None = None,
) -> dict[str, Any]:
    """Decode ``path`` with both and report what agrees; ``agree`` is the verdict."""
    sampling = sampling or VideoSampling()
    clip = load_video(path, sampling, backend=backend, resize=resize)
    ref, ref_meta, ref_fps = qwen_reference(path, sampling)
    t, _, h, w = ref.shape
    ref_tokens = video_token_count(t, h, w, sampling.image_patch_size)
    ref_spgt = TEMPORAL_PATCH_SIZE / ref_fps
    constant = is_constant_rate(index_stream(path, clip.backend).timestamps)  # type: ignore[arg-type]
    same_shape = tuple(ref.shape) == tuple(clip.frames.shape)
    diff = float(np.abs(ref.numpy() - clip.frames.astype(np.float32)).max()) if same_shape else float("nan")
    report: dict[str, Any] = {
        "path": path,
        "constant_frame_rate": constant,
        "video_tokens": {"ours": clip.video_tokens, "qwen_vl_utils": ref_tokens},
        "second_per_grid_ts": {"ours": clip.second_per_grid_ts, "qwen_vl_utils": ref_spgt},
        "shape": {"ours": list(clip.frames.shape), "qwen_vl_utils": list(ref.shape)},
        "frames_indices_equal": clip.frames_indices == [int(i) for i in ref_meta["frames_indices"]],
        "max_pixel_difference": diff,
    }
    agree = clip.video_tokens == ref_tokens and same_shape
    if constant:
        agree = agree and bool(np.isclose(clip.second_per_grid_ts, ref_spgt, rtol=1e-9, atol=0.0))
        agree = agree and report["frames_indices_equal"]
        if resize == "exact":
            agree = agree and diff == 0.0
    if processor_dir is not None:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(processor_dir)
        ours = processor_outputs(processor, clip.to_torch(), clip.qwen_metadata())
        theirs = processor_outputs(processor, ref, ref_meta)
        grid_equal = bool((ours["video_grid_thw"] == theirs["video_grid_thw"]).all())
        ids_equal = (
            bool((ours["input_ids"] == theirs["input_ids"]).all())
            if ours["input_ids"].shape == theirs["input_ids"].shape
            else False
        )
        report["processor"] = {
            "video_grid_thw": ours["video_grid_thw"].tolist(),
            "grid_equal": grid_equal,
            "input_ids_equal": ids_equal,
            "second_per_grid_ts": {
                "ours": [float(x) for x in ours.get("second_per_grid_ts", [])],
                "qwen_vl_utils": [float(x) for x in theirs.get("second_per_grid_ts", [])],
            },
        }
        agree = agree and grid_equal and ids_equal
    report["agree"] = bool(agree)
    return report
