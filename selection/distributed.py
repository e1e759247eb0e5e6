"""The rollout step on a Ray cluster: one engine replica per GPU, chunks handed out as replicas free up.

Each replica is a :class:`~selection.rollout.ChunkWorker` running as a Ray actor: it loads the dataset
columns and the engine once, and writes its shards itself (the output directory must be on storage every
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selection.rollout import ChunkResult, RolloutConfig

logger = logging.getLogger(__name__)

__all__ = ["run_chunks_on_ray"]


def run_chunks_on_ray(config: RolloutConfig, chunks: Sequence[int]) -> Iterator[ChunkResult]:
    """Process ``chunks`` on ``config.num_workers`` Ray actors; yields results as they finish."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:  # pragma: no cover - ray comes with verl
        raise ImportError(
            "--distributed ray needs Ray: pip install 'ray[default]' (verl depends on it)"
        ) from exc

    from selection.rollout import ChunkWorker

    if not chunks:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, ignore_reinit_error=True, log_to_driver=True)
    try:
        actor_cls = ray.remote(num_gpus=config.gpus_per_worker, num_cpus=config.cpus_per_worker)(ChunkWorker)
        replicas = min(config.num_workers, len(chunks))
        local = config.model_copy(update={"progress": False, "distributed": "none"})
        actors = [actor_cls.remote(local) for _ in range(replicas)]
        logger.info("ray: %d engine replica(s) for %d chunk(s)", replicas, len(chunks))
        pool = ActorPool(actors)
        yield from pool.map_unordered(lambda actor, chunk: actor.run_chunk.remote(chunk), list(chunks))
    finally:
        if started_here:
            ray.shutdown()
