"""verl 0.9.1 adapter: a reward manager for verl's reward loop that scores with the dual reward.

Load it by module path (every verl process resolves it the same way)::

    reward.reward_manager.source=importlib \\
    reward.reward_manager.module.path=pkg://video_rewards.integrations.verl \\
    reward.reward_manager.name=VideoRewardManager \\
    +reward.reward_kwargs.iou_threshold=0.5        # optional: any RewardConfig field

or by registered name ``reward.reward_manager.name=video_rewards`` (``source=register``, the default), which
works in every process once this module is imported there: through the ``verl.plugins`` entry point of the
``video-rlt`` distribution, or ``VERL_USE_EXTERNAL_MODULES=video_rewards.integrations.verl``.

Per response it returns ``{"reward_score": score, "reward_extra_info": {...}}`` where the extra info has
**the same keys for every task**: the numbers of :data:`REWARD_EXTRA_KEYS` (``score``, ``format``,
``accuracy``, ``iou``, ``parse_failed``) and the string :data:`FAILURE_KEY` (``failure``: the parse-failure
reason, ``""`` when the answer parsed; verl's metric code skips string columns, and
:mod:`video_rewards.integrations.verl_metrics` counts them per step). verl builds its batch columns from the first response's keys, so a batch mixing
multiple-choice and grounding rows needs identical keys. A component the task does not have is ``NaN``
(``accuracy`` of a grounding row, ``iou`` of a multiple-choice row). Consequences in verl 0.9.1:

* validation metrics ``val-aux/<data_source>/<key>/mean@N`` are per data source: a source whose task lacks
  a component logs ``nan`` for it (keep one task per ``data_source`` for clean per-source means);
* ``algorithm.filter_groups.metric=accuracy`` (or ``iou``) never drops a group whose rows lack that
  component (their std is NaN, not 0); ``metric=score`` applies to every task.

A response that cannot be parsed scores 0 with ``parse_failed=1`` (never an exception). A row whose ground
truth is malformed also scores 0, with ``failure="bad_ground_truth"``, and is logged as an error naming the
row (``uid``, ``extra_info.index``, ``data_source``): one bad row must not stop a multi-day run, and its
count shows in the training metrics. (Validate a dataset up front with the converters or ``selection``.)

The plain function path needs no manager: ``reward.custom_reward_function.path=pkg://video_rewards.scoring``
``reward.custom_reward_function.name=compute_score``
``+reward.custom_reward_function.reward_kwargs.stable_keys=true`` (plus any RewardConfig field).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

import video_rewards as vr

try:
    from verl import DataProto
    from verl.experimental.reward_loop.reward_manager import register
    from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "video_rewards.integrations.verl needs verl 0.9.1: pip install 'video-rlt[verl]'"
    ) from exc

logger = logging.getLogger(__name__)

__all__ = [
    "BAD_GROUND_TRUTH",
    "FAILURE_KEY",
    "REGISTERED_NAME",
    "REWARD_EXTRA_KEYS",
    "VideoRewardManager",
    "reward_config_from_verl",
]

#: The numeric keys of every ``reward_extra_info`` this manager returns, for every task.
REWARD_EXTRA_KEYS: tuple[str, ...] = vr.COMPONENT_KEYS
#: The string key holding the failure reason (``""`` when the response parsed).
FAILURE_KEY = "failure"
#: Failure reason of a row whose ground truth could not be parsed (the row scores 0).
BAD_GROUND_TRUTH = "bad_ground_truth"
#: Name under verl's reward-manager registry (``reward.reward_manager.name=video_rewards``).
REGISTERED_NAME = "video_rewards"


def reward_config_from_verl(config: Any) -> vr.RewardConfig:
    """The :class:`~video_rewards.RewardConfig` given by ``reward.reward_kwargs`` of a verl config.

    Unknown keys raise ``ValueError`` (naming the key) when the trainer starts, not at the first reward.

    >>> from omegaconf import OmegaConf
    >>> reward_config_from_verl(OmegaConf.create({"reward": {"reward_kwargs": {"iou_threshold": 0.5}}})).iou_threshold
    0.5
    """
    reward_cfg = config.get("reward") if isinstance(config, Mapping) or hasattr(config, "get") else None
    raw = reward_cfg.get("reward_kwargs") if reward_cfg is not None else None
    if raw is None:
        return vr.RewardConfig()
    try:
        from omegaconf import DictConfig, OmegaConf

        kwargs = OmegaConf.to_container(raw, resolve=True) if isinstance(raw, DictConfig) else dict(raw)
    except ImportError:  # pragma: no cover - omegaconf ships with verl
        kwargs = dict(raw)
    if not isinstance(kwargs, dict):
        raise ValueError(f"reward.reward_kwargs must be a mapping of RewardConfig fields, got {raw!r}")
    try:
        return vr.RewardConfig.from_kwargs(**{str(k): v for k, v in kwargs.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reward.reward_kwargs: {exc}") from exc


def _plain(value: Any) -> Any:
    """numpy scalars/arrays (as verl reads parquet) → Python objects, for a readable error message."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _row_label(non_tensor: Mapping[str, Any]) -> str:
    extra_info = non_tensor.get("extra_info")
    index = extra_info.get("index") if isinstance(extra_info, Mapping) else None
    return f"uid={_plain(non_tensor.get('uid'))!r}, index={_plain(index)!r}, data_source={_plain(non_tensor.get('data_source'))!r}"


def _failed(reason: str) -> dict[str, Any]:
    """The result of a row that could not be scored: 0, a parse failure, with the reason."""
    extra: dict[str, float | str] = dict.fromkeys(REWARD_EXTRA_KEYS, math.nan)
    extra.update(score=0.0, format=0.0, parse_failed=1.0)
    extra[FAILURE_KEY] = reason
    return {"reward_score": 0.0, "reward_extra_info": extra}


@register(REGISTERED_NAME)
class VideoRewardManager(RewardManagerBase):
    """verl reward manager for video tasks (multiple choice, temporal grounding, grounded QA).

    Scores with :mod:`video_rewards` under the :class:`~video_rewards.RewardConfig` given by
    ``reward.reward_kwargs``. ``compute_score`` (verl's default or a custom function) is not used: set
    ``reward.custom_reward_function.path`` only with verl's ``naive`` manager.
    """

    def __init__(
        self,
        config: Any,
        tokenizer: Any,
        compute_score: Any,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
    ) -> None:
        super().__init__(config, tokenizer, compute_score)
        custom_fn = (config.get("reward") or {}).get("custom_reward_function") or {}
        if custom_fn.get("path"):
            raise ValueError(
                f"reward.custom_reward_function.path={custom_fn.get('path')!r} is set, but VideoRewardManager "
                "scores with video_rewards itself; unset it, or use reward.reward_manager.name=naive with "
                "video_rewards.compute_score as the custom function."
            )
        self.reward_config = reward_config_from_verl(config)

    def _decode(self, data_item: Any) -> str:
        response_ids = data_item.batch["responses"]
        response_length = response_ids.shape[-1]
        valid_length = int(data_item.batch["attention_mask"][-response_length:].sum())
        return str(self.tokenizer.decode(response_ids[:valid_length], skip_special_tokens=True))

    def score_item(self, data_item: Any, response: str) -> dict[str, Any]:
        """Score one row: ``{"reward_score": float, "reward_extra_info": {key: float}}``."""
        non_tensor = data_item.non_tensor_batch
        data_source = non_tensor.get("data_source")
        data_source = None if data_source is None else str(data_source)
        extra_info = non_tensor.get("extra_info")
        reward_model = non_tensor.get("reward_model")
        duration = extra_info.get("duration") if isinstance(extra_info, Mapping) else None
        try:
            if not isinstance(reward_model, Mapping) or "ground_truth" not in reward_model:
                raise ValueError(
                    f"reward_model must be a mapping with a 'ground_truth' key, got {_plain(reward_model)!r}"
                )
            truth = vr.parse_ground_truth(
                reward_model["ground_truth"],
                data_source=data_source,
                duration=None if duration is None else float(duration),
            )
        except (TypeError, ValueError) as exc:
            # A bad row must not stop a multi-day run: it scores 0, is counted as `bad_ground_truth` in the
            # training metrics, and is named here so it can be fixed in the dataset.
            logger.error("row %s: malformed ground truth, scored 0: %s", _row_label(non_tensor), exc)
            return _failed(BAD_GROUND_TRUTH)
        try:
            result = vr.score(response, truth, config=self.reward_config, data_source=data_source)
        except Exception:
            # The reward library never raises on model output; if it ever does, one bad response must not
            # stop a multi-day run: score it 0 as a parse failure and log the row for the bug report.
            logger.exception("video_rewards raised on a response (row %s); scored 0", _row_label(non_tensor))
            return _failed("reward_error")
        components = result.components()
        extra: dict[str, float | str] = {key: float(components[key]) for key in REWARD_EXTRA_KEYS}
        extra[FAILURE_KEY] = result.failure or ""
        return {"reward_score": float(result.score), "reward_extra_info": extra}

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        # Multi-sequence outputs are scored on their last sequence, as verl's own managers do.
        data_item = data[-1:][0]
        # The running loop, not the one captured at construction: the manager may be built outside it.
        response = await asyncio.get_running_loop().run_in_executor(None, self._decode, data_item)
        return self.score_item(data_item, response)
