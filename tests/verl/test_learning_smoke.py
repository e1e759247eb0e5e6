"""CI learning smoke test: on the synthetic video task GRPO raises the reward; a corrupted signal does not.

A sign error in the reward, or responses scored against the wrong rows' ground truths, passes every unit
test: the numbers are all well formed. Only learning tells them apart. So the same short GRPO run is done
three times from the same start, on real mp4 clips (:mod:`video_rlt.learning_task`, "which colour is the
square?"), and the *true* reward must rise with the true signal and not rise with a negated or shuffled one.

Why not ``verl.trainer.main_ppo`` here: three runs of it cost several minutes of Ray start-up alone on 2
cores, and enough steps to learn would take far longer than CI allows (``benchmarks/learning.py`` does that,
with held-out metrics). The loop of :mod:`video_rlt.grpo_smoke` still goes through the parts where a
misalignment would hide: every rollout is scored by ``VideoRewardManager.run_single`` on a ``DataProto``
laid out as verl's agent loop lays it out, advantages come from verl's
``compute_grpo_outcome_advantage`` grouped by ``uid``, and the loss from verl's ``agg_loss``. The vision
tower is frozen (features computed once per clip) to keep each step cheap.

The reward is accuracy only (``weights={"mcq": {"format": 0, "accuracy": 1}}``), so a shuffled signal
cannot look like learning through the format share, which does not depend on the ground truth; and the
clips' colours are balanced (4 of each in 16), so it cannot teach the label mix either.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.learning, pytest.mark.slow]

logger = logging.getLogger(__name__)
STEPS = 30
ACCURACY_ONLY = (("weights", {"mcq": {"format": 0.0, "accuracy": 1.0}}),)


def quarter_gain(curve: list[float]) -> float:
    q = len(curve) // 4
    return sum(curve[-q:]) / q - sum(curve[:q]) / q


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    from video_rlt import learning_task as lt
    from video_rlt.tiny import build_tiny_model

    videos = tmp_path_factory.mktemp("learning_clips")
    rows = lt.task_rows(lt.make_clips(videos, 16, seed=5, prefix="clip"), ["mcq"])
    # The cached tiny model (a short text warm-up: it answers in the format, the colour at chance).
    return build_tiny_model(), rows


def curve(task: tuple[Path, list[dict[str, Any]]], signal: str) -> list[float]:
    from video_rlt.grpo_smoke import LoopConfig, run_loop

    model, rows = task
    rewards = run_loop(model, rows, LoopConfig(steps=STEPS, signal=signal, reward_kwargs=ACCURACY_ONLY))  # type: ignore[arg-type]
    logger.info(
        "signal=%s: true reward per step %s (gain %.3f)",
        signal,
        [round(r, 3) for r in rewards],
        quarter_gain(rewards),
    )
    return rewards


def test_true_reward_rises(task: tuple[Path, list[dict[str, Any]]]) -> None:
    rewards = curve(task, "reward")
    assert quarter_gain(rewards) >= 0.15, rewards


def test_negated_reward_does_not_rise(task: tuple[Path, list[dict[str, Any]]]) -> None:
    rewards = curve(task, "negated")
    assert quarter_gain(rewards) <= 0.03, rewards


def test_shuffled_ground_truths_do_not_rise(task: tuple[Path, list[dict[str, Any]]]) -> None:
    rewards = curve(task, "shuffled")
    assert quarter_gain(rewards) <= 0.05, rewards
