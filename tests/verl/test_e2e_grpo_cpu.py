"""THE end-to-end test: ``python -m verl.trainer.main_ppo`` runs 2 GRPO steps on CPU with the project's
recipe (recipes/cpu/grpo_tiny_cpu.sh), reward manager, dataset filter and real video of all three tasks."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import KEPT_ROWS, MIN_STD, SELECTED_ROWS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "cpu" / "grpo_tiny_cpu.sh"
STEPS, BATCH, N = 2, 2, 2
COMPONENTS = ("score", "format", "accuracy", "iou", "parse_failed")


def parse_step_metrics(log: str) -> dict[int, dict[str, str]]:
    """verl's console logger prints ``step:N - key:value - key:value …`` once per step."""
    steps: dict[int, dict[str, str]] = {}
    for match in re.finditer(r"step:(\d+) - (.*)", log):
        fields = dict(part.split(":", 1) for part in match.group(2).strip().split(" - ") if ":" in part)
        steps[int(match.group(1))] = fields
    return steps


def as_float(text: str) -> float:
    """A console metric value: ``0.5``, ``nan`` or a numpy repr such as ``np.float64(0.5)``."""
    match = re.fullmatch(r"np\.\w+\((.*)\)", text.strip())
    return float(match.group(1) if match else text)


def read_jsonl(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def grpo_run(
    tmp_path_factory: pytest.TempPathFactory, selected_parquet: Path, tiny_model_dir: Path
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("grpo_cpu")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "TRAIN_FILES": str(selected_parquet),
        "MODEL_PATH": str(tiny_model_dir),
        "MIN_STD": str(MIN_STD),
        "RAY_DEDUP_LOGS": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    cmd = [
        "bash",
        str(RECIPE),
        f"trainer.total_training_steps={STEPS}",
        f"trainer.rollout_data_dir={out / 'rollouts'}",
        f"trainer.validation_data_dir={out / 'validation'}",
        f"trainer.default_local_dir={out / 'ckpt'}",
        f"+data.cache_dir={out / 'cache'}",
    ]
    proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    (out / "console.log").write_text(log)
    assert proc.returncode == 0, f"main_ppo failed (exit {proc.returncode}); log tail:\n{log[-6000:]}"
    return {"log": log, "out": out}


def test_run_finished_all_steps(grpo_run: dict[str, Any]) -> None:
    steps = parse_step_metrics(grpo_run["log"])
    assert sorted(steps) == list(range(1, STEPS + 1))
    for fields in steps.values():
        assert math.isfinite(as_float(fields["actor/pg_loss"]))
        assert math.isfinite(as_float(fields["critic/score/mean"]))


def test_every_training_rollout_was_scored_by_the_reward_manager(grpo_run: dict[str, Any]) -> None:
    import video_rewards as vr

    rollouts = read_jsonl(grpo_run["out"] / "rollouts")
    assert len(rollouts) == STEPS * BATCH * N
    for r in rollouts:
        expected = vr.score(r["output"], r["gts"]).score
        assert r["score"] == pytest.approx(expected, abs=1e-6), r


def test_filter_kept_exactly_the_selected_rows(grpo_run: dict[str, Any]) -> None:
    log = grpo_run["log"]
    dropped = len(SELECTED_ROWS) - len(KEPT_ROWS)
    assert (
        f"kept {len(KEPT_ROWS)} of {len(SELECTED_ROWS)} rows; dropped by reason {{'low_std': {dropped}}}"
        in log
    )
    kept_truths = {json.dumps(SELECTED_ROWS[i]["gt"]) for i in KEPT_ROWS}
    trained_truths = {r["gts"] for r in read_jsonl(grpo_run["out"] / "rollouts")}
    # 2 steps x batch 2 = one pass over the 4 kept rows: every kept row was trained on, no dropped row was.
    assert trained_truths == kept_truths


def test_reward_components_logged_per_data_source(grpo_run: dict[str, Any]) -> None:
    final = parse_step_metrics(grpo_run["log"])[STEPS]
    for task in ("mcq", "tvg", "gqa"):
        for key in COMPONENTS:
            value = as_float(final[f"val-aux/tiny_{task}/{key}/mean@1"])
            not_applicable = (task == "mcq" and key == "iou") or (task == "tvg" and key == "accuracy")
            assert math.isnan(value) == not_applicable, (task, key, value)
    validation = read_jsonl(grpo_run["out"] / "validation")
    assert len(validation) == len(KEPT_ROWS)
    for r in validation:
        assert set(COMPONENTS) <= set(r), r
