"""The dataset converters, run as their command lines on small files written in each public format."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import video_rewards as vr
from video_rlt.convert import (
    Annotation,
    ConvertConfig,
    VideoSettings,
    build_prompt,
    convert,
    merge_parquets,
    probe_duration,
    read_duration_table,
    row_schema,
    skipped_path,
    write_parquet,
)

ROOT = Path(__file__).resolve().parents[2]
CONVERTERS = ROOT / "recipes" / "data"


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real mp4 files: ``AAAAA`` 6 s, ``BBBBB`` 4 s (Charades ids), ``v_anet1`` 8 s (ActivityNet's
    ``v_`` prefix), ``1001/4242`` 5 s (NExT's nested layout)."""
    from video_rlt.tiny import make_clip

    root = tmp_path_factory.mktemp("videos")
    make_clip(root / "AAAAA.mp4", seconds=6.0, fps=4)
    make_clip(root / "BBBBB.mp4", seconds=4.0, fps=4)
    make_clip(root / "v_anet1.mp4", seconds=8.0, fps=4)
    make_clip(root / "1001" / "4242.mp4", seconds=5.0, fps=4)
    return root


def run_converter(name: str, monkeypatch: pytest.MonkeyPatch, *args: str | Path) -> int:
    """Run ``recipes/data/<name>.py`` as ``__main__`` in this process (the real CLI, no subprocess)."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(CONVERTERS / f"{name}.py"), run_name="__main__")
    code = exit_info.value.code
    return int(code) if code is not None else 0


def read_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def read_skipped(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in skipped_path(output).read_text().splitlines()]


def test_charades_sta(video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text(
        "AAAAA 1.5 3.0##person opens the door.\n"
        "BBBBB 0.0 2.5##a person sits down.\n"
        "\n"
        "AAAAA 4.0 9.5##ends past the video.\n"
        "ZZZZZ 1.0 2.0##no such video.\n"
        "BBBBB 3.0 1.0##reversed.\n"
        "BBBBB one 2.0##not a number.\n"
    )
    out = tmp_path / "charades.parquet"
    code = run_converter(
        "charades_sta",
        monkeypatch,
        "--annotations",
        ann,
        "--video-root",
        video_root,
        "--output",
        out,
        "--split",
        "test",
    )
    assert code == 0
    rows = read_rows(out)
    assert [r["extra_info"]["index"] for r in rows] == [0, 1]
    first = rows[0]
    assert first["data_source"] == "charades_sta"
    assert first["prompt"][0]["role"] == "user" and first["prompt"][0]["content"].startswith("<video>\n")
    assert "person opens the door." in first["prompt"][0]["content"]
    assert first["reward_model"]["style"] == "rule"
    truth = json.loads(first["reward_model"]["ground_truth"])
    assert truth["task"] == "tvg" and truth["segment"] == [1.5, 3.0]
    assert truth["duration"] == pytest.approx(6.0, abs=0.3)  # read from the container, not decoded
    assert first["extra_info"]["duration"] == truth["duration"]
    assert first["extra_info"]["uid"] == "charades_sta/test/0"
    assert first["extra_info"]["source"] == "charades_sta_test.txt:1"
    video = first["videos"][0]
    assert Path(video["video"]) == (video_root / "AAAAA.mp4").resolve()
    assert {k: v for k, v in video.items() if k != "video"} == VideoSettings().model_dump()
    vr.parse_ground_truth(first["reward_model"]["ground_truth"])

    skipped = {s["source"]: s["reason"] for s in read_skipped(out)}
    assert skipped == {
        "charades_sta_test.txt:4": "segment_outside_video",
        "charades_sta_test.txt:5": "missing_video",
        "charades_sta_test.txt:6": "bad_segment",
        "charades_sta_test.txt:7": "malformed_row",
    }
    # The indices of skipped rows are not reused: index = position in the annotation file.
    assert [s["ordinal"] for s in read_skipped(out)] == [2, 3, 4, 5]


def test_charades_duration_table_and_tolerance(
    video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = tmp_path / "charades_sta_train.txt"
    ann.write_text("AAAAA 4.0 6.4##ends 0.4 s past the stated length.\nBBBBB 1.0 2.0##inside.\n")
    table = tmp_path / "Charades_v1_train.csv"
    table.write_text("id,subject,length\nAAAAA,x,6.0\nBBBBB,y,30.0\n")
    out = tmp_path / "charades.parquet"
    args: list[str | Path] = [
        "--annotations",
        ann,
        "--video-root",
        video_root,
        "--output",
        out,
        "--durations",
        table,
    ]
    assert run_converter("charades_sta", monkeypatch, *args, "--segment-tolerance", "0.5") == 0
    rows = read_rows(out)
    assert [json.loads(r["reward_model"]["ground_truth"])["segment"] for r in rows] == [
        [4.0, 6.0],
        [1.0, 2.0],
    ]
    assert [r["extra_info"]["duration"] for r in rows] == [6.0, 30.0]  # the table wins over the container

    assert run_converter("charades_sta", monkeypatch, *args) == 0
    assert [s["reason"] for s in read_skipped(out)] == ["segment_outside_video"]


def test_activitynet_captions(video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = tmp_path / "val_1.json"
    ann.write_text(
        json.dumps(
            {
                "v_anet1": {
                    "duration": 8.0,
                    "timestamps": [[0.5, 3.0], [2.0, 7.5], [6.0, 12.0]],
                    "sentences": ["A man walks in.", " He sits.", "Too late."],
                },
                "anet1": {
                    "duration": 8.0,
                    "timestamps": [[1.0, 2.0]],
                    "sentences": ["bare id finds v_anet1.mp4"],
                },
                "v_broken": {"duration": 8.0, "timestamps": [[1.0, 2.0]], "sentences": []},
                "v_missing": {"duration": 20.0, "timestamps": [[1.0, 2.0]], "sentences": ["no file"]},
            }
        )
    )
    out = tmp_path / "anet.parquet"
    assert (
        run_converter(
            "activitynet_captions",
            monkeypatch,
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
    rows = read_rows(out)
    assert [r["extra_info"]["index"] for r in rows] == [1000, 1001, 1003]
    assert [r["extra_info"]["question"] for r in rows] == [
        "A man walks in.",
        "He sits.",
        "bare id finds v_anet1.mp4",
    ]
    assert all(Path(r["videos"][0]["video"]).name == "v_anet1.mp4" for r in rows)
    assert json.loads(rows[1]["reward_model"]["ground_truth"]) == {
        "task": "tvg",
        "segment": [2.0, 7.5],
        "duration": 8.0,
    }
    assert {s["source"]: s["reason"] for s in read_skipped(out)} == {
        "val_1.json['v_anet1'][2]": "segment_outside_video",
        "val_1.json['v_broken'][0]": "malformed_row",
        "val_1.json['v_missing'][0]": "missing_video",
    }


NEXT_HEADER = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"


def test_nextgqa(video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = tmp_path / "test.csv"
    csv.write_text(
        NEXT_HEADER
        + "4242,150,64,48,why did the boy cry,fell down,3,CW,laughed,fell down,ran,ate,slept\n"
        + "4242,150,64,48,what did he do after,2,7,TN,sat,stood,jumped,waved,left\n"
        + "4242,150,64,48,no segment for this one,0,8,TN,a,b,c,d,e\n"
        + "4242,150,64,48,answer is not an option,flew,9,TN,a,b,c,d,e\n"
    )
    gsub = tmp_path / "gsub_test.json"
    gsub.write_text(
        json.dumps(
            {
                "4242": {
                    "duration": 5.0,
                    "fps": 30,
                    "location": {"3": [[1.0, 2.0], [3.0, 4.5]], "7": [[0.5, 1.5]], "9": [[0, 1]]},
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
    assert run_converter("nextgqa", monkeypatch, *base) == 0
    rows = read_rows(out)
    truths = [json.loads(r["reward_model"]["ground_truth"]) for r in rows]
    assert truths[0] == {
        "task": "gqa",
        "answer": "B",
        "options": ["A. laughed", "B. fell down", "C. ran", "D. ate", "E. slept"],
        "segment": [1.0, 4.5],  # --multi-segment span (default)
        "duration": 5.0,
    }
    assert truths[1]["answer"] == "C" and truths[1]["segment"] == [0.5, 1.5]
    assert "E. slept" in rows[0]["prompt"][0]["content"]
    assert {s["source"]: s["reason"] for s in read_skipped(out)} == {
        "test.csv:4": "missing_segment",
        "test.csv:5": "bad_answer_index",
    }

    assert run_converter("nextgqa", monkeypatch, *base, "--multi-segment", "first") == 0
    assert json.loads(read_rows(out)[0]["reward_model"]["ground_truth"])["segment"] == [1.0, 2.0]


def test_multiple_choice_csv_and_json(
    video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = tmp_path / "val.csv"
    csv.write_text(
        "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
        "4242,150,64,48,what is on the table,4,0,DO,cup,book,phone,box,ball\n"
        "4242,150,64,48,out of range,5,1,DO,cup,book,phone,box,ball\n"
    )
    out = tmp_path / "nextqa.parquet"
    assert (
        run_converter(
            "multiple_choice", monkeypatch, "--annotations", csv, "--video-root", video_root, "--output", out
        )
        == 0
    )
    (row,) = read_rows(out)
    assert row["data_source"] == "nextqa"
    assert json.loads(row["reward_model"]["ground_truth"])["answer"] == "E"
    assert [s["reason"] for s in read_skipped(out)] == ["bad_answer_index"]

    js = tmp_path / "mcq.json"
    js.write_text(
        json.dumps(
            [
                {"video": "AAAAA", "question": "Which?", "options": ["x", "y"], "answer": 1},
                {"video": "AAAAA", "question": "No answer", "options": ["x"]},
            ]
        )
    )
    out2 = tmp_path / "mcq.parquet"
    assert (
        run_converter(
            "multiple_choice",
            monkeypatch,
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
    (row2,) = read_rows(out2)
    assert (
        row2["data_source"] == "my_mcq" and json.loads(row2["reward_model"]["ground_truth"])["answer"] == "B"
    )
    assert [(s["source"], s["reason"]) for s in read_skipped(out2)] == [("mcq.json[1]", "malformed_row")]


def test_generic_jsonl(video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
        run_converter(
            "jsonl",
            monkeypatch,
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
    rows = read_rows(out)
    assert len(rows) == 2
    truth = json.loads(rows[0]["reward_model"]["ground_truth"])
    assert truth["duration"] == pytest.approx(4.0, abs=0.3)  # filled from the video
    assert rows[1]["prompt"][0]["content"].startswith("<video>\nPick one")  # a given prompt is kept verbatim
    reasons = {s["source"]: s["reason"] for s in read_skipped(out)}
    assert reasons["custom.jsonl:3"] == "malformed_row"  # unknown task and no prompt
    assert reasons["custom.jsonl:4"] == "invalid_ground_truth"
    assert reasons["custom.jsonl:5"] == "malformed_row"


def test_nothing_kept_is_an_error(video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("ZZZZZ 1.0 2.0##no such video.\n")
    out = tmp_path / "out.parquet"
    assert (
        run_converter(
            "charades_sta", monkeypatch, "--annotations", ann, "--video-root", video_root, "--output", out
        )
        == 2
    )
    assert not out.exists()


def test_strict_fails_at_first_skip(
    video_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("AAAAA 1.0 2.0##fine.\nZZZZZ 1.0 2.0##no such video.\n")
    out = tmp_path / "out.parquet"
    args: list[str | Path] = ["--annotations", ann, "--video-root", video_root, "--output", out, "--strict"]
    assert run_converter("charades_sta", monkeypatch, *args) == 2
    assert not out.exists()


def test_every_task_prompt_states_a_format_the_reward_parses() -> None:
    """A reply written exactly like each instruction's example scores full marks on a matching truth."""
    cases: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
        "tvg": ({"task": "tvg", "segment": [4.5, 9.0], "duration": 20.0}, ()),
        "mcq": ({"task": "mcq", "answer": "B", "options": ["A. x", "B. y"]}, ("x", "y")),
        "gqa": (
            {
                "task": "gqa",
                "answer": "B",
                "options": ["A. x", "B. y"],
                "segment": [4.5, 9.0],
                "duration": 20.0,
            },
            ("x", "y"),
        ),
    }
    for task, (truth, options) in cases.items():
        prompt = build_prompt(task, "q", options)
        example = prompt[prompt.rindex("Example: ") + len("Example: ") :].replace(
            "...", "the square is visible"
        )
        result = vr.score(example, truth)
        assert result.format == 1.0, (task, example, result)
        assert result.failure is None, (task, result)
        if result.accuracy is not None:
            assert result.accuracy == 1.0, (task, result)
        if result.iou is not None:
            assert result.iou == pytest.approx(1.0), (task, result)


def test_parquets_of_every_task_concatenate(video_root: Path, tmp_path: Path) -> None:
    """One schema for every task: files from different converters concatenate (verl reads a file list)."""
    import pyarrow as pa

    anns = [
        Annotation("a:1", 0, "AAAAA", "tvg", "q", segment=(1.0, 2.0)),
        Annotation("a:2", 1, "4242", "mcq", "q", options=("x", "y"), answer_index=0),
        Annotation("a:3", 2, "4242", "gqa", "q", options=("x", "y"), answer_index=1, segment=(0.0, 1.0)),
    ]
    result = convert(anns, ConvertConfig(data_source="mix", video_root=video_root))
    assert len(result.rows) == 3 and not result.skipped
    table = pa.Table.from_pylist(result.rows, schema=row_schema())
    assert table.schema == row_schema()
    import datasets

    path = tmp_path / "mix.parquet"
    pq.write_table(table, path)
    loaded = datasets.load_dataset("parquet", data_files=str(path))["train"]
    assert loaded[2]["videos"][0]["fps"] == 2.0
    assert loaded[1]["extra_info"]["task"] == "mcq"


def test_duplicate_indices_are_an_error(video_root: Path) -> None:
    anns = [
        Annotation("a:1", 0, "AAAAA", "tvg", "q", segment=(1.0, 2.0)),
        Annotation("b:1", 0, "AAAAA", "tvg", "q", segment=(1.0, 2.0)),
    ]
    with pytest.raises(ValueError, match="index 0 already used by a:1"):
        convert(anns, ConvertConfig(data_source="x", video_root=video_root))


def test_probe_duration_reads_metadata(video_root: Path, tmp_path: Path) -> None:
    assert probe_duration(video_root / "v_anet1.mp4") == pytest.approx(8.0, abs=0.3)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(Exception):  # noqa: B017 - PyAV's own error classes
        probe_duration(broken)


def test_duration_table_errors_name_the_row(tmp_path: Path) -> None:
    table = tmp_path / "durations.csv"
    table.write_text("video_id,duration\na,3.5\nb,oops\n")
    with pytest.raises(ValueError, match=r"durations.csv:3 column 'duration': 'oops'"):
        read_duration_table(table)
    js = tmp_path / "d.json"
    js.write_text('{"a": 2.0}')
    assert read_duration_table(js) == {"a": 2.0}


def test_merge_keeps_indices_unique(video_root: Path, tmp_path: Path) -> None:
    def converted(name: str, offset: int) -> Path:
        anns = [Annotation(f"{name}:1", 0, "AAAAA", "tvg", "q", segment=(1.0, 2.0))]
        result = convert(anns, ConvertConfig(data_source=name, video_root=video_root, index_offset=offset))
        path = tmp_path / f"{name}.parquet"
        write_parquet(result.rows, path)
        return path

    a, b, clash = converted("a", 0), converted("b", 100), converted("c", 0)
    assert merge_parquets([a, b], tmp_path / "pool.parquet") == 2
    assert [r["data_source"] for r in read_rows(tmp_path / "pool.parquet")] == ["a", "b"]
    with pytest.raises(ValueError, match=r"extra_info.index 0 is also in .*a.parquet"):
        merge_parquets([a, clash], tmp_path / "bad.parquet")


def test_same_video_id_in_two_directories_is_ambiguous(tmp_path: Path) -> None:
    from video_rlt.tiny import make_clip

    make_clip(tmp_path / "x" / "dup.mp4", seconds=1.0, fps=4)
    make_clip(tmp_path / "y" / "dup.mp4", seconds=1.0, fps=4)
    anns = [Annotation("a:1", 0, "dup", "tvg", "q", segment=(0.0, 0.5))]
    result = convert(anns, ConvertConfig(data_source="x", video_root=tmp_path))
    assert [s.reason for s in result.skipped] == ["ambiguous_video"]
