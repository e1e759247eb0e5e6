"""Rollout engines: the same interface over HF ``generate`` and vLLM's offline ``LLM.generate``.

Both take :class:`~selection.prompts.PreparedSample` objects (prompt text + decoded frames, prepared as verl
prepares them) and return ``n`` completions per sample. Each video is decoded and encoded once per sample,
however large ``n`` is:

* ``hf``: the vision tower runs once per sample to build the prompt's input embeddings; then ONE batched
  ``generate`` samples every sample's ``n`` continuations (prompts left-padded to the longest, each
  repeated ``n`` times; no pixels are passed, so the vision tower does not run again). The embeddings
  of the last call's samples are kept, so later adaptive rounds on the same frames reuse them. Each row
  samples from its own generator (:func:`rollout_seed`), so a rollout does not depend on its batch.
* ``vllm``: one request per sample with ``SamplingParams(n=...)``; vLLM encodes the video once and forks
  the n sequences from the shared prefix.

Engines are looked up by name in :data:`ENGINES`; an unknown name lists the known ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from selection.prompts import PreparedSample

logger = logging.getLogger(__name__)

__all__ = [
    "ENGINES", "Completion", "Engine", "HFEngine", "SamplingConfig", "VLLMEngine", "make_engine", "rollout_seed",
]  # fmt: skip

# Vision placeholders a policy must never emit: sampled from a weak model they corrupt M-RoPE positions.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


class SamplingConfig(BaseModel):
    """Generation settings, recorded with every rollout. ``seed`` is the run's base seed: each sample
    draws from its own stream derived from (seed, sample_id), so results do not depend on batching,
    sharding or resuming."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(default=8, ge=1, le=1024)
    temperature: float = Field(default=1.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=-1, description="-1: disabled")
    max_tokens: int = Field(default=512, ge=1)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    seed: int = 0

    @model_validator(mode="after")
    def _greedy_single(self) -> SamplingConfig:
        if self.temperature == 0 and self.n > 1:
            raise ValueError(
                "temperature 0 (greedy) with n > 1 gives n identical rollouts: raise the temperature"
            )
        return self


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" (end-of-turn token) or "length" (max_tokens reached)
    num_tokens: int


class Engine(Protocol):
    name: str
    processor: Any

    def generate(self, samples: Sequence[PreparedSample], sampling: SamplingConfig) -> list[list[Completion]]:
        """``n`` completions for each sample, in order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Versions and settings worth recording next to the rollouts."""
        ...


@dataclass(frozen=True)
class _Prompt:
    """One sample's encoded prompt (hf engine), with what it was built from."""

    prompt: str
    videos: Any  # the decoded frames object itself: identity, not equality, marks a reuse
    inputs: dict[str, Any]
    embeds: Any


def _split_videos(sample: PreparedSample) -> tuple[list[Any] | None, list[dict[str, Any]] | None]:
    if not sample.videos:
        return None, None
    frames = [v[0] if isinstance(v, tuple) else v for v in sample.videos]
    metadata = [v[1] for v in sample.videos if isinstance(v, tuple)]
    return frames, (metadata or None)


class HFEngine:
    """transformers ``generate`` (CPU or GPU): encodes each sample's video once; one batched call per request."""

    name = "hf"

    def __init__(self, model: str, *, dtype: str = "float32", device: str = "cpu", **options: Any) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.model_path = model
        self.device = device
        self.dtype = dtype
        self.processor = AutoProcessor.from_pretrained(model)
        self.model = AutoModelForImageTextToText.from_pretrained(
            model, dtype=getattr(torch, dtype), **options
        )
        self.model.to(device).eval()
        tok = self.processor.tokenizer
        vocab = tok.get_vocab()
        self._suppress = [vocab[t] for t in VISION_TOKENS if t in vocab]
        eos = self.model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos]) if eos is not None else {tok.eos_token_id}
        self._pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(self._eos))
        self._prompts: dict[int, _Prompt] = {}

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {
            "engine": "hf",
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "dtype": self.dtype,
        }

    def _embed_once(self, inputs: dict[str, Any]) -> Any:
        """Prompt embeddings with the video features scattered in: the only vision-tower call per sample."""
        import torch

        inner = self.model.model
        ids = inputs["input_ids"]
        embeds = self.model.get_input_embeddings()(ids)
        for pixels_key, grid_key, kind in (
            ("pixel_values_videos", "video_grid_thw", "video"),
            ("pixel_values", "image_grid_thw", "image"),
        ):
            if inputs.get(pixels_key) is None:
                continue
            getter = inner.get_video_features if kind == "video" else inner.get_image_features
            feats = getter(inputs[pixels_key], inputs[grid_key])
            feats = getattr(feats, "pooler_output", feats)  # transformers 5 wraps the features in an output
            if isinstance(feats, list | tuple):
                feats = torch.cat(list(feats), dim=0)
            feats = feats.to(embeds.device, embeds.dtype)
            masks = inner.get_placeholder_mask(ids, inputs_embeds=embeds, **{f"{kind}_features": feats})
            embeds = embeds.masked_scatter(masks[1] if kind == "video" else masks[0], feats)
        return embeds

    def generate(self, samples: Sequence[PreparedSample], sampling: SamplingConfig) -> list[list[Completion]]:
        """All samples' rollouts from ONE batched ``generate``: each sample's video goes through the vision
        tower once, its prompt embeddings are left-padded to the longest prompt and repeated ``n`` times."""
        import torch

        if not samples:
            return []
        n = sampling.n
        with torch.no_grad():
            prompts = [self._prompt(s) for s in samples]
            # Keep only this call's prompts: the next adaptive round asks for a subset of them.
            self._prompts = {s.sample_id: p for s, p in zip(samples, prompts, strict=True)}
            batch = _stack_rows([p.inputs for p in prompts], [p.embeds for p in prompts], n, self._pad)
            gen: dict[str, Any] = {
                "do_sample": False,
                "max_new_tokens": sampling.max_tokens,
                "repetition_penalty": sampling.repetition_penalty,
                "pad_token_id": self._pad,
            }
            if sampling.temperature > 0:
                # Greedy over scores the sampler has reduced to its draw: each row samples from its own
                # generator, so a rollout does not depend on the batch it was drawn in (resumption, sharding).
                seeds = [rollout_seed(s.seed, k) for s in samples for k in range(n)]
                gen["logits_processor"] = [_RowSampler(seeds, sampling)]
            if self._suppress:
                gen["suppress_tokens"] = self._suppress
            out = self.model.generate(**batch, **gen)
        rows = [self._completion(tokens) for tokens in out[:, batch["input_ids"].shape[1] :].tolist()]
        return [rows[i * n : (i + 1) * n] for i in range(len(samples))]

    def _prompt(self, sample: PreparedSample) -> _Prompt:
        """The sample's processor tensors and prompt embeddings: computed once, reused by later rounds.

        A later adaptive round passes the same decoded frames (a copy of the sample with another seed), so
        a cached prompt is reused when it was built from the very same frames object and prompt text.
        """
        cached = self._prompts.get(sample.sample_id)
        if cached is not None and cached.videos is sample.videos and cached.prompt == sample.prompt:
            return cached
        inputs = self._encode(sample)
        return _Prompt(sample.prompt, sample.videos, inputs, self._embed_once(inputs))

    def _encode(self, sample: PreparedSample) -> dict[str, Any]:
        """The processor's tensors for one sample (its frames resized and patched once)."""
        frames, metadata = _split_videos(sample)
        kwargs: dict[str, Any] = {"text": [sample.prompt], "return_tensors": "pt"}
        if sample.images:
            kwargs["images"] = sample.images
        if frames is not None:
            kwargs["videos"] = frames
            if metadata is not None:
                # verl: frames were sampled by process_vision_info; the processor must not resample them.
                kwargs.update(video_metadata=metadata, do_sample_frames=False)
        inputs = dict(self.processor(**kwargs, **sample.mm_kwargs))
        return {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}

    def _completion(self, tokens: list[int]) -> Completion:
        end = next((i for i, t in enumerate(tokens) if t in self._eos), None)
        kept = tokens if end is None else tokens[: end + 1]
        text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
        return Completion(text, "length" if end is None else "stop", len(kept))


def rollout_seed(seed: int, index: int) -> int:
    """The seed of rollout ``index`` of a request seeded ``seed`` (the hf engine's per-row generator).

    >>> rollout_seed(5, 0) == rollout_seed(5, 0) != rollout_seed(5, 1)
    True
    """
    return int(np.random.SeedSequence([seed & 0xFFFFFFFFFFFF, index]).generate_state(1)[0])


# Processor outputs with one entry per prompt token (left-padded); the other tensors (grids, video
# timings) have one entry per image or video and are concatenated in row order, as M-RoPE reads them.
_TOKEN_KEYS = {"input_ids": None, "attention_mask": 0, "mm_token_type_ids": 0}
_PIXEL_KEYS = ("pixel_values_videos", "pixel_values")


def _stack_rows(encoded: list[dict[str, Any]], embeds: list[Any], n: int, pad: int) -> dict[str, Any]:
    """One generate batch: every sample's prompt left-padded to the longest and repeated ``n`` times."""
    import torch
    import torch.nn.functional as F

    width = max(e["input_ids"].shape[1] for e in encoded)
    rows: dict[str, list[Any]] = {key: [] for key in (*_TOKEN_KEYS, "inputs_embeds")}
    per_item: dict[str, list[Any]] = {}
    for inputs, emb in zip(encoded, embeds, strict=True):
        gap = width - inputs["input_ids"].shape[1]
        ids = inputs["input_ids"]
        tokens = {
            "input_ids": ids,
            "attention_mask": inputs.get("attention_mask", torch.ones_like(ids)),
            "mm_token_type_ids": inputs.get("mm_token_type_ids", torch.zeros_like(ids)),  # 0: text
        }
        for key, fill in _TOKEN_KEYS.items():
            rows[key].append(F.pad(tokens[key], (gap, 0), value=pad if fill is None else fill).repeat(n, 1))
        rows["inputs_embeds"].append(F.pad(emb, (0, 0, gap, 0)).repeat(n, 1, 1))
        for key, value in inputs.items():
            if key not in _TOKEN_KEYS and key not in _PIXEL_KEYS and isinstance(value, torch.Tensor):
                per_item.setdefault(key, []).extend([value] * n)
    return {key: torch.cat(parts) for key, parts in {**rows, **per_item}.items()}


class _RowSampler:
    """A logits processor that draws each row's next token from that row's own ``torch.Generator``.

    Temperature, top-k and top-p are applied as HF's sampling applies them; the returned scores keep
    only the drawn token, so greedy decoding emits it.
    """

    def __init__(self, seeds: list[int], sampling: SamplingConfig) -> None:
        from transformers.generation.logits_process import (
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self.seeds = seeds
        self.generators: list[Any] = []
        self.warpers: list[Any] = []
        if sampling.temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k > 0:
            self.warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(sampling.top_p))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if not self.generators:
            self.generators = [torch.Generator(device=scores.device).manual_seed(s) for s in self.seeds]
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        probs = torch.softmax(scores.float(), dim=-1)
        picks = torch.cat(
            [torch.multinomial(p, 1, generator=g) for p, g in zip(probs, self.generators, strict=True)]
        )
        drawn = torch.full_like(scores, float("-inf"))
        return drawn.scatter_(1, picks[:, None], 0.0)


class VLLMEngine:
    """vLLM offline ``LLM.generate``: one request per sample with ``SamplingParams(n=...)``."""

    name = "vllm"

    def __init__(self, model: str, **options: Any) -> None:
        from transformers import AutoProcessor
        from vllm import LLM

        self.model_path = model
        self.options = options
        self.processor = AutoProcessor.from_pretrained(model)
        self.llm = LLM(model=model, **options)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "engine": "vllm",
            "vllm": vllm.__version__,
            "options": {k: str(v) for k, v in self.options.items()},
        }

    def generate(self, samples: Sequence[PreparedSample], sampling: SamplingConfig) -> list[list[Completion]]:
        from vllm import SamplingParams

        prompts: list[dict[str, Any]] = []
        params = []
        for s in samples:
            request: dict[str, Any] = {"prompt": s.prompt}
            mm: dict[str, Any] = {}
            if s.videos:
                mm["video"] = s.videos
            if s.images:
                mm["image"] = s.images
            if mm:
                request["multi_modal_data"] = mm
                # Frames were already sampled as verl samples them; vLLM's processor must not resample.
                request["mm_processor_kwargs"] = {"do_sample_frames": False, **s.mm_kwargs}
            prompts.append(request)
            params.append(
                SamplingParams(
                    n=sampling.n,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    top_k=sampling.top_k,
                    max_tokens=sampling.max_tokens,
                    repetition_penalty=sampling.repetition_penalty,
                    seed=s.seed,
                )
            )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        result = []
        for out in outputs:
            ordered = sorted(out.outputs, key=lambda c: c.index)
            result.append(
                [
                    Completion(c.text, "length" if c.finish_reason == "length" else "stop", len(c.token_ids))
                    for c in ordered
                ]
            )
        return result


ENGINES: dict[str, Callable[..., Engine]] = {"hf": HFEngine, "vllm": VLLMEngine}


def make_engine(name: str, model: str, **options: Any) -> Engine:
    """The engine registered under ``name``; an unknown name lists the known ones."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown rollout engine {name!r}; known: {sorted(ENGINES)}") from None
    return factory(model, **options)
