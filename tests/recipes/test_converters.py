"""The dataset converters, run as their command lines on small files written in each public format."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import pytest

import video_rewards as vr
from dataset_converters import (
    Annotation,
    CheckedMoments,
    ConvertConfig,
    VideoSettings,
    build_prompt,
    check_moments,
    convert,
    merge_parquets,
    probe_duration,
    read_duration_table,
    row_schema,
    skipped_path,
    write_parquet,
)


def test_charades_sta(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
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
    code = converter(
        "charades_sta",
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
    rows = converter.rows(out)
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2]
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
    # The gold moment past the 6 s video is kept as annotated (the published protocol scores it raw).
    past = json.loads(rows[2]["reward_model"]["ground_truth"])
    assert past["segment"] == [4.0, 9.5] and past["duration"] == pytest.approx(6.0, abs=0.3)
    vr.parse_ground_truth(past)

    skipped = {s["source"]: s["reason"] for s in converter.skipped(out)}
    assert skipped == {
        "charades_sta_test.txt:5": "missing_video",
        "charades_sta_test.txt:6": "bad_segment",
        "charades_sta_test.txt:7": "malformed_row",
    }
    # The indices of skipped rows are not reused: index = position in the annotation file.
    assert [s["ordinal"] for s in converter.skipped(out)] == [3, 4, 5]


if TYPE_CHECKING:
    from conftest import ConverterCli


def test_charades_duration_table_and_tolerance(
    video_root: Path, tmp_path: Path, converter: ConverterCli, caplog: pytest.LogCaptureFixture
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

    def segments() -> list[list[float]]:
        return [json.loads(r["reward_model"]["ground_truth"])["segment"] for r in converter.rows(out)]

    # Default: kept as annotated, and counted in the summary.
    with caplog.at_level(logging.INFO):
        assert converter("charades_sta", *args) == 0
    assert segments() == [[4.0, 6.4], [1.0, 2.0]]
    assert "kept         1  rows with a gold end past the video's duration (kept as annotated)" in caplog.text
    assert [r["extra_info"]["duration"] for r in converter.rows(out)] == [6.0, 30.0]  # the table wins

    assert converter("charades_sta", *args, "--segment-tolerance", "0.5") == 0
    assert segments() == [[4.0, 6.0], [1.0, 2.0]]  # clipped within the tolerance

    assert converter("charades_sta", *args, "--segment-tolerance", "0") == 0
    (skip,) = converter.skipped(out)
    assert skip["reason"] == "segment_outside_video"
    assert "ends 0.40000000000000036 s past the video (duration 6.0 s" in skip["detail"]


def test_float_noise_is_not_past_the_end_and_messages_show_every_digit() -> None:
    # ActivityNet: end 70.29 against a duration stored as 70.28999999999999.
    checked = check_moments([(1.0, 70.29)], 70.28999999999999, 0.0)
    assert isinstance(checked, CheckedMoments)
    assert checked.moments == ((1.0, 70.28999999999999),) and checked.notes == {"clipped_to_duration"}
    kept = check_moments([(1.0, 70.29)], 70.28999999999999, None)
    assert isinstance(kept, CheckedMoments) and kept.moments == ((1.0, 70.29),) and not kept.notes
    # Past the end by more than noise, with a tolerance: the message tells the two values apart.
    assert check_moments([(1.0, 70.3)], 70.28999999999999, 0.0) == (
        "segment_outside_video",
        "gold moment [1.0, 70.3] ends 0.010000000000005116 s past the video (duration 70.28999999999999 s, "
        "--segment-tolerance 0.0 s)",
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ((-0.1, 11.0), ((0.0, 11.0), {"start_clamped"})),  # NExT-GQA test.csv:172
        ((-0.2, 24.9), ((0.0, 24.9), {"start_clamped"})),  # NExT-GQA test.csv:3855
        ((-0.6, 3.0), ("bad_segment", "gold moment [-0.6, 3.0] starts more than 0.5 s before the video")),
        ((-0.3, -0.1), ("bad_segment", "gold moment [-0.3, -0.1] must satisfy start < end")),
        (
            (30.0, 31.0),
            ("segment_outside_video", "gold moment [30.0, 31.0] starts at or after the video's end (30.0 s)"),
        ),
        ((5.0, 5.0), ("bad_segment", "gold moment [5.0, 5.0] must satisfy start < end")),
    ],
)
def test_gold_moment_checks(moment: tuple[float, float], expected: tuple[Any, Any]) -> None:
    checked = check_moments([moment], 30.0, None)
    if isinstance(checked, CheckedMoments):
        assert (checked.moments[0], set(checked.notes)) == expected
    else:
        assert checked == expected


def test_nothing_kept_is_an_error(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("ZZZZZ 1.0 2.0##no such video.\n")
    out = tmp_path / "out.parquet"
    assert converter("charades_sta", "--annotations", ann, "--video-root", video_root, "--output", out) == 2
    assert not out.exists()
    assert [s["reason"] for s in converter.skipped(out)] == ["missing_video"]  # the reasons are still on disk


def test_skipped_file_is_written_when_nothing_is_skipped(
    video_root: Path, tmp_path: Path, converter: ConverterCli
) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("AAAAA 1.0 2.0##fine.\n")
    out = tmp_path / "out.parquet"
    skipped_path(out).write_text('{"stale": "from an earlier run"}\n')
    args = ["--annotations", ann, "--video-root", video_root, "--output", out]
    assert converter("charades_sta", *args) == 0
    assert skipped_path(out).read_text() == ""


def test_strict_fails_at_first_skip(video_root: Path, tmp_path: Path, converter: ConverterCli) -> None:
    ann = tmp_path / "charades_sta_test.txt"
    ann.write_text("AAAAA 1.0 2.0##fine.\nZZZZZ 1.0 2.0##no such video.\n")
    out = tmp_path / "out.parquet"
    args: list[str | Path] = ["--annotations", ann, "--video-root", video_root, "--output", out, "--strict"]
    assert converter("charades_sta", *args) == 2
    assert not out.exists()
    assert [s["source"] for s in converter.skipped(out)] == ["charades_sta_test.txt:2"]


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
    assert [r["data_source"] for r in pq.read_table(tmp_path / "pool.parquet").to_pylist()] == ["a", "b"]
    with pytest.raises(ValueError, match=r"extra_info.index 0 is also in .*a.parquet"):
        merge_parquets([a, clash], tmp_path / "bad.parquet")


def test_same_video_id_in_two_directories_is_ambiguous(tmp_path: Path) -> None:
    from rlt_tools.tiny_clips import make_clip

    make_clip(tmp_path / "x" / "dup.mp4", seconds=1.0, fps=4)
    make_clip(tmp_path / "y" / "dup.mp4", seconds=1.0, fps=4)
    anns = [Annotation("a:1", 0, "dup", "tvg", "q", segment=(0.0, 0.5))]
    result = convert(anns, ConvertConfig(data_source="x", video_root=tmp_path))
    assert [s.reason for s in result.skipped] == ["ambiguous_video"]
