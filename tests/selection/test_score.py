"""`selection score` against hand-computed tables, streaming invariance, and bad inputs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import video_rewards as vr
from selection.dataset import DatasetError, dataset_fingerprint
from selection.io import read_metadata
from selection.score import ScoreConfig, ScoreStats, score_rollouts

MCQ = "mcq"


def _config(h: Any, **kw: Any) -> ScoreConfig:
    return ScoreConfig(reward=vr.RewardConfig.from_kwargs(**h.REWARD_KWARGS), **kw)


@pytest.fixture
def table_case(tmp_path: Path, h: Any) -> tuple[Path, Path]:
    """Five dataset rows, rollouts for four of them (one failed), rewards known by hand:

    mcq  well-formed right = 0.5 + 0.5 = 1.0; well-formed wrong = 0.5; malformed (no tags) = 0.
    tvg  gold [2, 6]: "2 to 6" IoU 1 → 1.0; "2 to 4" IoU 0.5 → 0.75; "8 to 9" IoU 0 → 0.5.
    """
    o = h.MCQ_OPTIONS
    rows = [
        h.row(10, {"task": MCQ, "answer": "B", "options": o}, source="qa"),
        h.row(11, {"task": MCQ, "answer": "A", "options": o}, source="qa"),
        h.row(12, {"task": "tvg", "segment": [2, 6], "duration": 10}, source="ground"),
        h.row(13, {"task": MCQ, "answer": "C", "options": o}, source="qa"),
        h.row(14, {"task": MCQ, "answer": "D", "options": o}, source="qa"),
        h.row(15, {"task": MCQ, "answer": "D", "options": o}, source="qa"),  # no rollouts at all
    ]
    wf = h.wf
    rollouts = [
        (10, 0, wf("B"), None), (10, 1, wf("B"), None), (10, 2, wf("C"), None), (10, 3, "B", None),
        (11, 0, wf("A"), None), (11, 1, wf("A"), None), (11, 2, wf("A"), None), (11, 3, wf("A"), None),
        (12, 0, wf("2 to 6"), None), (12, 1, wf("2 to 4"), None), (12, 2, wf("2 to 4"), None), (12, 3, wf("8 to 9"), None),
        (13, 0, wf("A"), None), (13, 1, wf("B"), None), (13, 2, "C", None), (13, 3, "", None),
        (14, -1, None, "video_missing: no such file: /data/v.mp4"),
    ]  # fmt: skip
    # Shuffled: scoring must not depend on rollouts being grouped or ordered.
    order = np.random.default_rng(0).permutation(len(rollouts))
    return (
        h.write_rows(tmp_path / "data.parquet", rows),
        h.write_rollouts(tmp_path / "rollouts.parquet", [rollouts[i] for i in order]),
    )


EXPECTED = pd.DataFrame(
    [
        # sample, task, n, mean, std, min, max, informative, format, acc_mean, acc_std, iou_mean, iou_std, pass, parse_fail
        (10, MCQ, 4, 0.625, math.sqrt(0.171875), 0.0, 1.0, True, 0.75, 0.5, 0.5, np.nan, np.nan, 0.5, 0.25),
        (11, MCQ, 4, 1.0, 0.0, 1.0, 1.0, False, 1.0, 1.0, 0.0, np.nan, np.nan, 1.0, 0.0),
        (12, "tvg", 4, 0.75, math.sqrt(0.03125), 0.5, 1.0, True, 1.0, np.nan, np.nan, 0.5, math.sqrt(0.125), np.nan, 0.0),
        (13, MCQ, 4, 0.25, 0.25, 0.0, 0.5, True, 0.5, 0.0, 0.0, np.nan, np.nan, 0.0, 0.5),
    ],
    columns=[
        "sample_id", "task", "n", "reward_mean", "reward_std", "reward_min", "reward_max", "informative",
        "format_mean", "accuracy_mean", "accuracy_std", "iou_mean", "iou_std", "pass_rate", "parse_failure_rate",
    ],
)  # fmt: skip


@pytest.mark.parametrize(("batch_size", "workers"), [(65_536, 1), (3, 1), (5, 2)])
def test_score_matches_hand_computed_table(
    table_case: tuple[Path, Path], tmp_path: Path, h: Any, batch_size: int, workers: int
) -> None:
    data, rollouts = table_case
    out = tmp_path / "scores.parquet"
    meta = score_rollouts(data, rollouts, out, _config(h, batch_size=batch_size, workers=workers), model="m0")
    got = pd.read_parquet(out)
    scored = got[got["failure"].isna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        scored[EXPECTED.columns].astype({"task": object}), EXPECTED, check_dtype=False, atol=1e-12
    )
    failed = got[got["failure"].notna()]
    assert failed["sample_id"].tolist() == [14]
    assert failed["failure"].tolist() == ["video_missing: no such file: /data/v.mp4"]
    assert failed["n"].tolist() == [0] and failed["reward_std"].isna().all()
    assert 15 not in got["sample_id"].tolist()
    assert set(got["data_source"]) == {"qa", "ground"}
    assert meta["counts"] == {
        "rollouts": 16,
        "samples_scored": 4,
        "samples_failed": 1,
        "failed_by_reason": {"video_missing": 1},
        "dataset_samples_without_rollouts": 1,
    }
    recorded = read_metadata(out)
    assert recorded["reward_version"] == vr.REWARD_VERSION == got["reward_version"].iloc[0]
    assert recorded["reward_config"]["weights"]["tvg"] == {"format": 0.5, "accuracy": 0.0, "iou": 0.5}
    assert recorded["model"] == "m0" == got["model"].iloc[0]


def test_pass_threshold_counts_partial_accuracy(
    table_case: tuple[Path, Path], tmp_path: Path, h: Any
) -> None:
    data, rollouts = table_case
    out = tmp_path / "s.parquet"
    score_rollouts(data, rollouts, out, _config(h, pass_threshold=0.0))
    got = pd.read_parquet(out).set_index("sample_id")
    assert got.loc[13, "pass_rate"] == 1.0  # accuracy 0 >= 0 passes: the threshold is honoured


def test_rollout_run_dir_and_jsonl_inputs(table_case: tuple[Path, Path], tmp_path: Path, h: Any) -> None:
    data, rollouts = table_case
    run = tmp_path / "run"
    (run / "shards").mkdir(parents=True)
    t = pq.read_table(rollouts)
    pq.write_table(t.slice(0, 7), run / "shards" / "rollouts-000000.parquet")
    pq.write_table(t.slice(7), run / "shards" / "rollouts-000001.parquet")
    settings_ = {"engine": "hf", "n": 4, "temperature": 1.0}
    (run / "run.json").write_text(json.dumps({"model": "tiny", "sampling": settings_, "engine": "hf"}))
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in t.to_pylist()) + "\n")
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    score_rollouts(data, run, a, _config(h))
    score_rollouts(data, jsonl, b, _config(h), model="tiny")
    fa, fb = pd.read_parquet(a), pd.read_parquet(b)
    cols = ["sample_id", "n", "reward_mean", "reward_std", "pass_rate", "failure"]
    pd.testing.assert_frame_equal(fa[cols], fb[cols])
    assert json.loads(fa["rollout_settings"].iloc[0]) == settings_
    assert read_metadata(a)["model"] == "tiny"


def test_unknown_sample_ids_are_named(tmp_path: Path, h: Any) -> None:
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(1, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    roll = h.write_rollouts(tmp_path / "r.parquet", [(1, 0, h.wf("A"), None), (77, 0, h.wf("A"), None)])
    with pytest.raises(DatasetError, match=r"1 sample id\(s\) not in the dataset, e\.g\. \[77\]"):
        score_rollouts(data, roll, tmp_path / "s.parquet")


def test_empty_rollouts_are_an_error(tmp_path: Path, h: Any) -> None:
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(1, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    roll = h.write_rollouts(tmp_path / "r.parquet", [])
    with pytest.raises(DatasetError, match="no rollouts"):
        score_rollouts(data, roll, tmp_path / "s.parquet")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(DatasetError, match=r"no \.parquet or \.jsonl files"):
        score_rollouts(data, empty_dir, tmp_path / "s.parquet")


def test_missing_columns_are_named(tmp_path: Path, h: Any) -> None:
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(1, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    roll = tmp_path / "r.parquet"
    pq.write_table(pa.table({"sample_id": [1], "text": ["x"]}), roll)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['response'\]"):
        score_rollouts(data, roll, tmp_path / "s.parquet")
    bad_data = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"prompt": ["x"]}), bad_data)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['reward_model'\]"):
        score_rollouts(bad_data, roll, tmp_path / "s.parquet")


def test_duplicate_rollouts_and_null_responses_are_named(tmp_path: Path, h: Any) -> None:
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(5, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    dup = h.write_rollouts(
        tmp_path / "dup.parquet", [(5, 0, "x", None), (5, 1, "y", None), (5, 1, "z", None)]
    )
    with pytest.raises(DatasetError, match="duplicate rollout sample_id=5 rollout_index=1"):
        score_rollouts(data, dup, tmp_path / "s.parquet")
    null = h.write_rollouts(tmp_path / "null.parquet", [(5, 0, None, None)])
    with pytest.raises(DatasetError, match="response is null for sample_id=5 without an error reason"):
        score_rollouts(data, null, tmp_path / "s.parquet")


def test_duplicates_across_batches_are_caught(tmp_path: Path, h: Any) -> None:
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(5, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    dup = h.write_rollouts(
        tmp_path / "dup.parquet", [(5, 0, "x", None), (5, 1, "y", None), (5, 0, "z", None)]
    )
    with pytest.raises(DatasetError, match="seen in an earlier batch"):
        score_rollouts(data, dup, tmp_path / "s.parquet", ScoreConfig(batch_size=2))


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_ground_truths_fail_their_sample_and_the_run_goes_on(
    tmp_path: Path, h: Any, workers: int
) -> None:
    """Reversed span, span past the video, 5,000-deep JSON, a 5,000-digit duration, not JSON: one failure each."""
    deep = '{"task": "tvg", "segment": ' + "[" * 5000 + "]" * 5000 + "}"
    rows = [
        h.row(1, {"task": MCQ, "answer": "A", "options": h.MCQ_OPTIONS}),
        h.row(2, {"task": "tvg", "segment": [9, 2]}),
        h.row(3, {"task": "tvg", "segment": [12, 14], "duration": 10}),
        h.row(4, {"task": MCQ, "answer": "B", "options": h.MCQ_OPTIONS}),
    ]
    rows += [h.row(5, {}), h.row(6, {}), h.row(7, {})]
    rows[4]["reward_model"]["ground_truth"] = deep
    rows[5]["reward_model"]["ground_truth"] = (
        '{"task": "tvg", "segment": [1, 2], "duration": ' + "9" * 5000 + "}"
    )
    rows[6]["reward_model"]["ground_truth"] = "[1, 2"
    data = h.write_rows(tmp_path / "d.parquet", rows)
    records = [(sid, k, h.wf("A"), None) for sid in range(1, 8) for k in range(2)]
    roll = h.write_rollouts(tmp_path / "r.parquet", records)
    out = tmp_path / "s.parquet"
    meta = score_rollouts(data, roll, out, ScoreConfig(workers=workers, batch_size=3))
    got = pd.read_parquet(out).set_index("sample_id")
    failure = got["failure"]
    assert pd.isna(failure[1]) and pd.isna(failure[4])  # the good rows are scored as usual
    assert got.loc[1, "reward_mean"] == 1.0 and got.loc[4, "n"] == 2
    for sid in (2, 3, 5, 6, 7):
        assert failure[sid].startswith(
            f"invalid_ground_truth: dataset {data}: row {sid - 1} (sample_id {sid})"
        )
        assert got.loc[sid, "n"] == 0
    assert "segment" in failure[2] and "duration" in failure[3]
    assert meta["counts"]["samples_failed"] == 5 and meta["counts"]["samples_scored"] == 2
    assert meta["counts"]["failed_by_reason"] == {"invalid_ground_truth": 5}


_RAISING_TASK = "raising_count_c2"


@pytest.fixture
def raising_task() -> Iterator[str]:
    """A user-registered task whose scorer has a bug: it raises on the answer "boom" (removed afterwards)."""
    from typing import Literal

    class RaisingTruth(vr.GroundTruth):
        task: Literal["raising_count_c2"] = "raising_count_c2"
        answer: str

    @vr.register_task(
        _RAISING_TASK,
        truth=RaisingTruth,
        weights=vr.TaskWeights(format=0.5, accuracy=0.5),
        has_accuracy=True,
        has_iou=False,
    )
    def _scorer(answer: str, truth: Any, config: Any) -> vr.TaskOutcome:
        if answer.strip() == "boom":
            raise ZeroDivisionError("a bug in a plug-in scorer")
        return vr.TaskOutcome(
            accuracy=float(answer.strip() == truth.answer), iou=None, iou_reward=None, failure=None
        )

    yield _RAISING_TASK
    vr.TASKS.unregister(_RAISING_TASK)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_rollout_whose_scoring_raises_fails_its_sample_only(
    tmp_path: Path, h: Any, workers: int, raising_task: str
) -> None:
    rows = [h.row(i, {"task": raising_task, "answer": "7"}) for i in (1, 2, 3)]
    data = h.write_rows(tmp_path / "d.parquet", rows)
    records = [
        (1, 0, h.wf("7"), None), (1, 1, h.wf("6"), None),
        (2, 0, h.wf("7"), None), (2, 1, h.wf("boom"), None),
        (3, 0, h.wf("7"), None), (3, 1, h.wf("7"), None),
    ]  # fmt: skip
    out = tmp_path / "s.parquet"
    meta = score_rollouts(
        data, h.write_rollouts(tmp_path / "r.parquet", records), out, ScoreConfig(workers=workers)
    )
    got = pd.read_parquet(out).set_index("sample_id")
    assert got.loc[2, "failure"] == "scoring_error: ZeroDivisionError: a bug in a plug-in scorer"
    assert got.loc[1, "reward_mean"] == 0.75 and got.loc[3, "reward_mean"] == 1.0  # 0.5 + 0.5·acc, by hand
    assert pd.isna(got.loc[1, "failure"]) and pd.isna(got.loc[3, "failure"])
    assert meta["counts"]["failed_by_reason"] == {"scoring_error": 1}
    assert meta["counts"]["samples_scored"] == 2


def test_gold_end_past_the_video_is_scored(tmp_path: Path, h: Any) -> None:
    """Converters keep a gold span that ends after the video (annotation noise): it is scored, not failed."""
    data = h.write_rows(
        tmp_path / "d.parquet", [h.row(1, {"task": "tvg", "segment": [8, 12], "duration": 10})]
    )
    roll = h.write_rollouts(
        tmp_path / "r.parquet", [(1, 0, h.wf("8 to 10"), None), (1, 1, h.wf("0 to 2"), None)]
    )
    out = tmp_path / "s.parquet"
    score_rollouts(data, roll, out, _config(h))
    got = pd.read_parquet(out)
    assert got["failure"].isna().all() and got["n"].tolist() == [2]
    assert got["iou_mean"].iloc[0] > 0 and got["reward_std"].iloc[0] > 0


def test_scores_record_the_dataset_fingerprint(table_case: tuple[Path, Path], tmp_path: Path, h: Any) -> None:
    data, rollouts = table_case
    out = tmp_path / "s.parquet"
    meta = score_rollouts(data, rollouts, out, _config(h))
    recorded = read_metadata(out)
    assert recorded["dataset_fingerprint"] == meta["dataset_fingerprint"] == dataset_fingerprint(data)
    assert recorded["dataset_fingerprint"].startswith("v1:") and recorded["dataset_rows"] == 6


def test_sample_id_is_row_position_without_extra_info_index(tmp_path: Path, h: Any) -> None:
    o = h.MCQ_OPTIONS
    data = h.write_rows(
        tmp_path / "d.parquet",
        [
            h.row(None, {"task": MCQ, "answer": "A", "options": o}),
            h.row(None, {"task": MCQ, "answer": "B", "options": o}),
        ],
    )
    roll = h.write_rollouts(tmp_path / "r.parquet", [(1, 0, h.wf("B"), None), (1, 1, h.wf("A"), None)])
    out = tmp_path / "s.parquet"
    score_rollouts(data, roll, out, _config(h))
    got = pd.read_parquet(out)
    assert got["sample_id"].tolist() == [1] and got["reward_mean"].tolist() == [0.75]


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.sampled_from([0.0, 0.1, 0.25, 1 / 3, 0.5, 0.7, 1.0]), min_size=1, max_size=40),
    groups=st.integers(1, 5),
    cut_seed=st.integers(0, 10_000),
)
def test_streaming_statistics_equal_whole_array_statistics(
    values: list[float], groups: int, cut_seed: int
) -> None:
    """Chan's merge over any split into batches gives numpy's mean / population std / min / max."""
    rng = np.random.default_rng(cut_seed)
    x = np.array(values)
    pos = rng.integers(0, groups, size=len(x))
    stats = ScoreStats(groups, pass_threshold=1.0)
    cuts = sorted(
        {*rng.choice(np.arange(1, len(x) + 1), size=min(3, len(x)), replace=False).tolist(), len(x)}
    )
    start = 0
    for cut in cuts:
        sl = slice(start, int(cut))
        cols = {k: x[sl] for k in ("score", "format", "accuracy", "iou")}
        stats.add(pos[sl], {**cols, "parse_failed": np.zeros(int(cut) - start)})
        start = int(cut)
    reward = stats.stats["reward"]
    for g in range(groups):
        mine = x[pos == g]
        if len(mine) == 0:
            assert reward.count[g] == 0
            continue
        assert reward.count[g] == len(mine)
        assert reward.mean_or_nan()[g] == pytest.approx(mine.mean(), abs=1e-12)
        assert reward.std_or_nan()[g] == pytest.approx(mine.std(), abs=1e-9)
        assert (reward.std_or_nan()[g] == 0.0) == (mine.min() == mine.max())
        assert (reward.min[g], reward.max[g]) == (mine.min(), mine.max())
