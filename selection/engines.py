"""Rollout engines: the same interface over HF ``generate`` and vLLM's offline ``LLM.generate``.

Both take :class:`~selection.prompts.PreparedSample` objects (prompt text + decoded frames, prepared as verl
prepares them) and return ``n`` completions per sample. Each video is decoded and encoded once per sample,
however large ``n`` is:

* ``hf``: the vision tower runs once per sample to build the prompt's input embeddings; ``generate`` then
  samples ``n`` continuations from those embeddings (the batch is the n copies; no pixels are passed, so
  the vision tower does not run again).
* ``vllm``: one request per sample with ``SamplingParams(n=...)``; vLLM encodes the video once and forks
  the n sequences from the shared prefix.

Engines are looked up by name in :data:`ENGINES`; an unknown name lists the known ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selection.prompts import PreparedSample

logger = logging.getLogger(__name__)

__all__ = ["ENGINES", "Completion", "Engine", "HFEngine", "SamplingConfig", "VLLMEngine", "make_engine"]

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


def _split_videos(sample: PreparedSample) -> tuple[list[Any] | None, list[dict[str, Any]] | None]:
    if not sample.videos:
        return None, None
    frames = [v[0] if isinstance(v, tuple) else v for v in sample.videos]
    metadata = [v[1] for v in sample.videos if isinstance(v, tuple)]
    return frames, (metadata or None)


class HFEngine:
    """transformers ``generate`` (CPU or GPU): encodes each sample's video once, samples n continuations."""

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
        return [self._generate_one(s, sampling) for s in samples]

    def _generate_one(self, sample: PreparedSample, sp: SamplingConfig) -> list[Completion]:
        import torch

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
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        n = sp.n
        with torch.no_grad():
            embeds = self._embed_once(inputs)
            rest = {
                k: v.repeat_interleave(n, dim=0)
                for k, v in inputs.items()
                if k not in ("pixel_values_videos", "pixel_values", "input_ids")
                and isinstance(v, torch.Tensor)
            }
            torch.manual_seed(sample.seed)
            gen = {
                "do_sample": sp.temperature > 0,
                "max_new_tokens": sp.max_tokens,
                "repetition_penalty": sp.repetition_penalty,
                "pad_token_id": self._pad,
            }
            if sp.temperature > 0:
                gen.update(temperature=sp.temperature, top_p=sp.top_p, top_k=sp.top_k if sp.top_k > 0 else 0)
            if self._suppress:
                gen["suppress_tokens"] = self._suppress
            out = self.model.generate(
                input_ids=inputs["input_ids"].repeat_interleave(n, dim=0),
                inputs_embeds=embeds.repeat_interleave(n, dim=0),
                **rest,
                **gen,
            )
        new = out[:, inputs["input_ids"].shape[1] :].tolist()
        completions = []
        for tokens in new:
            end = next((i for i, t in enumerate(tokens) if t in self._eos), None)
            kept = tokens if end is None else tokens[: end + 1]
            text = self.processor.tokenizer.decode(kept, skip_special_tokens=True)
            completions.append(Completion(text, "length" if end is None else "stop", len(kept)))
        return completions


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
