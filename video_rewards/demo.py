"""Score the bundled realistic rollouts and print the per-task reward table.

    python -m video_rewards.demo               # the table
    python -m video_rewards.demo --rows        # and every rollout with its parse
    python -m video_rewards.demo --iou-mode giou --iou-threshold 0.5 --json

The rollouts (``video_rewards/data/demo_rollouts.jsonl``) are hand-written in the styles of R1-style
(think/answer) and Qwen2.5-VL outputs for every task, including malformed ones (truncated, ambiguous,
reversed spans, text outside the tags).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

import video_rewards as vr

ROLLOUTS = "demo_rollouts.jsonl"


def load_rollouts() -> list[dict[str, Any]]:
    """The bundled rollouts: ``id``, ``style``, ``data_source``, ``note``, ``ground_truth``, ``response``."""
    text = resources.files("video_rewards").joinpath("data", ROLLOUTS).read_text(encoding="utf-8")
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{ROLLOUTS} line {lineno}: {exc}") from None
    return rows


def score_rollouts(rows: Sequence[dict[str, Any]], config: vr.RewardConfig) -> dict[str, npt.NDArray[Any]]:
    return vr.score_batch(
        [r["response"] for r in rows],
        [r["ground_truth"] for r in rows],
        config=config,
        data_sources=[r["data_source"] for r in rows],
    )


def task_table(cols: dict[str, npt.NDArray[Any]]) -> list[dict[str, Any]]:
    """One row per task: count, mean score / format / accuracy / IoU (NaN-aware), parse failures."""
    out = []
    for task in dict.fromkeys(cols["task"].tolist()):
        sel = cols["task"] == task
        row: dict[str, Any] = {"task": task, "n": int(sel.sum())}
        for key in ("score", "format", "accuracy", "iou"):
            values = cols[key][sel]
            row[key] = None if np.isnan(values).all() else float(np.nanmean(values))
        row["parse_failed"] = int(cols["parse_failed"][sel].sum())
        out.append(row)
    return out


def _cell(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def render(table: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'task':<10}{'n':>4}{'score':>8}{'format':>8}{'accuracy':>10}{'iou':>8}{'parse failed':>14}"]
    for r in table:
        lines.append(
            f"{r['task']:<10}{r['n']:>4}{_cell(r['score']):>8}{_cell(r['format']):>8}"
            f"{_cell(r['accuracy']):>10}{_cell(r['iou']):>8}{r['parse_failed']:>14}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m video_rewards.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", action="store_true", help="also print every rollout's result")
    ap.add_argument("--json", action="store_true", help="print the table as JSON instead")
    ap.add_argument("--iou-mode", choices=["iou", "giou", "distance"], default="iou")
    ap.add_argument("--iou-threshold", type=float, default=None)
    args = ap.parse_args(argv)
    try:
        config = vr.RewardConfig.from_kwargs(iou_mode=args.iou_mode, iou_threshold=args.iou_threshold)
    except ValueError as exc:
        ap.error(str(exc))
    rows = load_rollouts()
    cols = score_rollouts(rows, config)
    table = task_table(cols)
    out = sys.stdout.write  # this is a CLI: its output is the point
    if args.json:
        out(json.dumps({"reward_version": vr.REWARD_VERSION, "tasks": table}, indent=2) + "\n")
        return 0
    out(f"video_rewards {vr.REWARD_VERSION}: {len(rows)} bundled rollouts ({ROLLOUTS})\n\n")
    if args.rows:
        for i, r in enumerate(rows):
            out(
                f"{r['id']:<14}{r['style']:<12}score={cols['score'][i]:.3f} format={cols['format'][i]:.0f} "
                f"pred={cols['prediction'][i]!s:<22} failure={cols['failure'][i]!s:<20} {r['note']}\n"
            )
        out("\n")
    out(render(table) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
