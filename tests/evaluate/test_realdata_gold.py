"""Real gold moments (``../shared/realdata/annotations``, read in place) through the ground-truth contract
and ``evaluate``: every NExT-GQA moment kept, Charades-STA ends past the video accepted.

Expected numbers were read off the files by a person (row values) or counted with a throw-away script
independent of this project (row counts).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import video_rewards as vr
from video_rewards.evaluate import Prediction, evaluate_predictions

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "annotations"
pytestmark = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=f"real annotation files not found at {REALDATA} (../shared/realdata)"
)


def nextgqa_truths() -> dict[tuple[str, str], dict[str, Any]]:
    """``{(video, qid): ground truth}`` for NExT-GQA test, built here as a converter would (a start of
    -0.1 s clamped to 0)."""
    gsub = json.loads((REALDATA / "nextgqa" / "gsub_test.json").read_text())
    with open(REALDATA / "nextgqa" / "test.csv", newline="", encoding="utf-8") as fh:
        qa = {(r["video_id"], r["qid"]): r for r in csv.DictReader(fh)}
    out = {}
    for video, ann in gsub.items():
        for qid, moments in ann["location"].items():
            row = qa[(video, qid)]
            options = [row[f"a{i}"] for i in range(5)]
            out[(video, qid)] = {
                "task": "gqa",
                "answer": "ABCDE"[options.index(row["answer"])],
                "options": options,
                "segments": [[max(0.0, s), e] for s, e in moments],
                "duration": ann["duration"],
            }
    return out


def gqa_reply(answer: str, span: tuple[float, float]) -> str:
    body = json.dumps({"answer": answer, "start_time": span[0], "end_time": span[1]})
    return f"<think>t</think><answer>{body}</answer>"


def test_every_nextgqa_test_question_keeps_every_gold_moment() -> None:
    raw = nextgqa_truths()
    truths = {key: vr.parse_ground_truth(gt) for key, gt in raw.items()}
    assert len(truths) == 5553
    several = [t for t in truths.values() if len(t.segments) > 1]  # type: ignore[attr-defined]
    assert len(several) == 591
    # Read off gsub_test.json by hand.
    two = truths[("10734790773", "1")]
    assert two.segments == (vr.Span(3.6, 7.3), vr.Span(20.5, 24.4))  # type: ignore[attr-defined]
    assert two.duration == 38  # type: ignore[attr-defined]
    assert len(truths[("10376859826", "3")].segments) == 6  # type: ignore[attr-defined]
    assert truths[("3305288577", "0")].segments == (vr.Span(0.0, 25.1),)  # type: ignore[attr-defined]


def test_evaluate_scores_the_closest_gold_moment_on_real_nextgqa() -> None:
    truths = {key: vr.parse_ground_truth(gt) for key, gt in nextgqa_truths().items()}
    # The right answer and exactly the LAST gold moment: a one-segment contract would miss these.
    rows = [
        Prediction(i + 1, gqa_reply(t.answer, t.segments[-1]), t, "nextgqa")  # type: ignore[attr-defined]
        for i, t in enumerate(truths.values())
    ]
    metrics = evaluate_predictions(rows)["nextgqa"]
    for key in ("accuracy", "mIoU", "mIoP", "IoU@0.5", "IoP@0.5", "Acc@GQA"):
        assert metrics[key] == pytest.approx(100.0), key
    assert (metrics["count"], metrics["unparsed"]) == (5553, 0)

    # The covering span [3.6, 24.4] that a merging converter used to write, against the two moments:
    # IoU and IoP with [20.5, 24.4] are both 3.9 / 20.8 = 0.1875 (with [3.6, 7.3]: 3.7 / 20.8).
    truth = truths[("10734790773", "1")]
    (row,) = evaluate_predictions([Prediction(1, gqa_reply("E", (3.6, 24.4)), truth, "x")]).values()
    assert row["mIoU"] == pytest.approx(18.75)
    assert row["mIoP"] == pytest.approx(18.75)
    assert row["Acc@GQA"] == 0.0 and row["accuracy"] == 100.0  # "up and down" is option E


def test_charades_sta_test_gold_past_the_video_end_is_accepted_and_scored_raw() -> None:
    with open(REALDATA / "charades_sta" / "Charades_v1_test.csv", newline="", encoding="utf-8") as fh:
        length = {r["id"]: float(r["length"]) for r in csv.DictReader(fh)}
    rows = []
    past_end = 0
    for i, line in enumerate((REALDATA / "charades_sta" / "charades_sta_test.txt").read_text().splitlines()):
        video, start, end = line.split("##")[0].split()
        s, e = float(start), float(end)
        truth = vr.parse_ground_truth({"task": "tvg", "segment": [s, e], "duration": length[video]})
        past_end += e > length[video]
        rows.append(
            Prediction(i + 1, f"<think>t</think><answer>{start} to {end}</answer>", truth, "charades")
        )
    assert (len(rows), past_end) == (3720, 562)
    raw = evaluate_predictions(rows)["charades"]
    assert raw["R1@0.7"] == 100.0 and raw["mIoU"] == pytest.approx(100.0)
    # The first row, read by hand: 3MSZA 24.3 30.4 in a video of 30.96 s (ends inside).
    assert rows[0].ground_truth.segment == vr.Span(24.3, 30.4)  # type: ignore[attr-defined]
