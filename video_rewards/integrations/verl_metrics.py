"""Training-time reward metrics for verl 0.9.1: reward components, failure reasons, informative groups.

verl logs only the total training reward (``critic/score/mean``). This module adds, per step, through
verl's own logger (whatever ``trainer.logger`` names: console, tensorboard, wandb, …):

* ``reward/<data_source>/<component>/mean`` and ``reward/all/<component>/mean`` for ``score``, ``format``,
  ``accuracy``, ``iou`` and ``parse_failed`` (the ``reward_extra_info`` of :class:`VideoRewardManager`);
  a component no row of that source has (``iou`` of a multiple-choice source) is not logged;
* ``reward/<data_source>/failure/<reason>/count`` and ``reward/all/failure/<reason>/count``: parse-failure
  reasons (``no_answer_tag``, ``reversed_span``, ``bad_ground_truth``, …) counted over the step's rollouts;
* ``reward/groups/count``, ``reward/groups/informative_count``, ``reward/groups/informative_fraction``
  and ``reward/groups/std_mean``: GRPO groups (rollouts sharing a ``uid``) whose reward std is at least
  ``min_std`` — the groups that still carry a gradient signal. The std is selection's: population std
  (ddof=0), exactly 0 when all rewards are equal (:func:`group_std`).

How it is wired (no verl file is changed): verl 0.9.1's default trainer (``trainer.use_v1=True``) picks its
class from a registry by ``trainer.v1.trainer_mode``; this module registers :class:`RewardMetricsTrainer`
(verl's ``sync`` trainer plus these metrics; once chosen it resets the mode name to ``sync``, which verl
branches on) under :data:`TRAINER_MODE`. After verl computes its own step
metrics (``_compute_metrics``), the trainer reads the step's ``uid``, ``data_source``, ``rm_scores`` and
``extra_fields.reward_extra_info`` from TransferQueue — the reward loop's per-rollout output, which verl
otherwise uses only for group filtering and rollout dumps — and adds the metrics above::

    VERL_USE_EXTERNAL_MODULES=video_rewards.integrations.verl_metrics \\
    python -m verl.trainer.main_ppo ... trainer.v1.trainer_mode=video_rewards \\
        +trainer.reward_metrics.min_std=0.1        # optional, default 0.1

(``VERL_USE_EXTERNAL_MODULES`` is comma separated; the CPU recipe appends this module to its own.)
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MIN_STD", "TRAINER_MODE", "RewardMetricsTrainer", "group_std", "reward_metrics"]

#: ``trainer.v1.trainer_mode`` value that selects :class:`RewardMetricsTrainer`.
TRAINER_MODE = "video_rewards"
#: Default std threshold of an informative group (``+trainer.reward_metrics.min_std``).
DEFAULT_MIN_STD = 0.1
COMPONENTS = ("score", "format", "accuracy", "iou", "parse_failed")
FAILURE_KEY = "failure"


def group_std(rewards: Sequence[float]) -> float:
    """Population std (ddof=0) of one group's rewards; exactly 0.0 when they are all equal (as selection).

    >>> group_std([1.0, 1.0, 1.0]), group_std([0.0, 1.0])
    (0.0, 0.5)
    """
    values = np.asarray(rewards, dtype=np.float64)
    if values.size == 0 or bool(np.all(values == values[0])):
        return 0.0  # np.std of equal floats can be 1e-17, which a threshold of 0 would call informative
    return float(np.std(values))


def reward_metrics(
    data_sources: Sequence[str],
    uids: Sequence[str],
    rewards: Sequence[float],
    extra_infos: Sequence[Mapping[str, Any]],
    *,
    min_std: float = DEFAULT_MIN_STD,
) -> dict[str, float]:
    """The step's reward metrics from per-rollout values (one entry per rollout in every argument).

    >>> m = reward_metrics(["s", "s", "s", "s"], ["a", "a", "b", "b"], [1.0, 0.0, 0.5, 0.5],
    ...                    [{"format": 1.0, "failure": ""}, {"format": 0.0, "failure": "no_answer_tag"},
    ...                     {"format": 1.0, "failure": ""}, {"format": 1.0, "failure": ""}])
    >>> m["reward/s/format/mean"], m["reward/all/failure/no_answer_tag/count"], m["reward/groups/informative_fraction"]
    (0.75, 1.0, 0.5)
    """
    n = len(rewards)
    if not (len(data_sources) == len(uids) == len(extra_infos) == n):
        raise ValueError(
            f"one value per rollout expected: {len(data_sources)} data sources, {len(uids)} uids, "
            f"{n} rewards, {len(extra_infos)} extra infos"
        )
    metrics: dict[str, float] = {}
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, source in enumerate(data_sources):
        by_source[str(source)].append(i)
    for source, rows in [*sorted(by_source.items()), ("all", list(range(n)))]:
        for key in COMPONENTS:
            values = [_number(extra_infos[i].get(key)) for i in rows]
            present = [v for v in values if not math.isnan(v)]
            if present:
                metrics[f"reward/{source}/{key}/mean"] = float(np.mean(present))
        reasons = Counter(str(extra_infos[i].get(FAILURE_KEY) or "") for i in rows)
        for reason, count in sorted(reasons.items()):
            if reason:
                metrics[f"reward/{source}/failure/{reason}/count"] = float(count)

    groups: dict[str, list[float]] = defaultdict(list)
    for uid, reward in zip(uids, rewards, strict=True):
        groups[str(uid)].append(float(reward))
    stds = [group_std(g) for g in groups.values()]
    informative = sum(std >= min_std and std > 0.0 for std in stds)
    metrics["reward/groups/count"] = float(len(stds))
    metrics["reward/groups/informative_count"] = float(informative)
    metrics["reward/groups/informative_fraction"] = informative / len(stds) if stds else math.nan
    metrics["reward/groups/std_mean"] = float(np.mean(stds)) if stds else math.nan
    return metrics


def _items(column: Any) -> list[Any]:
    """A TransferQueue column as a list (numpy-like stacks have ``tolist``; nested dict columns iterate)."""
    tolist = getattr(column, "tolist", None)
    return list(tolist()) if callable(tolist) else list(column)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _register() -> type | None:
    try:
        from verl.trainer.ppo.v1 import PPOTrainerSync, register_trainer
    except (ImportError, ValueError) as exc:  # ValueError: verl's platform lookup, mid-start-up
        if importlib.util.find_spec("verl") is None:  # pragma: no cover - only without the extra
            raise ImportError(
                "video_rewards.integrations.verl_metrics needs verl 0.9.1: pip install 'video-rlt[verl]'"
            ) from exc
        # verl imports this module from its own __init__ in every process; in a worker whose first import
        # was another plug-in (e.g. verl_plugins.cpu in the rollout actor) verl is still half initialised
        # and its trainer package cannot load (ImportError, or ValueError for a not yet registered platform). Only the driver (TaskRunner) picks the trainer class, and
        # there verl is imported first, so nothing is lost by not registering here.
        logger.debug("verl trainer package not importable yet (%s); trainer mode not registered here", exc)
        return None

    @register_trainer(TRAINER_MODE)
    class _RewardMetricsTrainer(PPOTrainerSync):
        """verl's synchronous trainer, logging :func:`reward_metrics` with every step's metrics."""

        def __init__(self, config: Any) -> None:
            from omegaconf import open_dict

            # verl branches on the mode's *name* ("sync" → synchronous replay buffer, no forced refill):
            # once this class is chosen, run as exactly the `sync` trainer.
            with open_dict(config):
                config.trainer.v1.trainer_mode = "sync"
            super().__init__(config)

        def _compute_metrics(
            self,
            batch: Any,
            metrics: dict[str, Any],
            timing_raw: dict[str, Any],
            global_steps: int,
            epoch: int,
        ) -> None:
            super()._compute_metrics(batch, metrics, timing_raw, global_steps=global_steps, epoch=epoch)
            import transfer_queue as tq

            fields = ["uid", "data_source", "rm_scores", "extra_fields"]
            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
            # Padding rows (added to divide the batch across ranks) are copies: verl's metrics skip them too.
            real = [not tag.get("is_padding", False) for tag in batch.tags]
            rewards = data["rm_scores"].sum(dim=1).tolist()
            extra = [
                (e.get("reward_extra_info") or {}) if isinstance(e, Mapping) else {}
                for e in _items(data["extra_fields"])
            ]
            keep = [i for i, r in enumerate(real) if r]
            sources, uids = _items(data["data_source"]), _items(data["uid"])
            settings = self.config.trainer.get("reward_metrics") or {}
            metrics.update(
                reward_metrics(
                    [str(sources[i]) for i in keep],
                    [str(uids[i]) for i in keep],
                    [float(rewards[i]) for i in keep],
                    [extra[i] for i in keep],
                    min_std=float(settings.get("min_std", DEFAULT_MIN_STD)),
                )
            )

    _RewardMetricsTrainer.__name__ = _RewardMetricsTrainer.__qualname__ = "RewardMetricsTrainer"
    return _RewardMetricsTrainer


#: verl's ``sync`` trainer with the reward metrics (registered as ``trainer.v1.trainer_mode=video_rewards``);
#: None in a verl worker process that imported this module while verl itself was still initialising.
RewardMetricsTrainer = _register()
