"""The rollout step on a Ray cluster: one engine replica per GPU, chunks handed out as replicas free up.

Each replica is the caller's chunk worker (:class:`~selection.rollout.ChunkWorker`, passed in so that this
module stays below the rollout module) running as a Ray actor: it loads the dataset columns and the engine
once, and writes its shards itself (the output directory must be on storage every
node sees). The driver only hands out chunk numbers and counts finished samples, so resumption works
exactly as on one machine: chunks whose shard exists are not handed out again.

On a cluster started with ``ray start --head`` / ``ray start --address=…``::

    python -m selection rollout --dataset /shared/d.parquet --model /shared/Qwen2.5-VL-7B-Instruct \\
        --engine vllm --n 8 --output /shared/rollouts --distributed ray --ray-address auto \\
        --num-workers 16 --gpus-per-worker 1
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

__all__ = ["RaySettings", "run_chunks_on_ray"]

Result = TypeVar("Result", covariant=True)


class RaySettings(Protocol):
    """What the Ray driver reads of a rollout config (:class:`~selection.rollout.RolloutConfig`)."""

    @property
    def num_workers(self) -> int: ...
    @property
    def gpus_per_worker(self) -> float: ...
    @property
    def cpus_per_worker(self) -> float: ...
    @property
    def ray_address(self) -> str | None: ...
    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Any: ...


class ChunkRunner(Protocol[Result]):
    def run_chunk(self, chunk: int) -> Result: ...


def run_chunks_on_ray(
    worker_cls: type[ChunkRunner[Result]], config: RaySettings, chunks: Sequence[int]
) -> Iterator[Result]:
    """Process ``chunks`` on ``config.num_workers`` Ray actors of ``worker_cls(config)``; yields results as
    they finish. Each actor gets ``config`` with progress bars off and ``distributed="none"``."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:  # pragma: no cover - ray comes with verl
        raise ImportError(
            "--distributed ray needs Ray: pip install 'ray[default]' (verl depends on it)"
        ) from exc

    if not chunks:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, ignore_reinit_error=True, log_to_driver=True)
    try:
        actor_cls = ray.remote(num_gpus=config.gpus_per_worker, num_cpus=config.cpus_per_worker)(worker_cls)
        replicas = min(config.num_workers, len(chunks))
        local = config.model_copy(update={"progress": False, "distributed": "none"})
        actors = [actor_cls.remote(local) for _ in range(replicas)]
        logger.info("ray: %d engine replica(s) for %d chunk(s)", replicas, len(chunks))
        pool = ActorPool(actors)
        yield from pool.map_unordered(lambda actor, chunk: actor.run_chunk.remote(chunk), list(chunks))
    finally:
        if started_here:
            ray.shutdown()
