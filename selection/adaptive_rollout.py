"""``selection rollout --adaptive``: repeated inference in rounds, stopping each sample as soon as it is decided.

A chunk of dataset rows is decoded once; then, round by round (:meth:`AdaptiveRule.checkpoints`), the engine
generates the next rollouts of every still-undecided sample in ONE call (hf: one batched ``generate``, each
video encoded once and its embeddings reused by later rounds; vLLM: one ``generate`` with every request),
the rollouts are scored with the dual reward as they arrive, and the rule says keep / drop / more. The chunk's shard is written when every sample is decided, so resumption is
the same as for a full run (a shard exists only when complete).

Rollout ``k0..k1-1`` of a sample are drawn from a seed derived from the sample's seed and ``k0``: a resumed
run writes the same rollouts an uninterrupted one would. Extra shard columns: ``reward`` (the dual reward
the rule saw), ``adaptive_decision`` (``keep`` / ``drop``; null for a failed sample) and
``adaptive_rollouts`` (the sample's rollout count). ``score`` and ``select`` read these shards like any
others: a sample has ``n`` = its rollout count, and ``select`` with the same ``--min-std`` reaches the same
keep / drop decision (an early keep proves std ≥ ``min_std`` on the rollouts drawn; an early drop has a
spread below it, see :mod:`selection.adaptive`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selection.adaptive import AdaptiveRule
from selection.engines import Completion

if TYPE_CHECKING:
    import pyarrow as pa

    from selection.dataset import GroundTruthIndex
    from selection.engines import Engine, SamplingConfig
    from selection.prompts import PreparedSample, SampleFailure

logger = logging.getLogger(__name__)

__all__ = ["AdaptiveConfig", "AdaptiveOutcome", "adaptive_table", "round_seed", "run_adaptive"]


class AdaptiveConfig(BaseModel):
    """The ``--adaptive`` settings of a rollout run (recorded in ``run.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_std: float = Field(default=0.0, ge=0.0, description="the std threshold select will use (--min-std)")
    error: float = Field(
        default=AdaptiveRule.model_fields["error"].default,
        gt=0.0,
        lt=1.0,
        description="the rule's error level",
    )
    reward: dict[str, Any] = Field(default_factory=dict, description="RewardConfig fields (--reward-config)")

    def rule(self, n_max: int) -> AdaptiveRule:
        return AdaptiveRule(
            n_max=n_max, min_std=self.min_std, error=self.error, high=_reward_ceiling(self.reward)
        )


def _reward_ceiling(reward: dict[str, Any]) -> float:
    """The largest reward any task can score under this config: the largest sum of weights (1 by default)."""
    import video_rewards as vr

    cfg = vr.RewardConfig.from_kwargs(**reward)
    return max([1.0, *(cfg.weights_for(t).total for t in vr.known_tasks())])


def round_seed(seed: int, first_index: int) -> int:
    """The seed of the round whose first rollout is ``first_index`` (round 0 keeps the sample's seed).

    >>> round_seed(123, 0), round_seed(123, 4) == round_seed(123, 4) != round_seed(123, 5)
    (123, True)
    """
    if first_index == 0:
        return seed
    return int(np.random.SeedSequence([seed & 0xFFFFFFFFFFFF, first_index]).generate_state(1)[0] >> 1)


@dataclass
class AdaptiveOutcome:
    """One sample's rollouts so far, their rewards, and the rule's decision once made."""

    completions: list[Completion]
    rewards: list[float]
    decision: str | None = None


def run_adaptive(
    engine: Engine,
    sampling: SamplingConfig,
    config: AdaptiveConfig,
    ready: list[PreparedSample],
    truths: GroundTruthIndex,
    positions: dict[int, int],
) -> dict[int, AdaptiveOutcome]:
    """Draw rollouts for ``ready`` samples in rounds until the rule decides each; keyed by sample id.

    ``positions`` maps a sample id to its dataset row (for its ground truth).
    """
    import video_rewards as vr

    rule = config.rule(sampling.n)
    reward_config = vr.RewardConfig.from_kwargs(**config.reward)
    parsed = {p.sample_id: truths.parse(positions[p.sample_id]) for p in ready}
    outcomes = {p.sample_id: AdaptiveOutcome([], []) for p in ready}
    drawn = 0
    for target in rule.checkpoints():
        pending = [p for p in ready if outcomes[p.sample_id].decision is None]
        if not pending:
            break
        batch = [replace(p, seed=round_seed(p.seed, drawn)) for p in pending]
        results = engine.generate(batch, sampling.model_copy(update={"n": target - drawn}))
        texts = [c.text for cs in results for c in cs]
        owners = [p.sample_id for p, cs in zip(pending, results, strict=True) for _ in cs]
        scores = vr.score_batch(texts, [parsed[s] for s in owners], config=reward_config)["score"]
        for p, cs in zip(pending, results, strict=True):
            outcomes[p.sample_id].completions.extend(cs)
        for sid, value in zip(owners, scores.tolist(), strict=True):
            outcomes[sid].rewards.append(float(value))
        for p in pending:
            out = outcomes[p.sample_id]
            decision = rule.decide(out.rewards)
            if decision != "more":
                out.decision = decision
        drawn = target
        logger.debug("round to %d rollouts: %d samples drawn, %d undecided", target, len(pending),
                     sum(o.decision is None for o in outcomes.values()))  # fmt: skip
    return outcomes


def adaptive_table(
    prepared: list[PreparedSample | SampleFailure], outcomes: dict[int, AdaptiveOutcome], settings: str
) -> tuple[pa.Table, list[tuple[int, str]]]:
    """The shard of an adaptive chunk: the usual rollout columns plus the rule's view of each sample."""
    import pyarrow as pa

    from selection.prompts import SampleFailure

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "sample_id", "rollout_index", "response", "finish_reason", "num_tokens", "error",
            "reward", "adaptive_decision", "adaptive_rollouts",
        )
    }  # fmt: skip
    failures: list[tuple[int, str]] = []

    def add(sid: int, idx: int, c: Completion | None, error: str | None, reward: float | None,
            decision: str | None, count: int) -> None:  # fmt: skip
        cols["sample_id"].append(sid)
        cols["rollout_index"].append(idx)
        cols["response"].append(c.text if c else None)
        cols["finish_reason"].append(c.finish_reason if c else None)
        cols["num_tokens"].append(c.num_tokens if c else 0)
        cols["error"].append(error)
        cols["reward"].append(reward)
        cols["adaptive_decision"].append(decision)
        cols["adaptive_rollouts"].append(count)

    for p in prepared:
        if isinstance(p, SampleFailure):
            add(p.sample_id, -1, None, str(p), None, None, 0)
            failures.append((p.sample_id, str(p)))
            continue
        out = outcomes[p.sample_id]
        for k, (c, r) in enumerate(zip(out.completions, out.rewards, strict=True)):
            add(p.sample_id, k, c, None, r, out.decision, len(out.completions))
    n_rows = len(cols["sample_id"])
    table = pa.table(
        {
            "sample_id": pa.array(cols["sample_id"], type=pa.int64()),
            "rollout_index": pa.array(cols["rollout_index"], type=pa.int32()),
            "response": pa.array(cols["response"], type=pa.string()),
            "finish_reason": pa.array(cols["finish_reason"], type=pa.string()),
            "num_tokens": pa.array(cols["num_tokens"], type=pa.int32()),
            "error": pa.array(cols["error"], type=pa.string()),
            "rollout_settings": pa.array([settings] * n_rows, type=pa.string()).dictionary_encode(),
            "reward": pa.array(cols["reward"], type=pa.float64()),
            "adaptive_decision": pa.array(cols["adaptive_decision"], type=pa.string()),
            "adaptive_rollouts": pa.array(cols["adaptive_rollouts"], type=pa.int32()),
        }
    )
    return table, failures
