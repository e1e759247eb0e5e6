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

from video_rlt.verl_dataset import SelectedVideoDataset, SelectionFilterConfig, select_rows

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
    with caplog.at_level(logging.INFO, logger="video_rlt.verl_dataset"):
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
