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

from verl_plugins.group_filter import GroupFilterConfig, SpreadFilterReplayBuffer, group_drop_reason

from .conftest import MIN_STD

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "cpu" / "grpo_tiny_cpu.sh"
# Strict enough that groups are dropped for sure, loose enough that a step fills in a few generation batches:
# an mcq group scores in {0, 0.5} (std ≤ 0.25) and a gqa group in thirds (std ≈ 0.17 in past runs), so both
# are always dropped; tvg groups (IoU) pass about half the time (std 0.33-0.34 in past runs). Two steps of
# two prompts draw the whole first epoch of the four kept rows, so an mcq and a gqa group are judged.
FILTER_MIN_STD = 0.26
MAX_GEN_BATCHES = 40  # per step: a filter that drops every group fails the run instead of hanging it;
# 40 batches (80 prompts) make a run of bad luck (fewer than 2 passing tvg groups, p ≈ 0.25 each) negligible.
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


def test_refills_are_counted_and_capped() -> None:
    """Refills reach verl's trainer and are counted; past max_gen_batches the step fails naming the knob."""
    sent: list[int] = []
    buffer = SpreadFilterReplayBuffer(
        sampler_kwargs={"min_std": 0.1, "train_batch_size": 2, "max_gen_batches": 3}, trainer_mode="sync",
        trainer_config={}, max_off_policy_threshold=None, max_off_policy_strategy="drop", refill_fn=sent.append,
    )  # fmt: skip
    assert buffer.refill_fn is not None
    buffer.refill_fn(2)
    buffer.refill_fn(2)  # first batch + 2 refill batches = 3: still allowed
    assert sent == [2, 2]
    with pytest.raises(RuntimeError, match="max_gen_batches=3"):
        buffer.refill_fn(1)
    assert sent == [2, 2]  # the prompts past the cap were never generated


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
    """2 GRPO steps on CPU: groups are dropped and refilled, every trained group passes, kept fraction logged."""
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
        "trainer.v1.sampler.custom_sampler.path=pkg://verl_plugins.group_filter",
        "trainer.v1.sampler.custom_sampler.name=SpreadFilterReplayBuffer",
        f"+trainer.v1.sampler.sampler_kwargs.min_std={FILTER_MIN_STD}",
        f"+trainer.v1.sampler.sampler_kwargs.train_batch_size={BATCH}",
        f"+trainer.v1.sampler.sampler_kwargs.max_gen_batches={MAX_GEN_BATCHES}",
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
    kept_fractions, dropped_total, refilled_total = [], 0.0, 0.0
    for fields in steps.values():
        kept = _number(fields["training/group_filter/kept_fraction"])
        assert 0.0 < kept <= 1.0
        dropped = _number(fields["training/group_filter/dropped_low_spread"]) + _number(
            fields["training/group_filter/dropped_mean_out_of_band"]
        )
        refilled = _number(fields["training/group_filter/refilled_prompts"])
        assert math.isclose(kept, 1.0) == (dropped == 0)
        # verl evicted exactly the groups we dropped, and asked for fresh prompts whenever it did.
        assert _number(fields.get("training/filter_groups/evicted_samples", "0")) == dropped
        assert (refilled > 0) == (dropped > 0)
        kept_fractions.append(kept)
        dropped_total += dropped
        refilled_total += refilled
    # The drop-and-refill path ran: groups were dropped, replaced, and the kept fraction shows it.
    assert dropped_total > 0 and refilled_total > 0
    assert min(kept_fractions) < 1.0

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
