"""Fuzz the reward entry points with generated responses: exceptions, batch ≠ single, slowest inputs.

    flock /tmp/heavy.lock python benchmarks/fuzz_rewards.py              # 1M responses (~10 CPU-minutes)
    python benchmarks/fuzz_rewards.py --n 50000                         # quicker

The generator, the ground truths and the checks are those of ``tests/rewards/test_fuzz.py`` (loaded from its
file; CI runs 20k of them): random text, real answer spellings, awkward numbers, deep / unicode JSON and tag
wrappers, mutated. Each response is scored once under one configuration (the configurations rotate per
chunk: default, lenient, lenient with index answers when available) by ``score``, ``compute_score`` and, per
chunk, ``score_batch``. Prints the exception count per entry point and type (with examples), the batch/single
disagreements, and the slowest single calls, re-timed cold (parse caches emptied) as the best of 5 (CPU time,
``time.process_time_ns``; the project's bound is 20 ms per input). Run it with ``PYTHONPATH=<other tree>`` to measure another version
of ``video_rewards`` with the same inputs.
"""

from __future__ import annotations

import argparse
import heapq
import importlib.util
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import video_rewards as vr
from video_rewards.builtin_tasks import clear_caches

REPO = Path(__file__).resolve().parents[1]
SLOW_LIMIT_MS = 20.0


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class SlowestCalls:
    """The ``keep`` slowest single ``score`` calls seen (a min-heap of CPU nanoseconds)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.heap: list[tuple[int, int, str, int]] = []
        self.truths: list[tuple[Mapping[str, Any], vr.RewardConfig]] = []

    def __call__(self, response: str, truth: Mapping[str, Any], cfg: vr.RewardConfig) -> vr.RewardResult:
        start = time.process_time_ns()
        result = vr.score(response, truth, config=cfg)
        elapsed = time.process_time_ns() - start
        if len(self.heap) < self.keep or elapsed > self.heap[0][0]:
            self.truths.append((truth, cfg))
            item = (elapsed, len(self.truths), response, len(self.truths) - 1)
            if len(self.heap) < self.keep:
                heapq.heappush(self.heap, item)
            else:
                heapq.heapreplace(self.heap, item)
        return result

    def retimed(self, repeats: int = 5) -> list[tuple[float, float, str, str]]:
        """``(best_ms, first_ms, task, response)`` of the kept calls: timed again cold (best of ``repeats``),
        slowest first, beside the time of the call during the run."""
        out = []
        for first, _, response, index in self.heap:
            truth, cfg = self.truths[index]
            best = min(_cpu_ns(response, truth, cfg) for _ in range(repeats))
            out.append((best / 1e6, first / 1e6, str(truth["task"]), response))
        return sorted(out, reverse=True)


def _cpu_ns(response: str, truth: Mapping[str, Any], cfg: vr.RewardConfig) -> int:
    """CPU time of one cold call: the parse caches are emptied first (a repeat would only hit them)."""
    clear_caches()
    start = time.process_time_ns()
    vr.score(response, truth, config=cfg)
    return time.process_time_ns() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="generated responses (default 1M)")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: the test's)")
    parser.add_argument("--chunk", type=int, default=8_192, help="responses per score_batch call")
    parser.add_argument("--slowest", type=int, default=10, help="slowest inputs to report")
    args = parser.parse_args()

    fuzz = load_module(REPO / "tests" / "rewards" / "test_fuzz.py", "fuzz_generator")
    seed = fuzz.SEED if args.seed is None else args.seed
    configs = fuzz.fuzz_configs()
    out = sys.stdout.write
    out(f"video_rewards {vr.REWARD_VERSION} from {Path(vr.__file__).parent}\n")
    out(
        f"{args.n:,} responses, seed {seed}, chunks of {args.chunk:,}, {len(configs)} configurations rotating\n"
    )

    report = fuzz.FuzzReport()
    slowest = SlowestCalls(args.slowest * 3)
    responses = fuzz.fuzz_responses(args.n, seed)
    truths = fuzz.TRUTHS
    started = time.process_time()
    done = 0
    for index, start in enumerate(range(0, args.n, args.chunk)):
        size = min(args.chunk, args.n - start)
        chunk = [next(responses) for _ in range(size)]
        chunk_truths = [truths[(start + i) % len(truths)] for i in range(size)]
        fuzz.check_chunk(chunk, chunk_truths, configs[index % len(configs)], report, on_single=slowest)
        done += size
        if index % 20 == 19:
            sys.stderr.write(
                f"  {done:,} scored, {report.exception_count} exceptions, {time.process_time() - started:.0f} CPU-s\n"
            )
    cpu = time.process_time() - started

    out(
        f"\nscored {report.scored:,} responses in {cpu:.0f} CPU-seconds (generation, 2 single paths, batch)\n"
    )
    out(f"exceptions: {report.exception_count}\n")
    for where, examples in sorted(report.exceptions.items(), key=lambda kv: -len(kv[1])):
        out(f"  {len(examples):>7,}  {where}   e.g. {examples[0]}\n")
    out(f"batch ≠ single (or compute_score ≠ score): {len(report.disagreements)}\n")
    for line in report.disagreements[:5]:
        out(f"  {line[:300]}\n")
    out(f"non-finite values or a missing failure reason: {len(report.bad_values)}\n")
    for line in report.bad_values[:5]:
        out(f"  {line[:300]}\n")
    out(f"\nslowest single calls: cold best of 5 / during the run (CPU ms; bound {SLOW_LIMIT_MS:g} ms):\n")
    for ms, first_ms, task, response in slowest.retimed()[: args.slowest]:
        flag = "  OVER" if ms > SLOW_LIMIT_MS else ""
        out(f"  {ms:8.3f} / {first_ms:8.3f} ms  {task:<9} {fuzz._show(response, 100)}{flag}\n")


if __name__ == "__main__":
    main()
