"""The row rules of the verl dataset filter (:mod:`verl_plugins.dataset`), pure: no verl, unit-testable.

The rule's settings and its report are :mod:`verl_plugins.selection_filter_config`.

Checks and rules, in order (a row is counted under the first one it fails):

1. ``missing_video`` — a local video file does not exist (an error unless ``missing_videos=drop``);
2. ``duplicate_index`` — ``extra_info.index`` repeats an earlier row's (verl's per-sample bookkeeping keys on
   it): an error naming every row, unless ``drop_invalid=true`` keeps the first row of each index;
3. ``invalid_stats`` — a selection statistic is infinite, a std / ``sel_n`` is negative, a pass rate lies
   outside [0, 1], or a pass rate is NaN while ``sel_accuracy_mean`` is not: an error naming the rows unless
   ``drop_invalid=true`` (rules only);
4. ``unscored`` — no ``sel_reward_std`` (an error unless ``unscored=drop``);
5. ``keep_reason``, ``low_std``, ``pass_rate_out_of_band`` — the configured rules. A row without a pass rate
   (NaN ``sel_pass_rate``: a task with no accuracy, e.g. temporal grounding) is **exempt** from
   ``min_pass_rate`` / ``max_pass_rate``; the report counts the exempt rows per data source;
6. ``below_top_k`` — outside the ``top_k`` highest ``rank_by`` values; missing (NaN / null) values rank
   last whatever the column, ties keep the earlier row.

Where the rows come from is checked too (:func:`verify_selected_file`): a parquet written by
``selection select`` records ``rows_fingerprint`` (sample ids + ground truths of the rows it wrote, after
``select`` checked the scores against the dataset they were computed on); the filter recomputes it from the
file and refuses a file whose rows changed since. A file with ``sel_*`` columns but no such record cannot be
checked and is named in a warning.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from selection.checks import StatRule, stat_problems
from verl_plugins.selection_filter_config import (
    DROP_REASONS,
    SEL_STAT_RULES,
    SelectionFilterConfig,
    SelectionReport,
)

__all__ = [
    "DROP_REASONS",
    "SEL_STAT_RULES",
    "SelectionFilterConfig",
    "SelectionReport",
    "select_rows",
    "verify_selected_file",
]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _local_video_paths(item: Any) -> list[str]:
    """Local file paths referenced by one ``videos`` element (dict, path, or list of frame paths)."""
    if isinstance(item, Mapping):
        item = item.get("video")
    if isinstance(item, str | os.PathLike):
        path = os.fspath(item)
        if "://" in path and not path.startswith("file://"):
            return []  # remote: cannot be checked cheaply
        return [path.removeprefix("file://")]
    if isinstance(item, Sequence) and not isinstance(item, bytes):
        return [
            p for frame in item for p in _local_video_paths(frame) if isinstance(frame, str | os.PathLike)
        ]
    return []


def _check_videos(
    videos: Sequence[Any], config: SelectionFilterConfig, sources: list[str], reasons: list[str | None]
) -> list[str]:
    missing: list[str] = []
    for i, row_videos in enumerate(videos):
        for item in row_videos or []:
            for path in _local_video_paths(item):
                if not os.path.exists(path):
                    missing.append(f"row {i} (data_source={sources[i]!r}): {path}")
                    reasons[i] = "missing_video"
    if missing and config.missing_videos == "error":
        shown = "\n  ".join(missing[:20])
        more = f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise FileNotFoundError(
            f"{len(missing)} video file(s) not found (set data.selection.missing_videos=drop to drop "
            f"those rows):\n  {shown}{more}"
        )
    return missing


def _check_duplicate_index(
    extra_info: Sequence[Any], config: SelectionFilterConfig, sources: list[str], reasons: list[str | None]
) -> list[str]:
    rows_of: dict[Any, list[int]] = {}
    for i, extra in enumerate(extra_info):
        index = extra.get("index") if isinstance(extra, Mapping) else None
        if index is not None:
            rows_of.setdefault(index, []).append(i)
    repeated = {k: v for k, v in rows_of.items() if len(v) > 1}
    if not repeated:
        return []
    found = [
        f"extra_info.index {k} at rows {v} (data_source {[sources[i] for i in v]})"
        for k, v in repeated.items()
    ]
    if not config.drop_invalid:
        more = f"; … and {len(found) - 10} more" if len(found) > 10 else ""
        raise ValueError(
            f"{len(repeated)} extra_info.index value(s) repeated: {'; '.join(found[:10])}{more}. verl keys "
            "per-sample state on it: re-index the data (e.g. files that each count from 0), or set "
            "data.selection.drop_invalid=true to keep the first row of each index"
        )
    for rows in repeated.values():
        for i in rows[1:]:
            if reasons[i] is None:
                reasons[i] = "duplicate_index"
    return found


def _check_stats(
    columns: Mapping[str, Sequence[Any]], config: SelectionFilterConfig, reasons: list[str | None]
) -> list[str]:
    alive = [r is None for r in reasons]
    rules = list(SEL_STAT_RULES)
    if config.top_k is not None and config.rank_by not in {r.column for r in rules}:
        rules.append(StatRule(config.rank_by, nan_ok=True))
    found = stat_problems(columns, rules, alive)
    if "sel_pass_rate" in columns and "sel_accuracy_mean" in columns:
        # A task with accuracy always has a pass rate: NaN there is a broken row, not an exempt task.
        for i, (rate, acc) in enumerate(
            zip(columns["sel_pass_rate"], columns["sel_accuracy_mean"], strict=True)
        ):
            if alive[i] and _is_missing(rate) and not _is_missing(acc):
                problem = f"sel_pass_rate=nan while sel_accuracy_mean={acc}"
                found[i] = f"{found[i]}; {problem}" if found[i] else problem
    bad = [(i, p) for i, p in enumerate(found) if p is not None]
    if not bad:
        return []
    named = [f"row {i}: {p}" for i, p in bad]
    if not config.drop_invalid:
        more = f"; … and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise ValueError(
            f"{len(bad)} row(s) with invalid selection statistics: {'; '.join(named[:10])}{more}; fix the file "
            "(re-run `python -m selection select`), or set data.selection.drop_invalid=true to drop them"
        )
    for i, _ in bad:
        reasons[i] = "invalid_stats"
    return named


def _rank_key(value: Any, row: int) -> tuple[bool, float, int]:
    """Sort key for top-k: present values first, highest first, then earlier rows; never compares NaN."""
    if _is_missing(value):
        return (True, 0.0, row)
    return (False, -float(value), row)


def select_rows(
    columns: Mapping[str, Sequence[Any]],
    config: SelectionFilterConfig,
    *,
    apply_rules: bool = True,
    video_key: str = "videos",
) -> tuple[list[int], SelectionReport]:
    """Indices of the kept rows and the report; pure (no verl), so it is unit-testable on plain columns.

    >>> cols = {"data_source": ["a", "a", "b"], "sel_reward_std": [0.0, 0.3, 0.2]}
    >>> kept, report = select_rows(cols, SelectionFilterConfig(min_std=0.1, check_videos=False))
    >>> kept, report.dropped_by_reason
    ([1, 2], {'low_std': 1})
    """
    n = len(next(iter(columns.values()))) if columns else 0
    sources = [str(s) for s in columns.get("data_source", ["<none>"] * n)]
    reasons: list[str | None] = [None] * n
    missing: list[str] = []
    invalid: list[str] = []
    exempt: Counter[str] = Counter()

    if config.check_videos and video_key in columns:
        missing = _check_videos(columns[video_key], config, sources, reasons)
    if "extra_info" in columns:
        invalid += _check_duplicate_index(columns["extra_info"], config, sources, reasons)

    rules = apply_rules and config.has_rules
    if rules:
        absent = [c for c in config.required_columns() if c not in columns]
        if absent:
            raise ValueError(
                f"data.selection rules need column(s) {absent}, not in the data (columns: {sorted(columns)}); "
                "write the file with `python -m selection select` or drop those rules"
            )
        invalid += _check_stats(columns, config, reasons)
        std = columns.get("sel_reward_std")
        lo = config.min_pass_rate if config.min_pass_rate is not None else 0.0
        hi = config.max_pass_rate if config.max_pass_rate is not None else 1.0
        for i in range(n):
            if reasons[i] is not None:
                continue
            if std is not None and _is_missing(std[i]):
                if config.unscored == "error":
                    raise ValueError(
                        f"row {i} (data_source={sources[i]!r}) has no sel_reward_std; set "
                        "data.selection.unscored=drop to drop unscored rows"
                    )
                reasons[i] = "unscored"
            elif config.keep_reasons is not None and columns["sel_keep_reason"][i] not in config.keep_reasons:
                reasons[i] = "keep_reason"
            elif config.min_std is not None and float(columns["sel_reward_std"][i]) < config.min_std:
                reasons[i] = "low_std"
            elif config.has_pass_band:
                rate = columns["sel_pass_rate"][i]
                if _is_missing(rate):
                    exempt[sources[i]] += 1
                elif not lo <= float(rate) <= hi:
                    reasons[i] = "pass_rate_out_of_band"
        if config.top_k is not None:
            rank_values = columns[config.rank_by]
            survivors = [i for i in range(n) if reasons[i] is None]
            ranked = sorted(survivors, key=lambda i: _rank_key(rank_values[i], i))
            for i in ranked[config.top_k :]:
                reasons[i] = "below_top_k"

    kept = [i for i in range(n) if reasons[i] is None]
    by_reason = Counter(r for r in reasons if r is not None)
    dropped_by_source: dict[str, Counter[str]] = {}
    for i, reason in enumerate(reasons):
        if reason is not None:
            dropped_by_source.setdefault(sources[i], Counter())[reason] += 1
    report = SelectionReport(
        total=n,
        kept=len(kept),
        dropped_by_reason={r: by_reason[r] for r in DROP_REASONS if by_reason[r]},
        kept_by_source=dict(sorted(Counter(sources[i] for i in kept).items())),
        dropped_by_source={s: dict(c) for s, c in sorted(dropped_by_source.items())},
        missing_videos=missing,
        rules_applied=rules,
        pass_rate_exempt_by_source=dict(sorted(exempt.items())),
        invalid_rows=invalid,
    )
    return kept, report


def verify_selected_file(path: str | os.PathLike[str]) -> bool:
    """Check a data file against the ``rows_fingerprint`` ``selection select`` recorded in it.

    Returns True when verified, False when the file records no fingerprint (not a ``select`` output, or
    not a parquet file); raises ``ValueError`` naming the file, the scores and the dataset it was selected
    from when its rows (ids or ground truths) changed since.
    """
    import pyarrow.parquet as pq

    from selection.dataset import table_fingerprint
    from selection.io import read_metadata

    path = os.fspath(path)
    if not path.endswith(".parquet"):
        return False
    meta = read_metadata(path)
    recorded = meta.get("rows_fingerprint")
    if meta.get("step") != "select" or not recorded:
        return False
    names = pq.ParquetFile(path).schema_arrow.names
    table = pq.read_table(path, columns=[c for c in ("extra_info", "reward_model") if c in names])
    actual = table_fingerprint(table, path)
    if actual != recorded:
        raise ValueError(
            f"data file {path} does not hold the rows `selection select` wrote to it (selected from dataset "
            f"{meta.get('dataset')!r} with scores {meta.get('scores')!r}): its sample ids or ground truths "
            f"changed (fingerprint {actual[:19]}…, recorded {str(recorded)[:19]}…). Re-run select, or set "
            "data.selection.verify_fingerprint=false"
        )
    return True
