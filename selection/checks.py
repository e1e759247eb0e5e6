"""Checks that keep selection honest: a scores file belongs to its dataset, and its statistics are numbers.

* **Provenance.** ``selection score`` records the fingerprint of the dataset it scored
  (:func:`selection.dataset.truth_fingerprint`: sample ids + ground truths). ``select`` and ``report``
  (and the verl filter, through the fingerprint ``select`` records for the rows it wrote) refuse scores
  whose fingerprint differs, naming both files: same-id rows of another dataset would otherwise be
  selected silently. Scores without a fingerprint are refused too, unless the check is switched off.
* **Statistics.** A scored row (no ``failure``, ``n > 0``) must have finite ``reward_mean`` /
  ``reward_std`` / ``reward_min`` / ``reward_max``, a non-negative std, ``reward_min <= reward_max``, a pass
  rate in [0, 1] or NaN (tasks without accuracy) and finite component statistics (NaN where the task has
  no such component). A bad value is an error naming the rows; an explicit flag drops them as
  ``invalid_stats`` instead, counted like every other drop reason.

>>> import pandas as pd
>>> frame = pd.DataFrame({"sample_id": [1, 2], "n": [4, 4], "failure": [None, None],
...     "reward_mean": [0.5, 0.5], "reward_std": [0.1, -0.2], "reward_min": [0.0, 0.0], "reward_max": [1.0, 1.0]})
>>> score_stat_problems(frame).tolist()
[None, 'reward_std=-0.2 (must be >= 0)']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from selection.dataset import DatasetError

__all__ = [
    "SCORE_STAT_RULES",
    "StatRule",
    "check_same_dataset",
    "check_scores_match_dataset",
    "invalid_stats_error",
    "score_stat_problems",
    "stat_problems",
]


class StatRule(NamedTuple):
    """One statistic's valid values: finite, NaN only when ``nan_ok``, within ``[low, high]`` when given."""

    column: str
    nan_ok: bool
    low: float | None = None
    high: float | None = None


#: The score table's statistics, checked on scored rows (``failure`` null and ``n > 0``).
SCORE_STAT_RULES = (
    StatRule("reward_mean", nan_ok=False),
    StatRule("reward_std", nan_ok=False, low=0.0),
    StatRule("reward_min", nan_ok=False),
    StatRule("reward_max", nan_ok=False),
    StatRule("pass_rate", nan_ok=True, low=0.0, high=1.0),
    StatRule("format_mean", nan_ok=True),
    StatRule("accuracy_mean", nan_ok=True),
    StatRule("accuracy_std", nan_ok=True, low=0.0),
    StatRule("iou_mean", nan_ok=True),
    StatRule("iou_std", nan_ok=True, low=0.0),
)


def _describe(value: float, rule: StatRule) -> str:
    if math.isnan(value):
        return f"{rule.column}=nan"
    if math.isinf(value):
        return f"{rule.column}={value}"
    if rule.low is not None and value < rule.low:
        return f"{rule.column}={value:g} (must be >= {rule.low:g})"
    return f"{rule.column}={value:g} (must be <= {rule.high:g})"


def stat_problems(
    columns: Mapping[str, Sequence[Any] | pd.Series],
    rules: Sequence[StatRule],
    rows: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
) -> list[str | None]:
    """Per row, what is wrong with its statistics (``"reward_std=inf; pass_rate=nan"``), None when valid.

    Only ``rows`` (a boolean mask; default all) are checked; columns absent from ``columns`` are skipped.
    A value that is not a number counts as NaN.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    check = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    found: list[list[str]] = [[] for _ in range(n)]
    for rule in rules:
        if rule.column not in columns:
            continue
        values = pd.to_numeric(pd.Series(list(columns[rule.column])), errors="coerce").to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            bad = np.isinf(values) | (np.isnan(values) & (not rule.nan_ok))
            if rule.low is not None:
                bad |= values < rule.low
            if rule.high is not None:
                bad |= values > rule.high
        for i in np.flatnonzero(bad & check).tolist():
            found[i].append(_describe(float(values[i]), rule))
    return ["; ".join(f) if f else None for f in found]


def score_stat_problems(frame: pd.DataFrame) -> pd.Series:
    """:func:`stat_problems` for a score table (same index as ``frame``), plus ``n >= 0`` and min <= max."""
    n = pd.to_numeric(frame["n"], errors="coerce")
    scored = (frame["failure"].isna() & (n > 0)).to_numpy()
    found = stat_problems({c: frame[c] for c in frame.columns}, SCORE_STAT_RULES, scored)
    bad_n = ~(n >= 0).to_numpy()  # NaN n fails too
    with np.errstate(invalid="ignore"):
        crossed = scored & (
            frame["reward_min"].to_numpy(np.float64) > frame["reward_max"].to_numpy(np.float64)
        )
    for i in np.flatnonzero(bad_n | crossed).tolist():
        extra = f"n={frame['n'].iloc[i]} (must be >= 0)" if bad_n[i] else "reward_min > reward_max"
        found[i] = f"{found[i]}; {extra}" if found[i] else extra
    return pd.Series(found, index=frame.index, dtype=object)


def invalid_stats_error(where: str, ids: Sequence[Any], problems: Sequence[str], flag: str) -> DatasetError:
    """The error for rows with invalid statistics: names them (the first 10) and the flag that drops them."""
    shown = "; ".join(f"sample_id {i}: {p}" for i, p in list(zip(ids, problems, strict=True))[:10])
    more = f"; … and {len(ids) - 10} more" if len(ids) > 10 else ""
    return DatasetError(
        f"{where}: {len(ids)} row(s) with invalid statistics ({shown}{more}); fix the scores, or pass "
        f"{flag} to drop them (counted as 'invalid_stats')"
    )


def _short(fingerprint: Any) -> str:
    return f"{str(fingerprint)[:19]}…" if fingerprint else "none"


def check_scores_match_dataset(
    scores: str | Path, score_meta: Mapping[str, Any], dataset: str | Path, fingerprint: str, rows: int
) -> None:
    """Raise naming both files unless the scores record ``fingerprint`` (the dataset's) as what they scored."""
    recorded = score_meta.get("dataset_fingerprint")
    if recorded is None:
        raise DatasetError(
            f"scores {scores} record no dataset fingerprint (not written by this version of `selection score`), "
            f"so they cannot be checked against dataset {dataset}; re-run `selection score` on it, or pass "
            "--no-fingerprint-check to use them unchecked"
        )
    if recorded != fingerprint:
        raise DatasetError(
            f"scores {scores} were computed on another dataset than {dataset}: the scores record dataset "
            f"{score_meta.get('dataset')!r} ({score_meta.get('dataset_rows', '?')} rows, fingerprint "
            f"{_short(recorded)}), {dataset} has {rows} rows and fingerprint {_short(fingerprint)}; their sample "
            "ids or ground truths differ. Score this dataset, or select from the one that was scored"
        )


def check_same_dataset(
    scores: str | Path,
    score_meta: Mapping[str, Any],
    selection: str | Path,
    selection_meta: Mapping[str, Any],
) -> None:
    """Raise naming both files unless a ``select`` output was made from scores of the same dataset."""
    mine = score_meta.get("dataset_fingerprint")
    theirs = (selection_meta.get("score_metadata") or {}).get("dataset_fingerprint")
    if mine is None or theirs is None:
        which = scores if mine is None else selection
        raise DatasetError(
            f"{which} records no dataset fingerprint, so scores {scores} cannot be checked against selection "
            f"{selection}; re-run `selection score` / `select`, or pass --no-fingerprint-check"
        )
    if mine != theirs:
        raise DatasetError(
            f"scores {scores} were computed on another dataset ({score_meta.get('dataset')!r}, fingerprint "
            f"{_short(mine)}) than the scores selection {selection} was made from "
            f"({selection_meta.get('scores')!r} on {(selection_meta.get('score_metadata') or {}).get('dataset')!r}, "
            f"fingerprint {_short(theirs)})"
        )
