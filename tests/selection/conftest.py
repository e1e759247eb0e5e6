"""Fixtures for selection tests: verl-format dataset rows and rollout tables, via the ``h`` fixture."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

MCQ_OPTIONS = ["A. a", "B. b", "C. c", "D. d"]
# Explicit weights, so the expected rewards below are computed by hand, not by the library under test.
REWARD_KWARGS: dict[str, Any] = {
    "weights": {"mcq": {"format": 0.5, "accuracy": 0.5}, "tvg": {"format": 0.5, "iou": 0.5}}
}


def row(
    index: int | None,
    truth: dict[str, Any],
    *,
    video: str = "/data/v.mp4",
    source: str = "toy",
    video_opts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "data_source": source,
        "prompt": [{"role": "user", "content": "<video>\nAnswer the question."}],
        "videos": [{"video": video, **(video_opts or {})}],
        "reward_model": {"style": "rule", "ground_truth": json.dumps(truth)},
    }
    if index is not None:
        out["extra_info"] = {"index": index}
    return out


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(list(rows)), path)
    return path


def write_rollouts(path: Path, records: Sequence[tuple[int, int, str | None, str | None]]) -> Path:
    """``(sample_id, rollout_index, response, error)`` records as a rollout parquet."""
    table = pa.table(
        {
            "sample_id": pa.array([r[0] for r in records], type=pa.int64()),
            "rollout_index": pa.array([r[1] for r in records], type=pa.int32()),
            "response": pa.array([r[2] for r in records], type=pa.string()),
            "error": pa.array([r[3] for r in records], type=pa.string()),
        }
    )
    pq.write_table(table, path)
    return path


def wf(answer: str) -> str:
    """A well-formed response."""
    return f"<think>looking</think><answer>{answer}</answer>"


class Helpers:
    """The builders above, reachable from tests (importlib import mode: tests cannot import each other)."""

    MCQ_OPTIONS = MCQ_OPTIONS
    REWARD_KWARGS = REWARD_KWARGS
    row = staticmethod(row)
    write_rows = staticmethod(write_rows)
    write_rollouts = staticmethod(write_rollouts)
    wf = staticmethod(wf)


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
