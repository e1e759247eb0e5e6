"""The converters on the real public annotation files, read in place from ``<repo>/../shared/realdata``.

Every expected count and value below was written by reading the files (line numbers are the files' own,
1-based; csv line 1 is the header), not taken from the converter: Charades-STA test has 3,720 lines, 562 of
them ending past the ``Charades_v1_test.csv`` length; train has 12,408 lines, four of them reversed; the
ActivityNet Captions validation files have no defect at all; NExT-GQA test has 5,553 questions, 591 with
several gold moments, 36 starting at -0.1 / -0.2 s, and one whose text answer names a duplicated option.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dataset_converters import Annotation, ConversionResult, ConvertConfig, Skip, convert, read_duration_table
from dataset_converters.formats import (
    read_activitynet_captions,
    read_charades_sta,
    read_multiple_choice,
    read_nextgqa,
)

if TYPE_CHECKING:
    from conftest import ConverterCli

ANNOTATIONS = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "annotations"
pytestmark = pytest.mark.skipif(
    not ANNOTATIONS.is_dir(), reason=f"real annotation files not present at {ANNOTATIONS}"
)
CHARADES, ANET, NEXTGQA, NEXTQA = (
    ANNOTATIONS / "charades_sta",
    ANNOTATIONS / "activitynet_captions",
    ANNOTATIONS / "nextgqa",
    ANNOTATIONS / "nextqa",
)


def without_videos(records: Iterable[Annotation | Skip], durations: Path | None = None) -> ConversionResult:
    table = read_duration_table(durations) if durations is not None else None
    return convert(records, ConvertConfig(data_source="real", video_check=False, durations=table))


def truth(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(row["reward_model"]["ground_truth"]))


def by_source(result: ConversionResult) -> dict[str, dict[str, Any]]:
    return {row["extra_info"]["source"]: row for row in result.rows}


def skips(result: ConversionResult) -> list[tuple[str, str]]:
    return [(s.source, s.reason) for s in result.skipped]


# --- Charades-STA -------------------------------------------------------------------------------------


def test_charades_sta_test_keeps_all_3720(tmp_path: Path, converter: ConverterCli) -> None:
    out = tmp_path / "charades_test.parquet"
    args = [
        "--annotations",
        CHARADES / "charades_sta_test.txt",
        "--durations",
        CHARADES / "Charades_v1_test.csv",
    ]
    assert converter("charades_sta", *args, "--no-video-check", "--output", out, "--split", "test") == 0
    rows = converter.rows(out)
    assert len(rows) == 3720 and converter.skipped(out) == []
    truths = [truth(r) for r in rows]
    assert sum(t["segment"][1] > t["duration"] for t in truths) == 562  # kept as annotated
    # Line 1: "3MSZA 24.3 30.4##person turn a light on."; Charades_v1_test.csv gives 3MSZA length 30.96.
    assert truths[0] == {"task": "tvg", "segment": [24.3, 30.4], "duration": 30.96}
    assert rows[0]["extra_info"]["question"] == "person turn a light on."
    assert rows[0]["extra_info"]["source"] == "charades_sta_test.txt:1"
    assert rows[0]["videos"][0]["video"] == "3MSZA.mp4"


def test_charades_sta_train_skips_only_the_four_reversed_lines() -> None:
    result = without_videos(
        read_charades_sta(CHARADES / "charades_sta_train.txt"), CHARADES / "Charades_v1_train.csv"
    )
    assert len(result.rows) == 12404
    # 8252 "LEOL6 8.0 7.0", 8440 "IOL8Q 20.9 12.0", 9623 / 9624 "AKKWU 38.0 13.0": start after end.
    assert skips(result) == [
        (f"charades_sta_train.txt:{line}", "bad_segment") for line in (8252, 8440, 9623, 9624)
    ]
    assert result.notes["end_past_video"] == 1802
    # Line 1: "AO8RW 0.0 6.9##a person is putting a book on a shelf."; length 33.67.
    first = by_source(result)["charades_sta_train.txt:1"]
    assert truth(first) == {"task": "tvg", "segment": [0.0, 6.9], "duration": 33.67}


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("timezero/dataset_charades-sta_charades_test.json", 3720),
        ("timezero/Charades_charades_annotation_val.json", 3720),
        ("videochat_r1/charades_test.json", 3720),
        ("timezero/Charades_charades_annotation_train.json", 12404),
    ],
)
def test_charades_sta_json_copies(name: str, kept: int) -> None:
    result = without_videos(read_charades_sta(CHARADES / name))
    assert len(result.rows) == kept
    if kept == 12404:  # the same four reversed annotations, keyed by video
        assert [s.source.split("[")[1] for s in result.skipped] == [
            "'LEOL6']",
            "'IOL8Q']",
            "'AKKWU']",
            "'AKKWU']",
        ]
    else:
        assert result.skipped == []
    if "test" in name or "val" in name:
        file = Path(name).name
        assert truth(by_source(result)[f"{file}['3MSZA'][1]"]) == {
            "task": "tvg",
            "segment": [24.3, 30.4],
            "duration": 30.96,
        }
        assert by_source(result)[f"{file}['3MSZA'][1]"]["extra_info"]["question"] == (
            "person flipped the light switch near the door."
        )


def test_charades_action_labels_are_named_not_converted() -> None:
    with pytest.raises(ValueError, match=r"Charades action labels .*charades_sta_\{train,test\}\.txt"):
        list(read_charades_sta(CHARADES / "vslnet_charades.json"))


# --- ActivityNet Captions -----------------------------------------------------------------------------


def test_activitynet_val_1_keeps_every_sentence() -> None:
    result = without_videos(read_activitynet_captions(ANET / "val_1.json"))
    assert (len(result.rows), result.skipped) == (17505, [])
    rows = by_source(result)
    # The five ends past the stated duration by 0.01 s (not float noise): kept as annotated.
    past = {
        "v_EGLJPCJnG64": (4, [29.61, 89.72], 89.71000000000001),
        "v_spZ_RrpyNJw": (3, [10.65, 112.13], 112.12),
        "v_wN2XnDS0aGc": (2, [8.16, 23.31], 23.3),
        "v_M_E1i4S8Vp0": (1, [10.64, 101.36], 101.35),
        "v_-sd2XAFkeC0": (3, [213.37, 230.67], 230.66),
    }
    for video, (k, segment, duration) in past.items():
        assert truth(rows[f"val_1.json[{video!r}][{k}]"]) == {
            "task": "tvg",
            "segment": segment,
            "duration": duration,
        }
    assert result.notes["end_past_video"] == 5
    second = rows["val_1.json['v_uqiMw7tQ1Cc'][1]"]
    assert truth(second) == {"task": "tvg", "segment": [13.79, 54.32], "duration": 55.15}
    assert second["extra_info"]["question"] == (
        "The coach helps the guy in red with the proper body placement and lifting technique."
    )


def test_activitynet_val_2_keeps_every_sentence() -> None:
    result = without_videos(read_activitynet_captions(ANET / "val_2.json"))
    assert (len(result.rows), result.skipped) == (17031, [])
    assert result.notes["end_past_video"] == 1
    row = by_source(result)["val_2.json['v_tXuNa_h804c'][9]"]
    assert truth(row) == {"task": "tvg", "segment": [202.05, 234.94], "duration": 234.93}
    first = by_source(result)["val_2.json['v_uqiMw7tQ1Cc'][0]"]
    assert truth(first) == {"task": "tvg", "segment": [0, 4.14], "duration": 55.15}


@pytest.mark.slow
def test_activitynet_train_skips_only_empty_and_reversed_moments() -> None:
    result = without_videos(read_activitynet_captions(ANET / "train.json"))
    assert len(result.rows) == 37417
    assert [(s.source, s.reason, s.detail) for s in result.skipped] == [
        (
            "train.json['v_N7ppHQNikv8'][2]",
            "bad_segment",
            "gold moment [34.77, 34.77] must satisfy start < end",
        ),
        (
            "train.json['v_4rKTw99bM8g'][1]",
            "bad_segment",
            "gold moment [4.97, 4.97] must satisfy start < end",
        ),
        (
            "train.json['v_0bosp4-pyTM'][3]",
            "bad_segment",
            "gold moment [61.29, 60.71] must satisfy start < end",
        ),
        (
            "train.json['v_rhOtqArO-3Y'][5]",
            "bad_segment",
            "gold moment [173.44, 150.31] must satisfy start < end",
        ),
    ]


# --- NExT-GQA -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nextgqa_test() -> ConversionResult:
    return without_videos(read_nextgqa(NEXTGQA / "test.csv", NEXTGQA / "gsub_test.json"))


def test_nextgqa_test_keeps_5552_of_5553(nextgqa_test: ConversionResult) -> None:
    assert len(nextgqa_test.rows) == 5552
    (skip,) = nextgqa_test.skipped
    # Line 3086: answer "happy"; options a3 and a4 are both "happy".
    assert (skip.source, skip.reason) == ("test.csv:3086", "ambiguous_answer")
    assert "answer 'happy' is the text of options D and E" in skip.detail
    assert nextgqa_test.notes["start_clamped"] == 36  # 31 rows at -0.1 s, 5 at -0.2 s


def test_nextgqa_test_keeps_every_gold_moment(nextgqa_test: ConversionResult) -> None:
    gsub = json.loads((NEXTGQA / "gsub_test.json").read_text())
    with (NEXTGQA / "test.csv").open(newline="") as fh:
        questions = {f"test.csv:{i + 2}": row for i, row in enumerate(csv.DictReader(fh))}
    multi = 0
    for source, row in by_source(nextgqa_test).items():
        q = questions[source]
        gold = [[max(s, 0.0), e] for s, e in gsub[q["video_id"]]["location"][q["qid"]]]
        t = truth(row)
        assert t.get("segments", [t.get("segment")]) == gold, source
        multi += len(gold) > 1
    assert multi == 591


def test_nextgqa_hand_checked_rows(nextgqa_test: ConversionResult) -> None:
    rows = by_source(nextgqa_test)
    # Line 2: video 2574374895 qid 8, answer "lay on floor" (a2); gsub: [[23.0, 27.7]], duration 30.
    assert truth(rows["test.csv:2"]) == {
        "task": "gqa",
        "answer": "C",
        "options": [
            "A. clap proudly",
            "B. the lady sitting down",
            "C. lay on floor",
            "D. just picked it up",
            "E. crawl",
        ],
        "segment": [23.0, 27.7],
        "duration": 30,
    }
    # Line 172: 4152556613 qid 0, "distracted by dog" (a4); gsub [[-0.1, 11.0]], duration 63.
    t = truth(rows["test.csv:172"])
    assert (t["answer"], t["segment"], t["duration"]) == ("E", [0.0, 11.0], 63)
    # Line 3855: 4032969415 qid 3, "keep the beat" (a1); three moments, the first from -0.2 s.
    t = truth(rows["test.csv:3855"])
    assert (t["answer"], t["segments"], t["duration"]) == ("B", [[0.0, 24.9], [46.6, 58.7], [82.8, 87.3]], 90)
    assert "segment" not in t


def test_nextgqa_val_and_videochat_copy() -> None:
    val = without_videos(read_nextgqa(NEXTGQA / "val.csv", NEXTGQA / "gsub_val.json"))
    assert (len(val.rows), val.skipped) == (3358, [])
    # VideoChat-R1's copy writes the duplicated-option question's answer as a letter: "(E)".
    videochat = without_videos(read_nextgqa(NEXTGQA / "videochat_r1" / "nextgqa_test.json"))
    assert (len(videochat.rows), videochat.skipped) == (5553, [])
    happy = [
        r for r in videochat.rows if r["extra_info"]["question"].startswith("how is the baby feeling as the")
    ]
    assert [truth(r)["answer"] for r in happy] == ["E"]
    assert happy[0]["videos"][0]["video"] == "1160/3842638015.mp4"


# --- NExT-QA ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kept", "skipped"),
    [
        # Answers as text: lines 4773 ("happy": a3 = a4) and 6187 ("three": a0 = a4) name two options.
        ("test.csv", 8562, [("test.csv:4773", "ambiguous_answer"), ("test.csv:6187", "ambiguous_answer")]),
        ("val.csv", 4996, []),
        ("orig/test.csv", 8564, []),  # answers as indices: the same two questions are unambiguous
        ("orig/val.csv", 4996, []),
    ],
)
def test_nextqa_converts_without_videos_or_durations(
    name: str, kept: int, skipped: list[tuple[str, str]], tmp_path: Path, converter: ConverterCli
) -> None:
    out = tmp_path / "nextqa.parquet"
    assert (
        converter("multiple_choice", "--annotations", NEXTQA / name, "--no-video-check", "--output", out) == 0
    )
    rows = converter.rows(out)
    assert len(rows) == kept
    assert [(s["source"], s["reason"]) for s in converter.skipped(out)] == skipped
    assert all(r["extra_info"]["duration"] is None for r in rows)
    if name == "orig/test.csv":
        # Line 2: video 2574374895, answer 2 -> "lay on floor".
        assert rows[0]["videos"][0]["video"] == "2574374895.mp4"
        assert truth(rows[0])["answer"] == "C" and truth(rows[0])["options"][2] == "C. lay on floor"


# --- Downstream ---------------------------------------------------------------------------------------


def test_selection_reads_every_converted_row(tmp_path: Path, nextgqa_test: ConversionResult) -> None:
    """Selection parses every row's ground truth (gold past the video's end, several gold moments)."""
    from dataset_converters import write_parquet
    from selection.dataset import load_ground_truths

    charades = without_videos(
        read_charades_sta(CHARADES / "charades_sta_test.txt"), CHARADES / "Charades_v1_test.csv"
    )
    for name, result in (("charades", charades), ("nextgqa", nextgqa_test)):
        path = tmp_path / f"{name}.parquet"
        write_parquet(result.rows, path)
        index = load_ground_truths(path)
        parsed = [index.parse(pos) for pos in range(len(result.rows))]
        assert len(parsed) == len(result.rows)
    assert sum(len(getattr(t, "segments", ())) > 1 for t in parsed) == 591


def test_multiple_choice_reads_the_videochat_grounded_qa_file() -> None:
    result = without_videos(read_multiple_choice(NEXTGQA / "videochat_r1" / "nextgqa_val.json"))
    assert (len(result.rows), result.skipped) == (3358, [])
    assert all(truth(r)["task"] == "mcq" for r in result.rows)
