"""A small in-process GRPO loop for the CI learning smoke test (``tests/verl/test_learning_smoke.py``).

``verl.trainer.main_ppo`` needs a minute of Ray start-up and several seconds per step on 2 cores, too slow
to repeat three times in CI. This loop keeps the parts a silent error would hide in — it scores every
rollout with :class:`~video_rewards.integrations.verl.VideoRewardManager` on a ``DataProto`` laid out as
verl's agent loop lays it out, computes advantages with verl's own
:func:`verl.trainer.ppo.core_algos.compute_grpo_outcome_advantage` grouped by ``uid``, and aggregates the
policy-gradient loss with verl's ``agg_loss`` (``token-mean``) — and replaces the rest with the plainest
equivalent: Hugging Face ``generate`` for rollouts and one on-policy update per step (the importance ratio
is 1, as in verl with one PPO epoch and one mini-batch).

To stay within CI time the vision tower is frozen and each clip's video features are computed once: the
policy learns to read them (a 2-layer language model on fixed features), which is what this test is about.

``signal`` feeds the update a corrupted reward while :func:`run_loop` always reports the true one:
``"negated"`` (−reward: a sign error) or ``"shuffled"`` (each response scored against another prompt's
ground truth: a response/ground-truth misalignment in the batch). Neither may raise the true reward.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["LoopConfig", "run_loop"]

Signal = Literal["reward", "negated", "shuffled"]


@dataclass(frozen=True)
class LoopConfig:
    """Sizes of the smoke loop. ``reward_kwargs`` are the manager's ``reward.reward_kwargs``."""

    steps: int = 30
    batch: int = 4  # prompts per step
    n: int = 8  # rollouts per prompt (one GRPO group)
    lr: float = 3e-3
    temperature: float = 1.0
    max_new_tokens: int = 10
    seed: int = 0
    signal: Signal = "reward"
    reward_kwargs: tuple[tuple[str, Any], ...] = ()


class _Policy:
    """The tiny model with frozen, cached video features: prompt embeddings and M-RoPE positions per row."""

    def __init__(self, model_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from video_rlt.learning_task import prepare_inputs

        self.processor = AutoProcessor.from_pretrained(model_dir)
        self.tokenizer = self.processor.tokenizer
        self.model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32)
        self.model.model.visual.requires_grad_(False)
        self.prompts: list[dict[str, Any]] = []
        with torch.no_grad():
            for row in rows:
                inputs = prepare_inputs(row, self.processor)
                feats = self.model.model.get_video_features(
                    inputs["pixel_values_videos"], inputs["video_grid_thw"]
                )
                feats = getattr(feats, "pooler_output", feats)
                if isinstance(feats, list | tuple):
                    feats = torch.cat(list(feats), dim=0)
                self.prompts.append({**inputs, "video_features": feats})
        self.video_token_id = int(self.model.config.video_token_id)
        # A policy must not sample vision placeholders (the next forward would expect pixels for them).
        self.suppress = [
            int(getattr(self.model.config, name))
            for name in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
        ]
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = int(self.tokenizer.pad_token_id)

    def embeds(self, prompt: dict[str, Any], ids: Any) -> Any:
        """Token embeddings of ``ids`` (a batch starting with the prompt) with the cached video features."""
        embeds = self.model.get_input_embeddings()(ids)
        in_prompt = ids == self.video_token_id
        in_prompt[:, prompt["input_ids"].shape[1] :] = False  # only the prompt's placeholders hold video
        mask = in_prompt.unsqueeze(-1).expand_as(embeds)
        feats = prompt["video_features"].to(embeds.dtype).repeat(ids.shape[0], 1)
        return embeds.masked_scatter(mask, feats)

    def video_kwargs(self, prompt: dict[str, Any], ids: Any) -> dict[str, Any]:
        """What M-RoPE needs besides the ids: the video grid, its seconds per grid step, token types."""
        out = {
            "video_grid_thw": prompt["video_grid_thw"].repeat(ids.shape[0], 1),
            "mm_token_type_ids": (ids == self.video_token_id).int() * 2,  # text 0, image 1, video 2
        }
        if prompt.get("second_per_grid_ts") is not None:
            out["second_per_grid_ts"] = prompt["second_per_grid_ts"].repeat(ids.shape[0])
        return out

    def positions(self, prompt: dict[str, Any], ids: Any, attention_mask: Any) -> Any:
        return self.model.model.get_rope_index(
            ids, attention_mask=attention_mask, **self.video_kwargs(prompt, ids)
        )[0]

    def sample(self, prompt: dict[str, Any], n: int, cfg: LoopConfig) -> list[list[int]]:
        import torch

        ids = prompt["input_ids"].repeat(n, 1)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                inputs_embeds=self.embeds(prompt, ids),
                attention_mask=torch.ones_like(ids),
                **self.video_kwargs(prompt, ids),
                do_sample=True,
                temperature=cfg.temperature,
                top_k=0,
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=self.pad_id,
                suppress_tokens=self.suppress,
            )
        responses = []
        for tokens in out[:, ids.shape[1] :].tolist():
            end = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
            responses.append(tokens if end is None else tokens[: end + 1])
        return responses

    def response_log_probs(self, prompt: dict[str, Any], responses: Any, response_mask: Any) -> Any:
        """Per-token log-probs (batch × response length) of right-padded ``responses`` after the prompt."""
        import torch

        n = responses.shape[0]
        prompt_ids = prompt["input_ids"].repeat(n, 1)
        ids = torch.cat([prompt_ids, responses], dim=1)
        attention_mask = torch.cat([torch.ones_like(prompt_ids), response_mask.long()], dim=1)
        logits = self.model(
            inputs_embeds=self.embeds(prompt, ids),
            attention_mask=attention_mask,
            position_ids=self.positions(prompt, ids, attention_mask),
        ).logits[:, prompt_ids.shape[1] - 1 : -1]
        return torch.log_softmax(logits.float(), dim=-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)


def _score(manager: Any, policy: _Policy, rows: Sequence[dict[str, Any]], prompt_idx: list[int],
           responses: list[list[int]], truth_idx: list[int]) -> list[float]:  # fmt: skip
    """Rewards from the manager for rollouts laid out as verl's agent loop lays them out."""
    import torch
    from verl import DataProto

    width = max(len(r) for r in responses)
    resp = torch.full((len(responses), width), policy.pad_id)
    mask = torch.zeros((len(responses), width), dtype=torch.long)
    for i, r in enumerate(responses):
        resp[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
    prompt_len = max(int(policy.prompts[p]["input_ids"].shape[1]) for p in prompt_idx)
    prompts = torch.full((len(responses), prompt_len), policy.pad_id)
    for i, p in enumerate(prompt_idx):
        ids = policy.prompts[p]["input_ids"][0]
        prompts[i, prompt_len - len(ids) :] = ids  # left padding, as verl's agent loop
    attention = torch.cat([(prompts != policy.pad_id).long(), mask], dim=1)
    data = DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": resp,
            "input_ids": torch.cat([prompts, resp], dim=1),
            "attention_mask": attention,
            "position_ids": torch.clamp(attention.cumsum(-1) - 1, min=0),
        },
        non_tensors={
            key: np.array([rows[t][key] for t in truth_idx], dtype=object)
            for key in ("data_source", "reward_model", "extra_info")
        }
        | {"uid": np.array([str(p) for p in prompt_idx], dtype=object)},
    )

    async def all_rows() -> list[float]:
        return [float((await manager.run_single(data[i : i + 1]))["reward_score"]) for i in range(len(data))]

    return asyncio.run(all_rows())


def run_loop(model_dir: Path, rows: Sequence[dict[str, Any]], cfg: LoopConfig) -> list[float]:
    """Train with GRPO for ``cfg.steps`` steps; return the mean *true* reward of each step's rollouts."""
    import torch
    from omegaconf import OmegaConf
    from verl.trainer.ppo.core_algos import agg_loss, compute_grpo_outcome_advantage

    from video_rewards.integrations.verl import VideoRewardManager

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    policy = _Policy(model_dir, rows)
    config = OmegaConf.create({"reward": {"reward_kwargs": dict(cfg.reward_kwargs)}})
    manager = VideoRewardManager(config=config, tokenizer=policy.tokenizer, compute_score=None)
    params = [p for p in policy.model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=cfg.lr)
    curve = []
    for _ in range(cfg.steps):
        picked = rng.sample(range(len(rows)), cfg.batch)
        policy.model.eval()
        groups = {p: policy.sample(policy.prompts[p], cfg.n, cfg) for p in picked}
        prompt_idx = [p for p in picked for _ in range(cfg.n)]
        responses = [r for p in picked for r in groups[p]]
        true = _score(manager, policy, rows, prompt_idx, responses, prompt_idx)
        if cfg.signal == "shuffled":
            others = {p: rng.choice([q for q in range(len(rows)) if q != p]) for p in picked}
            signal = _score(manager, policy, rows, prompt_idx, responses, [others[p] for p in prompt_idx])
        else:
            signal = [-r for r in true] if cfg.signal == "negated" else true
        curve.append(float(np.mean(true)))

        policy.model.train()
        optim.zero_grad()
        for k, p in enumerate(picked):
            rows_k = slice(k * cfg.n, (k + 1) * cfg.n)
            group = responses[rows_k]
            width = max(len(r) for r in group)
            resp = torch.full((cfg.n, width), policy.pad_id)
            mask = torch.zeros((cfg.n, width))
            for i, r in enumerate(group):
                resp[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1.0
            scores = torch.zeros((cfg.n, width))
            scores[torch.arange(cfg.n), mask.sum(-1).long() - 1] = torch.tensor(signal[rows_k])
            advantages, _ = compute_grpo_outcome_advantage(
                scores, mask, np.array([str(p)] * cfg.n, dtype=object)
            )
            log_probs = policy.response_log_probs(policy.prompts[p], resp, mask)
            ratio = torch.exp(log_probs - log_probs.detach())  # 1, with the policy gradient's derivative
            loss = agg_loss(loss_mat=-advantages * ratio, loss_mask=mask, loss_agg_mode="token-mean")
            (loss / cfg.batch).backward()
        optim.step()
    return curve
