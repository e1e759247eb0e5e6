"""``selection select``: scores + dataset → the kept rows (verl-ready parquet) and the dropped rows.

Kept rows keep every dataset column unchanged and gain ``sel_reward_std``, ``sel_reward_mean``,
``sel_pass_rate``, ``sel_n``, ``sel_keep_reason``, ``sel_format_mean``, ``sel_accuracy_mean`` and
``sel_iou_mean``. Dropped rows get the same columns plus ``drop_reason``. Both files record, in their
parquet metadata, the rule config, the counts per reason, the informative-group fractions, the score
file's provenance (reward version and config, model, rollout settings, dataset fingerprint) and
``rows_fingerprint``: the fingerprint of the rows that file holds, which the verl filter checks.

Scores made on another dataset (their recorded fingerprint differs from the dataset's) are refused before
anything is written (:mod:`selection.checks`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from selection.checks import check_scores_match_dataset
from selection.dataset import (
    DatasetError,
    SampleIndex,
    load_ground_truths,
    read_sample_ids,
    require_columns,
    table_fingerprint,
)
from selection.io import read_metadata, write_parquet_atomic
from selection.rules import RULE_COLUMNS, SelectConfig, run_rules

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

__all__ = ["SEL_COLUMNS", "default_dropped_path", "informative_fraction", "load_scores", "select_dataset"]

#: score column → column added to the verl parquet.
SEL_COLUMNS = {
    "reward_std": "sel_reward_std",
    "reward_mean": "sel_reward_mean",
    "pass_rate": "sel_pass_rate",
    "n": "sel_n",
    "format_mean": "sel_format_mean",
    "accuracy_mean": "sel_accuracy_mean",
    "iou_mean": "sel_iou_mean",
}


def default_dropped_path(output: str | Path) -> Path:
    """``kept.parquet`` → ``kept.dropped.parquet``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.dropped.parquet")


def load_scores(path: str | Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow
    require_columns(schema.names, (*RULE_COLUMNS, "reward_mean"), "scores", path)
    frame = pq.read_table(path).to_pandas()
    for col in ("task", "data_source", "reward_version", "model", "rollout_settings"):
        if col in frame and isinstance(frame[col].dtype, pd.CategoricalDtype):
            frame[col] = frame[col].astype(object)
    dup = frame["sample_id"].duplicated()
    if dup.any():
        raise DatasetError(
            f"scores {path}: sample_id repeated, e.g. {frame.loc[dup, 'sample_id'].head(5).tolist()}"
        )
    return frame


def informative_fraction(table: pd.DataFrame) -> float | None:
    """Share of scored samples whose n rewards are not all equal (None when there are none)."""
    scored = table[table["n"] > 0]
    if scored.empty:
        return None
    return float(((scored["n"] >= 2) & (scored["reward_max"] > scored["reward_min"])).mean())


def select_dataset(
    dataset: str | Path,
    scores: str | Path,
    output: str | Path,
    config: SelectConfig,
    *,
    dropped_output: str | Path | None = None,
    verify_fingerprint: bool = True,
) -> dict[str, Any]:
    """Run the rules and write the kept / dropped dataset rows; returns the recorded metadata.

    ``verify_fingerprint=False`` uses scores without checking they were computed on ``dataset``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    score_frame = load_scores(scores)
    score_meta = read_metadata(scores)
    fingerprint: str | None = None
    if verify_fingerprint:
        truths = load_ground_truths(dataset)
        ids = truths.samples.ids
        fingerprint = truths.fingerprint()
        check_scores_match_dataset(scores, score_meta, dataset, fingerprint, len(ids))
    else:
        ids = read_sample_ids(dataset)
        logger.warning("fingerprint check off: scores %s are not checked against dataset %s", scores, dataset)
    index = SampleIndex(ids)
    positions = index.positions(score_frame["sample_id"].to_numpy(np.int64), where=f"scores {scores}")

    scored = np.zeros(len(ids), dtype=bool)
    scored[positions] = True
    unscored = np.flatnonzero(~scored)
    result = run_rules(score_frame, config, where=f"scores {scores}")
    table = result.table
    table["_pos"] = positions
    if len(unscored):
        if not config.allow_unscored:
            raise DatasetError(
                f"dataset {dataset}: {len(unscored)} row(s) have no score, e.g. sample ids "
                f"{ids[unscored[:5]].tolist()}; score them, or pass --allow-unscored to drop them as 'unscored'"
            )
        extra = pd.DataFrame(
            {"sample_id": ids[unscored], "_pos": unscored, "drop_reason": "unscored", "n": 0}
        )
        table = pd.concat([table, extra], ignore_index=True)
        result.counts["unscored"] = len(unscored)

    source = pq.read_table(dataset)
    stale = [c for c in source.column_names if c.startswith("sel_") or c == "drop_reason"]
    if stale:
        logger.warning("dataset already has selection columns %s: they are replaced", stale)
        source = source.drop_columns(stale)

    keep_reason = config.describe()
    kept = table[table["drop_reason"].isna()].sort_values("_pos")
    dropped = table[table["drop_reason"].notna()].sort_values("_pos")
    meta: dict[str, Any] = {
        "step": "select",
        "config": config.model_dump(mode="json"),
        "keep_reason": keep_reason,
        "counts": {
            "input": len(ids),
            "kept": len(kept),
            "dropped": len(dropped),
            "dropped_by_reason": result.counts,
        },
        "informative_fraction": {
            "before": informative_fraction(result.table),
            "after": informative_fraction(result.kept),
        },
        "dataset": str(dataset),
        "dataset_fingerprint": fingerprint,
        "fingerprint_checked": verify_fingerprint,
        "scores": str(scores),
        "score_metadata": score_meta,
        "dropped_output": str(dropped_output or default_dropped_path(output)),
    }
    kept_table = _attach(source, kept, keep_reason=keep_reason)
    dropped_table = _attach(source, dropped, keep_reason=None).append_column(
        "drop_reason", pa.array(dropped["drop_reason"].tolist(), type=pa.string())
    )
    # Each file records the fingerprint of its own rows: the verl filter recomputes it when it reads them.
    dropped_meta = {**meta, "rows_fingerprint": table_fingerprint(dropped_table, str(meta["dropped_output"]))}
    meta["rows_fingerprint"] = table_fingerprint(kept_table, str(output))
    write_parquet_atomic(kept_table, output, meta)
    write_parquet_atomic(dropped_table, meta["dropped_output"], dropped_meta)
    logger.info(
        "kept %d of %d samples (%s); dropped by reason: %s", len(kept), len(ids), keep_reason, result.counts
    )
    return meta


def _attach(source: pa.Table, rows: pd.DataFrame, keep_reason: str | None) -> pa.Table:
    import pyarrow as pa

    out = source.take(pa.array(rows["_pos"].to_numpy(np.int64)))
    for col, sel in SEL_COLUMNS.items():
        values = rows[col] if col in rows else pd.Series(np.nan, index=rows.index)
        if col == "n":
            out = out.append_column(sel, pa.array(values.fillna(0).to_numpy(np.int64)))
        else:
            out = out.append_column(sel, pa.array(values.to_numpy(np.float64)))
    if keep_reason is not None:
        out = out.append_column("sel_keep_reason", pa.array([keep_reason] * len(rows), type=pa.string()))
    return out
