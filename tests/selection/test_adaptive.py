"""The adaptive stopping rule: exact bounds, statistical drops, the full rule at n_max, and its error knob."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selection.adaptive import AdaptiveRule, full_rule_keeps

rewards_in_unit = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=12)
# Rewards of the kinds the dual reward produces: 0/1 accuracy, 0/0.5/1 format+accuracy, an IoU.
levels = st.sampled_from([0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    ("rewards", "min_std", "expected"),
    [
        # (rewards, min_std, full rule's decision) — computed by hand: population std of the list.
        ([0, 0, 0, 0], 0.1, False),  # all wrong
        ([1, 1, 1, 1], 0.0, False),  # all equal is dropped even at min_std 0 (select's drop_saturated)
        ([0, 1, 0, 1], 0.5, True),  # std exactly 0.5
        ([0, 0, 0, 1], 0.5, False),  # std = sqrt(3)/4 ≈ 0.433
        ([0.6, 0.62, 0.6, 0.62], 0.01, True),  # std exactly 0.01
        ([0.6, 0.62, 0.6, 0.62], 0.011, False),
    ],
)
def test_full_rule_table(rewards: list[float], min_std: float, expected: bool) -> None:
    assert full_rule_keeps(rewards, min_std) is expected


@pytest.mark.parametrize(
    ("rewards", "decision", "reason"),
    [
        ([0.0, 1.0], "keep", "proven_spread"),  # any later rewards leave std ≥ sqrt(0.5/8) = 0.25 ≥ 0.1
        ([0.0, 0.0], "more", "undecided"),  # two equal draws prove nothing yet
        ([1.0] * 7, "drop", "settled"),
        ([0.0] * 8, "drop", "full_rule"),
        ([0.0] * 7 + [1.0], "keep", "full_rule"),  # std = sqrt(7)/8 ≈ 0.33
        ([0.6, 0.7, 0.5, 0.75, 0.55], "keep", "proven_spread"),  # SS = 0.043; 0.043 / 8 ≥ 0.05²
        ([0.61, 0.63, 0.60, 0.62, 0.61], "drop", "settled"),  # an IoU that barely moves
    ],
)
def test_decision_table(rewards: list[float], decision: str, reason: str) -> None:
    rule = AdaptiveRule(n_max=8, min_std=0.05)
    verdict = rule.explain(rewards)
    assert (verdict.decision, verdict.reason) == (decision, reason)


def test_proven_keep_needs_the_dilution_bound_not_the_subset_std() -> None:
    # Subset std 0.1 ≥ min_std, but six more rewards at the mean leave the full std at 0.1·sqrt(2/8) = 0.05.
    rule = AdaptiveRule(n_max=8, min_std=0.1)
    subset = [0.4, 0.6]
    assert np.std(subset) == pytest.approx(0.1)
    assert not full_rule_keeps([0.4, 0.6] + [0.5] * 6, 0.1)
    assert rule.decide(subset) == "more"


def test_impossible_spread_is_dropped_exactly() -> None:
    # One reward left: the largest full std puts it at 0 or 1; with seven 0.5s it is 0.5·sqrt(7)/8 ≈ 0.165.
    rule = AdaptiveRule(n_max=8, min_std=0.2, error=1e-9)
    assert rule.explain([0.5] * 7).reason == "spread_impossible"
    assert rule.decide([0.5] * 7) == "drop"


@settings(max_examples=300, deadline=None)
@given(
    rewards=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=8, max_size=8),
    min_std=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_at_n_max_the_rule_is_the_full_rule(rewards: list[float], min_std: float) -> None:
    rule = AdaptiveRule(n_max=8, min_std=min_std)
    assert rule.decide(rewards) == ("keep" if full_rule_keeps(rewards, min_std) else "drop")


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.lists(st.one_of(levels, st.floats(0.0, 1.0, allow_nan=False)), min_size=1, max_size=7),
    fills=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=7, max_size=7),
    min_std=st.sampled_from([0.0, 0.05, 0.1, 0.3]),
)
def test_never_keeps_a_sample_the_full_rule_could_drop(
    prefix: list[float], fills: list[float], min_std: float
) -> None:
    """An early keep holds for every completion: here any completion, and the worst one (all at the mean)."""
    rule = AdaptiveRule(n_max=8, min_std=min_std)
    if rule.decide(prefix) != "keep":
        return
    rest = 8 - len(prefix)
    for completion in (fills[:rest], [float(np.mean(prefix))] * rest):
        assert full_rule_keeps(prefix + completion, min_std - 1e-9)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.lists(levels, min_size=1, max_size=7),
    fills=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=7, max_size=7),
)
def test_spread_impossible_drops_hold_for_every_completion(prefix: list[float], fills: list[float]) -> None:
    rule = AdaptiveRule(n_max=8, min_std=0.3)
    if rule.explain(prefix).reason != "spread_impossible":
        return
    rest = 8 - len(prefix)
    for completion in (fills[:rest], [0.0] * rest, [1.0] * rest):
        assert not full_rule_keeps(prefix + completion, 0.3 + 1e-9)


@given(rewards=rewards_in_unit)
def test_a_decision_is_always_one_of_three(rewards: list[float]) -> None:
    rule = AdaptiveRule(n_max=12, min_std=0.1)
    assert rule.decide(rewards) in ("more", "keep", "drop")


def test_lower_error_waits_longer_before_dropping_a_settled_sample() -> None:
    first_drop = [AdaptiveRule(n_max=16, min_std=0.1, error=e).checkpoints()[-2] for e in (0.001, 0.01, 0.1)]
    settled_at = [
        next(
            k
            for k in range(1, 17)
            if AdaptiveRule(n_max=16, min_std=0.1, error=e).decide([1.0] * k) == "drop"
        )
        for e in (0.001, 0.01, 0.1)
    ]
    assert settled_at == sorted(settled_at, reverse=True) and settled_at[0] > settled_at[-1]
    assert first_drop  # checkpoints end at n_max for every level
    assert all(
        AdaptiveRule(n_max=16, min_std=0.1, error=e).checkpoints()[-1] == 16 for e in (0.001, 0.01, 0.1)
    )


@pytest.mark.parametrize(("exact_share", "wiggle_share"), [(0.9, 0.5), (0.5, 0.9)])
def test_repeating_and_wiggling_rewards_use_their_own_prior(exact_share: float, wiggle_share: float) -> None:
    """Binary-looking rewards (exact repeats) and a wiggling IoU are settled with their own prior share."""
    rule = AdaptiveRule(
        n_max=16, min_std=0.1, error=0.01, settled_share=exact_share, wiggle_settled_share=wiggle_share
    )
    k_exact = next(k for k in range(2, 17) if rule.decide([0.6] * k) == "drop")
    wiggle = [0.6 + 0.01 * ((i % 3) - 1) + 1e-4 * i for i in range(16)]
    k_wiggle = next(k for k in range(2, 17) if rule.decide(wiggle[:k]) == "drop")
    assert (k_exact < k_wiggle) == (exact_share > wiggle_share)


def test_a_break_out_makes_the_sample_unsettled() -> None:
    rule = AdaptiveRule(n_max=16, min_std=0.3, error=0.05)
    settled = [0.0] * 8
    assert rule.decide(settled) == "drop"
    # One earlier reward at 1: the sample has shown it moves; std of 8 rewards with one 1 is 0.33 ≥ 0.3,
    # yet diluted over 16 rewards it could end at 0.24, so the rule needs more.
    assert rule.decide([0.0] * 4 + [1.0] + [0.0] * 3) == "more"


def test_checkpoints_start_where_a_settled_sample_can_be_dropped() -> None:
    rule = AdaptiveRule(n_max=8, min_std=0.1)
    points = rule.checkpoints()
    first_drop = next(k for k in range(1, 9) if rule.decide([0.0] * k) == "drop")
    assert first_drop in points and points[-1] == 8 and list(points) == sorted(set(points))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_max": 0}, "n_max"),
        ({"n_max": 8, "error": 0.0}, "error"),
        ({"n_max": 8, "low": 1.0, "high": 1.0}, "low"),
        ({"n_max": 8, "slab": (0.0, 1.0)}, "slab"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AdaptiveRule(**kwargs)  # type: ignore[arg-type]


def test_bad_rewards_name_the_value() -> None:
    rule = AdaptiveRule(n_max=4, min_std=0.1)
    with pytest.raises(ValueError, match=r"reward #1 = 1\.5 is outside \[0\.0, 1\.0\]"):
        rule.decide([0.0, 1.5])
    with pytest.raises(ValueError, match="more than n_max=4"):
        rule.decide([0.0] * 5)
    with pytest.raises(ValueError, match="nan"):
        rule.decide([float("nan")])
