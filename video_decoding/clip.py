"""A decoded clip: sampled uint8 frames plus the metadata that tells the truth about them.

Produced by :func:`video_decoding.loader.load_video` and by :class:`video_decoding.cache.FrameCache` (which
rebuilds clips from disk), so it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .sampling import TEMPORAL_PATCH_SIZE, video_token_count

if TYPE_CHECKING:
    import torch

__all__ = ["VideoClip"]


@dataclass(frozen=True, eq=False)
class VideoClip:
    """Sampled frames and the metadata that tells the truth about them.

    ``frames`` is uint8 ``(T, 3, H, W)`` (qwen-vl-utils' layout; floats only inside the processor).
    ``timestamps[k]`` is the presentation time of sampled frame ``k`` in seconds from the first frame.
    ``fps`` is the span's mean frame rate measured from timestamps, so ``sampled_fps`` and
    ``second_per_grid_ts`` describe the real spacing of the samples, also on variable-frame-rate files.
    """

    path: str
    frames: np.ndarray
    timestamps: np.ndarray
    source_indices: np.ndarray
    fps: float
    total_num_frames: int
    duration: float
    source_width: int
    source_height: int
    backend: str
    image_patch_size: int = 14
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nframes(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[2])

    @property
    def width(self) -> int:
        return int(self.frames.shape[3])

    @property
    def sampled_fps(self) -> float:
        """Samples per second, as the HF processor computes it from :meth:`qwen_metadata`."""
        return self.nframes / self.total_num_frames * self.fps

    @property
    def second_per_grid_ts(self) -> float:
        """Seconds covered by one temporal token (Qwen2.5-VL's mrope time scale)."""
        return TEMPORAL_PATCH_SIZE / self.sampled_fps

    @property
    def video_tokens(self) -> int:
        return video_token_count(self.nframes, self.height, self.width, self.image_patch_size)

    @property
    def frames_indices(self) -> list[int]:
        """Frame numbers on the span's mean-rate timeline: ``frames_indices[k] / fps ≈ timestamps[k]``.

        On a constant-frame-rate file these are the decoded frame numbers; on a variable one they keep
        ``VideoMetadata.timestamps`` (index / fps) true, which the decoded numbers would not.
        """
        return [int(i) for i in np.rint(self.timestamps * self.fps)]

    def qwen_metadata(self) -> dict[str, Any]:
        """The metadata dict qwen-vl-utils returns (keys the HF processor and vLLM accept)."""
        return {
            "fps": self.fps,
            "frames_indices": self.frames_indices,
            "total_num_frames": self.total_num_frames,
            "video_backend": self.backend,
        }

    def to_torch(self) -> torch.Tensor:
        """The frames as a uint8 torch tensor ``(T, 3, H, W)`` sharing memory with :attr:`frames`."""
        import torch

        return torch.from_numpy(self.frames)

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (what ``python -m video_decoding inspect`` prints)."""
        return {
            "path": self.path,
            "backend": self.backend,
            "frames": self.nframes,
            "timestamps": [round(float(t), 6) for t in self.timestamps],
            "source_indices": [int(i) for i in self.source_indices],
            "duration": round(self.duration, 6),
            "fps": round(self.fps, 6),
            "total_num_frames": self.total_num_frames,
            "sampled_fps": round(self.sampled_fps, 6),
            "second_per_grid_ts": round(self.second_per_grid_ts, 6),
            "source_size": [self.source_width, self.source_height],
            "resized_size": [self.width, self.height],
            "video_tokens": self.video_tokens,
            "grid_thw": [
                self.nframes // TEMPORAL_PATCH_SIZE,
                self.height // self.image_patch_size,
                self.width // self.image_patch_size,
            ],
            **self.extra,
        }
