"""Online group filter for verl 0.9.1 GRPO with continuous rewards: drop groups without signal, refill.

verl's DAPO dynamic sampling (``algorithm.filter_groups``) drops a prompt group only when its metric is
*exactly* equal across the group (std == 0) — right for 0/1 accuracy, useless for a temporal IoU or the dual
reward, whose groups almost never tie exactly but often barely move. This replay buffer (verl's own
extension point ``trainer.v1.sampler.custom_sampler``) drops a finished group when

* the population std of its rewards is below ``min_std`` (``low_spread``), or
* the mean of its rewards lies outside ``[mean_low, mean_high]`` (``mean_out_of_band``: nearly solved or
  hopeless prompts, as OneThinker / PRIME bands do),

and, as DAPO does, asks the rollout for fresh prompts until a full batch of kept groups is ready. Each
training step logs ``training/group_filter/kept_fraction`` (kept groups / finished groups judged during
the step), ``training/group_filter/dropped_low_spread`` and ``…/dropped_mean_out_of_band``, beside verl's
``training/filter_groups/evicted_samples``.

Enable it (the default v1 trainer, ``trainer.v1.trainer_mode=sync``)::

    trainer.v1.sampler.custom_sampler.path=pkg://verl_plugins.group_filter \\
    trainer.v1.sampler.custom_sampler.name=SpreadFilterReplayBuffer \\
    +trainer.v1.sampler.sampler_kwargs.min_std=0.05 \\
    +trainer.v1.sampler.sampler_kwargs.mean_low=0.0 +trainer.v1.sampler.sampler_kwargs.mean_high=0.95 \\
    +trainer.v1.sampler.sampler_kwargs.train_batch_size=${data.train_batch_size}

With ``data.gen_batch_size`` set, pass the same value as ``sampler_kwargs.gen_batch_size`` (refills are
whole dataloader fetches). ``metric`` (default ``score``: the dual reward that :class:`~video_rewards.integrations.verl.VideoRewardManager`
puts in ``reward_extra_info``; ``reward`` reads verl's token-level reward sum) picks the per-rollout value.
``max_inflight_gen_batches`` (default 1) bounds how many batches of prompts are generated ahead.
``max_gen_batches`` (default: unbounded, as verl) caps the generation batches one step may use — its first
batch plus refills — and fails the step with an error naming the knob when a filter drops nearly everything,
instead of generating forever (DAPO's ``max_num_gen_batches``). Each step also logs
``training/group_filter/refilled_prompts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)

__all__ = ["GroupFilterConfig", "SpreadFilterReplayBuffer", "group_drop_reason"]

DropReason = Literal["low_spread", "mean_out_of_band"]
_METRICS_PREFIX = "training/group_filter"


class GroupFilterConfig(BaseModel):
    """The filter's settings, from ``trainer.v1.sampler.sampler_kwargs``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_std: float = Field(default=0.0, ge=0.0, description="drop groups whose reward std is below this")
    mean_low: float = Field(default=float("-inf"), description="drop groups whose mean reward is below this")
    mean_high: float = Field(default=float("inf"), description="drop groups whose mean reward is above this")
    metric: str = Field(default="score", min_length=1, description="reward_extra_info key, or 'reward'")
    train_batch_size: int = Field(ge=1, description="prompts per training batch (data.train_batch_size)")
    gen_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="prompts per dataloader fetch: data.gen_batch_size (default: train_batch_size)",
    )
    max_inflight_gen_batches: int = Field(default=1, ge=1)
    max_gen_batches: int | None = Field(
        default=None, ge=1, description="generation batches per step (first + refills) before it fails"
    )

    @model_validator(mode="after")
    def _band(self) -> GroupFilterConfig:
        if self.mean_low > self.mean_high:
            raise ValueError(f"mean_low ({self.mean_low}) must not exceed mean_high ({self.mean_high})")
        return self


def group_drop_reason(rewards: Sequence[float], config: GroupFilterConfig) -> DropReason | None:
    """Why a finished group is dropped, or None to keep it (a single-rollout group is kept, as in verl).

    >>> cfg = GroupFilterConfig(min_std=0.05, mean_low=0.0, mean_high=0.9, train_batch_size=2)
    >>> group_drop_reason([0.61, 0.63, 0.60, 0.62], cfg), group_drop_reason([0.2, 0.7], cfg)
    ('low_spread', None)
    >>> group_drop_reason([0.9, 1.0, 0.8, 1.0], cfg)
    'mean_out_of_band'
    """
    values = np.asarray(rewards, dtype=np.float64)
    if len(values) < 2:
        return None  # as verl's DAPO: a single rollout says nothing about the group's spread
    # max == min first: a mean of equal floats can carry rounding residue into the std.
    spread = 0.0 if values.max() == values.min() else float(np.std(values))
    if spread < config.min_std or spread == 0.0:
        return "low_spread"
    mean = float(values.mean())
    if not config.mean_low <= mean <= config.mean_high:
        return "mean_out_of_band"
    return None


try:
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("verl_plugins.group_filter needs verl 0.9.1: pip install 'video-rlt[verl]'") from exc


class SpreadFilterReplayBuffer(ReplayBuffer):
    """verl's sync replay buffer with DAPO's "std == 0" test replaced by :func:`group_drop_reason`.

    verl's buffer classifies each finished group once (``_dapo_filtered_keys``) and evicts and refills the
    dropped ones; only the classification changes here, so refill, draining and surplus handling stay
    verl's own.
    """

    def __init__(self, *, sampler_kwargs: Any, **kwargs: Any) -> None:
        if kwargs.get("trainer_mode", "sync") != "sync":
            raise ValueError(
                f"SpreadFilterReplayBuffer extends verl's sync replay buffer; trainer.v1.trainer_mode is "
                f"{kwargs.get('trainer_mode')!r}"
            )
        raw = {str(k): v for k, v in dict(sampler_kwargs or {}).items()}
        try:
            self.group_filter = GroupFilterConfig.model_validate(raw)
        except ValueError as exc:
            raise ValueError(f"trainer.v1.sampler.sampler_kwargs: {exc}") from None
        self._judged: dict[str, int] = {"kept": 0, "low_spread": 0, "mean_out_of_band": 0}
        self._refilled = 0
        # verl calls refill_fn only for refills (a step's first batch is dispatched by the trainer itself),
        # so counting here counts exactly the prompts generated to replace dropped groups.
        trainer_refill: Callable[[int], Any] | None = kwargs.pop("refill_fn", None)

        def counted_refill(num_prompts: int) -> Any:
            assert trainer_refill is not None  # verl refuses a filtering buffer without a refill_fn
            self._refilled += num_prompts
            cap = self.group_filter.max_gen_batches
            fetch = self.group_filter.gen_batch_size or self.group_filter.train_batch_size
            if cap is not None and 1 + -(-self._refilled // fetch) > cap:
                raise RuntimeError(
                    f"group filter: the step needs more than sampler_kwargs.max_gen_batches={cap} generation "
                    f"batches ({self._judged} groups judged so far): the filter drops nearly every group; "
                    f"loosen min_std/mean_low/mean_high or raise max_gen_batches"
                )
            return trainer_refill(num_prompts)

        super().__init__(
            sampler_kwargs=sampler_kwargs,
            filter_groups_metric=self.group_filter.metric,
            train_batch_size=self.group_filter.train_batch_size,
            # Refills must be whole dataloader fetches (verl's DAPO forces data.gen_batch_size=1; we do not).
            gen_batch_size=self.group_filter.gen_batch_size or self.group_filter.train_batch_size,
            max_inflight_gen_batches=self.group_filter.max_inflight_gen_batches,
            refill_fn=counted_refill if trainer_refill is not None else None,
            **kwargs,
        )
        logger.info("group filter on: %s", self.group_filter)

    def _dapo_filtered_keys(self, partition_id: str) -> tuple[set[str], Any]:
        from collections import Counter

        if partition_id == "val":
            return set(), Counter()
        # verl's classification reads the group values and caches `value if std == 0 else None` per uid; run
        # it with a recording classifier so the group values are judged by our rule instead.
        cache = self._dapo_classification_cache[partition_id]
        before = set(cache)
        values_by_uid = self._group_values(partition_id, before)
        for uid, values in values_by_uid.items():
            reason = group_drop_reason(values, self.group_filter)
            self._judged[reason or "kept"] += 1
            cache[uid] = float(np.mean(values)) if reason else None
        for uid in cache.keys() - self.finished_keys[partition_id]:
            del cache[uid]
        dropped = {uid: v for uid, v in cache.items() if v is not None}
        return set(dropped), Counter(round(v, 3) for v in dropped.values())

    def _group_values(self, partition_id: str, judged: set[str]) -> dict[str, list[float]]:
        """Per-rollout metric values of the finished groups not judged yet (verl's own read path)."""
        import transfer_queue as tq

        new_uids = self.finished_keys[partition_id] - judged
        keys = [key for key in self.partitions[partition_id] if key.split("_")[0] in new_uids]
        if not keys:
            return {}
        canonical = self.filter_groups_metric == "reward"
        data = tq.kv_batch_get(
            keys=keys, partition_id=partition_id, select_fields=["rm_scores" if canonical else "extra_fields"]
        )
        values: dict[str, list[float]] = {}
        for key, value in zip(keys, list(data["rm_scores" if canonical else "extra_fields"]), strict=True):
            uid = key.split("_")[0]
            if canonical:
                values.setdefault(uid, []).append(float(value.sum().item()))
                continue
            extra = getattr(value, "data", value)
            info = extra.get("reward_extra_info", {}) if isinstance(extra, dict) else {}
            if self.filter_groups_metric not in info:
                raise RuntimeError(
                    f"group filter: rollout {key} has no reward_extra_info[{self.filter_groups_metric!r}] "
                    f"(keys: {sorted(info)}); set sampler_kwargs.metric to one of them or 'reward'"
                )
            values.setdefault(uid, []).append(float(info[self.filter_groups_metric]))
        return values

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[Any, dict[str, Any]]:
        self._judged = dict.fromkeys(self._judged, 0)
        self._refilled = 0
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        if partition_id != "val":
            total = sum(self._judged.values())
            metrics[f"{_METRICS_PREFIX}/kept_fraction"] = self._judged["kept"] / total if total else 1.0
            metrics[f"{_METRICS_PREFIX}/dropped_low_spread"] = self._judged["low_spread"]
            metrics[f"{_METRICS_PREFIX}/dropped_mean_out_of_band"] = self._judged["mean_out_of_band"]
            metrics[f"{_METRICS_PREFIX}/refilled_prompts"] = self._refilled
        return batch, metrics
