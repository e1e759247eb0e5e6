"""Variance-aware data selection: run the base model n times per sample, score, keep what varies.

Blocks (readers → stages → writers): :mod:`selection.rollout` (repeated inference, resumable shards,
engines in :mod:`selection.engines`, Ray in :mod:`selection.distributed`), :mod:`selection.score`
(streaming per-sample reward statistics), :mod:`selection.rules` (filters that say why they drop a row),
:mod:`selection.select` (verl-ready output) and :mod:`selection.report`. CLI: ``python -m selection``.
Video loading lives in :mod:`video_decoding`.

Heavy dependencies (pandas, pyarrow, torch, transformers, vLLM, Ray) are imported by the submodules that
need them, so ``import selection`` stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
