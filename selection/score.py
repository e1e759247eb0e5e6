"""``selection score``: rollouts + dataset → one row per sample with the spread of its rewards.

Streaming: rollouts are read in record batches, scored with :func:`video_rewards.score_batch` (optionally in
worker processes), and folded into per-sample running statistics (:mod:`selection.stats`). Memory is
O(samples), not O(rollouts); rollouts need not be grouped or ordered.

Output columns: ``sample_id``, ``task``, ``data_source``, ``n`` (scored rollouts), ``reward_mean``,
``reward_std`` (population std), ``reward_min``, ``reward_max``, ``informative`` (the n rewards are not all
equal), ``format_mean``, ``accuracy_mean``, ``accuracy_std``, ``iou_mean``, ``iou_std`` (NaN where the task
has no such component), ``pass_rate`` (share of rollouts with accuracy ≥ ``pass_threshold``; NaN for tasks
without accuracy), ``parse_failure_rate``, ``failure`` (why a sample could not be scored, else null),
``reward_version``, ``model``, ``rollout_settings``. The file's metadata records the reward config and
the dataset's fingerprint (:func:`selection.dataset.truth_fingerprint`), which ``select`` / ``report`` /
the verl filter check.

One bad row never stops the run: a sample whose rollout failed (``error``), whose ground truth is invalid
(``invalid_ground_truth: …``, naming the row) or whose scoring raised (``scoring_error: …``) gets a
``failure`` and is counted in ``counts.failed_by_reason``; ``select`` drops it as ``failed``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import sys
import time
from collections import Counter, deque
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
from selection.stats import ScoreStats
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
Array = npt.NDArray[Any]


class ScoreConfig(BaseModel):
    """How rollouts are scored. ``reward`` is recorded in the output; the rest only affects speed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reward: RewardConfig = Field(default_factory=RewardConfig)
    pass_threshold: float = Field(default=1.0, ge=0.0, le=1.0, description="accuracy counted as a pass")
    batch_size: int = Field(default=65_536, gt=0)
    workers: int = Field(default=1, ge=1, description="processes computing rewards (1 = in-process)")


# Scoring processes inherit the dataset columns by fork; only (positions, responses) cross the boundary.
# Each process parses (validates) a row's ground truth the first time it sees the row, then caches it.
_WORKER: dict[str, Any] = {}
_COLUMNS = ("score", "format", "accuracy", "iou", "parse_failed")


@dataclass
class _Chunk:
    """One scored chunk: the positions that were scored (rows of ``cols``) and the samples that failed."""

    pos: Array
    cols: dict[str, Array]
    new_tasks: dict[int, str]
    failures: dict[int, str]


def _score_chunk(pos: Array, responses: pa.Array) -> _Chunk:
    import pyarrow as pa

    gts: GroundTruthIndex = _WORKER["gts"]
    cache = _WORKER.get("cache")
    if cache is None:  # position -> parsed ground truth (or the reason it is invalid), filled on first sight
        cache = _WORKER["cache"] = np.full(len(gts.samples), None, dtype=object)
    new_tasks: dict[int, str] = {}
    failures: dict[int, str] = {}
    for p in np.unique(pos[cache[pos] == None]).tolist():  # noqa: E711 - elementwise on an object array
        try:
            cache[p] = gts.parse(p)
            new_tasks[p] = cache[p].task
        except DatasetError as exc:
            cache[p] = failures[p] = f"invalid_ground_truth: {exc}"
    truths = cache[pos]
    valid = np.fromiter((not isinstance(t, str) for t in truths), dtype=bool, count=len(pos))
    if not valid.all():
        pos, truths, responses = pos[valid], truths[valid], responses.filter(pa.array(valid))
    texts = responses.to_pylist()
    try:
        cols = _score(texts, truths.tolist())
    except Exception:  # isolate the rollouts that raise; the rest of the chunk is scored
        logger.warning(
            "scoring a batch raised; rescoring its %d rollouts one by one", len(texts), exc_info=True
        )
        return _score_one_by_one(pos, texts, truths.tolist(), new_tasks, failures)
    return _Chunk(pos, cols, new_tasks, failures)


def _score(texts: list[str], truths: list[Any]) -> dict[str, Array]:
    from video_rewards import score_batch

    cols = score_batch(texts, truths, config=_WORKER["reward"])
    return {k: cols[k] for k in _COLUMNS}


def _score_one_by_one(
    pos: Array, texts: list[str], truths: list[Any], new_tasks: dict[int, str], failures: dict[int, str]
) -> _Chunk:
    """Score rollout by rollout; a sample with a rollout whose scoring raises fails as ``scoring_error``."""
    ok: list[int] = []
    parts: list[dict[str, Array]] = []
    for i, (p, text, truth) in enumerate(zip(pos.tolist(), texts, truths, strict=True)):
        try:
            parts.append(_score([text], [truth]))
            ok.append(i)
        except Exception as exc:  # a reward bug must cost one sample, not the run
            failures.setdefault(p, f"scoring_error: {type(exc).__name__}: {str(exc)[:200]}")
    cols = {k: np.concatenate([c[k] for c in parts]) if parts else np.empty(0) for k in _COLUMNS}
    return _Chunk(pos[np.asarray(ok, dtype=np.int64)], cols, new_tasks, failures)


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


def _scored(batches: Iterator[_Batch], workers: int) -> Iterator[tuple[int, _Chunk]]:
    """``(rollouts read, scored chunk)`` pairs, in-process or from one process per shard of the samples."""
    if workers <= 1:
        for b in batches:
            yield len(b.pos), _score_chunk(b.pos, b.responses)
        return
    import pyarrow as pa

    # One dedicated process per shard of the samples (position % workers): each parses only its own
    # samples' ground truths. fork: the processes inherit the dataset columns instead of unpickling them.
    ctx = multiprocessing.get_context("fork")
    pools = [ProcessPoolExecutor(1, mp_context=ctx) for _ in range(workers)]
    pending: deque[tuple[Array, Future[_Chunk]]] = deque()
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
                yield len(pos), fut.result()
        while pending:
            pos, fut = pending.popleft()
            yield len(pos), fut.result()
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
        for read, chunk in _scored(batches, config.workers):
            stats.add(chunk.pos, chunk.cols)
            for p, task in chunk.new_tasks.items():
                tasks[p] = task
            for p, reason in chunk.failures.items():
                if stats.failure[p] is None:
                    logger.warning("sample %s not scored: %s", gts.samples.ids[p], reason)
                    stats.failure[p] = reason
            bar.update(read)
    finally:
        bar.close()
        _WORKER.clear()
    for p in np.flatnonzero((tasks == None) & (stats.failure != None)).tolist():  # noqa: E711
        # Failed samples: no rollout was scored, read the task here (an invalid truth leaves it null).
        with contextlib.suppress(DatasetError):
            tasks[p] = gts.parse(p).task
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
    failed = stats.failure != None  # noqa: E711 - elementwise on an object array
    without = int(np.sum((stats.stats["reward"].count == 0) & ~failed))
    counts = {
        "rollouts": stats.rollouts,
        "samples_scored": int(np.sum((stats.stats["reward"].count > 0) & ~failed)),
        "samples_failed": int(np.sum(failed)),
        "failed_by_reason": dict(Counter(str(f).split(":")[0] for f in stats.failure[failed].tolist())),
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
        "dataset_fingerprint": gts.fingerprint(),
        "dataset_rows": len(gts.samples),
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
