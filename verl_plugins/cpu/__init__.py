"""CPU backend for verl 0.9.1: dry-run any GRPO recipe on a laptop, and give the tests a real trainer.

Load it in *every* verl process (driver, task runner, FSDP workers, agent-loop and reward workers)::

    VERL_PLATFORM=cpu VERL_USE_EXTERNAL_MODULES=verl_plugins.cpu \\
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
   fp32 with the video inputs (``pixel_values_videos``/``video_grid_thw``) and the same M-RoPE positions the
   actor gets (from the prompt's token types), returning log-probs, and taking the actor's weights at every
   weight sync;
5. a TransferQueue fix for VLM 3-D ``position_ids`` (see :func:`~verl_plugins.cpu.patches.patch_nested_position_ids`);
6. FSDP2's CPU offload policy without pinned memory (pinning needs CUDA);
7. the sync replay buffer polls for finished rollouts every 0.5 s instead of 2 s
   (:func:`~verl_plugins.cpu.patches.patch_replay_buffer_poll`; ``$VERL_CPU_REPLAY_POLL_S``);
8. the vision placeholder tokens the ``hf`` rollout never samples are masked in the actor's and reference's
   models too, so sampler and learner are the same policy (:mod:`verl_plugins.cpu.suppressed`).

The version check is strict: every fix above was written against verl 0.9.1's internals.
"""

from __future__ import annotations

import logging
import os
import threading

from verl_plugins.cpu.hf_rollout import ROLLOUT_NAME, HFGenerateServer, register_rollout
from verl_plugins.cpu.patches import patch_nested_position_ids, patch_replay_buffer_poll, patch_trl_probe
from verl_plugins.cpu.platform import (
    PLATFORM_NAME,
    make_platform_class,
    patch_process_group,
    register_fsdp_engines,
)
from verl_plugins.cpu.suppressed import patch_engine_module
from verl_plugins.cpu.version import SUPPORTED_VERL_VERSION, VerlVersionError, check_verl_version

logger = logging.getLogger(__name__)

__all__ = [
    "PLATFORM_NAME",
    "ROLLOUT_NAME",
    "SUPPORTED_VERL_VERSION",
    "HFGenerateServer",
    "VerlVersionError",
    "check_verl_version",
    "install",
]

_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Register the CPU platform, engines and ``hf`` rollout in this process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        check_verl_version()
        from verl.plugin.platform import PlatformRegistry

        PlatformRegistry.register(platform=PLATFORM_NAME)(make_platform_class())
        patch_process_group()
        register_fsdp_engines()
        patch_nested_position_ids()
        patch_trl_probe()
        patch_replay_buffer_poll()
        patch_engine_module()
        register_rollout()
        _installed = True
        logger.info("verl_plugins.cpu: CPU platform, gloo, FSDP(cpu) engines and rollout.name=hf installed")


def _install_if_requested() -> None:
    if os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME:
        install()


_install_if_requested()
