"""Batched rounds: one engine call per adaptive round (and per full chunk), each sample its own rollouts.

The hf engine runs the tiny offline Qwen2.5-VL on real mp4 clips of two lengths, so the batched prompts
have different lengths and are left-padded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from selection.adaptive_rollout import AdaptiveConfig, round_seed, run_adaptive
from selection.dataset import load_ground_truths
from selection.engines import Completion, HFEngine, SamplingConfig
from selection.prompts import PreparedSample, prepare_sample
from selection.rollout import RolloutConfig, run_rollout

N_MAX = 8


class RecordingEngine:
    """The real hf engine, recording every ``generate`` call: its sample ids, ``n`` and seeds."""

    def __init__(self, engine: HFEngine) -> None:
        self.engine = engine
        self.name = engine.name
        self.processor = engine.processor
        self.calls: list[tuple[list[int], int, list[int]]] = []

    def generate(self, samples: Sequence[PreparedSample], sampling: SamplingConfig) -> list[list[Completion]]:
        self.calls.append(([s.sample_id for s in samples], sampling.n, [s.seed for s in samples]))
        return self.engine.generate(samples, sampling)

    def describe(self) -> dict[str, Any]:
        return self.engine.describe()


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> HFEngine:
    return HFEngine(str(tiny_model_dir))


@pytest.fixture
def dataset(tmp_path: Path, clip_factory: Callable[..., Path], h: Any) -> Path:
    """Six rows over a 3 s and a 2 s clip (prompts of two lengths), grounding and multiple choice."""
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    long = clip_factory("bt_long", seconds=3, fps=4, event=(1, 2))
    short = clip_factory("bt_short", seconds=2, fps=4)
    opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    tvg = {"task": "tvg", "segment": [1, 2], "duration": 3.0}
    mcq = {"task": "mcq", "answer": "B", "options": h.MCQ_OPTIONS}
    rows = [
        h.row(20 + i, truth, video=str(clip), video_opts=opts)
        for i, (truth, clip) in enumerate(
            [(tvg, long), (mcq, short), (tvg, short), (mcq, long), (tvg, long), (mcq, short)]
        )
    ]
    return h.write_rows(tmp_path / "data.parquet", rows)


def _prepared(dataset: Path, engine: HFEngine) -> list[PreparedSample]:
    import pyarrow.parquet as pq

    rows = pq.read_table(dataset).to_pylist()
    out = [prepare_sample(r, 20 + i, 1000 + i, engine.processor) for i, r in enumerate(rows)]
    assert all(isinstance(p, PreparedSample) for p in out)
    return [p for p in out if isinstance(p, PreparedSample)]


def test_a_batch_gives_each_sample_the_rollouts_it_would_get_alone(engine: HFEngine, dataset: Path) -> None:
    """Left padding and per-row generators: batching changes neither the tokens nor their order."""
    samples = _prepared(dataset, engine)
    lengths = {int(engine._encode(s)["input_ids"].shape[1]) for s in samples}
    assert len(lengths) == 2, "the two clip lengths must give prompts of two lengths"
    sampling = SamplingConfig(n=3, max_tokens=12, seed=0)
    batched = engine.generate(samples, sampling)
    alone = [engine.generate([s], sampling)[0] for s in samples]
    assert [len(cs) for cs in batched] == [3] * len(samples)
    assert [[c.text for c in cs] for cs in batched] == [[c.text for c in cs] for cs in alone]
    # Rollouts of one sample differ (they are samples, not copies), and another seed gives other ones.
    assert any(len({c.text for c in cs}) > 1 for cs in batched)
    reseeded = engine.generate([replace(s, seed=s.seed + 1) for s in samples], sampling)
    assert [[c.text for c in cs] for cs in reseeded] != [[c.text for c in cs] for cs in batched]


def test_each_round_is_one_engine_call_for_all_undecided_samples(engine: HFEngine, dataset: Path) -> None:
    samples = _prepared(dataset, engine)
    recorder = RecordingEngine(engine)
    config = AdaptiveConfig(min_std=0.1)
    rule = config.rule(N_MAX)
    positions = {s.sample_id: i for i, s in enumerate(samples)}
    outcomes = run_adaptive(
        recorder,
        SamplingConfig(n=N_MAX, max_tokens=16, seed=0),
        config,
        samples,
        load_ground_truths(dataset),
        positions,
    )
    assert list(outcomes) == [s.sample_id for s in samples]
    # Round r asks every sample still undecided (it got more rollouts than the previous checkpoint), in
    # dataset order, for the rollouts up to checkpoint r, seeded for the index of its first new rollout.
    expected = []
    previous = 0
    for point in rule.checkpoints():
        ids = [s.sample_id for s in samples if len(outcomes[s.sample_id].rewards) > previous]
        if ids:
            seeds = [round_seed(s.seed, previous) for s in samples if s.sample_id in ids]
            expected.append((ids, point - previous, seeds))
        previous = point
    assert recorder.calls == expected
    assert len(expected) >= 2, "the tiny model must leave some sample undecided after the first round"
    for out in outcomes.values():
        count = len(out.rewards)
        assert count in rule.checkpoints() and len(out.completions) == count
        assert out.decision in ("keep", "drop") and rule.decide(out.rewards) == out.decision


def test_full_and_adaptive_runs_call_the_engine_once_per_chunk_and_round(
    engine: HFEngine, dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    recorder = RecordingEngine(engine)
    sampling = SamplingConfig(n=4, max_tokens=12, seed=0)

    def config(out: str, adaptive: AdaptiveConfig | None) -> RolloutConfig:
        return RolloutConfig(
            dataset=dataset, model=str(tiny_model_dir), output=tmp_path / out, engine="hf",
            sampling=sampling, shard_size=4, progress=False, adaptive=adaptive,
        )  # fmt: skip

    summary = run_rollout(config("full", None), engine=recorder)
    assert [(ids, n) for ids, n, _ in recorder.calls] == [([20, 21, 22, 23], 4), ([24, 25], 4)]
    assert summary["rollouts"] == 6 * 4
    recorder.calls.clear()
    summary = run_rollout(config("adaptive", AdaptiveConfig(min_std=0.1)), engine=recorder)
    points = AdaptiveConfig(min_std=0.1).rule(4).checkpoints()
    for chunk in ([20, 21, 22, 23], [24, 25]):
        calls = [ids for ids, _, _ in recorder.calls if set(ids) <= set(chunk)]
        # The chunk's first round asks all its samples; each later round a subset of the one before.
        assert calls[0] == chunk and len(calls) <= len(points)
        assert all(set(b) <= set(a) for a, b in itertools.pairwise(calls))
    assert summary["rollouts"] == sum(n * len(ids) for ids, n, _ in recorder.calls)
