"""Score a JSONL file of rollouts with the dual reward and print one line per rollout plus task means.

    python examples/score_rollouts.py [ROLLOUTS.jsonl]

Each line: ``{"response": str, "ground_truth": {...reward contract...}, "data_source"?: str}``. Without an
argument it scores the rollouts bundled with the package (``video_rewards/data/demo_rollouts.jsonl``).
Only the light core is needed: ``pip install video-rlt``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from importlib import resources
from pathlib import Path

import numpy as np

import video_rewards as vr


def load(path: Path | None) -> list[dict]:
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else resources.files("video_rewards").joinpath("data/demo_rollouts.jsonl").read_text(encoding="utf-8")
    )
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path or 'demo_rollouts.jsonl'}:{number}: not JSON ({exc})") from exc
        missing = [key for key in ("response", "ground_truth") if not isinstance(row, dict) or key not in row]
        if missing:
            raise SystemExit(f"{path or 'demo_rollouts.jsonl'}:{number}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    rows = load(Path(argv[0]) if argv else None)
    cols = vr.score_batch(
        [r["response"] for r in rows],
        [r["ground_truth"] for r in rows],
        data_sources=[r.get("data_source") for r in rows],
    )
    by_task: dict[str, list[float]] = defaultdict(list)
    for i, row in enumerate(rows):
        task = str(cols["task"][i])
        by_task[task].append(float(cols["score"][i]))
        reason = cols["failure"][i] or "ok"
        print(
            f"{i:3d} {task:<9} score={cols['score'][i]:.3f} format={cols['format'][i]:.0f} {reason:<20} {row['response'][:50]!r}"
        )
    print()
    for task, scores in sorted(by_task.items()):
        print(f"{task:<9} n={len(scores):<3d} mean score {np.mean(scores):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
