"""The selection filter: pure row rules (table + property tests) and the real verl RLHFDataset subclass."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verl_plugins.dataset import SelectedVideoDataset, SelectionFilterConfig, VideoRLHFDataset, select_rows
from verl_plugins.selection_filter import verify_selected_file

from .conftest import KEPT_ROWS, MIN_STD, SELECTED_ROWS

COLS: dict[str, list[Any]] = {
    "data_source": ["a", "a", "b", "b", "c"],
    "sel_reward_std": [0.0, 0.3, 0.2, 0.05, 0.3],
    "sel_pass_rate": [1.0, 0.5, 0.25, 0.0, 0.75],
    "sel_keep_reason": ["variance", "variance", "band", "variance", "variance"],
}


@pytest.mark.parametrize(
    ("config", "kept", "dropped"),
    [
        ({}, [0, 1, 2, 3, 4], {}),
        ({"min_std": 0.1}, [1, 2, 4], {"low_std": 2}),
        ({"min_std": 0.3}, [1, 4], {"low_std": 3}),
        ({"min_pass_rate": 0.1, "max_pass_rate": 0.9}, [1, 2, 4], {"pass_rate_out_of_band": 2}),
        ({"keep_reasons": ["variance"]}, [0, 1, 3, 4], {"keep_reason": 1}),
        ({"top_k": 2}, [1, 4], {"below_top_k": 3}),  # tie at 0.3: both kept, earlier first
        ({"top_k": 1}, [1], {"below_top_k": 4}),
        ({"min_std": 0.1, "top_k": 2}, [1, 4], {"low_std": 2, "below_top_k": 1}),
        ({"keep_reasons": ["band"], "min_std": 0.1}, [2], {"keep_reason": 4}),
        ({"top_k": 2, "rank_by": "sel_pass_rate"}, [0, 4], {"below_top_k": 3}),
    ],
)
def test_rules_table(config: dict[str, Any], kept: list[int], dropped: dict[str, int]) -> None:
    indices, report = select_rows(COLS, SelectionFilterConfig(check_videos=False, **config))
    assert indices == kept
    assert report.dropped_by_reason == dropped
    assert report.kept == len(kept) and report.total == 5
    assert sum(report.kept_by_source.values()) == len(kept)
    assert sum(sum(d.values()) for d in report.dropped_by_source.values()) == 5 - len(kept)


def test_rules_are_skipped_when_not_applied_but_counts_stay_honest() -> None:
    indices, report = select_rows(
        COLS, SelectionFilterConfig(min_std=1.0, check_videos=False), apply_rules=False
    )
    assert indices == [0, 1, 2, 3, 4] and not report.rules_applied


def test_unscored_rows_error_or_drop() -> None:
    cols = {**COLS, "sel_reward_std": [0.3, None, 0.2, float("nan"), 0.3]}
    with pytest.raises(ValueError, match=r"row 1 .*sel_reward_std.*unscored=drop"):
        select_rows(cols, SelectionFilterConfig(min_std=0.1, check_videos=False))
    indices, report = select_rows(
        cols, SelectionFilterConfig(min_std=0.1, unscored="drop", check_videos=False)
    )
    assert indices == [0, 2, 4] and report.dropped_by_reason == {"unscored": 2}


def test_rules_need_their_columns() -> None:
    with pytest.raises(ValueError, match=r"sel_pass_rate.*selection select"):
        select_rows({"data_source": ["a"], "sel_reward_std": [0.1]}, SelectionFilterConfig(min_pass_rate=0.1))


@pytest.mark.parametrize(
    "bad",
    [
        {"min_std": -1},
        {"top_k": 0},
        {"min_pass_rate": 0.8, "max_pass_rate": 0.2},
        {"mni_std": 0.1},
        {"unscored": "x"},
    ],
)
def test_config_is_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SelectionFilterConfig(**bad)


def test_config_is_frozen() -> None:
    config = SelectionFilterConfig(min_std=0.1)
    with pytest.raises(ValueError):
        config.min_std = 0.2  # type: ignore[misc]


def test_missing_videos_are_named_and_error_or_drop(tmp_path: Path) -> None:
    present = tmp_path / "a.mp4"
    present.write_bytes(b"\x00")
    cols = {
        "data_source": ["x", "y", "x"],
        "videos": [
            [{"video": str(present)}],
            [{"video": str(tmp_path / "gone.mp4")}],
            [str(tmp_path / "b.mp4")],
        ],
        "sel_reward_std": [0.5, 0.5, 0.5],
    }
    with pytest.raises(
        FileNotFoundError, match=r"(?s)2 video file\(s\).*row 1 \(data_source='y'\).*gone.mp4"
    ):
        select_rows(cols, SelectionFilterConfig())
    indices, report = select_rows(cols, SelectionFilterConfig(missing_videos="drop"))
    assert indices == [0]
    assert report.dropped_by_reason == {"missing_video": 2}
    assert len(report.missing_videos) == 2
    # Remote videos cannot be checked cheaply: left to the loader.
    remote = {"data_source": ["x"], "videos": [[{"video": "https://example.com/v.mp4"}]]}
    assert select_rows(remote, SelectionFilterConfig())[0] == [0]


@settings(max_examples=60, deadline=None)
@given(
    stds=st.lists(st.floats(0, 1), min_size=1, max_size=30),
    min_std=st.floats(0, 1),
    top_k=st.none() | st.integers(1, 40),
)
def test_filter_properties(stds: list[float], min_std: float, top_k: int | None) -> None:
    cols = {"data_source": [f"s{i % 3}" for i in range(len(stds))], "sel_reward_std": stds}
    indices, report = select_rows(
        cols, SelectionFilterConfig(min_std=min_std, top_k=top_k, check_videos=False)
    )
    assert indices == sorted(indices)
    assert all(stds[i] >= min_std for i in indices)
    assert report.kept + sum(report.dropped_by_reason.values()) == len(stds)
    if top_k is not None:
        assert len(indices) <= top_k
        # top-k keeps the highest: every dropped-by-rank row scores <= every kept row.
        dropped_rank = [i for i in range(len(stds)) if i not in indices and stds[i] >= min_std]
        assert all(stds[d] <= stds[k] for d in dropped_rank for k in indices)
    else:
        assert len(indices) == sum(s >= min_std for s in stds)


# ---- the real verl dataset ------------------------------------------------------------------------------
def data_config(train: Path, val: Path | None = None, **selection: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "train_files": str(train),
            "val_files": str(val or train),
            "video_key": "videos",
            "max_prompt_length": 512,
            "filter_overlong_prompts": False,
            "cache_dir": str(train.parent / "cache"),
            **({"selection": selection} if selection else {}),
        }
    )


def test_dataset_keeps_exactly_the_selected_rows(
    selected_parquet: Path, tiny_tokenizer: Any, tiny_processor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="verl_plugins.dataset"):
        ds = SelectedVideoDataset(
            data_files=[str(selected_parquet)],
            tokenizer=tiny_tokenizer,
            config=data_config(selected_parquet, min_std=MIN_STD),
            processor=tiny_processor,
        )
    assert len(ds) == len(KEPT_ROWS)
    assert [ds[i]["extra_info"]["index"] for i in range(len(ds))] == KEPT_ROWS
    report = ds.selection_report
    assert report is not None and report.dropped_by_reason == {"low_std": len(SELECTED_ROWS) - len(KEPT_ROWS)}
    assert report.dropped_by_source == {"tiny_gqa": {"low_std": 1}, "tiny_mcq": {"low_std": 1}}
    assert "kept 4 of 6 rows" in caplog.text
    # The row still goes through verl's own path to the model: messages with the video, decoded by our loader.
    row = ds[0]
    images, videos, _ = asyncio.run(
        SelectedVideoDataset.process_multi_modal_info(
            row["raw_prompt"], image_patch_size=14, config=ds.config
        )
    )
    assert images is None and len(videos) == 1
    frames, _metadata = videos[0]
    assert frames.ndim == 4 and frames.shape[0] >= 2


def test_plain_video_dataset_keeps_every_row_and_decodes_once_through_the_cache(
    selected_parquet: Path,
    tiny_tokenizer: Any,
    tiny_processor: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``VideoRLHFDataset``: no filter (even with score columns and a min_std set), the project's loader,
    and ``$VIDEO_RLT_FRAME_CACHE`` honoured (plain verl decodes with qwen-vl-utils on every rollout)."""
    from video_decoding.cache import FrameCache

    monkeypatch.setenv("VIDEO_RLT_FRAME_CACHE", str(tmp_path / "frames"))
    ds = VideoRLHFDataset(
        data_files=[str(selected_parquet)],
        tokenizer=tiny_tokenizer,
        config=data_config(selected_parquet, min_std=0.99),
        processor=tiny_processor,
    )
    assert len(ds) == len(SELECTED_ROWS)
    assert not hasattr(ds, "selection_report") or ds.selection_report is None
    assert issubclass(SelectedVideoDataset, VideoRLHFDataset)
    assert VideoRLHFDataset.__qualname__ == "VideoRLHFDataset"
    messages = ds[0]["raw_prompt"]
    decoded = [
        asyncio.run(
            VideoRLHFDataset.process_multi_modal_info(messages, image_patch_size=14, config=ds.config)
        )
        for _ in range(2)
    ]
    assert FrameCache(tmp_path / "frames").stats().entries == 1  # the second call read the first one's frames
    (first, _), (second, _) = decoded[0][1][0], decoded[1][1][0]
    assert first.dtype == second.dtype and bool((first == second).all())


def test_dataset_errors_on_empty_result(
    selected_parquet: Path, tiny_tokenizer: Any, tiny_processor: Any
) -> None:
    with pytest.raises(ValueError, match=r"kept no rows.*low_std"):
        SelectedVideoDataset(
            data_files=[str(selected_parquet)],
            tokenizer=tiny_tokenizer,
            config=data_config(selected_parquet, min_std=0.99),
            processor=tiny_processor,
        )


def test_validation_files_are_only_checked_for_videos(
    selected_parquet: Path, tmp_path: Path, tiny_tokenizer: Any, tiny_processor: Any
) -> None:
    val = tmp_path / "val.parquet"
    pd.read_parquet(selected_parquet).drop(columns=["sel_reward_std"]).to_parquet(val)
    cfg = data_config(selected_parquet, val, min_std=MIN_STD)
    val_ds = SelectedVideoDataset(
        data_files=[str(val)], tokenizer=tiny_tokenizer, config=cfg, processor=tiny_processor
    )
    assert len(val_ds) == len(SELECTED_ROWS)
    cfg_all = data_config(selected_parquet, val, min_std=MIN_STD, apply_to_val=True)
    with pytest.raises(ValueError, match="sel_reward_std"):
        SelectedVideoDataset(
            data_files=[str(val)], tokenizer=tiny_tokenizer, config=cfg_all, processor=tiny_processor
        )


# ---- missing values, tasks without a pass rate, invalid statistics, repeated indices ----------------------
NAN = float("nan")


@pytest.mark.parametrize(
    ("rank_by", "values", "top_k", "kept"),
    [
        ("sel_pass_rate", [NAN, 0.5, NAN, 0.25, 0.75], 2, [1, 4]),  # tvg rows (no pass rate) never first
        (
            "sel_pass_rate",
            [NAN, 0.5, NAN, 0.25, 0.75],
            4,
            [0, 1, 3, 4],
        ),  # then missing ones, earlier row first
        ("sel_iou_mean", [0.2, None, 0.9, NAN, 0.5], 2, [2, 4]),  # null and NaN alike
        ("sel_reward_mean", [NAN, NAN, NAN, NAN, 0.0], 1, [4]),
    ],
)
def test_top_k_ranks_missing_values_last(
    rank_by: str, values: list[Any], top_k: int, kept: list[int]
) -> None:
    cols = {"data_source": ["t", "m", "t", "m", "m"], "sel_reward_std": [0.3] * 5, rank_by: values}
    indices, report = select_rows(
        cols, SelectionFilterConfig(top_k=top_k, rank_by=rank_by, check_videos=False)
    )
    assert indices == kept and report.dropped_by_reason == {"below_top_k": 5 - len(kept)}


def test_rows_without_a_pass_rate_are_exempt_from_the_band_and_counted() -> None:
    cols = {
        "data_source": ["tiny_tvg", "tiny_mcq", "tiny_tvg", "tiny_mcq"],
        "sel_reward_std": [0.3, 0.3, 0.3, 0.3],
        "sel_pass_rate": [NAN, 1.0, NAN, 0.5],
        "sel_accuracy_mean": [NAN, 1.0, NAN, 0.5],
    }
    config = SelectionFilterConfig(min_pass_rate=0.1, max_pass_rate=0.9, check_videos=False)
    indices, report = select_rows(cols, config)
    assert indices == [0, 2, 3]
    assert report.dropped_by_reason == {"pass_rate_out_of_band": 1}
    assert report.pass_rate_exempt_by_source == {"tiny_tvg": 2}
    assert report.source_lines() == [
        "data_source 'tiny_mcq': kept 1 of 2; dropped {'pass_rate_out_of_band': 1}",
        "data_source 'tiny_tvg': kept 2 of 2; dropped none; 2 without a pass rate, exempt from the pass-rate band",
    ]


def test_invalid_statistics_are_named_or_dropped() -> None:
    cols = {
        "data_source": ["a", "a", "b", "b", "c"],
        "sel_reward_std": [0.3, float("inf"), -0.1, 0.2, 0.4],
        "sel_pass_rate": [0.5, 0.5, 0.5, 1.5, NAN],
        "sel_accuracy_mean": [0.5, 0.5, 0.5, 0.5, 0.5],  # row 4 has accuracy, so its NaN pass rate is broken
    }
    with pytest.raises(ValueError) as info:
        select_rows(cols, SelectionFilterConfig(min_std=0.1, check_videos=False))
    assert str(info.value).startswith(
        "4 row(s) with invalid selection statistics: row 1: sel_reward_std=inf; row 2: sel_reward_std=-0.1 "
        "(must be >= 0); row 3: sel_pass_rate=1.5 (must be <= 1); row 4: sel_pass_rate=nan while "
        "sel_accuracy_mean=0.5; fix the file"
    )
    assert "data.selection.drop_invalid=true" in str(info.value)
    indices, report = select_rows(
        cols, SelectionFilterConfig(min_std=0.1, drop_invalid=True, check_videos=False)
    )
    assert indices == [0] and report.dropped_by_reason == {"invalid_stats": 4}
    assert report.dropped_by_source == {
        "a": {"invalid_stats": 1},
        "b": {"invalid_stats": 2},
        "c": {"invalid_stats": 1},
    }
    assert report.invalid_rows[0] == "row 1: sel_reward_std=inf"


def test_repeated_extra_info_index_is_named_or_the_repeats_dropped() -> None:
    cols = {
        "data_source": ["a", "a", "b", "b", "b"],
        "extra_info": [{"index": 0}, {"index": 1}, {"index": 0}, {"index": 2}, {"index": 1}],
        "sel_reward_std": [0.3] * 5,
    }
    # Checked whether or not rules apply: verl's bookkeeping needs unique ids in every file.
    with pytest.raises(ValueError) as info:
        select_rows(cols, SelectionFilterConfig(check_videos=False), apply_rules=False)
    assert str(info.value).startswith(
        "2 extra_info.index value(s) repeated: extra_info.index 0 at rows [0, 2] (data_source ['a', 'b']); "
        "extra_info.index 1 at rows [1, 4] (data_source ['a', 'b'])."
    )
    indices, report = select_rows(cols, SelectionFilterConfig(drop_invalid=True, check_videos=False))
    assert indices == [0, 1, 3] and report.dropped_by_reason == {"duplicate_index": 2}


# ---- provenance: a real score → select output, and the same file edited afterwards ------------------------
@pytest.fixture(scope="module")
def pipeline_files(selected_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``selection score`` + ``select`` (the real CLI) on the fixture rows plus one tvg row whose gold end
    (5 s) lies past its 4 s video; every sample gets one right and one wrong rollout."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from selection.cli import main

    root = tmp_path_factory.mktemp("pipeline")
    rows = (
        pq.read_table(selected_parquet)
        .drop_columns([c for c in pq.read_schema(selected_parquet).names if c.startswith("sel_")])
        .to_pylist()
    )
    late = json.loads(json.dumps(rows[1]))
    late["reward_model"]["ground_truth"] = json.dumps({"task": "tvg", "segment": [3.0, 5.0], "duration": 4.0})
    late["extra_info"]["index"] = 6
    rows.append(late)
    dataset = root / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), dataset)
    right = {0: "B", 1: "1 to 2.5", 2: "A", 3: "C", 4: "0.5 to 3", 5: "B", 6: "3 to 4"}
    wrong = {0: "A", 1: "3.5 to 4", 2: "", 3: "A", 4: "3.5 to 4", 5: "", 6: "0 to 1"}
    rollouts = [
        {"sample_id": i, "rollout_index": k, "response": f"<think>x</think><answer>{ans}</answer>"}
        for i in range(7)
        for k, ans in enumerate((right[i], wrong[i]))
    ]
    roll = root / "rollouts.parquet"
    pq.write_table(pa.Table.from_pylist(rollouts), roll)
    scores, kept = root / "scores.parquet", root / "selected.parquet"
    assert main(["score", "--dataset", str(dataset), "--rollouts", str(roll), "--output", str(scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    assert main(["select", "--dataset", str(dataset), "--scores", str(scores), "--output", str(kept)]) == 0
    return {"dataset": dataset, "scores": scores, "kept": kept}


def test_a_select_output_is_verified_and_its_tasks_without_pass_rate_are_exempt(
    pipeline_files: dict[str, Path],
    tiny_tokenizer: Any,
    tiny_processor: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kept = pipeline_files["kept"]
    assert verify_selected_file(kept) is True
    frame = pd.read_parquet(kept)
    assert 6 in frame["extra_info"].map(lambda e: e["index"]).tolist()  # gold end past the video: kept
    with caplog.at_level(logging.INFO, logger="verl_plugins.dataset"):
        ds = SelectedVideoDataset(
            data_files=[str(kept)],
            tokenizer=tiny_tokenizer,
            config=data_config(kept, min_pass_rate=0.1, max_pass_rate=0.9),
            processor=tiny_processor,
        )
    report = ds.selection_report
    assert report is not None and report.pass_rate_exempt_by_source["tiny_tvg"] == 3
    assert report.kept_by_source["tiny_tvg"] == 3 and report.kept_by_source["tiny_mcq"] == 2
    assert "data_source 'tiny_tvg': kept 3 of 3; dropped none; 3 without a pass rate" in caplog.text
    assert "no fingerprint" not in caplog.text


def test_an_edited_select_output_is_refused_naming_the_files(
    pipeline_files: dict[str, Path], tmp_path: Path, tiny_tokenizer: Any, tiny_processor: Any
) -> None:
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pipeline_files["kept"])  # keeps the schema metadata `select` wrote
    rows = table.to_pylist()
    rows[0]["reward_model"]["ground_truth"] = json.dumps(
        {"task": "mcq", "answer": "C", "options": ["A", "B", "C"]}
    )
    edited = tmp_path / "edited.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), edited)
    with pytest.raises(ValueError) as info:
        verify_selected_file(edited)
    message = str(info.value)
    assert f"data file {edited} does not hold the rows" in message
    assert f"dataset '{pipeline_files['dataset']}' with scores '{pipeline_files['scores']}'" in message
    with pytest.raises(ValueError, match="does not hold the rows"):
        SelectedVideoDataset(
            data_files=[str(edited)],
            tokenizer=tiny_tokenizer,
            config=data_config(edited, min_std=0.01),
            processor=tiny_processor,
        )
    ds = SelectedVideoDataset(
        data_files=[str(edited)],
        tokenizer=tiny_tokenizer,
        config=data_config(edited, min_std=0.01, verify_fingerprint=False),
        processor=tiny_processor,
    )
    assert len(ds) == len(rows)


def test_sel_columns_without_provenance_are_named_in_a_warning(
    selected_parquet: Path, tiny_tokenizer: Any, tiny_processor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert verify_selected_file(selected_parquet) is False
    with caplog.at_level(logging.WARNING, logger="verl_plugins.dataset"):
        SelectedVideoDataset(
            data_files=[str(selected_parquet)],
            tokenizer=tiny_tokenizer,
            config=data_config(selected_parquet, min_std=MIN_STD),
            processor=tiny_processor,
        )
    assert f"{selected_parquet}" in caplog.text and "no fingerprint from `selection select`" in caplog.text
