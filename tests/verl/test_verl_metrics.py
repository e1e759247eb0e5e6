"""Training-time reward metrics (video_rewards.integrations.verl_metrics): values a person worked out by hand."""

from __future__ import annotations

import math
import random

import pytest

from video_rewards.integrations.verl_metrics import (
    TRAINER_MODE,
    RewardMetricsTrainer,
    group_std,
    reward_metrics,
)

NAN = math.nan


def info(score: float, fmt: float, acc: float, iou: float, failure: str = "") -> dict[str, object]:
    return {
        "score": score,
        "format": fmt,
        "accuracy": acc,
        "iou": iou,
        "parse_failed": 1.0 if failure else 0.0,
        "failure": failure,
    }


def test_components_failures_and_informative_groups_per_source() -> None:
    # Two mcq groups (uid m1: rewards 1, 0.5 → std 0.25; uid m2: 0.5, 0.5 → std 0) and one tvg group
    # (uid t1: 0.9, 0 → std 0.45), the second tvg rollout unparsed.
    sources = ["mcq", "mcq", "mcq", "mcq", "tvg", "tvg"]
    uids = ["m1", "m1", "m2", "m2", "t1", "t1"]
    rewards = [1.0, 0.5, 0.5, 0.5, 0.9, 0.0]
    extras = [
        info(1.0, 1.0, 1.0, NAN),
        info(0.5, 1.0, 0.0, NAN),
        info(0.5, 1.0, 0.0, NAN),
        info(0.5, 1.0, 0.0, NAN),
        info(0.9, 1.0, NAN, 0.8),
        info(0.0, 0.0, NAN, 0.0, failure="no_answer_tag"),
    ]
    m = reward_metrics(sources, uids, rewards, extras, min_std=0.3)
    assert m["reward/mcq/accuracy/mean"] == pytest.approx(0.25)
    assert "reward/mcq/iou/mean" not in m  # no mcq row has an IoU: nothing logged, not NaN
    assert m["reward/tvg/iou/mean"] == pytest.approx(0.4)
    assert m["reward/tvg/format/mean"] == pytest.approx(0.5)
    assert m["reward/all/format/mean"] == pytest.approx(5 / 6)
    assert m["reward/all/accuracy/mean"] == pytest.approx(0.25)  # over the 4 rows that have one
    assert m["reward/tvg/parse_failed/mean"] == pytest.approx(0.5)
    assert m["reward/tvg/failure/no_answer_tag/count"] == 1.0
    assert m["reward/all/failure/no_answer_tag/count"] == 1.0
    assert not any(k.startswith("reward/mcq/failure/") for k in m)
    # min_std 0.3: only t1 (0.45) is informative; m1 (0.25) is not; m2 (0) never.
    assert m["reward/groups/count"] == 3.0
    assert m["reward/groups/informative_count"] == 1.0
    assert m["reward/groups/informative_fraction"] == pytest.approx(1 / 3)
    assert m["reward/groups/std_mean"] == pytest.approx((0.25 + 0.0 + 0.45) / 3)
    low = reward_metrics(sources, uids, rewards, extras, min_std=0.0)
    assert low["reward/groups/informative_count"] == 2.0  # equal rewards are never informative


def test_group_std_is_selections_population_std() -> None:
    from selection.adaptive import full_rule_keeps

    rng = random.Random(0)
    for _ in range(200):
        rewards = [rng.choice([0.0, 0.5, 1.0, 0.1 + 0.2]) for _ in range(rng.randint(1, 8))]
        threshold = rng.choice([0.0, 0.1, 0.25])
        ours = group_std(rewards) >= threshold and group_std(rewards) > 0.0
        assert ours == full_rule_keeps(rewards, threshold), (rewards, threshold)
    assert group_std([0.1 + 0.2] * 7) == 0.0  # exactly, although np.std of equal floats may not be


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="one value per rollout"):
        reward_metrics(["a"], ["u", "v"], [1.0], [{}])


def test_registered_under_verls_trainer_registry() -> None:
    from verl.trainer.ppo.v1 import PPOTrainerSync, get_trainer_cls

    assert get_trainer_cls(TRAINER_MODE) is RewardMetricsTrainer
    assert issubclass(RewardMetricsTrainer, PPOTrainerSync)
