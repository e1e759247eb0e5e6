"""Reporting of ``benchmarks/learning.py``: held-out summaries, the constant-answer baseline, table and plot."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from video_rewards.tags import parse_answer_block

#: The best answer that ignores the video (the policy a model can learn without looking): colours are
#: balanced (any letter scores 25 %); of the generator's seven intervals, ``[1, 3]`` has the highest mean IoU
#: (0, 0.5, 0.5, 0, 1/3, 1, 1/3 → 38.1 %) and is ≥ 0.5 IoU for 3 of 7 (42.9 %).
CONSTANT_ANSWERS = {
    "mcq": "<think>look</think><answer>A</answer>",
    "tvg": "<think>look</think><answer>[1, 3]</answer>",
    "gqa": "<think>look</think><answer>A [1, 3]</answer>",
}


def constant_predictions(eval_rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """A predictions file answering every held-out row with :data:`CONSTANT_ANSWERS` of its task."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for row in eval_rows:
            task = row["extra_info"]["task"]
            record = {
                "index": row["extra_info"]["index"],
                "data_source": row["data_source"],
                "ground_truth": row["reward_model"]["ground_truth"],
                "response": CONSTANT_ANSWERS[task],
            }
            fh.write(json.dumps(record) + "\n")
    return path


def summarize(per_source: dict[str, dict[str, float]]) -> dict[str, float]:
    """Row-weighted means over the sources that have each metric (percent).

    >>> summarize({"a": {"accuracy": 50.0, "count": 2}, "b": {"accuracy": 100.0, "mIoU": 40.0, "count": 2}})
    {'accuracy': 75.0, 'mIoU': 40.0, 'R1@0.5': nan}
    """
    out = {}
    for key in ("accuracy", "mIoU", "R1@0.5"):
        pairs = [(m[key], m["count"]) for m in per_source.values() if key in m]
        total = sum(c for _, c in pairs)
        out[key] = round(sum(v * c for v, c in pairs) / total, 2) if total else float("nan")
    return out


# ------------------------------------------------------------------------------------------- reporting
def quarter_gain(curve: Sequence[float]) -> float:
    """Mean of the last quarter minus mean of the first quarter.

    >>> quarter_gain([0.0, 0.0, 1.0, 1.0])
    1.0
    """
    q = max(1, len(curve) // 4)
    return sum(curve[-q:]) / q - sum(curve[:q]) / q


def _cell(value: float) -> str:
    """A percentage cell; ``–`` for a metric the held-out tasks do not have (nan)."""
    return "–" if math.isnan(value) else f"{value:.1f}"


def table(result: dict[str, Any]) -> str:
    lines = [
        "| arm | seeds | train reward first→last quarter | held-out accuracy | held-out mIoU | held-out R1@0.5 |",
        "|---|---|---|---|---|---|",
    ]
    metrics = ("accuracy", "mIoU", "R1@0.5")
    constant = result.get("heldout_constant_answer")
    if constant:
        tasks = result.get("settings", {}).get("tasks") or list(CONSTANT_ANSWERS)
        answers = ", ".join(f"`{parse_answer_block(CONSTANT_ANSWERS[t])}`" for t in tasks)
        cells = " | ".join(_cell(constant[k]) for k in metrics)
        lines.append(f"| constant answer, no video ({answers}) | – | – | {cells} |")
    before = result["heldout"]["before"]
    lines.append(f"| warm start (before GRPO) | – | – | {' | '.join(_cell(before[k]) for k in metrics)} |")
    for arm, runs in result["arms"].items():

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> str:
            vals = [r["after"][key] for r in runs]
            if any(math.isnan(v) for v in vals):
                return "–"
            m = sum(vals) / len(vals)
            spread = (max(vals) - min(vals)) / 2 if len(vals) > 1 else 0.0
            return f"{m:.1f} ± {spread:.1f}" if len(vals) > 1 else f"{m:.1f}"

        curves = [r["reward_curve"] for r in runs]
        q = max(1, len(curves[0]) // 4)
        first = sum(sum(c[:q]) / q for c in curves) / len(curves)
        last = sum(sum(c[-q:]) / q for c in curves) / len(curves)
        lines.append(
            f"| {arm} ({runs[0]['train_rows']} rows) | {len(runs)} | {first:.3f} → {last:.3f} | "
            f"{mean('accuracy')} | {mean('mIoU')} | {mean('R1@0.5')} |"
        )
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ramp = int(result.get("settings", {}).get("lr_warmup_steps", 0))
    if ramp > 0:
        ax.axvspan(0.5, ramp + 0.5, color="grey", alpha=0.12, label=f"actor lr ramp ({ramp} steps)")
    for arm, runs in result["arms"].items():
        curves = np.array([r["reward_curve"] for r in runs], dtype=float)
        steps = np.arange(1, curves.shape[1] + 1)
        mean = curves.mean(axis=0)
        ax.plot(steps, mean, label=f"{arm} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        if len(runs) > 1:
            ax.fill_between(steps, curves.min(axis=0), curves.max(axis=0), alpha=0.2)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean training reward (critic/score/mean)")
    ax.set_title("Tiny Qwen2.5-VL, synthetic video task, GRPO on CPU (verl main_ppo)", fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
