"""The online group filter: its rule, its config, and a real CPU ``main_ppo`` run with it switched on."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from video_rlt.verl_group_filter import GroupFilterConfig, SpreadFilterReplayBuffer, group_drop_reason

from .conftest import MIN_STD

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "cpu" / "grpo_tiny_cpu.sh"
FILTER_MIN_STD = 0.1
STEPS, BATCH, N = 2, 2, 4


@pytest.mark.parametrize(
    ("rewards", "expected"),
    [
        # (group rewards, why dropped) with min_std 0.05 and the band [0.05, 0.95]; std by hand.
        ([0.0, 0.0, 0.0, 0.0], "low_spread"),  # DAPO's case: all equal
        ([0.61, 0.63, 0.60, 0.62], "low_spread"),  # std ≈ 0.011: an IoU that barely moves
        ([0.4, 0.6, 0.4, 0.6], None),  # std 0.1, mean 0.5
        ([0.88, 1.0, 1.0, 1.0], "mean_out_of_band"),  # std ≈ 0.052, mean 0.97 > 0.95: nearly solved
        ([0.0, 0.0, 0.0, 0.16], "mean_out_of_band"),  # std ≈ 0.069, mean 0.04 < 0.05: nearly hopeless
        ([0.92, 1.0, 0.92, 1.0], "low_spread"),  # std 0.04: spread is judged first
        ([0.3], None),  # one rollout: nothing to judge (verl's DAPO keeps it too)
    ],
)
def test_group_drop_reason_table(rewards: list[float], expected: str | None) -> None:
    cfg = GroupFilterConfig(min_std=0.05, mean_low=0.05, mean_high=0.95, train_batch_size=2)
    assert group_drop_reason(rewards, cfg) == expected


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="mean_low"):
        GroupFilterConfig(mean_low=0.9, mean_high=0.1, train_batch_size=2)
    with pytest.raises(ValueError, match="train_batch_size"):
        SpreadFilterReplayBuffer(
            sampler_kwargs={"min_std": 0.1}, trainer_mode="sync", trainer_config={}, max_off_policy_threshold=None,
            max_off_policy_strategy="drop", refill_fn=lambda n: n,
        )  # fmt: skip
    with pytest.raises(ValueError, match="sync replay buffer"):
        SpreadFilterReplayBuffer(sampler_kwargs={"train_batch_size": 2}, trainer_mode="async")


def _steps(log: str) -> dict[int, dict[str, str]]:
    import re

    steps: dict[int, dict[str, str]] = {}
    for match in re.finditer(r"step:(\d+) - (.*)", log):
        fields = dict(part.split(":", 1) for part in match.group(2).strip().split(" - ") if ":" in part)
        steps[int(match.group(1))] = fields
    return steps


def _number(text: str) -> float:
    import re

    match = re.fullmatch(r"np\.\w+\((.*)\)", text.strip())
    return float(match.group(1) if match else text)


@pytest.mark.e2e
def test_main_ppo_with_the_group_filter(tmp_path: Path, selected_parquet: Path, tiny_model_dir: Path) -> None:
    """2 GRPO steps on CPU: every trained group passes the filter, and the kept fraction is logged."""
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
        "bash", str(RECIPE),
        f"trainer.total_training_steps={STEPS}",
        f"actor_rollout_ref.rollout.n={N}",
        "trainer.v1.sampler.custom_sampler.path=pkg://video_rlt.verl_group_filter",
        "trainer.v1.sampler.custom_sampler.name=SpreadFilterReplayBuffer",
        f"+trainer.v1.sampler.sampler_kwargs.min_std={FILTER_MIN_STD}",
        f"+trainer.v1.sampler.sampler_kwargs.train_batch_size={BATCH}",
        "trainer.test_freq=-1",
        f"trainer.rollout_data_dir={tmp_path / 'rollouts'}",
        f"trainer.default_local_dir={tmp_path / 'ckpt'}",
        f"+data.cache_dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    (tmp_path / "console.log").write_text(log)
    assert proc.returncode == 0, f"main_ppo failed (exit {proc.returncode}); log tail:\n{log[-6000:]}"

    steps = _steps(log)
    assert sorted(steps) == list(range(1, STEPS + 1))
    for fields in steps.values():
        kept = _number(fields["training/group_filter/kept_fraction"])
        assert 0.0 < kept <= 1.0
        dropped = _number(fields["training/group_filter/dropped_low_spread"])
        assert math.isclose(kept, 1.0) == (dropped == 0)

    # Each trained group (same step, same prompt, N rollouts) has the spread the filter asks for.
    records: list[dict[str, Any]] = [
        json.loads(line)
        for f in sorted((tmp_path / "rollouts").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    assert len(records) == STEPS * BATCH * N
    groups: dict[tuple[Any, str], list[float]] = defaultdict(list)
    for r in records:
        groups[(r["step"], r["input"])].append(float(r["score"]))
    for values in groups.values():
        if len(values) == N:  # a prompt drawn twice in one step would merge two groups here
            assert float(np.std(values)) >= FILTER_MIN_STD, values
