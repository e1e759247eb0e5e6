"""``python -m video_rewards.evaluate`` against tables computed by hand (official protocol and
``--clip-to-duration``), plus bad input and agreement with the training reward."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import video_rewards as vr
from video_rewards.evaluate import (
    METRIC_KEYS,
    InvalidRow,
    Prediction,
    evaluate_predictions,
    main,
    read_predictions,
)

T = "<think>reasoning</think>"
OPTIONS = ["A. left", "B. right"]


def tvg(segment: list[float], duration: float = 30.0) -> dict[str, Any]:
    return {"task": "tvg", "segment": segment, "duration": duration}


def gqa(answer: str, segment: list[float] = [4.0, 8.0]) -> dict[str, Any]:  # noqa: B006
    return {"task": "gqa", "answer": answer, "options": OPTIONS, "segment": segment, "duration": 10.0}


MCQ = {"task": "mcq", "answer": "B", "options": ["A. dog", "B. cat", "C. bird"]}

# (response, ground truth, data source) with the per-row values worked out by hand in the comments
# (official protocol: raw spans; "clipped:" where --clip-to-duration differs).
ROWS: list[tuple[str, dict[str, Any], str | None]] = [
    # charades: IoU per row
    (f"{T}<answer>2 to 6</answer>", tvg([2, 6]), "charades"),  # 1.0
    (f"{T}<answer>0 to 4</answer>", tvg([2, 6]), "charades"),  # 2/6 = 1/3
    (f"{T}<answer>[3, 7]</answer>", tvg([2, 6]), "charades"),  # 3/5 = 0.6
    (f"{T}<answer>10 to 12</answer>", tvg([2, 6]), "charades"),  # 0
    ("2 to 6", tvg([2, 6]), "charades"),  # no <answer>: 0, unparsed
    (f"{T}<answer>25 to 40</answer>", tvg([20, 30]), "charades"),  # 5/20 = 0.25; clipped: [25, 30] 0.5
    (f"{T}<answer>0 to 7</answer>", tvg([0, 10]), "charades"),  # 7/10 = 0.7
    # nextqa: right, wrong, right, unparsable
    (f"{T}<answer>B</answer>", MCQ, "nextqa"),
    (f"{T}<answer>C</answer>", MCQ, "nextqa"),
    (f"{T}<answer>(B) a cat</answer>", MCQ, "nextqa"),
    (f"{T}<answer></answer>", MCQ, "nextqa"),  # unparsed
    # nextgqa (gold [4, 8], video 10 s): (right?, IoU, IoP)
    (f'{T}<answer>{{"answer": "A", "start_time": 4, "end_time": 8}}</answer>', gqa("A"), "nextgqa"),  # ✓ 1 1
    (
        f'{T}<answer>{{"answer": "A", "start_time": 5, "end_time": 6}}</answer>',
        gqa("A"),
        "nextgqa",
    ),  # ✓ 1/4 1
    (f'{T}<answer>{{"answer": "B", "start_time": 4, "end_time": 8}}</answer>', gqa("A"), "nextgqa"),  # ✗ 1 1
    (
        f'{T}<answer>{{"answer": "A", "start_time": 0, "end_time": 6}}</answer>',
        gqa("A"),
        "nextgqa",
    ),  # ✓ 1/4 1/3
    (
        f'{T}<answer>{{"answer": "A", "start_time": 6, "end_time": 12}}</answer>',
        gqa("A"),
        "nextgqa",
    ),  # ✓ 2/8 2/6; clipped to [6, 10]: 2/6 2/4
    ("A", gqa("A"), "nextgqa"),  # no <answer>: ✗ 0 0, unparsed
    # no data_source: grouped under the task name
    (f"{T}<answer>1 to 3</answer>", tvg([2, 6]), None),  # 1/5
]

EXPECTED: dict[str, dict[str, float]] = {
    "charades": {
        "R1@0.3": 100 * 4 / 7,
        "R1@0.5": 100 * 3 / 7,  # 0.5 counts: >=
        "R1@0.7": 100 * 2 / 7,  # 7/10 is exactly 0.7 and counts
        "mIoU": 100 * (1 + 1 / 3 + 0.6 + 0 + 0 + 0.25 + 0.7) / 7,
        "count": 7,
        "unparsed": 1,
    },
    "nextgqa": {
        "accuracy": 100 * 4 / 6,
        "mIoU": 100 * (1 + 1 / 4 + 1 + 1 / 4 + 1 / 4 + 0) / 6,
        "mIoP": 100 * (1 + 1 + 1 + 1 / 3 + 1 / 3 + 0) / 6,
        "IoU@0.3": 100 * 2 / 6,
        "IoU@0.5": 100 * 2 / 6,
        "IoP@0.3": 100 * 5 / 6,
        "IoP@0.5": 100 * 3 / 6,
        "Acc@GQA": 100 * 2 / 6,  # right answer and IoP >= 0.5: rows 1 and 2
        "count": 6,
        "unparsed": 1,
    },
    "nextqa": {"accuracy": 50.0, "count": 4, "unparsed": 1},
    "tvg": {"R1@0.3": 0.0, "R1@0.5": 0.0, "R1@0.7": 0.0, "mIoU": 20.0, "count": 1, "unparsed": 0},
}

# --clip-to-duration: the charades row "25 to 40" and the nextgqa row "6 to 12" are clipped to the video.
EXPECTED_CLIPPED: dict[str, dict[str, float]] = {
    **EXPECTED,
    "charades": {
        **EXPECTED["charades"],
        "R1@0.3": 100 * 5 / 7,
        "R1@0.5": 100 * 4 / 7,
        "mIoU": 100 * (1 + 1 / 3 + 0.6 + 0 + 0 + 0.5 + 0.7) / 7,
    },
    "nextgqa": {
        **EXPECTED["nextgqa"],
        "mIoU": 100 * (1 + 1 / 4 + 1 + 1 / 4 + 1 / 3 + 0) / 6,
        "mIoP": 100 * (1 + 1 + 1 + 1 / 3 + 1 / 2 + 0) / 6,
        "IoU@0.3": 100 * 3 / 6,
        "IoP@0.5": 100 * 4 / 6,  # the clipped prediction's IoP of exactly 0.5 counts
        "Acc@GQA": 100 * 3 / 6,
    },
}


def _write(path: Path, rows: list[Any]) -> Path:
    lines = []
    for row in rows:
        if isinstance(row, str):
            lines.append(row)
        else:
            response, truth, source = row
            obj: dict[str, Any] = {"response": response, "ground_truth": truth, "id": len(lines)}
            if source is not None:
                obj["data_source"] = source
            lines.append(json.dumps(obj))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("clip", "table"), [(False, EXPECTED), (True, EXPECTED_CLIPPED)])
def test_metrics_match_the_hand_computed_table(
    tmp_path: Path, clip: bool, table: dict[str, dict[str, float]]
) -> None:
    rows = read_predictions(_write(tmp_path / "p.jsonl", ROWS))
    metrics = evaluate_predictions(rows, clip_to_duration=clip)
    assert list(metrics) == sorted(table)
    for source, expected in table.items():
        assert list(metrics[source]) == [k for k in METRIC_KEYS if k in expected], source
        assert metrics[source] == pytest.approx(expected), source


def test_cli_writes_metrics_json_and_prints_a_table(tmp_path: Path) -> None:
    predictions = _write(tmp_path / "p.jsonl", ROWS)
    out = tmp_path / "eval" / "metrics.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "video_rewards.evaluate",
            "--predictions",
            str(predictions),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    written = json.loads(out.read_text())
    assert list(written) == sorted(EXPECTED)
    for source, expected in EXPECTED.items():
        assert written[source] == pytest.approx(expected), source
    assert written["charades"]["count"] == 7
    header, *lines = proc.stdout.splitlines()
    assert header.split()[:3] == ["data_source", "R1@0.3", "R1@0.5"]
    assert any(line.startswith("nextgqa") and "66.67" in line for line in lines)
    assert "protocol: official (raw spans)" in lines
    clipped = subprocess.run(
        [
            sys.executable,
            "-m",
            "video_rewards.evaluate",
            "--predictions",
            str(predictions),
            "--clip-to-duration",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clipped.returncode == 0, clipped.stderr
    assert "protocol: reward (clipped to the video)" in clipped.stdout.splitlines()


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("\n" + json.dumps({"response": "<answer>B</answer>", "ground_truth": MCQ}) + "\n\n")
    assert [p.line for p in read_predictions(path)] == [2]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([ROWS[0], "{not json"], r"line 2: not valid JSON"),
        ([ROWS[0], ROWS[1], "[1, 2]"], r"line 3: a row must be a JSON object"),
        (['{"ground_truth": {"task": "mcq", "answer": "A"}}'], r"line 1: 'response' must be a string"),
        (['{"response": "x"}'], r"line 1: 'ground_truth' is missing"),
        (
            [ROWS[0], '{"response": "x", "ground_truth": {"task": "tvg", "segment": [6, 2]}}'],
            r"line 2: .*segment",
        ),
        (
            ['{"response": "x", "ground_truth": {"task": "mcq", "answer": "A"}, "data_source": 3}'],
            r"line 1: 'data_source'",
        ),
        (['{"response": "x", "ground_truth": {"task": "nope"}}'], r"line 1: .*unknown task 'nope'"),
        ([], r"no predictions"),
    ],
)
def test_bad_rows_name_their_line(tmp_path: Path, lines: list[Any], message: str) -> None:
    path = _write(tmp_path / "p.jsonl", lines)
    with pytest.raises(ValueError, match=message):
        read_predictions(path)
    # --strict: the CLI reports the same and exits 2 without writing metrics.
    out = tmp_path / "m.json"
    assert main(["--predictions", str(path), "--output", str(out), "--strict"]) == 2
    assert not out.exists()
    # Default: the bad row is listed with its line and reason, and the other rows are evaluated.
    invalid: list[InvalidRow] = []
    valid_lines = len([line for line in lines if line in ROWS])
    if valid_lines == 0:
        assert main(["--predictions", str(path), "--output", str(out)]) == 2
        assert not out.exists()
        return
    assert len(read_predictions(path, invalid=invalid)) == valid_lines
    assert len(invalid) == 1
    assert re.search(message, invalid[0].error)
    assert main(["--predictions", str(path), "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert sum(m["count"] for m in metrics.values()) == valid_lines
    listed = [json.loads(x) for x in (tmp_path / "m.json.invalid.jsonl").read_text().splitlines()]
    assert [row["line"] for row in listed] == [invalid[0].line]


def test_extra_info_duration_clips_like_training(tmp_path: Path) -> None:
    row = {
        "response": f"{T}<answer>25 to 40</answer>",
        "ground_truth": {"task": "tvg", "segment": [20, 30]},
        "extra_info": {"duration": 30, "index": 7},
    }
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (prediction,) = read_predictions(path)
    assert prediction.ground_truth.duration == 30  # type: ignore[attr-defined]
    assert evaluate_predictions([prediction])["tvg"]["mIoU"] == 25.0  # official: raw [25, 40]
    assert evaluate_predictions([prediction], clip_to_duration=True)["tvg"]["mIoU"] == 50.0  # [25, 30]
    path.write_text(json.dumps({**row, "extra_info": {}}) + "\n")
    rows = read_predictions(path)
    assert evaluate_predictions(rows, clip_to_duration=True)["tvg"]["mIoU"] == 25.0  # no duration: no clip
    path.write_text(json.dumps({**row, "extra_info": {"duration": "long"}}) + "\n")
    with pytest.raises(ValueError, match=r"line 1: 'extra_info.duration' must be a number"):
        read_predictions(path)


def test_a_data_source_mixing_task_families_is_refused(tmp_path: Path) -> None:
    rows = [ROWS[0], (ROWS[7][0], ROWS[7][1], "charades")]
    with pytest.raises(ValueError, match=r"'charades' mixes task families: line 1 is 'tvg'.*line 2 is 'mcq'"):
        evaluate_predictions(read_predictions(_write(tmp_path / "p.jsonl", rows)))


def test_reward_config_is_honoured(tmp_path: Path) -> None:
    # Without the answer-tag requirement (as trained with require_answer_tag=false) a bare span counts.
    rows = [("2 to 6", tvg([2, 6]), "charades")]
    path = _write(tmp_path / "p.jsonl", rows)
    out = tmp_path / "m.json"
    assert (
        main(
            [
                "--predictions",
                str(path),
                "--output",
                str(out),
                "--reward-kwargs",
                '{"require_answer_tag": false}',
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["charades"]["mIoU"] == 100.0
    assert main(["--predictions", str(path), "--reward-kwargs", '{"no_such": 1}']) == 2


# ----------------------------------------------------------------- agreement with the training reward

_times = st.floats(min_value=-5, max_value=40, allow_nan=False).map(lambda x: round(x, 3))


@settings(max_examples=300, deadline=None)
@given(
    start=_times,
    end=_times,
    gold=st.tuples(st.floats(0, 19), st.floats(0.5, 15)).map(
        lambda t: [round(t[0], 2), round(t[0] + t[1], 2)]
    ),
    style=st.sampled_from(["{s} to {e}", "[{s}, {e}]", "from {s}s to {e}s", "{s} - {e}", "gqa"]),
    answer=st.sampled_from(["A", "B"]),
)
def test_clipped_iou_is_the_rewards(
    start: float, end: float, gold: list[float], style: str, answer: str
) -> None:
    """With --clip-to-duration, evaluation's IoU is the very IoU the reward scored."""
    if style == "gqa":
        response = f'{T}<answer>{{"answer": "{answer}", "start_time": {start}, "end_time": {end}}}</answer>'
        truth = vr.parse_ground_truth({**gqa("A", gold), "duration": 30.0})
    else:
        response = f"{T}<answer>{style.format(s=start, e=end)}</answer>"
        truth = vr.parse_ground_truth(tvg(gold, duration=30.0))
    metrics = evaluate_predictions([Prediction(1, response, truth, "x")], clip_to_duration=True)["x"]
    reward = vr.score(response, truth)
    assert reward.iou is not None
    assert metrics["mIoU"] == 100 * reward.iou
    if style == "gqa":
        assert 0.0 <= metrics["mIoP"] <= 100.0
        assert metrics["mIoP"] >= metrics["mIoU"]  # IoP >= IoU always
