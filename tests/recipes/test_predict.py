"""``python -m rlt_tools.predict``: greedy predictions with selection's hf engine, read by the evaluator."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dataset_converters import Annotation, ConvertConfig, VideoSettings, convert, write_parquet
from rlt_tools.predict import main, rollouts_dir
from video_rewards.evaluate import evaluate_predictions, read_predictions

TINY_VIDEO = VideoSettings(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16, total_pixels=28 * 28 * 64)


@pytest.mark.slow
def test_predict_writes_what_evaluate_reads(tiny_model_dir: Path, tmp_path: Path) -> None:
    from rlt_tools.tiny_clips import make_clip

    videos = tmp_path / "videos"
    make_clip(videos / "clip.mp4", seconds=2.0, fps=4, event=(0.5, 1.5))
    make_clip(videos / "gone.mp4", seconds=2.0, fps=4)
    records = [
        Annotation("a:1", 0, "clip", "tvg", "the square", segment=(0.5, 1.5)),
        Annotation("a:2", 1, "clip", "tvg", "the square again", segment=(0.5, 1.0)),
        Annotation("a:3", 2, "gone", "tvg", "its video is deleted after conversion", segment=(0.0, 1.0)),
    ]
    result = convert(
        records, ConvertConfig(data_source="demo", video_root=videos, video=TINY_VIDEO, index_offset=10)
    )
    dataset = tmp_path / "eval.parquet"
    write_parquet(result.rows, dataset)
    (videos / "gone.mp4").unlink()

    out = tmp_path / "pred" / "predictions.jsonl"
    args = ["--dataset", str(dataset), "--model", str(tiny_model_dir), "--engine", "hf", "--max-tokens", "8"]
    assert main([*args, "--output", str(out)]) == 0

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in rows] == [10, 11, 12]
    assert [r["uid"] for r in rows] == ["demo/train/10", "demo/train/11", "demo/train/12"]
    truths = pq.read_table(dataset).column("reward_model").to_pylist()
    assert [r["ground_truth"] for r in rows] == [t["ground_truth"] for t in truths]
    assert rows[0]["error"] is None and rows[0]["response"]
    # The sample that could not run stays, with an empty response and its reason: it counts as wrong.
    assert rows[2]["response"] == "" and rows[2]["error"].startswith("video_missing")

    metrics = evaluate_predictions(read_predictions(out))
    assert metrics["demo"]["count"] == 3

    assert (rollouts_dir(out) / "run.json").is_file()


def test_predict_rejects_a_non_dataset(tmp_path: Path) -> None:
    bogus = tmp_path / "x.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"a": [1]}), bogus)
    out = tmp_path / "p.jsonl"
    assert main(["--dataset", str(bogus), "--model", "m", "--engine", "hf", "--output", str(out)]) == 2
    assert not out.exists()
