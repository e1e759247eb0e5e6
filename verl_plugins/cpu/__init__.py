"""CPU backend for verl 0.9.1: dry-run any GRPO recipe on a laptop, and give the tests a real trainer.

Load it in *every* verl process (driver, task runner, FSDP workers, agent-loop and reward workers)::

    VERL_PLATFORM=cpu VERL_USE_EXTERNAL_MODULES=video_rlt.verl_cpu \\
        python -m verl.trainer.main_ppo ... actor_rollout_ref.rollout.name=hf trainer.device=cpu \\
        +ray_kwargs.ray_init.num_gpus=1 ...

(``recipes/cpu/grpo_tiny_cpu.sh`` has the full, tested set of overrides.) ``verl/__init__.py`` imports the
modules named in ``VERL_USE_EXTERNAL_MODULES``, and Ray workers inherit the environment, so this module runs
in every process before verl builds anything. Importing it does nothing unless ``VERL_PLATFORM=cpu``.

What it adds, only through verl's own extension points (registries) plus a few small, commented rebinds;
no installed file is modified:

1. a ``cpu`` platform (``PlatformRegistry``): gloo, ``torch.device("cpu")``; it reports the Ray resource name
   ``GPU`` so verl's resource pools schedule on the fake GPUs given by ``+ray_kwargs.ray_init.num_gpus=N``;
2. the global process group uses plain ``gloo`` (verl's default ``"cpu:gloo,cpu:gloo"`` is rejected by torch);
3. verl's FSDP/FSDP2 engines registered for device ``cpu``;
4. ``rollout.name=hf``: a rollout replica whose server is a Ray actor running Hugging Face ``generate`` in
   fp32 with the video inputs (``pixel_values_videos``/``video_grid_thw``), returning log-probs, and taking the
   actor's weights at every weight sync;
5. a TransferQueue fix for VLM 3-D ``position_ids`` (see :func:`_patch_nested_position_ids`);
6. FSDP2's CPU offload policy without pinned memory (pinning needs CUDA).

The version check is strict: every fix above was written against verl 0.9.1's internals.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

#: The only verl release this backend is written for.
SUPPORTED_VERL_VERSION = "0.9.1"
#: Name of the rollout backend registered by :func:`install` (``actor_rollout_ref.rollout.name=hf``).
ROLLOUT_NAME = "hf"
#: Value of ``VERL_PLATFORM`` that activates this backend.
PLATFORM_NAME = "cpu"

_installed = False
_install_lock = threading.Lock()


class VerlVersionError(RuntimeError):
    """The installed verl is not the release this backend was written against."""


def check_verl_version(version: str | None = None) -> str:
    """Return the verl version, raising :class:`VerlVersionError` unless it is 0.9.1.

    >>> check_verl_version("0.9.1")
    '0.9.1'
    >>> check_verl_version("0.10.0")
    Traceback (most recent call last):
    ...
    video_rlt.verl_cpu.VerlVersionError: video_rlt.verl_cpu supports verl==0.9.1 only, found verl 0.10.0: ...
    """
    if version is None:
        import verl

        version = str(verl.__version__)
    if version != SUPPORTED_VERL_VERSION:
        raise VerlVersionError(
            f"video_rlt.verl_cpu supports verl=={SUPPORTED_VERL_VERSION} only, found verl {version}: "
            "its CPU fixes patch verl internals that change between releases. "
            f'Install it with `pip install --no-deps "verl=={SUPPORTED_VERL_VERSION}"`, '
            "or unset VERL_PLATFORM/VERL_USE_EXTERNAL_MODULES to run on GPUs."
        )
    return version


# ---------------------------------------------------------------------------------------------------------
# 1. the CPU platform
# ---------------------------------------------------------------------------------------------------------
def _make_device_module() -> ModuleType:
    """``torch.cpu`` plus the ``torch.cuda`` calls verl makes on ``get_torch_device()``.

    verl calls memory statistics, RNG state and cache functions on the device module; ``torch.cpu`` has
    only some of them. Memory figures are 0 (verl only logs them); ``mem_get_info`` reports host RAM.
    """
    import torch

    module = ModuleType("video_rlt_cpu_device")
    module.__dict__.update({k: v for k, v in vars(torch.cpu).items() if not k.startswith("__")})

    def _zero(*args: Any, **kwargs: Any) -> int:
        return 0

    def _noop(*args: Any, **kwargs: Any) -> None:
        return None

    def mem_get_info(device: Any = None) -> tuple[int, int]:
        page = os.sysconf("SC_PAGE_SIZE")
        return os.sysconf("SC_AVPHYS_PAGES") * page, os.sysconf("SC_PHYS_PAGES") * page

    module.__dict__.update(
        empty_cache=_noop,
        ipc_collect=_noop,
        reset_peak_memory_stats=_noop,
        set_per_process_memory_fraction=_noop,
        memory_allocated=_zero,
        memory_reserved=_zero,
        max_memory_allocated=_zero,
        max_memory_reserved=_zero,
        mem_get_info=mem_get_info,
        get_rng_state=lambda device=None: torch.get_rng_state(),
        set_rng_state=lambda state, device=None: torch.set_rng_state(state),
        manual_seed=torch.manual_seed,
        manual_seed_all=torch.manual_seed,
        get_device_name=lambda device=None: "cpu",
    )
    return module


def _make_platform_class() -> type:
    import torch
    from verl.plugin.platform import PlatformBase

    device_module = _make_device_module()

    class PlatformCPU(PlatformBase):
        """verl platform for a machine without accelerators: gloo collectives, tensors on ``cpu``."""

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> ModuleType:
            return device_module

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            # Never auto-detected: the CPU backend is opted into with VERL_PLATFORM=cpu.
            return False

        # verl moves tensors with `.to(get_device_id())`; an int 0 would mean cuda:0.
        def current_device(self) -> Any:
            return torch.device("cpu")

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: int | None = None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            # Ray sets it for the fake GPUs; nothing reads it on CPU.
            return "CUDA_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg: str) -> Iterator[None]:
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        # Ray is started with fake GPUs (`+ray_kwargs.ray_init.num_gpus=N`) so verl's resource pools,
        # which always ask for accelerators, can be placed; each "GPU" is just a CPU process here.
        def ray_resource_name(self) -> str:
            return "GPU"

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        def cudart(self) -> Any:
            return None

    return PlatformCPU


# ---------------------------------------------------------------------------------------------------------
# 2. process group
# ---------------------------------------------------------------------------------------------------------
def _patch_process_group() -> None:
    import verl.checkpoint_engine.base as ckpt_base
    import verl.utils.distributed as dist_utils
    import verl.workers.engine_workers as engine_workers

    original = dist_utils.initialize_global_process_group_ray

    def initialize_global_process_group_ray(
        timeout_second: int | None = None, backend: str | None = None
    ) -> None:
        # verl builds "cpu:gloo,<device>:<backend>" = "cpu:gloo,cpu:gloo", which torch rejects
        # (a device type may appear once); on CPU the whole group is gloo.
        original(timeout_second=timeout_second, backend="gloo")

    dist_utils.initialize_global_process_group_ray = initialize_global_process_group_ray
    # Both modules imported the function by name before we could wrap it.
    engine_workers.initialize_global_process_group_ray = initialize_global_process_group_ray
    ckpt_base.initialize_global_process_group_ray = initialize_global_process_group_ray


# ---------------------------------------------------------------------------------------------------------
# 3. FSDP engines for device "cpu" (+ 6. no pinned memory)
# ---------------------------------------------------------------------------------------------------------
def _register_fsdp_engines() -> None:
    import functools

    import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
    from verl.workers.engine import EngineRegistry

    registered = EngineRegistry._engines
    for model_type, engine_cls in (
        ("language_model", fsdp_impl.FSDPEngineWithLMHead),
        ("value_model", fsdp_impl.FSDPEngineWithValueHead),
    ):
        if PLATFORM_NAME not in registered.get(model_type, {}).get("fsdp2", {}):
            EngineRegistry.register(model_type=model_type, backend=["fsdp", "fsdp2"], device=PLATFORM_NAME)(
                engine_cls
            )
    # The ref model (forward only) gets `CPUOffloadPolicy(pin_memory=True)`; pinning needs CUDA.
    policy_cls = fsdp_impl.CPUOffloadPolicy
    if policy_cls is not None and not getattr(policy_cls, "_video_rlt_unpinned", False):

        @functools.wraps(policy_cls)
        def cpu_offload_policy(*args: Any, **kwargs: Any) -> Any:
            kwargs["pin_memory"] = False
            return policy_cls(*args, **kwargs)

        cpu_offload_policy._video_rlt_unpinned = True  # type: ignore[attr-defined]
        fsdp_impl.CPUOffloadPolicy = cpu_offload_policy


# ---------------------------------------------------------------------------------------------------------
# 5. TransferQueue: VLM position_ids
# ---------------------------------------------------------------------------------------------------------
def _patch_nested_position_ids() -> None:
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


def _patch_trl_probe() -> None:
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


# ---------------------------------------------------------------------------------------------------------
# 4. the `hf` rollout
# ---------------------------------------------------------------------------------------------------------
def _server_actor_name(replica_rank: int, node_rank: int = 0) -> str:
    return f"hf_server_{replica_rank}_{node_rank}"


class HFGenerateServer:
    """Rollout server (a Ray actor): Hugging Face ``generate`` on CPU, token in, token out.

    Stands in for verl's vLLM HTTP server: it answers ``generate(prompt_ids, sampling_params, video_data=…)``
    with a :class:`verl.workers.rollout.replica.TokenOutput`, and receives the actor's weights through
    :meth:`load_weights` at every weight sync. Requests are served one at a time (a lock), in a thread so
    the actor's event loop stays responsive.
    """

    def __init__(self, config: Any, model_config: Any, replica_rank: int) -> None:
        import torch
        import transformers
        from verl.utils.config import omega_conf_to_dataclass
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
        # A model must not sample its own vision placeholders: a random/early model does, and the next
        # forward then expects pixels for them (`get_rope_index` fails). vLLM never lets them out either.
        self.suppressed_token_ids = sorted(
            {
                int(token_id)
                for name in (
                    "image_token_id",
                    "video_token_id",
                    "vision_start_token_id",
                    "vision_end_token_id",
                )
                if (token_id := getattr(hf_config, name, None)) is not None
            }
        )
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(int(self.tokenizer.eos_token_id))
        self.eos_token_ids = sorted(eos_ids)
        self.pad_token_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_token_ids[0]
        )
        self._lock = asyncio.Lock()

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
    def _vision_inputs(self, image_data: list[Any] | None, video_data: list[Any] | None) -> dict[str, Any]:
        """Processor features for the media, computed exactly as verl's agent loop computes them."""
        if not image_data and not video_data:
            return {}
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
        return {k: v for k, v in features.items() if k not in text_aligned}

    def _generate_sync(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: list[Any] | None,
        video_data: list[Any] | None,
    ) -> tuple[list[int], list[float]]:
        import torch

        vision = self._vision_inputs(image_data, video_data)
        input_ids = torch.tensor([prompt_ids], dtype=torch.long)
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
            "suppress_tokens": self.suppressed_token_ids or None,
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
        new_tokens = out.sequences[0, input_ids.shape[1] :].tolist()
        # Log-probs of the sampled tokens under the temperature-scaled model distribution (what verl's actor
        # computes), from the raw logits with the suppressed placeholders masked out.
        logits = torch.stack(out.logits, dim=1)[0].float()
        if self.suppressed_token_ids:
            logits[:, self.suppressed_token_ids] = float("-inf")
        if do_sample:
            logits = logits / temperature
        log_probs = torch.log_softmax(logits, dim=-1)
        token_log_probs = log_probs.gather(-1, torch.tensor(new_tokens).unsqueeze(-1)).squeeze(-1).tolist()
        return new_tokens, token_log_probs

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

        if audio_data:
            raise NotImplementedError("the hf rollout does not take audio inputs")
        async with self._lock:
            token_ids, log_probs = await asyncio.to_thread(
                self._generate_sync, list(prompt_ids), dict(sampling_params), image_data, video_data
            )
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


def _register_rollout() -> None:
    import verl.workers.rollout.base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    adapter_cls, replica_cls = _make_rollout_classes()
    # verl resolves rollout classes by dotted path; point it at the class object published on this module.
    globals()["HFServerAdapter"] = adapter_cls
    globals()["HFReplica"] = replica_cls
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.HFServerAdapter"
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: replica_cls)


# ---------------------------------------------------------------------------------------------------------
def install() -> None:
    """Register the CPU platform, engines and ``hf`` rollout in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        check_verl_version()
        from verl.plugin.platform import PlatformRegistry

        PlatformRegistry.register(platform=PLATFORM_NAME)(_make_platform_class())
        _patch_process_group()
        _register_fsdp_engines()
        _patch_nested_position_ids()
        _patch_trl_probe()
        _register_rollout()
        _installed = True
        logger.info("video_rlt.verl_cpu: CPU platform, gloo, FSDP(cpu) engines and rollout.name=hf installed")


def _install_if_requested() -> None:
    if os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME:
        install()


_install_if_requested()
