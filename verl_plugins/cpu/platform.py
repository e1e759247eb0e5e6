"""The ``cpu`` verl platform: device module, gloo process group, FSDP/FSDP2 engines on ``cpu``.

Steps 1-3 and 6 of :mod:`verl_plugins.cpu`; :func:`verl_plugins.cpu.install` calls them once per process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["PLATFORM_NAME", "make_platform_class", "patch_process_group", "register_fsdp_engines"]

#: Value of ``VERL_PLATFORM`` that activates this backend.
PLATFORM_NAME = "cpu"


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


def make_platform_class() -> type:
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
#: Tries of a one-process group whose port was taken before its store could bind it.
PORT_ATTEMPTS = 3


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def patch_process_group() -> None:
    import verl.checkpoint_engine.base as ckpt_base
    import verl.utils.distributed as dist_utils
    import verl.workers.engine_workers as engine_workers

    original = dist_utils.initialize_global_process_group_ray

    def initialize_global_process_group_ray(
        timeout_second: int | None = None, backend: str | None = None
    ) -> None:
        # verl builds "cpu:gloo,<device>:<backend>" = "cpu:gloo,cpu:gloo", which torch rejects
        # (a device type may appear once); on CPU the whole group is gloo.
        import os

        import torch.distributed as dist

        for attempt in range(PORT_ATTEMPTS):
            try:
                original(timeout_second=timeout_second, backend="gloo")
                return
            except dist.DistNetworkError as exc:
                # verl picks MASTER_PORT as a free port long before the store binds it, and another process
                # of the same Ray cluster can take it in between (seen once in `make demo`: EADDRINUSE). A
                # one-process group has no peer waiting on that port, so it may simply take another one.
                alone = int(os.environ.get("WORLD_SIZE", "1")) == 1
                if not alone or "EADDRINUSE" not in str(exc) or attempt == PORT_ATTEMPTS - 1:
                    raise
                os.environ["MASTER_PORT"] = str(_free_port())

    dist_utils.initialize_global_process_group_ray = initialize_global_process_group_ray
    # Both modules imported the function by name before we could wrap it.
    engine_workers.initialize_global_process_group_ray = initialize_global_process_group_ray
    ckpt_base.initialize_global_process_group_ray = initialize_global_process_group_ray


# ---------------------------------------------------------------------------------------------------------
# 3. FSDP engines for device "cpu" (+ 6. no pinned memory)
# ---------------------------------------------------------------------------------------------------------
def register_fsdp_engines() -> None:
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
