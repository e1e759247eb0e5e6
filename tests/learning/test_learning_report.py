"""``benchmarks/learning_report.py``: the constant-answer baseline, the summaries and the table.

Expected values are worked out by hand from the clips' ground truths (comments show the arithmetic).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rlt_tools import learning_task as lt
from video_rewards.evaluate import evaluate_predictions, read_predictions


def _rows(task: lt.Task, events: list[tuple[float, float]], colours: list[int]) -> list[dict[str, Any]]:
    clips = [
        lt.SynthClip(Path(f"c{k}.mp4"), c, e) for k, (e, c) in enumerate(zip(events, colours, strict=True))
    ]
    rows = lt.task_rows(clips, (task,))
    return json.loads(json.dumps(rows))


def test_constant_answers_score_what_the_interval_arithmetic_says(report: ModuleType, tmp_path: Path) -> None:
    events = list(lt.INTERVALS)  # each of the generator's seven intervals once
    colours = [0, 1, 2, 3, 0, 1, 2]
    rows = [
        *_rows("tvg", events, colours),
        *_rows("mcq", events, colours),
        *_rows("gqa", events, colours),
    ]
    path = report.constant_predictions(rows, tmp_path / "constant.jsonl")
    metrics = evaluate_predictions(read_predictions(path))
    # [1, 3] against (0,1) (1,2) (2,3) (3,4) (0,2) (1,3) (2,4): IoU 0, 1/2, 1/2, 0, 1/3, 1, 1/3.
    miou = 100 * (0 + 0.5 + 0.5 + 0 + 1 / 3 + 1 + 1 / 3) / 7
    assert metrics["synth_tvg"]["mIoU"] == pytest.approx(miou, abs=0.01)  # 38.10
    assert metrics["synth_tvg"]["R1@0.5"] == pytest.approx(100 * 3 / 7, abs=0.01)  # IoU 1/2, 1/2, 1
    assert metrics["synth_tvg"]["R1@0.7"] == pytest.approx(100 / 7, abs=0.01)
    # Letter A = red = colour 0: clips 0 and 4 of seven.
    assert metrics["synth_mcq"]["accuracy"] == pytest.approx(200 / 7, abs=0.01)
    assert metrics["synth_gqa"]["accuracy"] == pytest.approx(200 / 7, abs=0.01)
    assert metrics["synth_gqa"]["mIoU"] == pytest.approx(miou, abs=0.01)
    assert all(m["unparsed"] == 0 for m in metrics.values())
    summary = report.summarize(metrics)
    assert summary == {
        "accuracy": pytest.approx(200 / 7, abs=0.01),  # mcq and gqa, 7 rows each
        "mIoU": pytest.approx(miou, abs=0.01),  # tvg and gqa
        "R1@0.5": pytest.approx(100 * 3 / 7, abs=0.01),  # tvg only
    }


def test_summary_without_a_metric_is_nan_and_quarters_are_means(report: ModuleType) -> None:
    assert math.isnan(report.summarize({"a": {"accuracy": 50.0, "count": 2}})["mIoU"])
    assert report.quarter_gain([0.2, 0.4, 0.4, 0.4, 0.5, 0.5, 0.6, 0.8]) == pytest.approx(0.7 - 0.3)


def test_table_has_the_constant_row_and_one_row_per_arm(report: ModuleType) -> None:
    summary = {"accuracy": 30.0, "mIoU": 25.0, "R1@0.5": 20.0}
    run = {"train_rows": 16, "reward_curve": [0.4, 0.5, 0.6, 0.7], "after": summary}
    result = {
        "heldout_constant_answer": {"accuracy": 25.0, "mIoU": 38.1, "R1@0.5": 42.9},
        "heldout": {"before": summary},
        "arms": {"selected": [run, {**run, "after": {**summary, "mIoU": 35.0}}], "full": [run]},
    }
    lines = report.table(result).splitlines()
    assert lines[2].startswith("| constant answer, no video") and "38.1" in lines[2]
    assert lines[4] == "| selected (16 rows) | 2 | 0.400 → 0.700 | 30.0 ± 0.0 | 30.0 ± 5.0 | 20.0 ± 0.0 |"
    assert lines[5] == "| full (16 rows) | 1 | 0.400 → 0.700 | 30.0 | 25.0 | 20.0 |"


def test_table_of_a_grounding_only_run_has_no_accuracy(report: ModuleType) -> None:
    nan = float("nan")
    summary = {"accuracy": nan, "mIoU": 40.0, "R1@0.5": 45.0}
    result = {
        "settings": {"tasks": ["tvg"]},
        "heldout_constant_answer": {"accuracy": nan, "mIoU": 38.1, "R1@0.5": 42.9},
        "heldout": {"before": summary},
        "arms": {"full": [{"train_rows": 16, "reward_curve": [0.5, 0.6], "after": summary}]},
    }
    lines = report.table(result).splitlines()
    assert lines[2] == "| constant answer, no video (`[1, 3]`) | – | – | – | 38.1 | 42.9 |"
    assert lines[3] == "| warm start (before GRPO) | – | – | – | 40.0 | 45.0 |"
    assert lines[4] == "| full (16 rows) | 1 | 0.500 → 0.600 | – | 40.0 | 45.0 |"
