"""Selection rules against hand-computed tables; the verl-ready output; rule configs from YAML."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from selection.dataset import DatasetError, dataset_fingerprint
from selection.io import read_metadata, write_text_atomic
from selection.rules import (
    PassBandRule,
    QuotaRule,
    RankRule,
    SelectConfig,
    VarianceRule,
    load_select_config,
    run_rules,
)
from selection.score import score_rollouts
from selection.select import select_dataset

NAN = float("nan")


def scores() -> pd.DataFrame:
    """Eight samples; each line says what the rules should make of it."""
    rows = [
        # id, task, source, n, std, min, max, pass, acc_std, iou_mean, iou_std, failure
        (1, "mcq", "a", 8, 0.0, 1.0, 1.0, 1.0, 0.0, NAN, NAN, None),  # all right
        (2, "mcq", "a", 8, 0.0, 0.0, 0.0, 0.0, 0.0, NAN, NAN, None),  # all wrong
        (3, "mcq", "a", 8, 0.45, 0.0, 1.0, 0.5, 0.5, NAN, NAN, None),  # informative
        (4, "mcq", "b", 8, 0.02, 0.5, 0.55, 0.0, 0.0, NAN, NAN, None),  # reward varies (format), accuracy not
        (5, "tvg", "b", 8, 0.30, 0.2, 1.0, NAN, NAN, 0.6, 0.3, None),  # informative grounding
        (6, "tvg", "b", 8, 0.0, 0.5, 0.5, NAN, NAN, 0.0, 0.0, None),  # every IoU 0
        (7, "tvg", "c", 8, 0.10, 0.3, 0.6, NAN, NAN, 0.4, 0.12, None),  # informative, smaller spread
        (8, "mcq", "c", 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN, "video_missing: x"),  # failed
        (9, "tvg", "c", 8, 0.0, 0.7, 0.7, NAN, NAN, 0.4, 0.0, None),  # all equal, neither right nor wrong
    ]
    cols = ["sample_id", "task", "data_source", "n", "reward_std", "reward_min", "reward_max", "pass_rate"]
    cols += ["accuracy_std", "iou_mean", "iou_std", "failure"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["reward_mean"] = (frame["reward_min"] + frame["reward_max"]) / 2
    return frame


def reasons(config: SelectConfig) -> dict[int, str | None]:
    out = run_rules(scores(), config).table
    return dict(zip(out["sample_id"], out["drop_reason"], strict=True))


def test_paper_rule_zero_variance_only() -> None:
    assert reasons(SelectConfig()) == {
        1: "all_correct", 2: "all_wrong", 3: None, 4: None, 5: None, 6: "all_wrong", 7: None, 8: "failed",
        9: "zero_variance",
    }  # fmt: skip


def test_paper_rule_with_min_std_on_reward() -> None:
    got = reasons(SelectConfig(variance=VarianceRule(min_std=0.05)))
    assert got[4] == "low_variance" and got[7] is None and got[3] is None
    got = reasons(SelectConfig(variance=VarianceRule(min_std=0.2)))
    assert (got[4], got[7], got[5], got[3]) == ("low_variance", "low_variance", None, None)


def test_task_metric_uses_accuracy_then_iou() -> None:
    got = reasons(SelectConfig(variance=VarianceRule(metric="task", min_std=0.2)))
    # Sample 4: reward varies only through the format reward; its accuracy never does.
    assert got[4] == "all_wrong"
    assert got[7] == "low_variance"  # iou_std 0.12 < 0.2
    assert got[5] is None and got[3] is None


def test_pass_band() -> None:
    got = reasons(SelectConfig(variance=None, pass_band=PassBandRule(low=0.2, high=0.8)))
    assert got == {
        1: "pass_band",
        2: "pass_band",
        3: None,
        4: "pass_band",
        5: None,
        6: None,
        7: None,
        8: "failed",
        9: None,
    }


def test_top_k_and_quantile_rank_by_std() -> None:
    got = reasons(SelectConfig(rank=RankRule(top_k=2)))
    assert [k for k, v in got.items() if v is None] == [3, 5]
    assert got[7] == "rank" and got[4] == "rank"
    got = reasons(SelectConfig(rank=RankRule(quantile=0.5)))  # survivors' stds 0.45, 0.02, 0.30, 0.10
    assert [k for k, v in got.items() if v is None] == [3, 5]


def test_quota_per_task_and_per_source() -> None:
    got = reasons(SelectConfig(quota=QuotaRule(by="task", max_per_group=1)))
    assert [k for k, v in got.items() if v is None] == [3, 5]
    assert got[4] == "quota" and got[7] == "quota"
    got = reasons(SelectConfig(quota=QuotaRule(by="data_source", max_per_group=5, per_group={"b": 1})))
    assert [k for k, v in got.items() if v is None] == [3, 5, 7]
    assert got[4] == "quota"


def test_target_size_keeps_highest_std_or_seeded_random() -> None:
    got = reasons(SelectConfig(target_size=3))
    assert [k for k, v in got.items() if v is None] == [3, 5, 7]
    assert got[4] == "target_size"
    a = reasons(SelectConfig(target_size=2, order="random", seed=3))
    b = reasons(SelectConfig(target_size=2, order="random", seed=3))
    assert a == b and sum(v is None for v in a.values()) == 2


def test_counts_per_reason() -> None:
    result = run_rules(scores(), SelectConfig(variance=VarianceRule(min_std=0.05), target_size=2))
    assert result.counts == {
        "failed": 1, "all_correct": 1, "all_wrong": 2, "zero_variance": 1, "low_variance": 1, "target_size": 1,
    }  # fmt: skip
    assert sum(result.counts.values()) + len(result.kept) == len(scores())


def test_invalid_rules_are_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of top_k or quantile"):
        RankRule(top_k=3, quantile=0.5)
    with pytest.raises(ValidationError, match="must not exceed high"):
        PassBandRule(low=0.9, high=0.1)
    with pytest.raises(ValidationError, match=r"Extra inputs are not permitted"):
        SelectConfig.model_validate({"variance": {"min_sdt": 0.1}})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['pass_rate'\]"):
        run_rules(scores().drop(columns=["pass_rate"]), SelectConfig())


def test_yaml_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rule.yaml"
    path.write_text(
        "variance: {metric: task, min_std: 0.1}\n"
        "pass_band: {low: 0.1, high: 0.9}\n"
        "quota: {by: data_source, max_per_group: 100, per_group: {charades: 10}}\n"
        "target_size: 32000\n"
    )
    cfg = load_select_config(path)
    assert cfg.variance == VarianceRule(metric="task", min_std=0.1)
    assert cfg.quota is not None and cfg.quota.limit("charades") == 10 and cfg.quota.limit("x") == 100
    assert SelectConfig.model_validate(cfg.model_dump(mode="json")) == cfg
    bad = tmp_path / "bad.yaml"
    bad.write_text("variance: {min_std: -1}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: invalid selection config.*min_std"):
        load_select_config(bad)


@pytest.fixture
def dataset_and_scores(tmp_path: Path, h: Any) -> tuple[Path, Path]:
    import pyarrow as pa

    frame = scores()
    rows = [
        h.row(int(sid), {"task": "mcq", "answer": "A", "options": h.MCQ_OPTIONS}, source=src)
        for sid, src in zip(frame["sample_id"], frame["data_source"], strict=True)
    ]
    data = h.write_rows(tmp_path / "data.parquet", rows)
    frame["format_mean"] = 0.9
    frame["accuracy_mean"] = frame["pass_rate"]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    score_path = tmp_path / "scores.parquet"
    from selection.io import write_parquet_atomic

    meta = {"reward_version": "9.9", "model": "m", "dataset": str(data), "dataset_rows": len(rows)}
    write_parquet_atomic(table, score_path, {**meta, "dataset_fingerprint": dataset_fingerprint(data)})
    return data, score_path


def test_select_writes_verl_rows_with_sel_columns(
    dataset_and_scores: tuple[Path, Path], tmp_path: Path
) -> None:
    data, score_path = dataset_and_scores
    out = tmp_path / "kept.parquet"
    cfg = SelectConfig(variance=VarianceRule(min_std=0.05))
    meta = select_dataset(data, score_path, out, cfg)
    kept = pq.read_table(out)
    source = pq.read_table(data)
    assert (
        kept.schema.names[: len(source.schema.names)] == source.schema.names
    )  # every dataset column, unchanged
    assert kept.column("extra_info").to_pylist() == [{"index": i} for i in (3, 5, 7)]
    assert kept.column("prompt").to_pylist() == source.column("prompt").to_pylist()[:3]
    k = kept.to_pandas()
    assert k["sel_reward_std"].tolist() == [0.45, 0.30, 0.10]
    assert k["sel_n"].tolist() == [8, 8, 8] and k["sel_keep_reason"].tolist() == ["reward_std>=0.05"] * 3
    for col in ("sel_reward_mean", "sel_pass_rate", "sel_format_mean", "sel_accuracy_mean", "sel_iou_mean"):
        assert col in k
    dropped = pd.read_parquet(tmp_path / "kept.dropped.parquet")
    assert dict(zip(dropped["extra_info"].map(lambda e: e["index"]), dropped["drop_reason"], strict=True)) == {
        1: "all_correct", 2: "all_wrong", 4: "low_variance", 6: "all_wrong", 8: "failed", 9: "zero_variance",
    }  # fmt: skip
    recorded = read_metadata(out)
    assert SelectConfig.model_validate(recorded["config"]) == cfg
    assert recorded["score_metadata"]["reward_version"] == "9.9"
    assert recorded["counts"]["kept"] == 3 == meta["counts"]["kept"]
    assert recorded["informative_fraction"] == {"before": 4 / 8, "after": 1.0}  # 3, 4, 5, 7 of 8 scored


def test_select_bad_inputs_are_named(dataset_and_scores: tuple[Path, Path], tmp_path: Path, h: Any) -> None:
    data, score_path = dataset_and_scores
    fewer = h.write_rows(
        tmp_path / "fewer.parquet", [h.row(1, {"task": "mcq", "answer": "A", "options": h.MCQ_OPTIONS})]
    )
    with pytest.raises(DatasetError, match=r"computed on another dataset than .*fewer\.parquet"):
        select_dataset(fewer, score_path, tmp_path / "k.parquet", SelectConfig())
    unchecked = {"verify_fingerprint": False}
    with pytest.raises(DatasetError, match=r"not in the dataset, e\.g\. \[2, 3, 4, 5, 6\]"):
        select_dataset(fewer, score_path, tmp_path / "k.parquet", SelectConfig(), **unchecked)
    more_rows = [h.row(i, {"task": "mcq", "answer": "A", "options": h.MCQ_OPTIONS}) for i in range(1, 12)]
    more = h.write_rows(tmp_path / "more.parquet", more_rows)
    with pytest.raises(DatasetError, match=r"2 row\(s\) have no score, e\.g\. sample ids \[10, 11\]"):
        select_dataset(more, score_path, tmp_path / "k.parquet", SelectConfig(), **unchecked)
    meta = select_dataset(
        more, score_path, tmp_path / "k.parquet", SelectConfig(allow_unscored=True), **unchecked
    )
    assert meta["counts"]["dropped_by_reason"]["unscored"] == 2 and meta["fingerprint_checked"] is False
    bad_scores = tmp_path / "bad_scores.parquet"
    pq.write_table(pq.read_table(score_path).drop_columns(["reward_std"]), bad_scores)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['reward_std'\]"):
        select_dataset(data, bad_scores, tmp_path / "k.parquet", SelectConfig())


@settings(max_examples=40, deadline=None)
@given(
    stds=st.lists(st.sampled_from([0.0, 0.01, 0.1, 0.3, 0.5]), min_size=1, max_size=30),
    min_std=st.sampled_from([0.0, 0.05, 0.2]),
    target=st.one_of(st.none(), st.integers(0, 10)),
    quota=st.one_of(st.none(), st.integers(0, 5)),
)
def test_rules_partition_rows_and_keep_only_informative(
    stds: list[float], min_std: float, target: int | None, quota: int | None
) -> None:
    frame = pd.DataFrame(
        {
            "sample_id": range(len(stds)),
            "task": ["mcq" if i % 2 else "tvg" for i in range(len(stds))],
            "data_source": "s",
            "n": 4,
            "reward_std": stds,
            "reward_min": [0.5 - s for s in stds],
            "reward_max": [0.5 + s for s in stds],
            "pass_rate": [0.5 if s else 0.0 for s in stds],
            "iou_mean": NAN,
            "accuracy_std": stds,
            "iou_std": NAN,
            "failure": None,
        }
    )
    cfg = SelectConfig(
        variance=VarianceRule(min_std=min_std),
        target_size=target,
        quota=QuotaRule(max_per_group=quota) if quota is not None else None,
    )
    result = run_rules(frame, cfg)
    kept = result.kept
    assert len(kept) + sum(result.counts.values()) == len(frame)  # every row: kept, or one reason
    assert (kept["reward_max"] > kept["reward_min"]).all() and (kept["reward_std"] >= min_std).all()
    if target is not None:
        assert len(kept) <= target
    if quota is not None:
        assert kept.groupby("task").size().le(quota).all()
    # Ranked stages keep the highest spread: nothing dropped for size/quota beats a kept row of its group.
    by_size = result.table[result.table["drop_reason"] == "target_size"]
    if len(by_size) and len(kept):
        assert by_size["reward_std"].max() <= kept["reward_std"].min()


# ---- provenance: the dataset fingerprint ------------------------------------------------------------------
def test_fingerprint_follows_the_documented_scheme(tmp_path: Path, h: Any) -> None:
    """v1: SHA-256 over rows sorted by id: int64 id, uint64 length, b"j" + canonical JSON (little endian)."""
    data = h.write_rows(tmp_path / "d.parquet", [h.row(7, {"task": "mcq", "answer": "A"})])
    blob = b'j{"answer":"A","task":"mcq"}'
    expected = hashlib.sha256(struct.pack("<qQ", 7, len(blob)) + blob).hexdigest()
    assert dataset_fingerprint(data) == "v1:" + expected


def test_fingerprint_ignores_order_and_encoding_but_not_ids_or_truths(tmp_path: Path, h: Any) -> None:
    o = h.MCQ_OPTIONS
    mcq = {"task": "mcq", "answer": "A", "options": o}
    tvg = {"task": "tvg", "segment": [2, 6], "duration": 10}
    a = h.write_rows(tmp_path / "a.parquet", [h.row(1, mcq), h.row(2, tvg)])
    # Reversed rows, other prompts / videos / sources, keys in another order: the same scored dataset.
    b_rows = [h.row(2, tvg, video="/elsewhere.mp4", source="x"), h.row(1, mcq)]
    b_rows[0]["reward_model"]["ground_truth"] = '{"duration": 10, "segment": [2, 6], "task": "tvg"}'
    b = h.write_rows(tmp_path / "b.parquet", b_rows)
    assert dataset_fingerprint(a) == dataset_fingerprint(b)
    # The same truths stored as a parquet struct column (null keys of other tasks dropped) agree too.
    struct_rows = [h.row(1, mcq), h.row(2, tvg)]
    for r, truth in zip(struct_rows, (mcq, tvg), strict=True):
        r["reward_model"]["ground_truth"] = {"task": None, "answer": None, "options": None, "segment": None,
                                             "duration": None, **truth}  # fmt: skip
    c = h.write_rows(tmp_path / "c.parquet", struct_rows)
    assert pq.read_schema(c).field("reward_model").type.field("ground_truth").type.num_fields == 5
    assert dataset_fingerprint(c) == dataset_fingerprint(a)
    other_truth = h.write_rows(tmp_path / "t.parquet", [h.row(1, {**mcq, "answer": "B"}), h.row(2, tvg)])
    other_ids = h.write_rows(tmp_path / "i.parquet", [h.row(1, mcq), h.row(3, tvg)])
    not_json = h.write_rows(tmp_path / "n.parquet", [h.row(1, mcq), h.row(2, tvg)])
    fingerprints = {dataset_fingerprint(p) for p in (a, other_truth, other_ids)}
    assert len(fingerprints) == 3
    broken = pq.read_table(not_json).to_pylist()
    broken[1]["reward_model"]["ground_truth"] = "[" * 5000  # not JSON: hashed as text, never raises
    pq.write_table(pa.Table.from_pylist(broken), not_json)
    assert dataset_fingerprint(not_json) not in fingerprints | {dataset_fingerprint(a)}


def test_select_refuses_scores_without_or_with_another_fingerprint(
    dataset_and_scores: tuple[Path, Path], tmp_path: Path, h: Any
) -> None:
    data, score_path = dataset_and_scores
    rows = pq.read_table(data).to_pylist()
    rows[2]["reward_model"]["ground_truth"] = '{"task": "mcq", "answer": "D", "options": ["A. a", "B. b"]}'
    same_ids = h.write_rows(tmp_path / "same_ids.parquet", rows)
    out = tmp_path / "k.parquet"
    with pytest.raises(DatasetError) as info:
        select_dataset(same_ids, score_path, out, SelectConfig())
    message = str(info.value)
    assert f"scores {score_path} were computed on another dataset than {same_ids}" in message
    assert f"record dataset '{data}' (9 rows" in message
    assert not out.exists()
    unrecorded = tmp_path / "old_scores.parquet"
    pq.write_table(pq.read_table(score_path).replace_schema_metadata({}), unrecorded)
    with pytest.raises(
        DatasetError, match=r"old_scores\.parquet record no dataset fingerprint.*--no-fingerprint-check"
    ):
        select_dataset(data, unrecorded, out, SelectConfig())
    meta = select_dataset(data, score_path, out, SelectConfig())
    assert meta["dataset_fingerprint"] == dataset_fingerprint(data) and meta["fingerprint_checked"] is True
    # Each output records the fingerprint of the rows it holds, as a reader recomputes it from the file.
    assert read_metadata(out)["rows_fingerprint"] == dataset_fingerprint(out)
    dropped = tmp_path / "k.dropped.parquet"
    assert read_metadata(dropped)["rows_fingerprint"] == dataset_fingerprint(dropped)
    assert dataset_fingerprint(out) != dataset_fingerprint(dropped)


# ---- statistics and indices --------------------------------------------------------------------------------
def _with_bad_stats(score_path: Path, tmp_path: Path) -> Path:
    """The fixture's scores with four broken rows (what a buggy reward or a hand edit leaves)."""
    frame = pq.read_table(score_path).to_pandas()
    frame.loc[frame.sample_id == 1, "pass_rate"] = 1.5
    frame.loc[frame.sample_id == 3, "reward_std"] = NAN
    frame.loc[frame.sample_id == 5, "reward_std"] = float("inf")
    frame.loc[frame.sample_id == 7, "reward_std"] = -0.1
    bad = tmp_path / "bad_stats.parquet"
    from selection.io import write_parquet_atomic

    write_parquet_atomic(pa.Table.from_pandas(frame, preserve_index=False), bad, read_metadata(score_path))
    return bad


def test_invalid_statistics_are_named_or_dropped_and_counted(
    dataset_and_scores: tuple[Path, Path], tmp_path: Path
) -> None:
    data, score_path = dataset_and_scores
    bad = _with_bad_stats(score_path, tmp_path)
    out = tmp_path / "k.parquet"
    expected = (
        "4 row(s) with invalid statistics (sample_id 1: pass_rate=1.5 (must be <= 1); sample_id 3: "
        "reward_std=nan; sample_id 5: reward_std=inf; sample_id 7: reward_std=-0.1 (must be >= 0)); fix the "
        "scores, or pass --drop-invalid-stats"
    )
    with pytest.raises(DatasetError) as info:
        select_dataset(data, bad, out, SelectConfig())
    assert str(info.value).startswith(f"scores {bad}: ") and expected in str(info.value)
    meta = select_dataset(data, bad, out, SelectConfig(drop_invalid_stats=True))
    assert meta["counts"]["dropped_by_reason"]["invalid_stats"] == 4
    assert pd.read_parquet(out)["extra_info"].map(lambda e: e["index"]).tolist() == [4]  # no inf kept
    dropped = pd.read_parquet(tmp_path / "k.dropped.parquet")
    reasons_by_id = dict(
        zip(dropped["extra_info"].map(lambda e: e["index"]), dropped["drop_reason"], strict=True)
    )
    assert {k for k, v in reasons_by_id.items() if v == "invalid_stats"} == {1, 3, 5, 7}


def test_failed_rows_may_have_nan_statistics() -> None:
    """A failed sample has no rollouts: NaN statistics are what it should have, not an error."""
    result = run_rules(scores(), SelectConfig())
    assert "invalid_stats" not in result.counts and result.counts["failed"] == 1


def test_duplicated_extra_info_index_is_an_error_naming_every_row(tmp_path: Path, h: Any) -> None:
    truth = {"task": "mcq", "answer": "A", "options": h.MCQ_OPTIONS}
    data = h.write_rows(tmp_path / "d.parquet", [h.row(i, truth) for i in (0, 1, 0, 2, 1)])
    expected = r"extra_info\.index repeated: index 0 at rows \[0, 2\]; index 1 at rows \[1, 4\]; every row"
    with pytest.raises(DatasetError, match=expected):
        dataset_fingerprint(data)
    roll = h.write_rollouts(tmp_path / "r.parquet", [(2, 0, h.wf("A"), None)])
    with pytest.raises(DatasetError, match=expected):
        score_rollouts(data, roll, tmp_path / "s.parquet")


def test_text_writes_leave_no_temporary_file_behind(tmp_path: Path) -> None:
    blocked = tmp_path / "summary.json"
    blocked.mkdir()  # the target is a directory: os.replace fails after the temporary was written
    with pytest.raises(OSError):
        write_text_atomic("{}", blocked)
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic("\udcff", tmp_path / "report.json")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    write_text_atomic("{}", tmp_path / "ok.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.json", "summary.json"]


def test_atomic_writes_get_the_mode_open_would_give(tmp_path: Path) -> None:
    import os

    import pyarrow as pa

    from selection.io import write_parquet_atomic

    old = os.umask(0o022)
    try:
        # The module read the umask at import; the test runs under the usual 022.
        text = write_text_atomic("{}", tmp_path / "summary.json")
        table = write_parquet_atomic(pa.table({"a": [1]}), tmp_path / "kept.parquet")
    finally:
        os.umask(old)
    if old == 0o022:
        assert (text.stat().st_mode & 0o777) == 0o644  # mkstemp alone gives 0600: unreadable by others
        assert (table.stat().st_mode & 0o777) == 0o644
    else:
        assert (text.stat().st_mode & 0o777) == (0o666 & ~old)
