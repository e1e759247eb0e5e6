"""``selection rollout``: repeated inference over a verl-format dataset, resumable and shard by shard.

Layout of ``--output DIR``::

    run.json                      what the run is (dataset, model, engine, sampling): checked on restart
    shards/rollouts-000000.parquet  one file per chunk of ``shard_size`` dataset rows, written atomically
    summary.json                  counts, throughput and every failed sample with its reason

Chunk ``c`` always holds dataset rows ``[c * shard_size, (c + 1) * shard_size)``; a shard file exists only
once its chunk is complete (temporary file + ``os.replace``). A restarted run with the same command skips
the chunks whose shard exists, so no finished rollout is lost and none is repeated; each sample samples from
its own seed (derived from the run seed and its sample id), so a resumed run writes the same rollouts an
uninterrupted one would.

A sample whose video is missing or cannot be decoded (or whose prompt is malformed) becomes one row with a
null ``response`` and its ``error`` reason; the run goes on and ``summary.json`` lists it.

With ``adaptive`` set (``--adaptive``), each chunk is drawn in rounds and each sample stops once the rule of
:mod:`selection.adaptive` decides it (:mod:`selection.adaptive_rollout`); ``sampling.n`` is then ``n_max``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selection.adaptive_rollout import AdaptiveConfig, adaptive_table, run_adaptive
from selection.dataset import DatasetError, load_ground_truths, read_sample_ids, require_columns
from selection.engines import Completion, Engine, SamplingConfig, make_engine
from selection.io import write_parquet_atomic, write_text_atomic
from selection.prompts import PreparedSample, SampleFailure, prepare_sample

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

__all__ = ["ChunkWorker", "RolloutConfig", "RunMismatchError", "run_rollout", "sample_seed", "shard_path"]

SHARD_DIR = "shards"
#: Fields of run.json that must match for a restart to continue an existing run.
_IDENTITY = (
    "dataset", "dataset_rows", "dataset_bytes", "model", "engine", "sampling", "shard_size", "limit", "adaptive",
)  # fmt: skip


class RolloutConfig(BaseModel):
    """One rollout run. Validated at the CLI edge; ``run.json`` records it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Path
    model: str
    output: Path
    engine: Literal["hf", "vllm"] = "vllm"
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    shard_size: int = Field(default=64, ge=1, description="dataset rows per shard (the unit of resumption)")
    limit: int | None = Field(default=None, ge=1, description="only the first `limit` dataset rows")
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the engine"
    )
    decode_threads: int = Field(default=2, ge=1, description="threads decoding videos ahead of generation")
    distributed: Literal["none", "ray"] = "none"
    num_workers: int = Field(default=1, ge=1, description="engine replicas (ray)")
    gpus_per_worker: float = Field(default=1.0, ge=0.0)
    cpus_per_worker: float = Field(default=1.0, gt=0.0)
    ray_address: str | None = None
    progress: bool = True
    adaptive: AdaptiveConfig | None = Field(
        default=None, description="draw in rounds and stop each sample once decided (sampling.n is n_max)"
    )


class RunMismatchError(ValueError):
    """The output directory holds a different run; names the fields that differ."""


def sample_seed(run_seed: int, sample_id: int) -> int:
    """A per-sample seed, stable across batching, sharding and restarts.

    >>> sample_seed(0, 7) == sample_seed(0, 7) != sample_seed(1, 7)
    True
    """
    return int(
        np.random.SeedSequence([run_seed & 0xFFFFFFFF, sample_id & 0xFFFFFFFFFFFF]).generate_state(1)[0] >> 1
    )


def shard_path(output: Path, chunk: int) -> Path:
    return output / SHARD_DIR / f"rollouts-{chunk:06d}.parquet"


def _run_identity(config: RolloutConfig, rows: int) -> dict[str, Any]:
    return {
        "dataset": str(config.dataset.resolve()),
        "dataset_rows": rows,
        "dataset_bytes": config.dataset.stat().st_size,
        "model": config.model,
        "engine": config.engine,
        "sampling": config.sampling.model_dump(mode="json"),
        "shard_size": config.shard_size,
        "limit": config.limit,
        "adaptive": config.adaptive.model_dump(mode="json") if config.adaptive else None,
    }


def _settings_json(config: RolloutConfig) -> str:
    settings: dict[str, Any] = {"engine": config.engine, **config.sampling.model_dump(mode="json")}
    if config.adaptive is not None:
        settings["adaptive"] = config.adaptive.model_dump(mode="json")
    return json.dumps(settings, sort_keys=True)


@dataclass
class ChunkResult:
    chunk: int
    samples: int
    rollouts: int
    failures: list[tuple[int, str]]


class ChunkWorker:
    """Loads the dataset columns and the engine once, then turns chunks into shard files.

    The same class runs in-process and as a Ray actor (``selection.distributed``).
    """

    def __init__(self, config: RolloutConfig, engine: Engine | None = None) -> None:
        import pyarrow.parquet as pq

        self.config = config
        schema = pq.ParquetFile(config.dataset).schema_arrow
        require_columns(schema.names, ("prompt",), "dataset", config.dataset)
        cols = [c for c in ("prompt", "videos") if c in schema.names]
        self.table = pq.read_table(config.dataset, columns=cols)
        self.ids = read_sample_ids(config.dataset)
        self.engine = (
            engine
            if engine is not None
            else make_engine(config.engine, config.model, **config.engine_options)
        )
        self.settings = _settings_json(config)
        # Adaptive runs score rollouts as they arrive: the ground truths are needed here, not only in `score`.
        self.truths = load_ground_truths(config.dataset) if config.adaptive is not None else None

    def rows(self, chunk: int) -> tuple[list[dict[str, Any]], list[int]]:
        start = chunk * self.config.shard_size
        stop = min(start + self.config.shard_size, _total_rows(self.config, len(self.ids)))
        return self.table.slice(start, stop - start).to_pylist(), self.ids[start:stop].tolist()

    def run_chunk(self, chunk: int) -> ChunkResult:
        rows, ids = self.rows(chunk)
        seed = self.config.sampling.seed
        processor = self.engine.processor
        with ThreadPoolExecutor(self.config.decode_threads) as pool:
            prepared = list(
                pool.map(
                    lambda rs: prepare_sample(rs[0], rs[1], sample_seed(seed, rs[1]), processor),
                    zip(rows, ids, strict=True),
                )
            )
        ready = [p for p in prepared if isinstance(p, PreparedSample)]
        if self.config.adaptive is not None and self.truths is not None:
            start = chunk * self.config.shard_size
            positions = {sid: start + i for i, sid in enumerate(ids)}
            outcomes = run_adaptive(
                self.engine, self.config.sampling, self.config.adaptive, ready, self.truths, positions
            )
            table, failures = adaptive_table(prepared, outcomes, self.settings)
        else:
            completions = dict(
                zip(
                    (p.sample_id for p in ready),
                    self.engine.generate(ready, self.config.sampling),
                    strict=True,
                )
            )
            table, failures = self._table(prepared, completions)
        write_parquet_atomic(
            table, shard_path(self.config.output, chunk), {"chunk": chunk, "settings": self.settings}
        )
        for sid, reason in failures:
            logger.warning("sample %d failed: %s", sid, reason)
        return ChunkResult(chunk, len(rows), table.num_rows - len(failures), failures)

    def _table(
        self, prepared: list[PreparedSample | SampleFailure], completions: dict[int, list[Completion]]
    ) -> tuple[pa.Table, list[tuple[int, str]]]:
        import pyarrow as pa

        sid: list[int] = []
        idx: list[int] = []
        text: list[str | None] = []
        finish: list[str | None] = []
        ntok: list[int] = []
        error: list[str | None] = []
        failures: list[tuple[int, str]] = []
        for p in prepared:
            if isinstance(p, SampleFailure):
                sid.append(p.sample_id)
                idx.append(-1)
                text.append(None)
                finish.append(None)
                ntok.append(0)
                error.append(str(p))
                failures.append((p.sample_id, str(p)))
                continue
            for k, c in enumerate(completions[p.sample_id]):
                sid.append(p.sample_id)
                idx.append(k)
                text.append(c.text)
                finish.append(c.finish_reason)
                ntok.append(c.num_tokens)
                error.append(None)
        table = pa.table(
            {
                "sample_id": pa.array(sid, type=pa.int64()),
                "rollout_index": pa.array(idx, type=pa.int32()),
                "response": pa.array(text, type=pa.string()),
                "finish_reason": pa.array(finish, type=pa.string()),
                "num_tokens": pa.array(ntok, type=pa.int32()),
                "error": pa.array(error, type=pa.string()),
                "rollout_settings": pa.array(
                    [self.settings] * len(sid), type=pa.string()
                ).dictionary_encode(),
            }
        )
        return table, failures


def _total_rows(config: RolloutConfig, rows: int) -> int:
    return min(rows, config.limit) if config.limit is not None else rows


def _prepare_output(config: RolloutConfig, rows: int) -> dict[str, Any]:
    """Create or check ``run.json``; remove temporary files a killed run left behind."""
    out = config.output
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    identity = _run_identity(config, rows)
    run_file = out / "run.json"
    if run_file.exists():
        recorded = json.loads(run_file.read_text())
        diff = [k for k in _IDENTITY if recorded.get(k) != identity[k]]
        if diff:
            details = "; ".join(f"{k}: was {recorded.get(k)!r}, now {identity[k]!r}" for k in diff)
            raise RunMismatchError(
                f"{out} holds a different rollout run ({details}); use a new --output directory"
            )
    else:
        write_text_atomic(json.dumps(identity, indent=2, sort_keys=True), run_file)
    for stale in (out / SHARD_DIR).glob(".*.tmp"):
        stale.unlink()
    return identity


def _summarize(config: RolloutConfig, total: int, elapsed: float, done_now: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    samples = rollouts = 0
    failures: list[dict[str, Any]] = []
    decisions: Counter[str] = Counter()
    for shard in sorted((config.output / SHARD_DIR).glob("rollouts-*.parquet")):
        t = pq.read_table(shard, columns=["sample_id", "rollout_index", "error"])
        errors = t.column("error").to_pylist()
        ids = t.column("sample_id").to_pylist()
        samples += len(set(ids))
        rollouts += sum(e is None for e in errors)
        failures += [{"sample_id": s, "error": e} for s, e in zip(ids, errors, strict=True) if e is not None]
        if config.adaptive is not None:
            per_sample = pq.read_table(shard, columns=["sample_id", "adaptive_decision"]).to_pandas()
            decisions.update(per_sample.drop_duplicates("sample_id")["adaptive_decision"].dropna().tolist())
    by_reason = Counter(f["error"].split(":")[0] for f in failures)
    summary = {
        "samples_total": total,
        "samples_done": samples,
        "rollouts": rollouts,
        "failed_samples": len(failures),
        "failed_by_reason": dict(by_reason),
        "failures": failures,
        "this_run": {
            "samples": done_now,
            "seconds": round(elapsed, 3),
            "samples_per_s": round(done_now / elapsed, 3) if elapsed > 0 else None,
        },
    }
    if config.adaptive is not None:
        decided = samples - len(failures)
        full = decided * config.sampling.n
        summary["adaptive"] = {
            "kept": decisions["keep"],
            "dropped": decisions["drop"],
            "rollouts_full_rule": full,
            "rollout_share": round(rollouts / full, 4) if full else None,
        }
    write_text_atomic(json.dumps(summary, indent=2), config.output / "summary.json")
    return summary


def run_rollout(config: RolloutConfig, *, engine: Engine | None = None) -> dict[str, Any]:
    """Run (or continue) a rollout; returns the summary written to ``summary.json``."""
    from tqdm import tqdm

    if not config.dataset.exists():
        raise DatasetError(f"dataset {config.dataset}: no such file")
    ids = read_sample_ids(config.dataset)
    total = _total_rows(config, len(ids))
    identity = _prepare_output(config, len(ids))
    chunks = range((total + config.shard_size - 1) // config.shard_size)
    pending = [c for c in chunks if not shard_path(config.output, c).exists()]
    done_before = total - sum(min(config.shard_size, total - c * config.shard_size) for c in pending)
    if done_before:
        logger.info("resuming %s: %d of %d samples already done", config.output, done_before, total)
    bar = tqdm(
        total=total,
        initial=done_before,
        unit="sample",
        file=sys.stderr,
        disable=not config.progress,
        desc=f"rollout n={config.sampling.n}",
        smoothing=0.1,
    )
    started = time.perf_counter()
    done_now = failed_now = 0
    try:
        results: Iterable[ChunkResult]
        if not pending:
            results = ()  # everything done: do not even load the model
        elif config.distributed == "ray":
            from selection.distributed import run_chunks_on_ray

            results = run_chunks_on_ray(ChunkWorker, config, pending)
        else:
            worker = ChunkWorker(config, engine=engine)
            results = (worker.run_chunk(c) for c in pending)
        for result in results:
            done_now += result.samples
            bar.update(result.samples)
            if result.failures:
                failed_now += len(result.failures)
                bar.set_postfix(failed=failed_now)
    finally:
        bar.close()
    summary = _summarize(config, total, time.perf_counter() - started, done_now)
    summary["run"] = identity
    logger.info(
        "rollout done: %d samples, %d rollouts, %d failed %s -> %s",
        summary["samples_done"],
        summary["rollouts"],
        summary["failed_samples"],
        summary["failed_by_reason"] or "",
        config.output,
    )
    for f in summary["failures"][:20]:
        logger.warning("failed sample %s: %s", f["sample_id"], f["error"])
    return summary
