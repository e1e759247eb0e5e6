"""``rollout.name=hf``: a verl rollout replica whose server is a Ray actor running Hugging Face ``generate``.

Step 4 of :mod:`verl_plugins.cpu`. :class:`HFGenerateServer` stands in for verl's vLLM server on CPU;
:func:`register_rollout` publishes the adapter and replica classes (built lazily, they subclass verl's)
on this module, where verl resolves them by dotted path.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

from verl_plugins.cpu.suppressed import mask_suppressed_logits, suppressed_token_ids

logger = logging.getLogger(__name__)

__all__ = ["ROLLOUT_NAME", "HFGenerateServer", "register_rollout"]

#: Name of the rollout backend (``actor_rollout_ref.rollout.name=hf``).
ROLLOUT_NAME = "hf"


# ---------------------------------------------------------------------------------------------------------
# 4. the `hf` rollout
# ---------------------------------------------------------------------------------------------------------
def _server_actor_name(replica_rank: int, node_rank: int = 0) -> str:
    return f"hf_server_{replica_rank}_{node_rank}"


class HFGenerateServer:
    """Rollout server (a Ray actor): Hugging Face ``generate`` on CPU, token in, token out.

    Stands in for verl's vLLM HTTP server: it answers ``generate(prompt_ids, sampling_params, video_data=…)``
    with a :class:`verl.workers.rollout.replica.TokenOutput`, and receives the actor's weights through
    :meth:`load_weights` at every weight sync. Waiting requests are served in batches, identical ones (GRPO's
    ``n`` copies of a prompt) in one ``generate`` (:mod:`verl_plugins.cpu.hf_rollout_batching`), in a thread so the
    actor's event loop stays responsive.
    """

    def __init__(self, config: Any, model_config: Any, replica_rank: int) -> None:
        import torch
        import transformers
        from verl.utils.config import omega_conf_to_dataclass
        from verl.utils.tokenizer.tokenizer import get_processor_token_id
        from verl.workers.config import HFModelConfig

        self.config = omega_conf_to_dataclass(config)
        self.model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        self.global_steps: int | None = None
        self.processor = self.model_config.processor
        self.tokenizer = self.model_config.tokenizer
        hf_config = self.model_config.hf_config
        auto_cls = (
            transformers.AutoModelForImageTextToText
            if type(hf_config) in transformers.AutoModelForImageTextToText._model_mapping
            else transformers.AutoModelForCausalLM
        )
        # fp32: CPU bf16 matmuls are slow and sampling from bf16 logits adds noise for nothing.
        self.model = auto_cls.from_pretrained(
            self.model_config.local_path,
            dtype=torch.float32,
            attn_implementation="sdpa",
            trust_remote_code=self.model_config.trust_remote_code,
        ).eval()
        self._tied_keys = {k for k in self.model.state_dict() if k.endswith("lm_head.weight")}
        # The vision placeholders are masked in the model itself, as in the actor (see verl_plugins.cpu.suppressed).
        self.suppressed_token_ids = suppressed_token_ids(hf_config)
        mask_suppressed_logits(self.model, self.suppressed_token_ids)
        # (placeholder id, token type) of the image and video placeholders: the agent loop's mm_token_type_ids.
        self._placeholder_types = [
            (token_id, value)
            for name, value in (("image", 1), ("video", 2))
            if (token_id := get_processor_token_id(self.processor, name)) is not None
        ]
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(int(self.tokenizer.eos_token_id))
        self.eos_token_ids = sorted(eos_ids)
        self.pad_token_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0]
        )
        # Requests waiting for the next batched ``generate`` and the task serving them (one at a time).
        self._pending: list[Any] = []
        self._drainer: asyncio.Task[None] | None = None

    # -- weights ------------------------------------------------------------------------------------------
    def load_weights(self, state: dict[str, Any], global_steps: int | None = None) -> int:
        """Copy the actor's parameters into the rollout model; return how many tensors were loaded."""
        import torch

        with torch.no_grad():
            result = self.model.load_state_dict(state, strict=False)
        if result.unexpected_keys:
            raise KeyError(
                f"actor weights not in the rollout model: {sorted(result.unexpected_keys)[:5]} "
                f"({len(result.unexpected_keys)} in all)"
            )
        missing = set(result.missing_keys) - self._tied_keys
        if missing:
            raise KeyError(
                f"rollout model weights not sent by the actor: {sorted(missing)[:5]} ({len(missing)})"
            )
        if global_steps is not None:
            self.global_steps = global_steps
        return len(state)

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    # -- generation ---------------------------------------------------------------------------------------
    def _vision_inputs(
        self, prompt_ids: list[int], image_data: list[Any] | None, video_data: list[Any] | None
    ) -> dict[str, Any]:
        """Processor features for the media, computed exactly as verl's agent loop computes them."""
        if not image_data and not video_data:
            return {}
        import torch
        from verl.utils.tokenizer.tokenizer import build_multimodal_processor_inputs

        # One placeholder per item; the processor expands each into its grid of pad tokens and returns the
        # pixel tensors. The prompt token ids themselves come from the agent loop.
        text = getattr(self.processor, "image_token", "") * len(image_data or []) + getattr(
            self.processor, "video_token", ""
        ) * len(video_data or [])
        features = build_multimodal_processor_inputs(
            self.processor, text=[text], images=image_data or None, videos=video_data or None
        )
        # Drop what is aligned with the placeholder text: generate derives it from the real prompt ids.
        text_aligned = {"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids"}
        vision = {k: v for k, v in features.items() if k not in text_aligned}
        if "mm_token_type_ids" in features:
            # transformers ≥ 5.3 builds Qwen-VL's 3-D M-RoPE positions only when it is given the token types
            # of the prompt; without them generate falls back to 1-D positions for the video tokens too, and
            # the rollout samples from another policy than the actor trains (whose position ids verl's agent
            # loop builds from these same types). Built from the real prompt ids as the agent loop does.
            ids = torch.tensor([prompt_ids], dtype=torch.long)
            types = torch.zeros_like(ids)
            for token_id, value in self._placeholder_types:
                types[ids == token_id] = value
            vision["mm_token_type_ids"] = types
        return vision

    def _generate_rows(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: list[Any] | None,
        video_data: list[Any] | None,
        rows: int,
    ) -> list[tuple[list[int], list[float]]]:
        """``rows`` independent samples of one request in one ``generate`` (identical rows, no padding)."""
        import torch

        from verl_plugins.cpu.hf_rollout_batching import split_rows

        vision = self._vision_inputs(prompt_ids, image_data, video_data)
        if rows > 1:
            # Per-item tensors (pixels, grids) are stacked along dim 0, so the batch repeats them row by row.
            vision = {
                k: v.repeat(rows, *([1] * (v.dim() - 1))) if hasattr(v, "repeat") else v
                for k, v in vision.items()
            }
        input_ids = torch.tensor([prompt_ids] * rows, dtype=torch.long)
        prompt_budget = self.config.prompt_length + self.config.response_length - len(prompt_ids)
        max_new_tokens = int(
            sampling_params.get("max_tokens") or min(self.config.response_length, prompt_budget)
        )
        max_new_tokens = max(1, min(max_new_tokens, self.config.response_length))
        temperature = float(sampling_params.get("temperature", 1.0))
        do_sample = temperature > 0
        top_k = int(sampling_params.get("top_k", -1))
        generate_kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": do_sample,
            "eos_token_id": self.eos_token_ids,
            "pad_token_id": self.pad_token_id,
            "return_dict_in_generate": True,
            "output_logits": True,
        }
        if do_sample:
            generate_kwargs.update(
                temperature=temperature,
                top_p=float(sampling_params.get("top_p", 1.0)),
                top_k=top_k if top_k > 0 else 0,
            )
        repetition_penalty = float(sampling_params.get("repetition_penalty", 1.0))
        if repetition_penalty != 1.0:
            generate_kwargs["repetition_penalty"] = repetition_penalty
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **vision, **generate_kwargs
            )
        new_rows = split_rows(out.sequences[:, input_ids.shape[1] :].tolist(), self.eos_token_ids)
        # Log-probs of the sampled tokens under the temperature-scaled model distribution (what verl's actor
        # computes: both models mask the placeholders, so the logits are the same).
        logits = torch.stack(out.logits, dim=1).float()
        if do_sample:
            logits = logits / temperature
        log_probs = torch.log_softmax(logits, dim=-1)
        results = []
        for row, tokens in enumerate(new_rows):
            picked = log_probs[row, : len(tokens)].gather(-1, torch.tensor(tokens).unsqueeze(-1)).squeeze(-1)
            results.append((tokens, picked.tolist()))
        return results

    async def _drain(self) -> None:
        """Serve the waiting requests, identical ones in one ``generate`` (see :mod:`verl_plugins.cpu.hf_rollout_batching`)."""
        from verl_plugins.cpu.hf_rollout_batching import group_requests

        while self._pending:
            # Yield once so that the other requests sent in the same burst (a GRPO group) join this batch.
            await asyncio.sleep(0.005)
            batch, self._pending = self._pending, []
            for group in group_requests(batch):
                first = group[0]
                try:
                    results = await asyncio.to_thread(
                        self._generate_rows,
                        first.prompt_ids,
                        first.sampling_params,
                        first.image_data,
                        first.video_data,
                        len(group),
                    )
                except Exception as exc:  # every request of the group gets the error, none hangs
                    for request in group:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                for request, result in zip(group, results, strict=True):
                    if not request.future.done():
                        request.future.set_result(result)

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        audio_data: list[Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
        priority: int = 0,
        **kwargs: Any,
    ) -> Any:
        from verl.workers.rollout.replica import TokenOutput

        from verl_plugins.cpu.hf_rollout_batching import PendingRequest

        if audio_data:
            raise NotImplementedError("the hf rollout does not take audio inputs")
        loop = asyncio.get_running_loop()
        request = PendingRequest(
            list(prompt_ids), dict(sampling_params), image_data, video_data, loop.create_future()
        )
        self._pending.append(request)
        if self._drainer is None or self._drainer.done() or self._drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        token_ids, log_probs = await request.future
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if sampling_params.get("logprobs") else None,
            stop_reason="completed",
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps},
        )

    # -- lifecycle hooks verl calls on every server; nothing to free on CPU --------------------------------
    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def abort_all_requests(self, reject_request: bool = False) -> dict[str, Any]:
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None


def _make_rollout_classes() -> tuple[type, type]:
    import ray
    import torch
    from verl.workers.rollout.base import BaseRollout
    from verl.workers.rollout.replica import RolloutReplica

    class HFServerAdapter(BaseRollout):
        """Rollout side of the hybrid worker: forwards the actor's weights to its replica's server."""

        def __init__(
            self, config: Any, model_config: Any, device_mesh: Any, *args: Any, **kwargs: Any
        ) -> None:
            super().__init__(config, model_config, device_mesh)
            rank = int(os.environ.get("RANK", "0"))
            replica_world_size = (
                self.config.tensor_model_parallel_size
                * self.config.data_parallel_size
                * self.config.pipeline_model_parallel_size
            )
            self.replica_rank = rank // replica_world_size
            self._is_leader = rank % replica_world_size == 0
            self._server: Any = None

        def _server_handle(self) -> Any:
            # The server is started after the hybrid worker, so look it up on first use.
            if self._server is None:
                self._server = ray.get_actor(_server_actor_name(self.replica_rank))
            return self._server

        async def resume(self, tags: list[str]) -> None:
            return None

        async def release(self) -> None:
            return None

        async def update_weights(
            self,
            weights: Iterable[tuple[str, torch.Tensor]] | AsyncIterator[tuple[str, torch.Tensor]],
            wire_format: str = "named_tensors",
            global_steps: int | None = None,
            **kwargs: Any,
        ) -> None:
            if wire_format != "named_tensors":
                raise NotImplementedError(f"the hf rollout takes full named tensors, not {wire_format!r}")
            if kwargs.get("peft_config") is not None:
                raise NotImplementedError("the hf rollout takes merged weights (set model.lora.merge=True)")
            # Every rank must drain the generator: gathering full tensors from FSDP shards is collective.
            state: dict[str, torch.Tensor] = {}
            if hasattr(weights, "__aiter__"):
                async for name, tensor in weights:
                    state[name] = tensor.detach().to("cpu", copy=True)
            else:
                for name, tensor in weights:
                    state[name] = tensor.detach().to("cpu", copy=True)
            if self._is_leader:
                await self._server_handle().load_weights.remote(state, global_steps)

    class HFReplica(RolloutReplica):
        """One :class:`HFGenerateServer` actor per replica (the CPU stand-in for a vLLM server)."""

        async def launch_servers(self) -> None:
            name = _server_actor_name(self.replica_rank)
            server_cls = ray.remote(HFGenerateServer)
            server = server_cls.options(name=name, num_cpus=1, max_concurrency=self.max_concurrency).remote(
                config=self.config, model_config=self.model_config, replica_rank=self.replica_rank
            )
            self.servers = [server]
            self._server_handle = server
            # No HTTP endpoint: the address is only a key for verl's load balancer.
            self._server_address = f"{name}.ray"
            await server.set_global_steps.remote(0)

        def rollout_worker_use_gpu(self) -> bool:
            return False

    return HFServerAdapter, HFReplica


def register_rollout() -> None:
    import verl.workers.rollout.base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    adapter_cls, replica_cls = _make_rollout_classes()
    # verl resolves rollout classes by dotted path; point it at the class object published on this module.
    globals()["HFServerAdapter"] = adapter_cls
    globals()["HFReplica"] = replica_cls
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.HFServerAdapter"
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: replica_cls)
