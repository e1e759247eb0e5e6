"""The README's main job: ``python -m rlt_tools.demo`` end to end on CPU (tiny model, generated videos)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import video_rewards as vr
from rlt_tools import demo, demo_inputs

METRIC_KEYS = {
    "activitynet_captions": {"R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "count"},
    "nextqa": {"accuracy", "count"},
    "nextgqa": {"accuracy", "mIoU", "mIoP", "IoU@0.3", "IoU@0.5", "IoP@0.3", "IoP@0.5", "Acc@GQA", "count"},
}


def test_demo_annotations_convert_with_the_known_events(tmp_path: Path) -> None:
    """The generated annotation files go through the real converters and keep the clips' true events."""
    demo_inputs.make_videos(tmp_path / "videos")
    files = demo_inputs.write_annotations(tmp_path / "ann")
    data = demo_inputs.convert_all(files, tmp_path / "videos", tmp_path / "data", demo_inputs.VideoSettings())
    pool = pq.read_table(data["pool"]).to_pylist()
    evaluation = pq.read_table(data["eval"]).to_pylist()
    train_clips = [c for c in demo_inputs.CLIPS if c.split == "train"]
    assert len(pool) == 3 * len(train_clips) and len(evaluation) == 3 * (
        len(demo_inputs.CLIPS) - len(train_clips)
    )
    ids = [r["extra_info"]["index"] for r in pool + evaluation]
    assert len(set(ids)) == len(ids)
    events = {c.video_id: list(c.event) for c in demo_inputs.CLIPS}
    for row in pool + evaluation:
        truth = vr.parse_ground_truth(row["reward_model"]["ground_truth"])
        video_id = Path(row["videos"][0]["video"]).stem
        if isinstance(truth, vr.GroundingTruth | vr.GroundedQATruth):
            assert list(truth.segment) == events[video_id]
        if isinstance(truth, vr.ChoiceTruth):
            clip = next(c for c in demo_inputs.CLIPS if c.video_id == video_id)
            assert truth.answer == "ABC"[demo_inputs.when_answer(clip.event)]


@pytest.mark.e2e
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "rlt_tools.demo", "--output-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "artefacts:" in proc.stdout

    selected = pq.read_table(out / "selection" / "selected.parquet").to_pylist()
    assert selected, "selection kept no sample"
    assert all("sel_reward_std" in row for row in selected)
    for name in ("base", "trained"):
        metrics = json.loads((out / "eval" / f"metrics_{name}.json").read_text())
        assert set(metrics) == set(METRIC_KEYS)
        for source, keys in METRIC_KEYS.items():
            assert keys <= set(metrics[source]), (source, metrics[source])
            assert metrics[source]["count"] == 2
        predictions = (out / "eval" / f"predictions_{name}.jsonl").read_text().splitlines()
        assert len(predictions) == 6
    checkpoint = out / "grpo" / "checkpoints" / "global_step_2" / "actor" / "huggingface"
    assert (checkpoint / "config.json").is_file()
    for artefact in ("videos", "annotations", "data/pool.parquet", "data/eval.parquet"):
        assert str(out / artefact) in proc.stdout


def test_output_dir_is_cleared_only_when_the_demo_made_it(tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not created by the demo"):
        demo.prepare_output_dir(foreign)
    assert (foreign / "thesis.tex").exists()

    out = tmp_path / "demo"
    demo.prepare_output_dir(out)
    (out / "grpo" / "checkpoints").mkdir(parents=True)
    (out / "videos").mkdir()
    demo.prepare_output_dir(out)  # a rerun: stale stage outputs go, inputs stay
    assert not (out / "grpo").exists() and (out / "videos").exists()
