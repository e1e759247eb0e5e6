"""The readers of each public annotation format, run through the converters' command lines on small files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import video_rewards as vr
from dataset_converters.formats import read_charades_sta

if TYPE_CHECKING:
    from conftest import ConverterCli


def test_activitynet_captions(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    ann = tmp_path / "val_1.json"
    ann.write_text(
        json.dumps(
            {
                "v_anet1": {
                    "duration": 8.0,
                    "timestamps": [[0.5, 3.0], [2.0, 7.5], [6.0, 12.0]],
                    "sentences": ["A man walks in.", " He sits.", "Ends past the video."],
                },
                "anet1": {
                    "duration": 8.0,
                    "timestamps": [[1.0, 2.0]],
                    "sentences": ["bare id finds v_anet1.mp4"],
                },
                "v_broken": {"duration": 8.0, "timestamps": [[1.0, 2.0]], "sentences": []},
                "v_untimed": {"duration": 8.0, "sentences": ["no timestamps at all"]},
                "v_missing": {"duration": 20.0, "timestamps": [[1.0, 2.0]], "sentences": ["no file"]},
            }
        )
    )
    out = tmp_path / "anet.parquet"
    assert (
        converter(
            "activitynet_captions",
            "--annotations",
            ann,
            "--video-root",
            video_root,
            "--output",
            out,
            "--index-offset",
            "1000",
        )
        == 0
    )
    rows = converter.rows(out)
    assert [r["extra_info"]["index"] for r in rows] == [1000, 1001, 1002, 1003]
    assert [r["extra_info"]["question"] for r in rows] == [
        "A man walks in.",
        "He sits.",
        "Ends past the video.",
        "bare id finds v_anet1.mp4",
    ]
    assert all(Path(r["videos"][0]["video"]).name == "v_anet1.mp4" for r in rows)
    assert json.loads(rows[1]["reward_model"]["ground_truth"]) == {
        "task": "tvg",
        "segment": [2.0, 7.5],
        "duration": 8.0,
    }
    assert json.loads(rows[2]["reward_model"]["ground_truth"])["segment"] == [6.0, 12.0]
    skipped = converter.skipped(out)
    assert [(s["source"], s["reason"]) for s in skipped] == [
        ("val_1.json['v_broken']", "malformed_row"),
        ("val_1.json['v_untimed']", "malformed_row"),
        ("val_1.json['v_missing'][0]", "missing_video"),
    ]
    assert "'timestamps' (1) and 'sentences' (0)" in skipped[0]["detail"]
    assert "entry has no 'timestamps' list" in skipped[1]["detail"]


NEXT_HEADER = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"


def test_nextgqa(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    csv = tmp_path / "test.csv"
    csv.write_text(
        NEXT_HEADER
        + "4242,150,64,48,why did the boy cry,fell down,3,CW,laughed,fell down,ran,ate,slept\n"
        + "4242,150,64,48,what did he do after,2,7,TN,sat,stood,jumped,waved,left\n"
        + "4242,150,64,48,no segment for this one,0,8,TN,a,b,c,d,e\n"
        + "4242,150,64,48,answer is not an option,flew,9,TN,a,b,c,d,e\n"
        + "4242,150,64,48,how is the baby feeling,happy,10,TC,sad,happy,calm,happy,tired\n"
    )
    gsub = tmp_path / "gsub_test.json"
    gsub.write_text(
        json.dumps(
            {
                "4242": {
                    "duration": 5,
                    "fps": 30,
                    "location": {
                        "3": [[1.0, 2.0], [3.0, 4.5]],
                        "7": [[-0.1, 1.5]],
                        "9": [[0, 1]],
                        "10": [[0, 1]],
                    },
                }
            }
        )
    )
    out = tmp_path / "nextgqa.parquet"
    base: list[str | Path] = [
        "--annotations",
        csv,
        "--gsub",
        gsub,
        "--video-root",
        video_root,
        "--output",
        out,
    ]
    assert converter("nextgqa", *base) == 0
    rows = converter.rows(out)
    truths = [json.loads(r["reward_model"]["ground_truth"]) for r in rows]
    assert truths[0] == {
        "task": "gqa",
        "answer": "B",
        "options": ["A. laughed", "B. fell down", "C. ran", "D. ate", "E. slept"],
        "segments": [[1.0, 2.0], [3.0, 4.5]],  # every gold moment (default)
        "duration": 5.0,
    }
    vr.parse_ground_truth(truths[0])
    assert truths[1]["answer"] == "C" and truths[1]["segment"] == [0.0, 1.5]  # -0.1 s clamped to 0
    assert "E. slept" in rows[0]["prompt"][0]["content"]
    skipped = converter.skipped(out)
    assert {s["source"]: s["reason"] for s in skipped} == {
        "test.csv:4": "missing_segment",
        "test.csv:5": "bad_answer_index",
        "test.csv:6": "ambiguous_answer",
    }
    assert "answer 'happy' is the text of options B and D" in skipped[2]["detail"]

    assert converter("nextgqa", *base, "--multi-segment", "span") == 0
    assert json.loads(converter.rows(out)[0]["reward_model"]["ground_truth"])["segment"] == [1.0, 4.5]
    assert converter("nextgqa", *base, "--multi-segment", "first") == 0
    assert json.loads(converter.rows(out)[0]["reward_model"]["ground_truth"])["segment"] == [1.0, 2.0]


def test_nextgqa_videochat_json_without_videos(tmp_path: Path, converter: ConverterCli) -> None:
    """VideoChat-R1's layout: a folder in ``video``, lettered options, ``(C)`` answers, ``glue`` moments."""
    ann = tmp_path / "nextgqa_test.json"
    ann.write_text(
        json.dumps(
            [
                {
                    "id": "2574374895_8",
                    "video": "1101/2574374895.mp4",
                    "question": "what did the baby do after throwing the green cup away",
                    "options": ["(A) clap proudly", "(B) the lady sitting down", "(C) lay on floor"],
                    "duration": 30,
                    "glue": [[23.0, 27.7], [28.0, 31.0]],
                    "type": "TN",
                    "answer": "(C)",
                }
            ]
        )
    )
    out = tmp_path / "ngqa.parquet"
    args = ["--annotations", ann, "--no-video-check", "--video-root", "/data/NExTVideo", "--output", out]
    assert converter("nextgqa", *args) == 0
    (row,) = converter.rows(out)
    assert json.loads(row["reward_model"]["ground_truth"]) == {
        "task": "gqa",
        "answer": "C",
        "options": ["A. clap proudly", "B. the lady sitting down", "C. lay on floor"],
        "segments": [[23.0, 27.7], [28.0, 31.0]],  # the second ends past the stated 30 s: kept
        "duration": 30.0,
    }
    assert row["videos"][0]["video"] == "/data/NExTVideo/1101/2574374895.mp4"  # written, not checked
    assert row["extra_info"]["video_id"] == "2574374895"
    assert converter.skipped(out) == []


def test_multiple_choice_csv_and_json(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    csv = tmp_path / "val.csv"
    csv.write_text(
        "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
        "4242,150,64,48,what is on the table,4,0,DO,cup,book,phone,box,ball\n"
        "4242,150,64,48,out of range,5,1,DO,cup,book,phone,box,ball\n"
    )
    out = tmp_path / "nextqa.parquet"
    assert (
        converter("multiple_choice", "--annotations", csv, "--video-root", video_root, "--output", out) == 0
    )
    (row,) = converter.rows(out)
    assert row["data_source"] == "nextqa"
    assert json.loads(row["reward_model"]["ground_truth"])["answer"] == "E"
    assert row["extra_info"]["duration"] is None  # a multiple-choice row needs none: the video is not opened
    assert [s["reason"] for s in converter.skipped(out)] == ["bad_answer_index"]

    js = tmp_path / "mcq.json"
    js.write_text(
        json.dumps(
            [
                {"video": "AAAAA", "question": "Which?", "options": ["x", "y"], "answer": 1},
                {"video": "AAAAA", "question": "No answer", "options": ["x"]},
                {
                    "video": "1001/4242.mp4",
                    "question": "Lettered",
                    "options": ["(A) p", "(B) q"],
                    "answer": "(B)",
                },
                {"video": "AAAAA", "question": "Dotted", "options": ["A. p", "B. q", "C. r"], "answer": "C"},
                {"video": "AAAAA", "question": "Text", "options": ["A. p", "B. q"], "answer": "q"},
                {"video": "AAAAA", "question": "Labelled text", "options": ["x", "y"], "answer": "(A) x"},
                {
                    "video": "AAAAA",
                    "question": "Twice",
                    "options": ["happy", "sad", "happy"],
                    "answer": "happy",
                },
                {
                    "video": "AAAAA",
                    "question": "Twice by index",
                    "options": ["happy", "sad", "happy"],
                    "answer": 2,
                },
            ]
        )
    )
    out2 = tmp_path / "mcq.parquet"
    assert (
        converter(
            "multiple_choice",
            "--annotations",
            js,
            "--video-root",
            video_root,
            "--output",
            out2,
            "--data-source",
            "my_mcq",
        )
        == 0
    )
    rows = converter.rows(out2)
    truths = [json.loads(r["reward_model"]["ground_truth"]) for r in rows]
    assert rows[0]["data_source"] == "my_mcq"
    assert [(r["extra_info"]["question"], t["answer"]) for r, t in zip(rows, truths, strict=True)] == [
        ("Which?", "B"),
        ("Lettered", "B"),
        ("Dotted", "C"),
        ("Text", "B"),
        ("Labelled text", "A"),
        ("Twice by index", "C"),
    ]
    assert truths[1]["options"] == ["A. p", "B. q"]  # not "A. (A) p"
    assert Path(rows[1]["videos"][0]["video"]) == (video_root / "1001" / "4242.mp4").resolve()
    skipped = converter.skipped(out2)
    assert [(s["source"], s["reason"]) for s in skipped] == [
        ("mcq.json[1]", "malformed_row"),
        ("mcq.json[6]", "ambiguous_answer"),
    ]
    assert "is the text of options A and C: the same option appears 2 times" in skipped[1]["detail"]


def test_every_converter_runs_without_videos(tmp_path: Path, converter: ConverterCli) -> None:
    """``--no-video-check``: no ``--video-root`` needed; grounding rows need a stated duration."""
    mcq = tmp_path / "val.csv"
    mcq.write_text(NEXT_HEADER + "4242,150,64,48,what is it,cup,0,DO,cup,book,phone,box,ball\n")
    out = tmp_path / "mcq.parquet"
    assert converter("multiple_choice", "--annotations", mcq, "--no-video-check", "--output", out) == 0
    (row,) = converter.rows(out)
    assert row["videos"][0]["video"] == "4242.mp4" and row["extra_info"]["duration"] is None

    sta = tmp_path / "charades_sta_test.txt"
    sta.write_text("AAAAA 1.0 2.0##stated length.\nCCCCC 1.0 2.0##no length anywhere.\n")
    table = tmp_path / "Charades_v1_test.csv"
    table.write_text("id,length\nAAAAA,30.5\n")
    out = tmp_path / "sta.parquet"
    args: list[str | Path] = ["--annotations", sta, "--no-video-check", "--output", out, "--durations", table]
    assert converter("charades_sta", *args) == 0
    (row,) = converter.rows(out)
    assert json.loads(row["reward_model"]["ground_truth"])["duration"] == 30.5
    (skip,) = converter.skipped(out)
    assert skip["reason"] == "no_duration" and "'CCCCC'" in skip["detail"]

    anet = tmp_path / "val_2.json"
    anet.write_text(json.dumps({"v_x": {"duration": 9.0, "timestamps": [[1, 2]], "sentences": ["s"]}}))
    out = tmp_path / "anet.parquet"
    assert converter("activitynet_captions", "--annotations", anet, "--no-video-check", "--output", out) == 0
    assert converter.rows(out)[0]["videos"][0]["video"] == "v_x.mp4"

    custom = tmp_path / "custom.jsonl"
    custom.write_text(
        json.dumps(
            {
                "video": "a/b.mp4",
                "question": "q",
                "ground_truth": {"task": "tvg", "segments": [[1, 2], [3, 4]], "duration": 9},
            }
        )
        + "\n"
    )
    out = tmp_path / "custom.parquet"
    assert converter("jsonl", "--annotations", custom, "--no-video-check", "--output", out) == 0
    assert json.loads(converter.rows(out)[0]["reward_model"]["ground_truth"])["segments"] == [[1, 2], [3, 4]]

    # Without --no-video-check the video root is required, and the message says how to go without.
    assert converter("charades_sta", "--annotations", sta, "--output", out) == 2


def test_charades_reads_the_json_copies_and_names_the_converter_for_others(
    tmp_path: Path, converter: ConverterCli
) -> None:
    timezero = tmp_path / "charades_test.json"
    timezero.write_text(
        json.dumps(
            {
                "3MSZA": {
                    "duration": 30.96,
                    "timestamps": [[24.3, 30.4], [24.3, 30.4]],
                    "sentences": [
                        "person turn a light on.",
                        "person flipped the light switch near the door.",
                    ],
                }
            }
        )
    )
    out = tmp_path / "sta.parquet"
    assert converter("charades_sta", "--annotations", timezero, "--no-video-check", "--output", out) == 0
    rows = converter.rows(out)
    assert [r["extra_info"]["source"] for r in rows] == [
        "charades_test.json['3MSZA'][0]",
        "charades_test.json['3MSZA'][1]",
    ]
    assert json.loads(rows[1]["reward_model"]["ground_truth"]) == {
        "task": "tvg",
        "segment": [24.3, 30.4],
        "duration": 30.96,
    }

    actions = tmp_path / "charades.json"
    actions.write_text(
        json.dumps({"7UPGT": {"subset": "training", "duration": 23.21, "actions": [[149, 16.0, 22.2]]}})
    )
    with pytest.raises(
        ValueError, match=r"Charades action labels .* convert charades_sta_\{train,test\}.txt"
    ):
        list(read_charades_sta(actions))
    gqa = tmp_path / "nextgqa_test.json"
    gqa.write_text(
        json.dumps([{"video": "1/2.mp4", "options": ["(A) x"], "glue": [[0, 1]], "answer": "(A)"}])
    )
    with pytest.raises(ValueError, match=r"convert it with recipes/data/nextgqa\.py"):
        list(read_charades_sta(gqa))


def test_generic_jsonl(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    lines = [
        {
            "video": "BBBBB.mp4",
            "question": "the square appears",
            "ground_truth": {"task": "tvg", "segment": [1.0, 2.0]},
        },
        {
            "video": "1001/4242.mp4",
            "prompt": "<video>\nPick one: A. cat B. dog. Answer <answer>X</answer>.",
            "ground_truth": {"task": "mcq", "answer": "B", "options": ["A. cat", "B. dog"]},
        },
        {"video": "AAAAA", "question": "nope", "ground_truth": {"task": "no_such_task"}},
        {
            "video": "AAAAA",
            "question": "Which?",
            "ground_truth": {"task": "mcq", "answer": "Z", "options": ["A. a", "B. b"]},
        },
    ]
    ann = tmp_path / "custom.jsonl"
    ann.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out = tmp_path / "custom.parquet"
    assert (
        converter(
            "jsonl",
            "--annotations",
            ann,
            "--video-root",
            video_root,
            "--output",
            out,
            "--data-source",
            "custom",
        )
        == 0
    )
    rows = converter.rows(out)
    assert len(rows) == 2
    truth = json.loads(rows[0]["reward_model"]["ground_truth"])
    assert truth["duration"] == pytest.approx(4.0, abs=0.3)  # filled from the video
    assert rows[1]["prompt"][0]["content"].startswith("<video>\nPick one")  # a given prompt is kept verbatim
    reasons = {s["source"]: s["reason"] for s in converter.skipped(out)}
    assert reasons["custom.jsonl:3"] == "malformed_row"  # unknown task and no prompt
    assert reasons["custom.jsonl:4"] == "invalid_ground_truth"
    assert reasons["custom.jsonl:5"] == "malformed_row"
