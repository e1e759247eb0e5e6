"""Grouping of rollout requests for the CPU hf server: identical content together, nothing else."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import torch

from verl_plugins.cpu.hf_rollout_batching import (
    MAX_GROUP_ROWS,
    PendingRequest,
    group_requests,
    media_digest,
    split_rows,
)


def request(prompt: list[int], video: Any = None, **params: Any) -> PendingRequest:
    loop = asyncio.new_event_loop()
    try:
        return PendingRequest(prompt, {"temperature": 1.0, **params}, None, video, loop.create_future())
    finally:
        loop.close()


def test_same_prompt_ids_different_pixels_are_different_groups() -> None:
    a = [(torch.zeros(2, 3, 4, 4), {"fps": 2.0})]
    b = [(torch.ones(2, 3, 4, 4), {"fps": 2.0})]
    groups = group_requests([request([1, 2], a), request([1, 2], b), request([1, 2], a)])
    assert [len(g) for g in groups] == [2, 1]


@pytest.mark.parametrize(
    ("x", "y", "same"),
    [
        (np.zeros((2, 2)), np.zeros((2, 2)), True),
        (np.zeros((2, 2)), np.zeros((4,)), False),  # same bytes, other shape
        (np.zeros((2, 2), dtype=np.float32), np.zeros((2, 2), dtype=np.float64), False),
        ({"fps": 2.0}, {"fps": 1.0}, False),
        (torch.arange(4), np.arange(4), True),  # a tensor and the array it holds show the same thing
    ],
)
def test_media_digest_is_content(x: Any, y: Any, same: bool) -> None:
    assert (media_digest(None, [x]) == media_digest(None, [y])) is same


def test_sampling_params_split_groups_and_order_is_first_arrival() -> None:
    reqs = [request([1]), request([2]), request([1], temperature=0.0), request([1]), request([2])]
    groups = group_requests(reqs)
    assert [[reqs.index(r) for r in g] for g in groups] == [[0, 3], [1, 4], [2]]


def test_groups_are_capped() -> None:
    reqs = [request([7]) for _ in range(MAX_GROUP_ROWS + 3)]
    assert [len(g) for g in group_requests(reqs)] == [MAX_GROUP_ROWS, 3]


@pytest.mark.parametrize(
    ("rows", "eos", "expected"),
    [
        ([[5, 2, 2, 2]], [2], [[5, 2]]),
        ([[2, 9]], [2], [[2]]),
        ([[4, 4]], [2], [[4, 4]]),  # ran out of tokens: no end token
        ([[4, 3, 2]], [2, 3], [[4, 3]]),  # any of several end tokens
    ],
)
def test_split_rows(rows: list[list[int]], eos: list[int], expected: list[list[int]]) -> None:
    assert split_rows(rows, eos) == expected
