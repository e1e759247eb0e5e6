"""Adaptive repeated inference: decide keep / drop for a sample from as few rollouts as possible.

The *full rule* draws ``n_max`` rewards and keeps a sample iff their population std (ddof=0, the std
``select`` uses) is ≥ ``min_std`` and the rewards are not all equal. :class:`AdaptiveRule` looks at the
rewards drawn so far and answers ``"keep"``, ``"drop"`` or ``"more"``; at ``n_max`` rewards it is the full
rule. Rewards lie in ``[low, high]`` (the dual reward: [0, 1]). With ``k`` rewards seen and ``m = n_max - k``
still to draw:

1. **Keep only when proven.** Whatever the ``m`` missing rewards are, the full sum of squared deviations is
   at least the observed one (the minimum puts every missing reward at the observed mean), so the full std
   is ≥ ``std_k · sqrt(k / n_max)``. Once that bound reaches ``min_std`` the full rule keeps the sample:
   keep. (A subset's std above ``min_std`` alone proves nothing: missing rewards at the mean dilute it.)
   The rule never keeps a sample the full rule would drop: precision is 1.
2. **Drop when impossible.** The largest full std (missing rewards at ``low``/``high``; the variance is
   convex, so the maximum is at a corner) is below ``min_std``: drop, also exact.
3. **Drop when settled, statistically.** Call a reward a *break-out* when it lands outside the range of
   the rewards before it, widened by ``margin`` (0 for binary-looking rewards, whose values repeat exactly;
   ``min_std / 2`` for continuous ones such as a temporal IoU, which wiggle without breaking out). Let
   ``j*`` be the fewest break-outs among the ``m`` missing rewards that *could* lift the full std to
   ``min_std`` (break-outs at ``low``/``high``, the other rewards at the ends of the widened range; exact
   maxima). If ``j* = 0`` the sample's spread is near the threshold: more rollouts. Otherwise the rule
   computes ``p_miss`` = P(at least ``j*`` break-outs among the ``m``), which bounds the chance that the
   full rule would keep the sample, and drops when ``p_miss ≤ error``.

**Error model.** ``p_miss`` is a posterior under a spike-and-slab prior on a sample's break-out rate ``q``:
the sample is settled (``q = 0``: always right, always wrong, an IoU that barely moves) with probability
``settled_share`` if its rewards repeat exactly (binary-looking) and ``wiggle_settled_share`` if they are
continuous; otherwise ``q ~ Beta(*slab)``. A sample whose ``k - 1`` later rewards showed ``b`` break-outs
has slab weight ``(1 - s) L / (s [b = 0] + (1 - s) L)`` with ``L = B(a + b, β + k - 1 - b) / B(a, β)``;
under the slab the number of break-outs among the ``m`` is beta-binomial. ``error`` is **the one knob**:
the largest posterior probability, per dropped sample, that the full rule would have kept it. If the prior
describes the population, the expected number of kept samples lost is at most ``error × dropped``, so the
recall of the full rule's kept set is ≥ ``1 - error × dropped / kept``; lower ``error`` buys recall with
rollouts. Keeps are never statistical, so precision is 1 whatever ``error`` is.

The prior defaults (``settled_share=0.6``, ``wiggle_settled_share=0.9``, ``slab=(2, 2)``) are fitted to the
base-model populations simulated by ``benchmarks/bench_adaptive.py`` (most candidates settled, the paper
keeps 32k of 490k; exact binary repeats often come from a mixed sample with a low pass rate, a barely
moving IoU rarely does). There, with ``n_max=16`` and the default ``error=0.02``, the rule keeps ≥ 90% of
the full rule's kept set with ≤ 60% of its rollouts. For a very different model or task, run a slice at
full ``n`` and compare (the benchmark's ``evaluate`` does exactly that).

Rollouts are requested in rounds (:meth:`AdaptiveRule.checkpoints`): first as many as a settled sample
needs to be dropped, then rounds of that size up to ``n_max``.

>>> rule = AdaptiveRule(n_max=16, min_std=0.1)
>>> rule.checkpoints()
(5, 10, 16)
>>> rule.decide([0.0, 1.0]), rule.decide([1.0] * 5), rule.decide([1.0] * 10)
('keep', 'more', 'drop')
>>> rule.decide([0.61, 0.63, 0.60, 0.62, 0.61])  # an IoU that barely moves
'drop'
>>> rule.explain([0.6, 0.9, 0.5, 0.75])  # std 0.15, but 12 rewards at the mean would leave 0.075
Verdict(decision='more', reason='undecided', p_miss=None)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AdaptiveRule", "Decision", "Verdict", "full_rule_keeps"]

Decision = Literal["more", "keep", "drop"]
Reason = Literal["proven_spread", "spread_impossible", "settled", "full_rule", "undecided"]
# Variances this close to zero are "all rewards equal" (rounding of float means, e.g. mean of 0.1s ≠ 0.1).
_ZERO_VAR = 1e-12


def full_rule_keeps(rewards: Sequence[float] | npt.NDArray[np.float64], min_std: float) -> bool:
    """The full rule on all ``n_max`` rewards: population std ≥ ``min_std`` and not all equal.

    >>> full_rule_keeps([0, 0, 1, 1], 0.5), full_rule_keeps([0.5] * 4, 0.0)
    (True, False)
    """
    values = np.asarray(rewards, dtype=np.float64)
    if len(values) < 2 or values.max() == values.min():
        return False
    return float(np.std(values)) >= min_std


@dataclass(frozen=True)
class Verdict:
    """A decision with its grounds: ``p_miss`` is set only for statistical drops and undecided samples."""

    decision: Decision
    reason: Reason
    p_miss: float | None = None


class AdaptiveRule(BaseModel):
    """When to stop drawing rollouts for one sample (see the module docstring for the rule and its errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_max: int = Field(ge=1, le=1024, description="rollouts of the full rule (--n)")
    min_std: float = Field(
        default=0.0, ge=0.0, description="the full rule's std threshold (select --min-std)"
    )
    error: float = Field(
        default=0.02,
        gt=0.0,
        lt=1.0,
        description="largest posterior chance that a dropped sample was informative",
    )
    low: float = Field(default=0.0, description="smallest possible reward")
    high: float = Field(default=1.0, description="largest possible reward")
    settled_share: float = Field(
        default=0.6,
        ge=0.0,
        lt=1.0,
        description="prior share of settled samples among those whose rewards repeat",
    )
    wiggle_settled_share: float = Field(
        default=0.9,
        ge=0.0,
        lt=1.0,
        description="prior share of settled samples among those whose rewards wiggle",
    )
    slab: tuple[float, float] = Field(
        default=(2.0, 2.0), description="Beta prior of a mixed sample's break-out rate"
    )
    round_size: int | None = Field(
        default=None, ge=1, description="rollouts per later round (default: the first round's)"
    )

    @model_validator(mode="after")
    def _check(self) -> AdaptiveRule:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if min(self.slab) <= 0:
            raise ValueError(f"slab: Beta parameters must be > 0, got {self.slab}")
        return self

    # ---------------------------------------------------------------------------------------------
    def decide(self, rewards: Sequence[float]) -> Decision:
        """``"keep"``, ``"drop"`` or ``"more"`` for the rewards drawn so far (always decides at ``n_max``)."""
        return self.explain(rewards).decision

    def explain(self, rewards: Sequence[float]) -> Verdict:
        """:meth:`decide` with the reason and, for statistical decisions, the posterior miss probability."""
        x = self._validated(rewards)
        k, n = len(x), self.n_max
        if k == 0:
            return Verdict("more", "undecided")
        var_needed = max(self.min_std**2, _ZERO_VAR)
        ss = float(np.sum((x - x.mean()) ** 2))
        if k == n:
            keep = full_rule_keeps(x, self.min_std)
            return Verdict("keep" if keep else "drop", "full_rule")
        if ss / n >= var_needed:
            return Verdict("keep", "proven_spread")
        m = n - k
        discrete = _binary_looking(x)
        margin = 0.0 if discrete else self.min_std / 2
        lo, hi = max(self.low, float(x.min()) - margin), min(self.high, float(x.max()) + margin)
        reach = _Reach(float(x.sum()), float(np.sum(x * x)), n, m, self.low, self.high, lo, hi)
        if reach.max_var(m) < var_needed:
            return Verdict("drop", "spread_impossible")
        needed = next(j for j in range(m + 1) if reach.max_var(j) >= var_needed)
        if needed == 0:
            return Verdict("more", "undecided")
        p_miss = self._p_breakouts(k, _breakouts(x, margin), m, needed, discrete)
        return (
            Verdict("drop", "settled", p_miss)
            if p_miss <= self.error
            else Verdict("more", "undecided", p_miss)
        )

    def checkpoints(self) -> tuple[int, ...]:
        """Rollout counts at which the rule is asked: the first settled drop, then every ``round_size``.

        The first round is the fewest equal rewards after which the rule drops a sample.
        """
        return self._checkpoints

    # ---------------------------------------------------------------------------------------------
    @cached_property
    def _checkpoints(self) -> tuple[int, ...]:
        first = next(
            (k for k in range(2, self.n_max + 1) if self.decide([self.low] * k) == "drop"), self.n_max
        )
        step = self.round_size or first
        # One earlier round lets clearly mixed samples be kept before a settled one could be dropped.
        early = {first // 2} if first >= 4 else set()
        points = sorted(early | set(range(first, self.n_max, step)) | {self.n_max})
        return tuple(points)

    def _validated(self, rewards: Sequence[float]) -> npt.NDArray[np.float64]:
        x = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if len(x) > self.n_max:
            raise ValueError(f"{len(x)} rewards given, more than n_max={self.n_max}")
        bad = ~np.isfinite(x) | (x < self.low - 1e-9) | (x > self.high + 1e-9)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"reward #{i} = {float(x[i])!r} is outside [{self.low}, {self.high}]")
        return np.clip(x, self.low, self.high)

    def _p_breakouts(self, k: int, seen: int, m: int, needed: int, discrete: bool) -> float:
        """P(at least ``needed`` break-outs among ``m`` | ``seen`` among the ``k - 1`` rewards after the first)."""
        a, b = self.slab
        trials = k - 1
        a_post, b_post = a + seen, b + trials - seen
        log_slab = _betaln(a_post, b_post) - _betaln(a, b)
        if seen == 0:
            s = self.settled_share if discrete else self.wiggle_settled_share
            slab_weight = (1 - s) * math.exp(log_slab) / (s + (1 - s) * math.exp(log_slab))
        else:
            slab_weight = 1.0
        below = sum(
            math.exp(_log_comb(m, i) + _betaln(a_post + i, b_post + m - i) - _betaln(a_post, b_post))
            for i in range(needed)
        )
        return slab_weight * max(0.0, 1.0 - below)


def _betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _binary_looking(x: npt.NDArray[np.float64]) -> bool:
    """Every value seen occurs at least twice: a reward with few levels (0/1, 0/0.5/1), not an IoU."""
    if len(x) < 2:
        return False
    _, counts = np.unique(x, return_counts=True)
    return bool(counts.min() >= 2)


def _breakouts(x: npt.NDArray[np.float64], margin: float) -> int:
    """How many rewards after the first landed outside the widened range of those before them."""
    lo = hi = float(x[0])
    count = 0
    for v in x[1:].tolist():
        if v < lo - margin or v > hi + margin:
            count += 1
        lo, hi = min(lo, v), max(hi, v)
    return count


@dataclass(frozen=True)
class _Reach:
    """Largest full variance when ``j`` missing rewards may land anywhere and the rest in ``[lo, hi]``.

    The variance is convex in the missing rewards, so the maximum is at a corner: ``t`` of the ``j`` at
    ``high`` (the others at ``low``) and ``u`` of the rest at ``hi`` (the others at ``lo``).
    """

    total: float
    squares: float
    n: int
    m: int
    low: float
    high: float
    lo: float
    hi: float

    def max_var(self, j: int) -> float:
        t = np.arange(j + 1, dtype=np.float64)[:, None]
        u = np.arange(self.m - j + 1, dtype=np.float64)[None, :]
        s = self.total + t * self.high + (j - t) * self.low + u * self.hi + (self.m - j - u) * self.lo
        q = (
            self.squares
            + t * self.high**2
            + (j - t) * self.low**2
            + u * self.hi**2
            + (self.m - j - u) * self.lo**2
        )
        return float(np.max(q / self.n - (s / self.n) ** 2))
