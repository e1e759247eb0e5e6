"""Synthetic verl-format datasets and rollouts for the benchmark and the scale tests (no model, no video).

Rollouts mimic a base model's spread: each sample has a skill ``p`` drawn so that some samples are always
right, some always wrong and the rest mixed, and each rollout is a well-formed or malformed answer
accordingly, in the answer styles of the three tasks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["synthetic_dataset", "synthetic_rollouts", "write_synthetic"]

_LETTERS = "ABCD"


def synthetic_dataset(samples: int, seed: int = 0) -> pa.Table:
    """A verl-format table: ``prompt``, ``videos``, ``data_source``, ``reward_model``, ``extra_info``."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    kinds = rng.choice(["mcq", "tvg", "gqa"], size=samples, p=[0.4, 0.4, 0.2])
    answers = rng.integers(0, 4, size=samples)
    starts = np.round(rng.uniform(0, 20, size=samples), 1)
    lengths = np.round(rng.uniform(2, 10, size=samples), 1)
    truths: list[str] = []
    sources: list[str] = []
    for kind, a, s, ln in zip(
        kinds.tolist(), answers.tolist(), starts.tolist(), lengths.tolist(), strict=True
    ):
        options = [f"{c}. option {c.lower()}" for c in _LETTERS]
        truth: dict[str, object]
        if kind == "mcq":
            truth = {"task": "mcq", "answer": _LETTERS[a], "options": options}
            sources.append("synthetic_mcq")
        elif kind == "tvg":
            truth = {"task": "tvg", "segment": [s, round(s + ln, 1)], "duration": 30.0}
            sources.append("synthetic_tvg")
        else:
            truth = {
                "task": "gqa",
                "answer": _LETTERS[a],
                "options": options,
                "segment": [s, round(s + ln, 1)],
                "duration": 30.0,
            }
            sources.append("synthetic_gqa")
        truths.append(json.dumps(truth, sort_keys=True))
    ids = np.arange(samples, dtype=np.int64) + 1000
    return pa.table(
        {
            "data_source": sources,
            "prompt": [[{"role": "user", "content": "<video>\nQuestion?"}]] * samples,
            "videos": [[{"video": "/nonexistent/clip.mp4", "fps": 2.0}]] * samples,
            "reward_model": [{"style": "rule", "ground_truth": t} for t in truths],
            "extra_info": pa.StructArray.from_arrays(
                [pa.array(ids), pa.array(kinds.tolist())], names=["index", "task"]
            ),
        }
    )


def synthetic_rollouts(dataset: pa.Table, n: int, seed: int = 0) -> pa.Table:
    """``n`` rollouts per row of :func:`synthetic_dataset` (columns of ``selection rollout`` shards)."""
    import pyarrow as pa

    rng = np.random.default_rng(seed + 1)
    samples = dataset.num_rows
    ids = dataset.column("extra_info").combine_chunks().field("index").to_numpy()
    truths = [
        json.loads(t)
        for t in dataset.column("reward_model").combine_chunks().field("ground_truth").to_pylist()
    ]
    # Skill per sample: a third never right, a sixth always right, the rest in between.
    skill = rng.choice([0.0, 1.0, 0.3, 0.6], size=samples, p=[1 / 3, 1 / 6, 1 / 4, 1 / 4])
    right = rng.random((samples, n)) < skill[:, None]
    well_formed = rng.random((samples, n)) < 0.9
    responses: list[str] = []
    for i, truth in enumerate(truths):
        for k in range(n):
            responses.append(_response(truth, bool(right[i, k]), bool(well_formed[i, k]), rng))
    return pa.table(
        {
            "sample_id": np.repeat(ids, n),
            "rollout_index": np.tile(np.arange(n, dtype=np.int32), samples),
            "response": responses,
            "error": pa.nulls(samples * n, type=pa.string()),
            "rollout_settings": pa.array(
                [json.dumps({"n": n, "temperature": 1.0})] * (samples * n)
            ).dictionary_encode(),
        }
    )


def _response(truth: dict[str, object], right: bool, well_formed: bool, rng: np.random.Generator) -> str:
    task = truth["task"]
    if task in ("mcq", "gqa"):
        gold = str(truth["answer"])
        letter = gold if right else _LETTERS[(_LETTERS.index(gold) + 1 + int(rng.integers(0, 3))) % 4]
    if task in ("tvg", "gqa"):
        seg = cast(list[float], truth["segment"])
        s, e = (seg[0], seg[1]) if right else (min(seg[1] + 1.0, 28.0), min(seg[1] + 2.0, 29.5))
        jitter = round(float(rng.uniform(-0.5, 0.5)), 1) if right else 0.0
        s, e = max(0.0, s + jitter), e + jitter
    if task == "mcq":
        answer = letter
    elif task == "tvg":
        answer = f"{s:.1f} to {e:.1f}"
    else:
        answer = json.dumps({"answer": letter, "start_time": round(s, 1), "end_time": round(e, 1)})
    if not well_formed:
        return f"The answer is {answer}"
    return f"<think>I watch the clip and compare the options.</think><answer>{answer}</answer>"


def write_synthetic(out_dir: str | Path, samples: int, n: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``dataset.parquet`` and ``rollouts.parquet`` under ``out_dir``; returns both paths."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = synthetic_dataset(samples, seed)
    pq.write_table(dataset, out / "dataset.parquet")
    writer = None
    chunk = 20_000
    for start in range(0, samples, chunk):
        part = synthetic_rollouts(dataset.slice(start, chunk), n, seed + start)
        if writer is None:
            writer = pq.ParquetWriter(out / "rollouts.parquet", part.schema, compression="zstd")
        writer.write_table(part, row_group_size=65_536)
    if writer is not None:
        writer.close()
    return out / "dataset.parquet", out / "rollouts.parquet"
