"""``selection report``: a Markdown summary a person reads in ten seconds, plus PNG histograms.

Input: the score table, and the selection rule — taken from a ``select`` output's metadata
(``--selection kept.parquet``), from a YAML config, or the default. The rules are re-run on the scores
(they are deterministic and need only the score columns), so the report shows exactly what ``select``
kept and dropped, per task and per data source, and the fraction of informative groups (samples whose n
rewards are not all equal) before and after.

With ``--selection``, the scores must come from the same dataset as the scores that selection was made
from; with ``--dataset``, from that dataset (fingerprints, :mod:`selection.checks`). Mismatches are errors
naming both files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from selection.checks import check_same_dataset, check_scores_match_dataset
from selection.dataset import load_ground_truths
from selection.io import read_metadata, write_text_atomic
from selection.rules import SelectConfig, SelectionResult, run_rules
from selection.select import informative_fraction, load_scores

logger = logging.getLogger(__name__)

__all__ = ["build_report", "write_report"]


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}%"


def _table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no optional tabulate dependency)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _breakdown(result: SelectionResult, by: str) -> pd.DataFrame:
    t = result.table
    reasons = t["drop_reason"].fillna("kept")
    counts = pd.crosstab(t[by].fillna("?"), reasons)
    if "kept" not in counts:
        counts["kept"] = 0
    ordered = ["kept", *sorted(c for c in counts.columns if c != "kept")]
    counts = counts[ordered]
    counts.insert(0, "samples", counts.sum(axis=1))
    inf_before = t.groupby(t[by].fillna("?")).apply(informative_fraction, include_groups=False)
    kept = t[t["drop_reason"].isna()]
    inf_after = kept.groupby(kept[by].fillna("?")).apply(informative_fraction, include_groups=False)
    counts["informative_before"] = [_pct(inf_before.get(g)) for g in counts.index]
    counts["informative_after"] = [_pct(inf_after.get(g)) for g in counts.index]
    valid = t[t["drop_reason"] != "invalid_stats"]  # an inf there would make the whole group's mean inf
    counts["mean_reward_std"] = (
        valid.groupby(valid[by].fillna("?"))["reward_std"].mean().reindex(counts.index)
    )
    return counts.reset_index().rename(columns={by: by})


def _histograms(result: SelectionResult, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Rows dropped as invalid_stats may hold inf / negative values: they would break the bins.
    t = result.table[(result.table["n"] > 0) & (result.table["drop_reason"] != "invalid_stats")]
    kept = t[t["drop_reason"].isna()]
    names = []
    for col, title in (("reward_std", "reward std over the n rollouts"), ("reward_mean", "mean reward")):
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        values = t[col].dropna().to_numpy()
        hi = float(values.max()) if len(values) else 1.0
        bins = np.linspace(0.0, max(hi, 1e-6), 31)
        ax.hist(values, bins=bins, alpha=0.5, label=f"all scored ({len(values)})", color="tab:gray")
        ax.hist(
            kept[col].dropna().to_numpy(), bins=bins, alpha=0.7, label=f"kept ({len(kept)})", color="tab:blue"
        )
        ax.set_xlabel(col)
        ax.set_ylabel("samples")
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        name = f"{col}_hist.png"
        fig.savefig(out / name)
        plt.close(fig)
        names.append(name)
    return names


def build_report(
    scores: pd.DataFrame, config: SelectConfig, score_meta: dict[str, Any], *, where: str = "scores"
) -> tuple[str, SelectionResult]:
    """The Markdown text (without images) and the selection decisions."""
    result = run_rules(scores, config, where=where)
    t = result.table
    kept = t[t["drop_reason"].isna()]
    before, after = informative_fraction(t), informative_fraction(kept)
    lines = [
        "# Data selection report",
        "",
        f"**{len(kept)} of {len(t)} samples kept** ({_pct(len(kept) / len(t) if len(t) else None)}) "
        f"by rule `{config.describe()}`.",
        f"Informative groups (the n rewards are not all equal): **{_pct(before)} before → {_pct(after)} after**.",
        "",
        f"Reward version `{score_meta.get('reward_version', '?')}`, model `{score_meta.get('model', '?')}`, "
        f"rollouts `{json.dumps(score_meta.get('rollout_settings'), sort_keys=True)}`.",
        f"Dataset `{score_meta.get('dataset', '?')}` ({score_meta.get('dataset_rows', '?')} rows, fingerprint "
        f"`{score_meta.get('dataset_fingerprint') or 'not recorded'}`).",
        "",
        "## Dropped, by reason",
        "",
        _table(pd.DataFrame({"reason": list(result.counts), "samples": list(result.counts.values())}))
        if result.counts
        else "Nothing dropped.",
        "",
        "## Per task",
        "",
        _table(_breakdown(result, "task")),
        "",
        "## Per data source",
        "",
        _table(_breakdown(result, "data_source")),
        "",
    ]
    failed = t[t["failure"].notna()]
    if len(failed):
        top = failed["failure"].astype(str).str.split(":").str[0].value_counts()
        lines += ["## Failed samples", "", _table(top.rename_axis("reason").reset_index(name="samples")), ""]
    return "\n".join(lines), result


def write_report(
    scores_path: str | Path,
    output_dir: str | Path,
    config: SelectConfig | None = None,
    selection: str | Path | None = None,
    *,
    dataset: str | Path | None = None,
    verify_fingerprint: bool = True,
) -> Path:
    """Write ``report.md``, ``report.json`` and the histograms to ``output_dir``; returns the Markdown path.

    ``selection`` / ``dataset`` (optional) are checked against the scores' dataset fingerprint unless
    ``verify_fingerprint`` is off. Every check runs before anything is written.
    """
    score_meta = read_metadata(scores_path)
    selection_meta = read_metadata(selection) if selection is not None else {}
    if verify_fingerprint and selection is not None:
        check_same_dataset(scores_path, score_meta, selection, selection_meta)
    if verify_fingerprint and dataset is not None:
        truths = load_ground_truths(dataset)
        check_scores_match_dataset(
            scores_path, score_meta, dataset, truths.fingerprint(), len(truths.samples)
        )
    if config is None and selection is not None:
        recorded = selection_meta.get("config")
        if recorded is None:
            raise ValueError(
                f"{selection}: no selection config in its metadata (not written by `selection select`?)"
            )
        config = SelectConfig.model_validate(recorded)
    config = config or SelectConfig()
    scores = load_scores(scores_path)
    text, result = build_report(scores, config, score_meta, where=f"scores {scores_path}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = _histograms(result, out)
    text += "\n## Histograms\n\n" + "\n".join(f"![{name}]({name})" for name in images) + "\n"
    md = write_text_atomic(text, out / "report.md")
    summary = {
        "config": config.model_dump(mode="json"),
        "samples": len(result.table),
        "kept": int(result.table["drop_reason"].isna().sum()),
        "dropped_by_reason": result.counts,
        "informative_fraction": {
            "before": informative_fraction(result.table),
            "after": informative_fraction(result.kept),
        },
        "score_metadata": score_meta,
    }
    write_text_atomic(json.dumps(summary, indent=2, sort_keys=True, default=str), out / "report.json")
    logger.info("report written to %s", md)
    return md
