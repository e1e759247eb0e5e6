"""The `python -m selection` command line (help, errors, score → select → report) and the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selection.cli import main
from selection.io import read_metadata


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("rollout", ["--dataset", "--model", "--engine", "--n", "--output", "--distributed", "--shard-size"]),
        ("score", ["--dataset", "--rollouts", "--output", "--reward-config", "--workers"]),
        (
            "select",
            [
                "--dataset",
                "--scores",
                "--min-std",
                "--output",
                "--config",
                "--quota",
                "--target-size",
                "--drop-invalid-stats",
                "--no-fingerprint-check",
            ],
        ),
        ("report", ["--scores", "--output", "--selection", "--dataset", "--no-fingerprint-check"]),
    ],
)
def test_every_command_has_help(command: str, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text


def test_module_entry_point_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "selection", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "rollout" in proc.stdout and "report" in proc.stdout


@pytest.fixture
def scored_case(tmp_path: Path, h: Any) -> tuple[Path, Path]:
    o = h.MCQ_OPTIONS
    rows = [
        h.row(1, {"task": "mcq", "answer": "A", "options": o}, source="qa"),
        h.row(2, {"task": "mcq", "answer": "B", "options": o}, source="qa"),
        h.row(3, {"task": "tvg", "segment": [2, 6], "duration": 10}, source="ground"),
        h.row(4, {"task": "tvg", "segment": [2, 6], "duration": 10}, source="ground"),
    ]
    wf = h.wf
    roll = [
        (1, 0, wf("A"), None), (1, 1, wf("A"), None),  # all correct
        (2, 0, wf("B"), None), (2, 1, wf("C"), None),  # mixed
        (3, 0, wf("2 to 6"), None), (3, 1, wf("2 to 4"), None),  # mixed IoU
        (4, -1, None, "video_decode_error: broken"),
    ]  # fmt: skip
    return h.write_rows(tmp_path / "d.parquet", rows), h.write_rollouts(tmp_path / "r.parquet", roll)


def test_score_select_report_through_the_cli(
    scored_case: tuple[Path, Path], tmp_path: Path, h: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data, roll = scored_case
    reward_cfg = tmp_path / "reward.yaml"
    reward_cfg.write_text(json.dumps(h.REWARD_KWARGS))
    scores, kept, report = tmp_path / "s.parquet", tmp_path / "k.parquet", tmp_path / "report"
    assert main(["score", "--dataset", str(data), "--rollouts", str(roll), "--output", str(scores),
                 "--reward-config", str(reward_cfg), "--model", "base-7b", "--workers", "1"]) == 0  # fmt: skip
    assert "6 rollouts, 3 samples scored, 1 failed" in capsys.readouterr().out
    assert read_metadata(scores)["reward_config"]["weights"]["mcq"]["format"] == 0.5

    rule = tmp_path / "rule.yaml"
    rule.write_text("variance: {min_std: 0.1}\n")
    assert main(["select", "--dataset", str(data), "--scores", str(scores), "--config", str(rule),
                 "--output", str(kept)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "kept 2 of 4" in out and "'all_correct': 1" in out and "'failed': 1" in out
    assert read_metadata(kept)["config"]["variance"]["min_std"] == 0.1
    assert sorted(pd.read_parquet(kept)["extra_info"].map(lambda e: e["index"])) == [2, 3]

    assert main(["report", "--scores", str(scores), "--selection", str(kept), "--output", str(report)]) == 0
    md = (report / "report.md").read_text()
    assert "**2 of 4 samples kept**" in md  # the failed sample counts as dropped
    assert "Informative groups" in md and "66.7% before → 100.0% after" in md
    assert "| all_correct | 1 |" in md and "| failed | 1 |" in md
    assert "## Per task" in md and "## Per data source" in md and "video_decode_error" in md
    for png in ("reward_std_hist.png", "reward_mean_hist.png"):
        data_bytes = (report / png).read_bytes()
        assert data_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(data_bytes) > 2000
    summary = json.loads((report / "report.json").read_text())
    assert summary["kept"] == 2 and summary["informative_fraction"] == {"before": 2 / 3, "after": 1.0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "--rollouts", "{roll}", "--output", "{tmp}/s.parquet", "--dataset", "{tmp}/nope.parquet"], "nope.parquet"),
        (["select", "--dataset", "{data}", "--scores", "{roll}", "--output", "{tmp}/k.parquet"], "missing column(s)"),
        (["select", "--dataset", "{data}", "--scores", "{tmp}/s0.parquet", "--output", "{tmp}/k.parquet",
          "--top-k", "1", "--quantile", "0.5"], "rank: Value error, rank: give exactly one of top_k or quantile"),
    ],
)  # fmt: skip
def test_bad_inputs_exit_2_with_one_clear_line(
    scored_case: tuple[Path, Path],
    tmp_path: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, roll = scored_case
    main(
        [
            "score",
            "--dataset",
            str(data),
            "--rollouts",
            str(roll),
            "--output",
            str(tmp_path / "s0.parquet"),
            "--workers",
            "1",
        ]
    )
    capsys.readouterr()
    argv = [a.format(tmp=tmp_path, data=data, roll=roll) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]


def test_scores_of_another_dataset_are_refused_naming_both_files(
    scored_case: tuple[Path, Path], tmp_path: Path, h: Any, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    data, roll = scored_case
    scores, kept = tmp_path / "s.parquet", tmp_path / "k.parquet"
    assert main(["score", "--dataset", str(data), "--rollouts", str(roll), "--output", str(scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    # Another dataset whose rows carry the same ids: sample 2's right answer is C, not B.
    rows = pq.read_table(data).to_pylist()
    rows[1]["reward_model"]["ground_truth"] = json.dumps(
        {"task": "mcq", "answer": "C", "options": h.MCQ_OPTIONS}
    )
    other = h.write_rows(tmp_path / "other.parquet", rows)
    capsys.readouterr()

    assert main(["select", "--dataset", str(other), "--scores", str(scores), "--output", str(kept)]) == 2
    err = capsys.readouterr().err
    assert f"error: scores {scores} were computed on another dataset than {other}" in err
    assert f"record dataset '{data}'" in err and not kept.exists()
    assert (
        main(["report", "--scores", str(scores), "--dataset", str(other), "--output", str(tmp_path / "r")])
        == 2
    )
    assert f"scores {scores} were computed on another dataset than {other}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # refused before anything is written

    # A selection made from the right scores, reported with scores of the other dataset: refused too.
    assert main(["select", "--dataset", str(data), "--scores", str(scores), "--output", str(kept)]) == 0
    other_scores = tmp_path / "other_scores.parquet"
    assert main(["score", "--dataset", str(other), "--rollouts", str(roll), "--output", str(other_scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    argv = [
        "report",
        "--scores",
        str(other_scores),
        "--selection",
        str(kept),
        "--output",
        str(tmp_path / "r"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"scores {other_scores} were computed on another dataset" in err and f"selection {kept}" in err
    # Switched off explicitly, it runs, and says so.
    assert main(["select", "--dataset", str(other), "--scores", str(scores), "--output", str(kept),
                 "--no-fingerprint-check"]) == 0  # fmt: skip
    assert "fingerprint check off" in caplog.text
    assert read_metadata(kept)["fingerprint_checked"] is False


def test_invalid_statistics_through_the_cli(
    scored_case: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, roll = scored_case
    scores, bad, kept = tmp_path / "s.parquet", tmp_path / "bad.parquet", tmp_path / "k.parquet"
    assert main(["score", "--dataset", str(data), "--rollouts", str(roll), "--output", str(scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    table = pq.read_table(scores)
    frame = table.to_pandas()
    frame.loc[frame.sample_id == 2, "reward_std"] = float("inf")
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(table.schema.metadata), bad
    )
    capsys.readouterr()
    assert main(["select", "--dataset", str(data), "--scores", str(bad), "--output", str(kept)]) == 2
    assert "sample_id 2: reward_std=inf" in capsys.readouterr().err
    assert main(["select", "--dataset", str(data), "--scores", str(bad), "--output", str(kept),
                 "--drop-invalid-stats"]) == 0  # fmt: skip
    assert "'invalid_stats': 1" in capsys.readouterr().out
    report = tmp_path / "report"
    assert main(["report", "--scores", str(bad), "--selection", str(kept), "--output", str(report)]) == 0
    assert "| invalid_stats | 1 |" in (report / "report.md").read_text()
    assert not [p.name for p in report.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_gold_end_past_the_video_goes_through_score_select_report(
    tmp_path: Path, h: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Converters keep a gold span ending after the video (annotation noise); no step rejects it."""
    rows = [h.row(1, {"task": "tvg", "segment": [8, 12], "duration": 10}, source="charades_sta")]
    data = h.write_rows(tmp_path / "d.parquet", rows)
    roll = h.write_rollouts(
        tmp_path / "r.parquet", [(1, 0, h.wf("8 to 10"), None), (1, 1, h.wf("0 to 1"), None)]
    )
    scores, kept, report = tmp_path / "s.parquet", tmp_path / "k.parquet", tmp_path / "report"
    assert main(["score", "--dataset", str(data), "--rollouts", str(roll), "--output", str(scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    assert "1 samples scored, 0 failed" in capsys.readouterr().out
    assert main(["select", "--dataset", str(data), "--scores", str(scores), "--output", str(kept)]) == 0
    assert "kept 1 of 1" in capsys.readouterr().out
    assert main(["report", "--scores", str(scores), "--selection", str(kept), "--dataset", str(data),
                 "--output", str(report)]) == 0  # fmt: skip
