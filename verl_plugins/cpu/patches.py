"""Fixes of verl 0.9.1 internals that are not about the CPU itself (step 5 of :mod:`verl_plugins.cpu`):
TransferQueue's VLM ``position_ids``, verl's probe for TRL's value-head model, and the replay buffer's poll
interval.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REPLAY_POLL_SECONDS", "patch_nested_position_ids", "patch_replay_buffer_poll", "patch_trl_probe"]

#: Poll interval of verl's sync replay buffer on CPU (verl: 2 s; ``$VERL_CPU_REPLAY_POLL_S`` overrides).
REPLAY_POLL_SECONDS = 0.5


# ---------------------------------------------------------------------------------------------------------
# 5. TransferQueue: VLM position_ids
# ---------------------------------------------------------------------------------------------------------
def patch_nested_position_ids() -> None:
    """Rebuild VLM 3-D ``position_ids`` that TransferQueue returns ragged on the wrong dimension.

    Qwen-VL rows carry ``position_ids`` of shape ``(channels, seq_len)``. TransferQueue rebuilds jagged
    tensors with ``torch.nested.as_nested_tensor(rows, layout=torch.jagged)``: when every row has the same
    ``seq_len`` torch makes the *channel* dim ragged (values concatenated on dim 0). verl's
    ``maybe_fix_3d_position_ids`` then only relabels ``_ragged_idx = 2``, leaving values and offsets
    inconsistent, and ``update_actor`` fails in ``split_with_sizes``. Not CPU specific: it bites whenever
    all responses of a mini-batch have equal length (e.g. all hit ``max_response_length``).
    """
    import sys

    import torch
    import verl.utils.tensordict_utils as td_utils

    original = td_utils.maybe_fix_3d_position_ids

    def maybe_fix_3d_position_ids(data: Any) -> None:
        # TensorDict refuses `key in td`; membership goes through keys().
        if "position_ids" in data.keys():  # noqa: SIM118
            pos = data["position_ids"]
            if isinstance(pos, torch.Tensor) and pos.is_nested and pos.dim() == 3:
                jagged: Any = pos  # a jagged NestedTensor: offsets()/values() are not on Tensor's stub
                ragged_on_channels = getattr(pos, "_ragged_idx", 2) == 1 and int(jagged.offsets()[-1]) == int(
                    jagged.values().shape[0]
                )
                if ragged_on_channels:
                    data["position_ids"] = td_utils.nested_tensor_from_tensor_list(
                        list(pos.unbind()), ragged_idx=2
                    )
                    return
        original(data)

    td_utils.maybe_fix_3d_position_ids = maybe_fix_3d_position_ids
    # Imported by name into these modules before we could wrap it.
    for name in (
        "verl.workers.engine_workers",
        "verl.workers.engine.base",
        "verl.workers.engine_workers_tinker",
    ):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "maybe_fix_3d_position_ids"):
            setattr(module, "maybe_fix_3d_position_ids", maybe_fix_3d_position_ids)  # noqa: B010


def patch_trl_probe() -> None:
    """verl 0.9.1 imports ``trl``'s ``AutoModelForCausalLMWithValueHead`` whenever ``trl`` is installed.

    trl ≥ 1.0 no longer has that class (neither ``trl.experimental.ppo`` nor the top level), so building any
    model fails with ``ImportError`` in an environment that also has TRL. Only the value-head model needs
    that patch; tell verl "no trl" when the class does not exist.
    """
    import importlib.util

    import verl.models.transformers.monkey_patch as monkey_patch

    def has_trl_value_head() -> bool:
        if importlib.util.find_spec("trl") is None:
            return False
        try:
            import trl

            if hasattr(trl, "AutoModelForCausalLMWithValueHead"):
                return True
            from trl.experimental.ppo import AutoModelForCausalLMWithValueHead  # noqa: F401
        except ImportError:
            return False
        return True

    monkey_patch.is_trl_available = has_trl_value_head


def patch_replay_buffer_poll(seconds: float | None = None) -> float:
    """Make verl's sync ``ReplayBuffer`` look for finished rollouts every ``seconds`` instead of every 2 s.

    The trainer waits for a step's rollouts by sleeping ``poll_interval`` between checks, so a step's
    ``timing_s/gen`` is rounded *up* to a multiple of 2 s (measured on the CPU learning benchmark: 10.04 s,
    12.06 s, 14.09 s) — on average 1 s lost per step when a whole step takes 15–20 s. Every poll reads
    TransferQueue's metadata, on the same two cores as the rollout, hence 0.5 s rather than "as often as
    possible". An explicit ``poll_interval`` argument still wins. Returns the interval in use.
    """
    import functools
    import os

    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    if seconds is None:
        raw = os.environ.get("VERL_CPU_REPLAY_POLL_S", str(REPLAY_POLL_SECONDS))
        try:
            seconds = float(raw)
        except ValueError:
            raise ValueError(f"VERL_CPU_REPLAY_POLL_S={raw!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ValueError(f"replay buffer poll interval must be > 0 s, got {seconds}")
    original = getattr(ReplayBuffer.__init__, "__wrapped__", ReplayBuffer.__init__)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # poll_interval is the 6th parameter (after self); verl passes everything by keyword.
        if "poll_interval" not in kwargs and len(args) < 6:
            kwargs["poll_interval"] = seconds
        original(self, *args, **kwargs)

    ReplayBuffer.__init__ = __init__
    return seconds
