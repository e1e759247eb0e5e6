"""The vision placeholders are masked in the model, so the hf rollout (sampler) and verl's actor (learner) are
the same policy: a masked token has probability 0 and gets no gradient (verl_plugins.cpu.suppressed)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import torch

from verl_plugins.cpu.suppressed import (
    MASKED_LOGIT,
    mask_suppressed_logits,
    suppressed_token_ids,
)


def load(model_dir: Path) -> Any:
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)


def plain_tokens(model: Any) -> list[int]:
    """Token ids that are not vision placeholders (the tiny vocabulary has them among its first ids)."""
    masked = set(suppressed_token_ids(model.config))
    return [t for t in range(model.config.text_config.vocab_size) if t not in masked]


def text_logits(model: Any) -> torch.Tensor:
    ids = torch.tensor([plain_tokens(model)[20:26]])
    return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]


def test_the_ids_are_the_vision_placeholders_of_the_config(tiny_model_dir: Path) -> None:
    model = load(tiny_model_dir)
    ids = suppressed_token_ids(model.config)
    config = model.config
    expected = {
        config.video_token_id,
        config.image_token_id,
        config.vision_start_token_id,
        config.vision_end_token_id,
    }
    assert ids == sorted(expected) and len(ids) == 4
    assert suppressed_token_ids(types.SimpleNamespace()) == []  # a text-only config: nothing to mask


def test_masked_tokens_get_probability_zero_and_no_gradient(tiny_model_dir: Path) -> None:
    model = load(tiny_model_dir)
    ids = suppressed_token_ids(model.config)
    raw = text_logits(model).detach()
    assert mask_suppressed_logits(model) is not None
    assert mask_suppressed_logits(model) is None  # a second registration does not stack a second mask
    logits = text_logits(model)
    assert torch.all(logits[:, ids] == MASKED_LOGIT)
    probs = torch.softmax(logits, -1)
    assert torch.all(probs[:, ids] == 0.0)
    # Every other token: the distribution renormalised without the placeholders (what sampling draws from).
    others = raw.clone()
    others[:, ids] = float("-inf")
    plain = plain_tokens(model)
    assert torch.allclose(
        torch.log_softmax(logits, -1)[:, plain], torch.log_softmax(others, -1)[:, plain], atol=1e-5
    )
    # verl's entropy (logsumexp - Σ p·z) stays finite.
    entropy = torch.logsumexp(logits, -1) - (probs * logits).sum(-1)
    assert torch.isfinite(entropy).all()
    # A policy-gradient step on a sampled token moves every unmasked row of the output layer, never a masked one.
    sampled, other = plain[0], plain[1]
    loss = -torch.log_softmax(logits, -1)[:, sampled].sum()
    loss.backward()
    grad = model.get_output_embeddings().weight.grad
    assert torch.all(grad[ids] == 0.0)
    assert grad[sampled].abs().sum() > 0 and grad[other].abs().sum() > 0


#: Run in a child process: verl's ``apply_monkey_patch`` rebinds the Qwen2.5-VL forward for the whole
#: process, which the other tests' plain Hugging Face forwards must not inherit.
ENGINE_BUILD = """
import json, sys, types
import torch, torch.distributed as dist
from verl.workers.config import HFModelConfig
from verl.workers.engine.fsdp.transformer_impl import FSDPEngine
from verl_plugins.cpu.patches import patch_trl_probe
from verl_plugins.cpu.suppressed import patch_engine_module, suppressed_token_ids

patch_trl_probe()  # verl's model patching probes trl (see verl_plugins.cpu.patches)
patch_engine_module()
patch_engine_module()  # twice: wraps verl's method, not the last wrapper
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
config = HFModelConfig(path=sys.argv[1], override_config={"attn_implementation": "sdpa"})
engine = types.SimpleNamespace(
    engine_config=types.SimpleNamespace(model_dtype="fp32", forward_only=False),
    model_config=config, device_mesh=None, use_remove_padding=False, ulysses_sequence_parallel_size=1,
)
module = FSDPEngine._build_module(engine)  # verl's own build (actor and reference), patched
head = module.get_output_embeddings()
logits = head(torch.randn(3, head.in_features))
print(json.dumps({
    "wrapped": FSDPEngine._build_module.__wrapped__.__qualname__,
    "ids": suppressed_token_ids(config.hf_config),
    "masked_columns": [k for k in range(logits.shape[-1]) if bool((logits[:, k] == -1.0e4).all())],
}))
"""


def test_verls_fsdp_engine_builds_its_model_with_the_mask(tiny_model_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", ENGINE_BUILD, str(tiny_model_dir)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    assert built["wrapped"] == "FSDPEngine._build_module"
    assert len(built["ids"]) == 4
    assert built["masked_columns"] == built["ids"]  # exactly the placeholders, every other logit untouched
