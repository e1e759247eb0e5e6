"""Adaptive repeated inference: rollouts saved against the full rule's decisions, and wall time saved.

    python benchmarks/bench_adaptive.py                    # simulated populations + the tiny model (HF engine)
    python benchmarks/bench_adaptive.py --skip-engine      # simulation only (seconds)
    python benchmarks/bench_adaptive.py --engine vllm      # the engine part with vLLM (run in .venv-vllm)

**Simulation.** Each population draws, per candidate, the ``n_max`` rewards the full rule would see; every
rule reads them in order, so all rules are compared on the same draws. Populations follow what base models
do on a candidate pool (the paper keeps 32k of 490k candidates; most candidates are settled):

* ``binary`` (multiple-choice accuracy): 42% always wrong, 38% always right, 4% rarely right or rarely wrong
  (pass rate 1–10% or 90–99%), 16% mixed (pass rate uniform in 5–95%);
* ``continuous`` (temporal IoU): 12% always disjoint (IoU 0), 60% an IoU that barely moves (std 0.5–3
  points), 8% tight but with an occasional miss (IoU 0 with probability 3–30%), 20% spread (std 4–30 points);
* ``composite`` (the dual reward 0.5·format + 0.5·IoU): the IoU population above, with a format pass rate
  of 1 for 85% of candidates, 0 for 5%, uniform in 30–97% for the rest.

For each, the curve of rollouts used (share of ``N × n_max``) against recall and precision of the full
rule's kept set, for :class:`~selection.adaptive.AdaptiveRule` at several ``error`` levels and for fixed
rules "stop after k equal draws" (draw k; all equal → drop; otherwise draw the rest and apply the full
rule). The last line checks that at every fixed rule's rollout budget the adaptive curve (linearly
interpolated) has at least its recall.

**Engine.** ``python -m selection rollout`` on the tiny offline model and real mp4 clips, with and without
``--adaptive``, timed in the same run (each as its own process, as a user runs it).

Exit status 1 when a simulated population misses the targets (recall ≥ 90%, precision ≥ 95%, rollouts
≤ 60% at the default error, no fixed rule better at its budget); with ``--n 8`` the binary one does.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selection.adaptive import AdaptiveRule, full_rule_keeps

logger = logging.getLogger("bench_adaptive")
Array = np.ndarray


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------------------------
# populations
# ------------------------------------------------------------------------------------------------------
def binary_population(rng: np.random.Generator, size: int, n: int) -> Array:
    kind = rng.choice(4, size=size, p=[0.42, 0.38, 0.04, 0.16])
    p = np.where(kind == 0, 0.0, np.where(kind == 1, 1.0, rng.uniform(0.05, 0.95, size)))
    rare = rng.uniform(0.01, 0.10, size)
    p = np.where(kind == 2, np.where(rng.random(size) < 0.5, rare, 1 - rare), p)
    return (rng.random((size, n)) < p[:, None]).astype(np.float64)


def iou_population(rng: np.random.Generator, size: int, n: int) -> Array:
    kind = rng.choice(4, size=size, p=[0.12, 0.60, 0.08, 0.20])
    mean = rng.uniform(0.1, 0.9, size)[:, None]
    std = np.where(kind == 3, rng.uniform(0.04, 0.30, size), rng.uniform(0.005, 0.03, size))[:, None]
    values = np.clip(mean + std * rng.standard_normal((size, n)), 0.0, 1.0)
    miss_rate = np.where(kind == 2, rng.uniform(0.03, 0.30, size), 0.0)[:, None]
    values = np.where(rng.random((size, n)) < miss_rate, 0.0, values)
    values[kind == 0] = 0.0
    return values


def composite_population(rng: np.random.Generator, size: int, n: int) -> Array:
    kind = rng.choice(3, size=size, p=[0.85, 0.05, 0.10])
    f = np.where(kind == 0, 1.0, np.where(kind == 1, 0.0, rng.uniform(0.30, 0.97, size)))
    fmt = (rng.random((size, n)) < f[:, None]).astype(np.float64)
    # A malformed answer gets no IoU either (the dual reward parses the span from the answer tag).
    return 0.5 * fmt + 0.5 * fmt * iou_population(rng, size, n)


POPULATIONS: dict[str, tuple[Callable[[np.random.Generator, int, int], Array], float]] = {
    "binary": (binary_population, 0.1),
    "continuous": (iou_population, 0.05),
    "composite": (composite_population, 0.05),
}


# ------------------------------------------------------------------------------------------------------
# rules
# ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FixedRule:
    """Draw ``k``; all equal → drop; otherwise draw all ``n_max`` and apply the full rule."""

    n_max: int
    min_std: float
    k: int

    def checkpoints(self) -> tuple[int, ...]:
        return (self.k, self.n_max) if self.k < self.n_max else (self.n_max,)

    def decide(self, rewards: Array) -> str:
        if len(rewards) == self.n_max:
            return "keep" if full_rule_keeps(rewards, self.min_std) else "drop"
        return "drop" if rewards.max() == rewards.min() else "more"


@dataclass(frozen=True)
class Point:
    rule: str
    rollouts: float
    recall: float
    precision: float


def evaluate(name: str, rule: AdaptiveRule | FixedRule, rewards: Array, full_keep: Array) -> Point:
    used = 0
    kept = np.zeros(len(rewards), dtype=bool)
    memo: dict[bytes, str] = {}  # binary rewards repeat: decide each distinct prefix once
    for i, row in enumerate(rewards):
        for k in rule.checkpoints():
            key = row[:k].tobytes()
            decision = memo.get(key) or memo.setdefault(key, rule.decide(row[:k]))
            if decision != "more":
                used += k
                kept[i] = decision == "keep"
                break
    both = int(np.sum(kept & full_keep))
    return Point(
        name,
        used / rewards.size,
        both / max(int(full_keep.sum()), 1),
        both / max(int(kept.sum()), 1),
    )


def interpolated_recall(curve: list[Point], budget: float) -> float:
    """The adaptive curve's recall at a rollout budget (linear between its points; its best below)."""
    pts = sorted(curve, key=lambda p: p.rollouts)
    below = [p for p in pts if p.rollouts <= budget]
    best = max((p.recall for p in below), default=0.0)
    for a, b in itertools.pairwise(pts):
        if a.rollouts <= budget <= b.rollouts and b.rollouts > a.rollouts:
            w = (budget - a.rollouts) / (b.rollouts - a.rollouts)
            best = max(best, a.recall + w * (b.recall - a.recall))
    return best


def simulate(size: int, n: int, seed: int, errors: list[float]) -> bool:
    all_ok = True
    for pop, (draw, min_std) in POPULATIONS.items():
        rewards = draw(np.random.default_rng(seed), size, n)
        full_keep = np.array([full_rule_keeps(r, min_std) for r in rewards])
        _say(
            f"\n## {pop}: {size} candidates, n_max={n}, min_std={min_std}, full rule keeps {full_keep.mean():.1%}"
        )
        _say(f"{'rule':<24}{'rollouts':>10}{'recall':>9}{'precision':>11}")
        adaptive: list[Point] = []
        for e in errors:
            rule = AdaptiveRule(n_max=n, min_std=min_std, error=e)
            pt = evaluate(f"adaptive error={e:g} {rule.checkpoints()}", rule, rewards, full_keep)
            adaptive.append(pt)
        fixed = [evaluate(f"fixed k={k}", FixedRule(n, min_std, k), rewards, full_keep) for k in range(1, n)]
        for pt in [*adaptive, *fixed]:
            _say(f"{pt.rule:<24}{pt.rollouts:>10.1%}{pt.recall:>9.1%}{pt.precision:>11.1%}")
        default = evaluate("default", AdaptiveRule(n_max=n, min_std=min_std), rewards, full_keep)
        dominated = [f.rule for f in fixed if interpolated_recall(adaptive, f.rollouts) + 1e-9 < f.recall]
        ok = default.recall >= 0.9 and default.precision >= 0.95 and default.rollouts <= 0.6
        all_ok &= ok and not dominated
        _say(
            f"default (error={AdaptiveRule.model_fields['error'].default}): rollouts {default.rollouts:.1%}, "
            f"recall {default.recall:.1%}, precision {default.precision:.1%} -> "
            f"{'meets' if ok else 'MISSES'} recall>=90% precision>=95% rollouts<=60%; "
            f"fixed rules with more recall at their budget: {dominated or 'none'}"
        )
    return all_ok


# ------------------------------------------------------------------------------------------------------
# the engine: wall time of `selection rollout` with and without --adaptive
# ------------------------------------------------------------------------------------------------------
def engine_bench(engine: str, samples: int, n: int, workdir: Path, repeats: int = 1) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rlt_tools.tiny_clips import make_clip
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS, build_tiny_model

    model = build_tiny_model(family="qwen2_5_vl")
    opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    rows = []
    for i in range(samples):
        clip = make_clip(workdir / f"clip{i % 4}.mp4", seconds=3, fps=4, event=(1, 2))
        truth = (
            '{"task": "mcq", "answer": "B", "options": ["A. a", "B. b", "C. c", "D. d"]}'
            if i % 2
            else '{"task": "tvg", "segment": [1, 2], "duration": 3.0}'
        )
        rows.append(
            {
                "data_source": "bench",
                "prompt": [{"role": "user", "content": "<video>\nAnswer the question."}],
                "videos": [{"video": str(clip), **opts}],
                "reward_model": {"style": "rule", "ground_truth": truth},
                "extra_info": {"index": i},
            }
        )
    dataset = workdir / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), dataset)
    env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord"}
    engine_args: list[str] = []
    if engine == "vllm":
        # As tests/vllm: the torchvision hook on PYTHONPATH (also for vLLM's subprocesses), an in-process
        # engine in eager mode, and the explicit KV-cache size that vLLM on CPU refuses to start without.
        hook = Path(__file__).resolve().parents[1] / "scripts" / "vllm_sitecustomize"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH", "")) if p)
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        env["VLLM_CACHE_ROOT"] = str(workdir / "vllm-cache")
        for arg in (
            "kv_cache_memory_bytes=268435456", "distributed_executor_backend=uni", "enforce_eager=true",
            "max_model_len=4096",
        ):  # fmt: skip
            engine_args += ["--engine-arg", arg]
    base = [
        sys.executable, "-m", "selection", "rollout", "--dataset", str(dataset), "--model", str(model),
        "--engine", engine, "--n", str(n), "--max-tokens", "32", "--shard-size", "8", "--no-progress",
        *engine_args,
    ]  # fmt: skip
    times: dict[str, float] = {}
    modes: list[tuple[str, list[str]]] = [("full", []), ("adaptive", ["--adaptive", "--min-std", "0.1"])]
    for repeat in range(repeats):
        # Alternate the order so neither mode alone pays the cold start (imports, file cache); keep the best.
        for label, extra in modes if repeat % 2 == 0 else modes[::-1]:
            out = workdir / f"{label}{repeat}"
            started = time.perf_counter()
            proc = subprocess.run(
                [*base, "--output", str(out), *extra], env=env, capture_output=True, text=True
            )
            took = time.perf_counter() - started
            times[label] = min(times.get(label, took), took)
            if proc.returncode != 0:
                raise RuntimeError(f"{label} rollout failed:\n{proc.stderr[-3000:]}")
            summary = [line for line in proc.stdout.splitlines() if line.startswith("rollout:")]
            _say(f"{engine} {label:<9} {took:7.1f} s  {' '.join(summary) or proc.stdout.strip()}")
    _say(
        f"{engine}: adaptive took {times['adaptive']:.1f} s vs {times['full']:.1f} s for the full rule "
        f"({1 - times['adaptive'] / times['full']:.0%} wall time saved, model load included in both; "
        f"best of {repeats})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=20_000, help="simulated candidates per population")
    parser.add_argument("--n", type=int, nargs="+", default=[8, 16], help="n_max values to simulate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--errors",
        type=float,
        nargs="+",
        default=[0.0005, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.4],
    )
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--engine", choices=["hf", "vllm"], default="hf")
    parser.add_argument("--engine-samples", type=int, default=8)
    parser.add_argument("--engine-n", type=int, default=8)
    parser.add_argument("--engine-repeats", type=int, default=1, help="runs per mode, alternating order")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    _say(f"# bench_adaptive (pid {os.getpid()})")
    ok = all([simulate(args.size, n, args.seed, args.errors) for n in args.n])
    if not args.skip_engine:
        _say("\n## engine: `selection rollout` with and without --adaptive (tiny model, real mp4 clips)")
        with tempfile.TemporaryDirectory() as tmp:
            engine_bench(args.engine, args.engine_samples, args.engine_n, Path(tmp), args.engine_repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
