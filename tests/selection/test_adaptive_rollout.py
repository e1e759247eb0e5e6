"""`selection rollout --adaptive` with the hf engine, the tiny offline Qwen2.5-VL and real tiny mp4 clips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import video_rewards as vr
from selection.adaptive_rollout import AdaptiveConfig
from selection.cli import main
from selection.engines import HFEngine, SamplingConfig
from selection.rollout import RolloutConfig, RunMismatchError, run_rollout, shard_path

N_MAX = 8
MIN_STD = 0.1


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> HFEngine:
    return HFEngine(str(tiny_model_dir))


@pytest.fixture
def dataset(tmp_path: Path, clip_factory: Callable[..., Path], h: Any) -> Path:
    """Six rows over two real clips (grounding and multiple choice) and one missing video."""
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    a = clip_factory("ad_a", seconds=3, fps=4, event=(1, 2))
    b = clip_factory("ad_b", seconds=2, fps=4)
    opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    tvg = {"task": "tvg", "segment": [1, 2], "duration": 3.0}
    mcq = {"task": "mcq", "answer": "B", "options": h.MCQ_OPTIONS}
    rows = [
        h.row(10, tvg, video=str(a), video_opts=opts),
        h.row(11, mcq, video=str(b), video_opts=opts),
        h.row(12, tvg, video=str(b), video_opts=opts),
        h.row(13, mcq, video=str(a), video_opts=opts),
        h.row(14, tvg, video=str(tmp_path / "missing.mp4"), video_opts=opts),
        h.row(15, mcq, video=str(b), video_opts=opts),
    ]
    return h.write_rows(tmp_path / "data.parquet", rows)


def _config(dataset: Path, model: Path, output: Path, **kw: Any) -> RolloutConfig:
    return RolloutConfig(
        dataset=dataset,
        model=str(model),
        output=output,
        engine="hf",
        sampling=SamplingConfig(n=N_MAX, max_tokens=24, seed=3),
        progress=False,
        adaptive=kw.pop("adaptive", AdaptiveConfig(min_std=MIN_STD)),
        **kw,
    )


def _rollouts(output: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((output / "shards").glob("rollouts-*.parquet"))])


def test_adaptive_run_records_decisions_that_the_rule_and_select_agree_with(
    engine: HFEngine, dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    calls: list[int] = []  # the vision tower runs once per sample: later rounds reuse its embeddings
    hook = engine.model.model.visual.register_forward_hook(lambda mod, args, out: calls.append(1))
    try:
        summary = run_rollout(_config(dataset, tiny_model_dir, tmp_path / "run", shard_size=4), engine=engine)
    finally:
        hook.remove()
    rule = AdaptiveConfig(min_std=MIN_STD).rule(N_MAX)
    rows = _rollouts(tmp_path / "run")
    ok = rows[rows["error"].isna()]
    assert set(ok["sample_id"]) == {10, 11, 12, 13, 15}
    rounds = 0
    decisions = {}
    for sid, group in ok.groupby("sample_id"):
        group = group.sort_values("rollout_index")
        count = len(group)
        assert group["rollout_index"].tolist() == list(range(count))
        assert (group["adaptive_rollouts"] == count).all() and count in rule.checkpoints()
        decision = group["adaptive_decision"].iloc[0]
        decisions[sid] = decision
        rewards = group["reward"].tolist()
        # The recorded reward is the dual reward of the recorded response (scored here one by one).
        truth = json.loads(
            pd.read_parquet(dataset)
            .set_index(pd.Index(range(10, 16)))
            .loc[sid, "reward_model"]["ground_truth"]
        )
        assert rewards == pytest.approx([vr.score(t, truth).score for t in group["response"]])
        # The rule stopped at the first checkpoint where it decided, and decided what is recorded.
        stops = [k for k in rule.checkpoints() if k <= count]
        assert [rule.decide(rewards[:k]) for k in stops[:-1]] == ["more"] * (len(stops) - 1)
        assert rule.decide(rewards) == decision != "more"
        rounds += len(stops)
    assert len(calls) == len(decisions) and rounds > len(decisions), "some sample needs a second round"
    failed = rows[rows["error"].notna()]
    assert failed["sample_id"].tolist() == [14] and failed["adaptive_decision"].isna().all()
    adaptive = summary["adaptive"]
    assert adaptive["kept"] + adaptive["dropped"] == 5 and adaptive["rollouts_full_rule"] == 5 * N_MAX
    assert summary["rollouts"] == len(ok) < 5 * N_MAX, "the tiny model's settled samples must stop early"

    # score + select with the same --min-std keep exactly the samples the rule kept.
    scores, selected = tmp_path / "scores.parquet", tmp_path / "sel.parquet"
    assert main(["score", "--dataset", str(dataset), "--rollouts", str(tmp_path / "run"), "--output", str(scores),
                 "--workers", "1", "--no-progress"]) == 0  # fmt: skip
    assert main(["select", "--dataset", str(dataset), "--scores", str(scores), "--min-std", str(MIN_STD),
                 "--allow-unscored", "--output", str(selected)]) == 0  # fmt: skip
    kept = pd.read_parquet(selected)["extra_info"].map(lambda e: e["index"]).tolist()
    assert sorted(kept) == sorted(s for s, d in decisions.items() if d == "keep")
    counts = pd.read_parquet(scores).set_index("sample_id")["n"].to_dict()
    assert {s: counts[s] for s in decisions} == ok.groupby("sample_id").size().to_dict()


def test_adaptive_run_resumes_and_refuses_other_settings(
    engine: HFEngine, dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_rollout(_config(dataset, tiny_model_dir, out, shard_size=2), engine=engine)
    reference = _rollouts(out).reset_index(drop=True)
    # A run killed after its first shard: the others are missing. The restart redoes only those.
    kept = shard_path(out, 0).stat().st_mtime_ns
    for chunk in (1, 2):
        shard_path(out, chunk).unlink()
    summary = run_rollout(_config(dataset, tiny_model_dir, out, shard_size=2), engine=engine)
    assert summary["this_run"]["samples"] == 4 and shard_path(out, 0).stat().st_mtime_ns == kept
    cols = ["sample_id", "rollout_index", "response", "reward", "adaptive_decision", "adaptive_rollouts"]
    pd.testing.assert_frame_equal(_rollouts(out).reset_index(drop=True)[cols], reference[cols])
    with pytest.raises(RunMismatchError, match="adaptive: was"):
        run_rollout(
            _config(dataset, tiny_model_dir, out, shard_size=2, adaptive=AdaptiveConfig(min_std=0.3)),
            engine=engine,
        )
    with pytest.raises(RunMismatchError, match="adaptive: was"):
        run_rollout(_config(dataset, tiny_model_dir, out, shard_size=2, adaptive=None), engine=engine)


def test_cli_adaptive_flags(
    dataset: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    code = main(["rollout", "--dataset", str(dataset), "--model", str(tiny_model_dir), "--engine", "hf",
                 "--n", str(N_MAX), "--max-tokens", "16", "--limit", "2", "--output", str(out), "--no-progress",
                 "--adaptive", "--min-std", "0.2", "--error", "0.05"])  # fmt: skip
    assert code == 0
    line = capsys.readouterr().out
    assert "2/2 samples" in line and "of the full rule's; kept" in line
    run = json.loads((out / "run.json").read_text())
    assert run["adaptive"] == {"min_std": 0.2, "error": 0.05, "reward": {}}
    assert main(["rollout", "--dataset", str(dataset), "--model", "m", "--output", str(tmp_path / "x"),
                 "--error", "0.05"]) == 2  # fmt: skip
    assert "need --adaptive" in capsys.readouterr().err
