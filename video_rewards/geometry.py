"""Temporal geometry: spans, temporal IoU / IoP, IoU shaping and one-to-one segment matching.

Everything here is pure and total: degenerate input (reversed, empty or non-finite spans) yields 0.0,
never an exception, so that a bad prediction can only ever cost reward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import permutations
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "IouMode",
    "Span",
    "best_assignment",
    "match_segments",
    "shape_iou",
    "temporal_iop",
    "temporal_iou",
]

IouMode = Literal["iou", "giou", "distance"]


class Span(NamedTuple):
    """A time interval ``[start, end]`` in seconds.

    A tuple (so it pickles, hashes and unpacks like ``(s, e)``); validity is a property, not a
    construction-time check, because parsers build spans from untrusted model output.

    >>> Span(2.0, 5.0).length
    3.0
    >>> Span(5.0, 2.0).is_valid
    False
    """

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start

    @property
    def is_valid(self) -> bool:
        """Finite, non-negative start and strictly positive length."""
        return math.isfinite(self.start) and math.isfinite(self.end) and 0.0 <= self.start < self.end

    def clip(self, duration: float | None) -> Span:
        """Clip to ``[0, duration]`` (``duration=None``: clip at 0 only)."""
        hi = math.inf if duration is None else duration
        return Span(min(max(self.start, 0.0), hi), min(max(self.end, 0.0), hi))


def _valid(span: Sequence[float]) -> bool:
    s, e = span[0], span[1]
    return math.isfinite(s) and math.isfinite(e) and s < e


def temporal_iou(pred: Sequence[float], gold: Sequence[float]) -> float:
    """Intersection over union of two time intervals; 0.0 if either is reversed, empty or non-finite.

    >>> temporal_iou(Span(0, 10), Span(5, 15))
    0.3333333333333333
    >>> temporal_iou((3, 1), (0, 10))
    0.0
    """
    if not (_valid(pred) and _valid(gold)):
        return 0.0
    inter = min(pred[1], gold[1]) - max(pred[0], gold[0])
    if inter <= 0.0:
        return 0.0
    union = max(pred[1], gold[1]) - min(pred[0], gold[0])
    return min(1.0, inter / union)


def temporal_iop(pred: Sequence[float], gold: Sequence[float]) -> float:
    """Intersection over the *prediction*'s length (how much of the prediction is inside the truth).

    A zero-length prediction (a point) has IoP 1 when it lies inside the truth, bounds included, else 0:
    the definition of NExT-GQA's ``eval_ground.py`` (its IoU of a point stays 0). Reversed, non-finite
    or empty-truth input gives 0.

    >>> temporal_iop(Span(6, 8), Span(5, 15))
    1.0
    >>> temporal_iop(Span(15, 15), Span(5, 15)), temporal_iop(Span(16, 16), Span(5, 15))
    (1.0, 0.0)
    """
    if not _valid(gold):
        return 0.0
    s = pred[0]
    if s == pred[1] and math.isfinite(s):
        return 1.0 if gold[0] <= s <= gold[1] else 0.0
    if not _valid(pred):
        return 0.0
    inter = min(pred[1], gold[1]) - max(pred[0], gold[0])
    if inter <= 0.0:
        return 0.0
    return min(1.0, inter / (pred[1] - pred[0]))


def shape_iou(pred: Span, gold: Span, *, mode: IouMode, duration: float | None) -> float:
    """The IoU-based reward in ``[0, 1]`` for the configured shaping.

    * ``"iou"``: plain temporal IoU (Temporal-R1 / Temporal-RLT).
    * ``"giou"``: ``(1 + GIoU) / 2`` (MUSEG): still informative for disjoint spans, by their gap.
    * ``"distance"``: ``IoU · (1 − |Δstart|/D) · (1 − |Δend|/D)`` (Time-R1), with ``D`` the duration
      (the union hull when it is unknown); ``pred`` is clipped to ``[0, D]`` first so it never goes negative.

    >>> round(shape_iou(Span(0, 2), Span(4, 6), mode="giou", duration=None), 4)  # gap 2 in a hull of 6
    0.3333
    """
    if not (_valid(pred) and _valid(gold)):
        return 0.0
    iou = temporal_iou(pred, gold)
    if mode == "iou":
        return iou
    hull = max(pred[1], gold[1]) - min(pred[0], gold[0])
    if mode == "giou":
        inter = max(0.0, min(pred[1], gold[1]) - max(pred[0], gold[0]))
        union = (pred[1] - pred[0]) + (gold[1] - gold[0]) - inter
        giou = iou - (hull - union) / hull
        return min(1.0, max(0.0, (1.0 + giou) / 2.0))
    scale = duration if duration is not None and duration > 0 else hull
    ds = min(1.0, abs(pred[0] - gold[0]) / scale)
    de = min(1.0, abs(pred[1] - gold[1]) / scale)
    return iou * (1.0 - ds) * (1.0 - de)


def _max_weight_assignment(weights: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Maximum-weight one-to-one assignment (Hungarian algorithm, O(n³)), rows ≤ columns padded inside.

    A small self-contained implementation so the core needs no scipy.
    """
    n_rows, n_cols = weights.shape
    n = max(n_rows, n_cols)
    cost = np.zeros((n, n))
    cost[:n_rows, :n_cols] = -weights  # minimise negative weight
    inf = math.inf
    u = [0.0] * (n + 1)
    v = [0.0] * (n + 1)
    p = [0] * (n + 1)
    way = [0] * (n + 1)
    for i in range(1, n + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (n + 1)
        used = [False] * (n + 1)
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = inf
            j1 = 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    pairs = [(p[j] - 1, j - 1) for j in range(1, n + 1) if p[j] != 0]
    return sorted((r, c) for r, c in pairs if r < n_rows and c < n_cols)


def match_segments(preds: Sequence[Span], golds: Sequence[Span]) -> tuple[float, list[tuple[int, int]]]:
    """Optimal one-to-one matching of predicted to gold segments by IoU.

    Returns ``(score, pairs)`` where ``score = Σ matched IoU / max(len(preds), len(golds))``: an F1-like
    value in ``[0, 1]`` that penalises both missed and extra segments.

    >>> match_segments([Span(10, 20), Span(0, 5)], [Span(0, 5), Span(10, 20)])
    (1.0, [(0, 1), (1, 0)])
    >>> match_segments([Span(0, 5)], [Span(0, 5), Span(10, 20)])[0]
    0.5
    """
    if not preds or not golds:
        return 0.0, []
    m = [[temporal_iou(p, g) for g in golds] for p in preds]
    pairs = best_assignment(m)
    total = sum(m[r][c] for r, c in pairs)
    pairs = [(r, c) for r, c in pairs if m[r][c] > 0.0]
    return min(1.0, total / max(len(preds), len(golds))), pairs


def best_assignment(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Maximum-weight one-to-one assignment of rows to columns, as sorted ``(row, col)`` pairs.

    Exhaustive for small problems (≤ 6 on the smaller side and ≤ 5040 candidate assignments, the usual
    2-4 moments), the Hungarian algorithm otherwise. Ties resolve to the first assignment found.

    >>> best_assignment([[0.1, 0.9], [0.8, 0.2]])
    [(0, 1), (1, 0)]
    """
    n_rows = len(weights)
    n_cols = len(weights[0]) if n_rows else 0
    if n_rows == 0 or n_cols == 0:
        return []
    small, large = min(n_rows, n_cols), max(n_rows, n_cols)
    if small <= 6 and math.perm(large, small) <= 5040:
        best: tuple[int, ...] = ()
        best_total = -1.0
        if n_rows <= n_cols:
            for cols in permutations(range(n_cols), n_rows):
                total = sum(weights[r][c] for r, c in enumerate(cols))
                if total > best_total:
                    best, best_total = cols, total
            return [(r, c) for r, c in enumerate(best)]
        for rows in permutations(range(n_rows), n_cols):
            total = sum(weights[r][c] for c, r in enumerate(rows))
            if total > best_total:
                best, best_total = rows, total
        return sorted((r, c) for c, r in enumerate(best))
    return _max_weight_assignment(np.asarray(weights, dtype=np.float64))
