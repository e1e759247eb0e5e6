"""The bundled-rollouts demo (``python -m video_rewards.demo``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import video_rewards as vr
from video_rewards import demo


def test_bundled_rollouts_cover_every_task_and_validate() -> None:
    rows = demo.load_rollouts()
    assert len(rows) >= 30
    assert {r["ground_truth"]["task"] for r in rows} == {"mcq", "tvg", "gqa", "numeric", "multi_tvg"}
    assert {r["style"] for r in rows} >= {"r1", "qwen2.5-vl"}
    for r in rows:
        vr.parse_ground_truth(r["ground_truth"])


def test_table_values() -> None:
    cols = demo.score_rollouts(demo.load_rollouts(), vr.RewardConfig())
    table = {row["task"]: row for row in demo.task_table(cols)}
    assert table["mcq"]["n"] == 12 and table["mcq"]["accuracy"] == pytest.approx(6 / 12)
    assert table["tvg"]["accuracy"] is None and table["tvg"]["parse_failed"] == 3
    assert table["gqa"]["accuracy"] == pytest.approx(4 / 5)
    assert table["numeric"]["score"] == pytest.approx(0.75)
    assert all(0.0 <= row["score"] <= 1.0 for row in table.values())


def test_cli_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--rows"]) == 0
    out = capsys.readouterr().out
    assert "task" in out and "multi_tvg" in out and "ambiguous_choice" in out


def test_cli_json_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--json", "--iou-threshold", "0.5"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["reward_version"] == vr.REWARD_VERSION
    assert [t["task"] for t in payload["tasks"]] == ["mcq", "tvg", "gqa", "numeric", "multi_tvg"]
    with pytest.raises(SystemExit):
        demo.main(["--iou-threshold", "2"])


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "video_rewards.demo"], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-5].startswith("mcq")
