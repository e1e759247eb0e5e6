"""``selection score``: rollouts + dataset → one row per sample with the spread of its rewards.

Streaming: rollouts are read in record batches, scored with :func:`video_rewards.score_batch` (optionally in
worker processes), and folded into per-sample running statistics (count, mean, M2 — Chan's parallel
update, exact for any split of the rollouts into batches — min and max) with vectorised group-bys. Memory
is O(samples), not O(rollouts); rollouts need not be grouped or ordered.

Output columns: ``sample_id``, ``task``, ``data_source``, ``n`` (scored rollouts), ``reward_mean``,
``reward_std`` (population std), ``reward_min``, ``reward_max``, ``informative`` (the n rewards are not all
equal), ``format_mean``, ``accuracy_mean``, ``accuracy_std``, ``iou_mean``, ``iou_std`` (NaN where the task
has no such component), ``pass_rate`` (share of rollouts with accuracy ≥ ``pass_threshold``; NaN for tasks
without accuracy), ``parse_failure_rate``, ``failure`` (why a sample has no rollouts, else null),
``reward_version``, ``model``, ``rollout_settings``. The file's metadata records the reward config too.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from selection.dataset import DatasetError, GroundTruthIndex, load_ground_truths
from selection.io import RolloutSource, open_rollouts, write_parquet_atomic
from video_rewards import RewardConfig

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

__all__ = ["SCORE_COLUMNS", "ScoreConfig", "ScoreStats", "score_rollouts"]

SCORE_COLUMNS = (
    "sample_id",
    "task",
    "data_source",
    "n",
    "reward_mean",
    "reward_std",
    "reward_min",
    "reward_max",
    "informative",
    "format_mean",
    "accuracy_mean",
    "accuracy_std",
    "iou_mean",
    "iou_std",
    "pass_rate",
    "parse_failure_rate",
    "failure",
    "reward_version",
    "model",
    "rollout_settings",
)
_METRICS = ("reward", "format", "accuracy", "iou")
Array = npt.NDArray[Any]


class ScoreConfig(BaseModel):
    """How rollouts are scored. ``reward`` is recorded in the output; the rest only affects speed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reward: RewardConfig = Field(default_factory=RewardConfig)
    pass_threshold: float = Field(default=1.0, ge=0.0, le=1.0, description="accuracy counted as a pass")
    batch_size: int = Field(default=65_536, gt=0)
    workers: int = Field(default=1, ge=1, description="processes computing rewards (1 = in-process)")


class _Stat:
    """Running count / mean / M2 / min / max per sample for one metric (NaN values are skipped)."""

    def __init__(self, size: int) -> None:
        self.count = np.zeros(size, dtype=np.int64)
        self.mean = np.zeros(size)
        self.m2 = np.zeros(size)
        self.min = np.full(size, np.inf)
        self.max = np.full(size, -np.inf)

    def update(self, pos: Array, values: Array) -> None:
        valid = ~np.isnan(values)
        if not valid.all():
            pos, values = pos[valid], values[valid]
        if len(pos) == 0:
            return
        order = np.argsort(pos, kind="stable")
        pos, values = pos[order], values[order]
        starts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        groups = pos[starts]
        nb = np.diff(np.r_[starts, len(pos)])
        mean_b = np.add.reduceat(values, starts) / nb
        m2_b = np.add.reduceat((values - np.repeat(mean_b, nb)) ** 2, starts)
        na = self.count[groups]
        n = na + nb
        delta = mean_b - self.mean[groups]
        self.mean[groups] += delta * nb / n
        self.m2[groups] += m2_b + delta**2 * na * nb / n
        self.count[groups] = n
        self.min[groups] = np.minimum(self.min[groups], np.minimum.reduceat(values, starts))
        self.max[groups] = np.maximum(self.max[groups], np.maximum.reduceat(values, starts))

    def mean_or_nan(self) -> Array:
        with np.errstate(invalid="ignore"):
            return np.where(self.count > 0, self.mean, np.nan)

    def std_or_nan(self) -> Array:
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(np.maximum(self.m2, 0.0) / self.count)
        # All-equal values have exactly zero spread; M2 can carry rounding residue (mean of 0.1s ≠ 0.1).
        std[self.min == self.max] = 0.0
        return np.where(self.count > 0, std, np.nan)


class ScoreStats:
    """The per-sample accumulators behind ``score``; :meth:`add` takes one scored batch."""

    def __init__(self, size: int, pass_threshold: float) -> None:
        self.size = size
        self.pass_threshold = pass_threshold
        self.stats = {m: _Stat(size) for m in _METRICS}
        self.passes = np.zeros(size, dtype=np.int64)
        self.parse_failed = np.zeros(size, dtype=np.int64)
        self.failure = np.full(size, None, dtype=object)
        self._seen = np.zeros(size, dtype=np.uint64)  # bit k: rollout_index k seen (k < 64)
        self.rollouts = 0

    def check_duplicates(self, pos: Array, rollout_index: Array, sample_ids: Array, where: str) -> None:
        """Raise naming the first repeated (sample_id, rollout_index) pair; indices ≥ 64 are not checked."""
        small = (rollout_index >= 0) & (rollout_index < 64)
        p, k, sids = pos[small], rollout_index[small].astype(np.uint64), sample_ids[small]
        keys = p.astype(np.uint64) * np.uint64(64) + k
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        if (counts > 1).any():
            i = int(first[np.flatnonzero(counts > 1)[0]])
            raise DatasetError(f"{where}: duplicate rollout sample_id={sids[i]} rollout_index={int(k[i])}")
        bits = np.left_shift(np.uint64(1), k)
        clash = (self._seen[p] & bits) != 0
        if clash.any():
            i = int(np.flatnonzero(clash)[0])
            raise DatasetError(
                f"{where}: duplicate rollout sample_id={sids[i]} rollout_index={int(k[i])} (seen in an earlier batch)"
            )
        np.bitwise_or.at(self._seen, p, bits)

    def add(self, pos: Array, columns: dict[str, Array]) -> None:
        self.rollouts += len(pos)
        self.stats["reward"].update(pos, columns["score"].astype(np.float64))
        self.stats["format"].update(pos, columns["format"].astype(np.float64))
        acc = columns["accuracy"].astype(np.float64)
        self.stats["accuracy"].update(pos, acc)
        self.stats["iou"].update(pos, columns["iou"].astype(np.float64))
        with np.errstate(invalid="ignore"):
            np.add.at(self.passes, pos, acc >= self.pass_threshold)
        np.add.at(self.parse_failed, pos, columns["parse_failed"].astype(np.int64))

    def mark_failed(self, pos: Array, reasons: list[str]) -> None:
        for p, r in zip(pos.tolist(), reasons, strict=True):
            self.failure[p] = r


# Scoring processes inherit the dataset columns by fork; only (positions, responses) cross the boundary.
# Each process parses (validates) a row's ground truth the first time it sees the row, then caches it.
_WORKER: dict[str, Any] = {}


def _score_chunk(pos: Array, responses: pa.Array) -> tuple[dict[str, Array], dict[int, str]]:
    from video_rewards import score_batch

    gts: GroundTruthIndex = _WORKER["gts"]
    cache = _WORKER.get("cache")
    if cache is None:  # position -> parsed ground truth, filled on first sight
        cache = _WORKER["cache"] = np.full(len(gts.samples), None, dtype=object)
    new_tasks: dict[int, str] = {}
    for p in np.unique(pos[cache[pos] == None]).tolist():  # noqa: E711 - elementwise on an object array
        cache[p] = gts.parse(p)
        new_tasks[p] = cache[p].task
    cols = score_batch(responses.to_pylist(), cache[pos].tolist(), config=_WORKER["reward"])
    return {k: cols[k] for k in ("score", "format", "accuracy", "iou", "parse_failed")}, new_tasks


@dataclass
class _Batch:
    pos: Array
    responses: pa.Array


def _prepare_batches(
    source: RolloutSource, gts: GroundTruthIndex, stats: ScoreStats, batch_size: int, settings: set[str]
) -> Iterator[_Batch]:
    """Validate each record batch, record failed samples, and yield what remains to be scored."""
    import pyarrow.compute as pc

    for file_batch in source.batches(batch_size):
        where = f"rollouts {source.path}"
        batch: pa.RecordBatch = file_batch
        sid_col = batch.column("sample_id")
        if sid_col.null_count:
            raise DatasetError(f"{where}: sample_id is null in {sid_col.null_count} row(s)")
        sids = sid_col.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        pos = gts.samples.positions(sids, where=where)
        names = batch.schema.names
        if "rollout_settings" in names:
            settings.update(s for s in pc.unique(batch.column("rollout_settings")).to_pylist() if s)
        errors = batch.column("error") if "error" in names else None
        ok = np.ones(len(pos), dtype=bool)
        if errors is not None and errors.null_count < len(errors):
            failed = ~np.asarray(errors.is_null().to_numpy(zero_copy_only=False))
            stats.mark_failed(pos[failed], [str(e) for e in errors.filter(failed).to_pylist()])
            ok = ~failed
        responses_col = batch.column("response")
        if not ok.all():
            import pyarrow as pa

            mask = pa.array(ok)
            responses_col = responses_col.filter(mask)
            sids, pos = sids[ok], pos[ok]
            rollout_index = batch.column("rollout_index").filter(mask) if "rollout_index" in names else None
        else:
            rollout_index = batch.column("rollout_index") if "rollout_index" in names else None
        if responses_col.null_count:
            i = int(np.flatnonzero(np.asarray(responses_col.is_null().to_numpy(zero_copy_only=False)))[0])
            raise DatasetError(
                f"{where}: response is null for sample_id={sids[i]} without an error reason "
                "(a failed sample needs a non-null 'error'; an empty answer is the empty string)"
            )
        if rollout_index is not None:
            if rollout_index.null_count:
                raise DatasetError(f"{where}: rollout_index is null in {rollout_index.null_count} row(s)")
            stats.check_duplicates(
                pos, rollout_index.to_numpy(zero_copy_only=False).astype(np.int64), sids, where
            )
        if len(pos):
            yield _Batch(pos=pos, responses=responses_col)


def _scored(
    batches: Iterator[_Batch], workers: int
) -> Iterator[tuple[Array, tuple[dict[str, Array], dict[int, str]]]]:
    if workers <= 1:
        for b in batches:
            yield b.pos, _score_chunk(b.pos, b.responses)
        return
    import pyarrow as pa

    # One dedicated process per shard of the samples (position % workers): each parses only its own
    # samples' ground truths. fork: the processes inherit the dataset columns instead of unpickling them.
    ctx = multiprocessing.get_context("fork")
    pools = [ProcessPoolExecutor(1, mp_context=ctx) for _ in range(workers)]
    pending: deque[tuple[Array, Future[tuple[dict[str, Array], dict[int, str]]]]] = deque()
    try:
        for b in batches:
            owner = b.pos % workers
            for w, pool in enumerate(pools):
                idx = np.flatnonzero(owner == w)
                if len(idx):
                    sub = b.pos[idx]
                    pending.append((sub, pool.submit(_score_chunk, sub, b.responses.take(pa.array(idx)))))
            while len(pending) > 2 * workers:  # bounded: at most ~2 batches in flight
                pos, fut = pending.popleft()
                yield pos, fut.result()
        while pending:
            pos, fut = pending.popleft()
            yield pos, fut.result()
    finally:
        for pool in pools:
            pool.shutdown(cancel_futures=True)


def score_rollouts(
    dataset: str | Path,
    rollouts: str | Path,
    output: str | Path,
    config: ScoreConfig | None = None,
    *,
    model: str | None = None,
    rollout_settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score every rollout and write one row per sample to ``output``; returns the recorded metadata.

    ``model`` / ``rollout_settings`` override what the rollout run recorded (needed for rollouts made
    elsewhere, which record nothing). ``progress`` shows a tqdm bar (rollouts/s, ETA) on stderr.
    """
    from tqdm import tqdm

    import video_rewards as vr

    config = config or ScoreConfig()
    started = time.perf_counter()
    gts = load_ground_truths(dataset)
    source = open_rollouts(rollouts)
    stats = ScoreStats(len(gts.samples), config.pass_threshold)
    tasks = np.full(len(gts.samples), None, dtype=object)
    seen_settings: set[str] = set()
    _WORKER.update(gts=gts, reward=config.reward)
    bar = tqdm(total=source.num_rows(), unit="rollout", file=sys.stderr, disable=not progress, desc="score")
    try:
        batches = _prepare_batches(source, gts, stats, config.batch_size, seen_settings)
        for pos, (cols, new_tasks) in _scored(batches, config.workers):
            stats.add(pos, cols)
            for p, task in new_tasks.items():
                tasks[p] = task
            bar.update(len(pos))
    finally:
        bar.close()
        _WORKER.clear()
    for p in np.flatnonzero((tasks == None) & (stats.failure != None)).tolist():  # noqa: E711
        tasks[p] = gts.parse(p).task  # failed samples: no rollout was scored, read the task here
    if stats.rollouts == 0 and not any(f is not None for f in stats.failure):
        raise DatasetError(f"rollouts {source.path}: no rollouts (the files hold 0 rows)")

    model_name = model or source.run.get("model") or "unknown"
    # What the shards say produced them wins over run.json; a mix of settings is recorded as a list.
    settings: Any = rollout_settings
    if settings is None and seen_settings:
        distinct = [json.loads(s) for s in sorted(seen_settings)]
        settings = distinct[0] if len(distinct) == 1 else distinct
    if settings is None:
        settings = source.run.get("sampling")
    settings_json = json.dumps(settings, sort_keys=True) if settings is not None else "unknown"
    table = _to_table(gts, tasks, stats, vr.REWARD_VERSION, str(model_name), settings_json)
    without = int(np.sum((stats.stats["reward"].count == 0) & (stats.failure == None)))  # noqa: E711
    counts = {
        "rollouts": stats.rollouts,
        "samples_scored": int(np.sum(stats.stats["reward"].count > 0)),
        "samples_failed": int(np.sum(stats.failure != None)),  # noqa: E711
        "dataset_samples_without_rollouts": without,
    }
    seconds = round(time.perf_counter() - started, 3)
    meta: dict[str, Any] = {
        "step": "score",
        "reward_version": vr.REWARD_VERSION,
        "reward_config": config.reward.model_dump(mode="json"),
        "pass_threshold": config.pass_threshold,
        "model": model_name,
        "rollout_settings": settings,
        "engine": source.run.get("engine"),
        "dataset": str(dataset),
        "rollouts": str(rollouts),
        "counts": counts,
        "seconds": seconds,
    }
    if without:
        logger.warning("%d dataset sample(s) have no rollouts and are not in the scores", without)
    write_parquet_atomic(table, output, meta)
    logger.info(
        "scored %d rollouts of %d samples in %.1f s -> %s",
        stats.rollouts,
        counts["samples_scored"],
        seconds,
        output,
    )
    return meta


def _to_table(
    gts: GroundTruthIndex, tasks: Array, stats: ScoreStats, version: str, model: str, settings: str
) -> pa.Table:
    import pyarrow as pa

    reward = stats.stats["reward"]
    present = (reward.count > 0) | (stats.failure != None)  # noqa: E711
    rows = np.flatnonzero(present)
    acc = stats.stats["accuracy"]
    n = reward.count[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        pass_rate = np.where(acc.count[rows] > 0, stats.passes[rows] / acc.count[rows], np.nan)
        parse_fail = np.where(n > 0, stats.parse_failed[rows] / n, np.nan)
    r_min, r_max = reward.min[rows], reward.max[rows]
    informative = (n >= 2) & (r_max > r_min)

    def pick(a: Array) -> Array:
        return a[rows]

    def strings(values: list[Any]) -> pa.Array:
        return pa.array(values, type=pa.string()).dictionary_encode()

    columns: dict[str, Any] = {
        "sample_id": pa.array(gts.samples.ids[rows]),
        "task": strings(tasks[rows].tolist()),
        "data_source": strings([gts.data_sources[i] for i in rows.tolist()]),
        "n": pa.array(n),
        "reward_mean": pick(reward.mean_or_nan()),
        "reward_std": pick(reward.std_or_nan()),
        "reward_min": np.where(n > 0, r_min, np.nan),
        "reward_max": np.where(n > 0, r_max, np.nan),
        "informative": informative,
        "format_mean": pick(stats.stats["format"].mean_or_nan()),
        "accuracy_mean": pick(acc.mean_or_nan()),
        "accuracy_std": pick(acc.std_or_nan()),
        "iou_mean": pick(stats.stats["iou"].mean_or_nan()),
        "iou_std": pick(stats.stats["iou"].std_or_nan()),
        "pass_rate": pass_rate,
        "parse_failure_rate": parse_fail,
        "failure": pa.array(stats.failure[rows].tolist(), type=pa.string()),
        "reward_version": strings([version] * len(rows)),
        "model": strings([model] * len(rows)),
        "rollout_settings": strings([settings] * len(rows)),
    }
    return pa.table(columns)
