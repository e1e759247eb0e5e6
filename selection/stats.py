"""Per-sample running statistics behind ``selection score``: streaming, exact for any batching.

Each metric keeps count, mean, M2 (Chan's parallel update: merging batch statistics gives numpy's
population mean / std on the whole array, whatever the split), min and max per sample, folded in with
vectorised group-bys. Memory is O(samples), not O(rollouts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from selection.dataset import DatasetError

__all__ = ["METRICS", "ScoreStats"]

METRICS = ("reward", "format", "accuracy", "iou")
Array = npt.NDArray[Any]


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
        self.stats = {m: _Stat(size) for m in METRICS}
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
