"""Vision placeholder tokens are masked out of the policy, in the rollout *and* in the actor.

A random or early model samples its own vision placeholders (``<|video_pad|>`` …); the next forward then
counts them as a video and fails (``get_rope_index``), so the ``hf`` rollout must never let them out.
Masking them only when sampling makes the sampler and the learner two different policies: the actor's
softmax still gives them mass, which the loss never controls directly (they are never sampled, only moved
as a side effect of the sampled tokens' gradients). The rollout's log-probs then differ from the actor's by
that mass, which verl reports as ``rollout_corr/log_ppl_diff``.

So the mask is part of the model: :func:`mask_suppressed_logits` adds a forward hook on the output layer
that sets those logits to :data:`MASKED_LOGIT`, registered on the rollout server's model and, through
:func:`patch_engine_module`, on every model verl's FSDP engines build (actor and reference). Both then compute
the same distribution; a masked token has probability exactly 0 and no gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = ["MASKED_LOGIT", "mask_suppressed_logits", "patch_engine_module", "suppressed_token_ids"]

#: Finite rather than -inf: verl's entropy is ``logsumexp(z) - Σ softmax(z)·z``, and 0·(-inf) is NaN.
#: exp(-1e4) is 0 in fp32 and bf16, so a masked token's probability is exactly 0.
MASKED_LOGIT = -1.0e4

_CONFIG_KEYS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def suppressed_token_ids(hf_config: Any) -> list[int]:
    """The vision placeholder ids a model must never sample (those its config defines)."""
    return sorted(
        {int(token_id) for key in _CONFIG_KEYS if (token_id := getattr(hf_config, key, None)) is not None}
    )


def mask_suppressed_logits(model: Any, token_ids: Sequence[int] | None = None) -> Any:
    """Register the mask on ``model``'s output layer; returns the hook handle (``None``: nothing to mask).

    ``token_ids`` defaults to :func:`suppressed_token_ids` of ``model.config``. Registering twice on the same
    model is a no-op (the layer remembers its mask)."""
    import torch

    ids = sorted(set(token_ids if token_ids is not None else suppressed_token_ids(model.config)))
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not ids or head is None or getattr(head, "_video_rlt_masked_ids", None) is not None:
        return None
    index = torch.tensor(ids, dtype=torch.long)

    def hook(_module: Any, _inputs: Any, logits: torch.Tensor) -> torch.Tensor:
        columns = index.to(logits.device)
        # Out of place: autograd keeps the Linear's own backward; the masked columns get no gradient.
        return logits.index_fill(-1, columns, MASKED_LOGIT)

    head._video_rlt_masked_ids = ids
    return head.register_forward_hook(hook)


def patch_engine_module() -> None:
    """Mask the placeholders in every language model verl's FSDP engines build (actor and reference)."""
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    original = getattr(FSDPEngine._build_module, "__wrapped__", FSDPEngine._build_module)

    @functools.wraps(original)
    def _build_module(self: Any) -> Any:
        module = original(self)
        if self.model_config.model_type == "language_model":
            mask_suppressed_logits(module, suppressed_token_ids(self.model_config.hf_config))
        return module

    FSDPEngine._build_module = _build_module
