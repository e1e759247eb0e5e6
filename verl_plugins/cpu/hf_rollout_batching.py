"""Micro-batching for the CPU ``hf`` rollout server: GRPO's ``n`` copies of a prompt in one ``generate``.

verl's agent loop sends every rollout of a step as its own request, at the same time; a GRPO step with
``rollout.n=8`` sends each prompt eight times. Served one by one, a CPU step spends most of its time in the
per-call overhead of ``generate`` (one prefill and one Python decode loop per response). The server instead
collects the requests that are waiting, groups the identical ones (same prompt ids, same sampling
parameters, same media bytes) and answers each group with one batched ``generate``. Identical inputs need
no padding, so every row computes exactly what a lone request would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PendingRequest", "group_requests", "media_digest", "split_rows"]

#: Rows in one ``generate`` call at most (bounds the memory of one batch).
MAX_GROUP_ROWS = 64


@dataclass
class PendingRequest:
    """One rollout request waiting for its group's ``generate``; ``future`` gets ``(token_ids, log_probs)``."""

    prompt_ids: list[int]
    sampling_params: dict[str, Any]
    image_data: list[Any] | None
    video_data: list[Any] | None
    future: asyncio.Future[tuple[list[int], list[float]]]
    key: str = field(default="", init=False)

    def __post_init__(self) -> None:
        params = json.dumps(self.sampling_params, sort_keys=True, default=repr)
        self.key = hashlib.blake2b(
            repr(self.prompt_ids).encode() + params.encode() + media_digest(self.image_data, self.video_data),
            digest_size=16,
        ).hexdigest()


def _feed(h: Any, item: Any) -> None:
    """Hash the content of a media item (tensors, arrays, metadata dicts, nested lists of them)."""
    if hasattr(item, "detach"):  # torch.Tensor
        item = item.detach().cpu().contiguous().numpy()
    if hasattr(item, "tobytes") and hasattr(item, "shape"):  # numpy array
        h.update(repr((item.shape, str(item.dtype))).encode())
        h.update(item.tobytes())
    elif isinstance(item, dict):
        for k in sorted(item, key=str):
            h.update(repr(k).encode())
            _feed(h, item[k])
    elif isinstance(item, list | tuple):
        h.update(f"[{len(item)}".encode())
        for x in item:
            _feed(h, x)
    else:
        h.update(repr(item).encode())


def media_digest(image_data: Sequence[Any] | None, video_data: Sequence[Any] | None) -> bytes:
    """A digest of the media *content*: two clips of the same length give the same prompt ids, not the
    same pixels, so requests are grouped on what they show."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, list(image_data or []))
    _feed(h, list(video_data or []))
    return h.digest()


def group_requests(requests: Sequence[PendingRequest]) -> list[list[PendingRequest]]:
    """Identical requests together, in order of first arrival, at most :data:`MAX_GROUP_ROWS` per group."""
    groups: dict[str, list[list[PendingRequest]]] = {}
    order: list[list[PendingRequest]] = []
    for request in requests:
        chunks = groups.setdefault(request.key, [])
        if not chunks or len(chunks[-1]) >= MAX_GROUP_ROWS:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(request)
    return order


def split_rows(sequences: Sequence[Sequence[int]], eos_token_ids: Sequence[int]) -> list[list[int]]:
    """Each row's new tokens up to and including its first end token (a batch pads finished rows).

    >>> split_rows([[5, 6, 2, 0, 0], [7, 8, 9, 4, 3]], eos_token_ids=[2])
    [[5, 6, 2], [7, 8, 9, 4, 3]]
    """
    eos = set(eos_token_ids)
    rows = []
    for seq in sequences:
        out: list[int] = []
        for token in seq:
            out.append(int(token))
            if token in eos:
                break
        rows.append(out)
    return rows
