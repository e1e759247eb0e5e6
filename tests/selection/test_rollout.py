"""`selection rollout` with the hf engine, the tiny offline Qwen2.5-VL and real tiny mp4 clips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from selection.engines import HFEngine, SamplingConfig
from selection.prompts import PreparedSample, prepare_sample
from selection.rollout import RolloutConfig, RunMismatchError, run_rollout, shard_path

N = 3


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path) -> HFEngine:
    return HFEngine(str(tiny_model_dir))


@pytest.fixture
def video_dataset(tmp_path: Path, clip_factory: Callable[..., Path], h: Any) -> Path:
    """Five rows: three real clips (one used twice), a missing file, a corrupt file."""
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    a = clip_factory("sel_a", seconds=3, fps=4, event=(1, 2))
    b = clip_factory("sel_b", seconds=2, fps=4)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not a video" * 20)
    opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
    tvg = {"task": "tvg", "segment": [1, 2], "duration": 3.0}
    mcq = {"task": "mcq", "answer": "B", "options": h.MCQ_OPTIONS}
    rows = [
        h.row(100, tvg, video=str(a), video_opts=opts),
        h.row(101, mcq, video=str(b), video_opts=opts),
        h.row(102, tvg, video=str(tmp_path / "missing.mp4"), video_opts=opts),
        h.row(103, tvg, video=str(corrupt), video_opts=opts),
        h.row(104, mcq, video=str(a), video_opts=opts),
    ]
    return h.write_rows(tmp_path / "data.parquet", rows)


def _config(dataset: Path, model: Path, output: Path, **kw: Any) -> RolloutConfig:
    sampling = kw.pop("sampling", SamplingConfig(n=N, max_tokens=24, seed=1))
    return RolloutConfig(
        dataset=dataset, model=str(model), output=output, engine="hf", sampling=sampling, progress=False, **kw
    )


def _all_rollouts(output: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((output / "shards").glob("rollouts-*.parquet"))])


def test_hf_rollout_encodes_each_video_once_and_records_failures(
    engine: HFEngine, video_dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    calls: list[int] = []  # patch rows the vision tower received, per call
    hook = engine.model.model.visual.register_forward_hook(
        lambda mod, args, out: calls.append(int(args[0].shape[0]))
    )
    try:
        summary = run_rollout(
            _config(video_dataset, tiny_model_dir, tmp_path / "run", shard_size=2), engine=engine
        )
    finally:
        hook.remove()

    # Patches of one copy of each decoded video, computed independently with the processor.
    expected = []
    for sid, row in zip((100, 101, 104), (0, 1, 4), strict=True):
        import pyarrow.parquet as pq

        r = pq.read_table(video_dataset).slice(row, 1).to_pylist()[0]
        prepared = prepare_sample(r, sid, 0, engine.processor)
        assert isinstance(prepared, PreparedSample) and prepared.videos is not None
        frames, meta = zip(*prepared.videos, strict=True)
        grid = engine.processor(
            text=[prepared.prompt],
            videos=list(frames),
            video_metadata=list(meta),
            do_sample_frames=False,
            return_tensors="pt",
        )["video_grid_thw"]
        expected.append(int(grid.prod(dim=-1).sum()))
    assert calls == expected, (
        "the vision tower must run once per sample on one copy of the video, whatever n is"
    )

    rollouts = _all_rollouts(tmp_path / "run")
    ok = rollouts[rollouts["error"].isna()]
    assert ok.groupby("sample_id")["rollout_index"].apply(sorted).to_dict() == {
        s: list(range(N)) for s in (100, 101, 104)
    }
    assert (ok["finish_reason"].isin(["stop", "length"])).all() and (ok["num_tokens"] > 0).all()
    assert ok["response"].map(lambda t: isinstance(t, str)).all()
    settings = json.loads(ok["rollout_settings"].iloc[0])
    assert settings["n"] == N and settings["engine"] == "hf" and settings["max_tokens"] == 24
    failed = rollouts[rollouts["error"].notna()].set_index("sample_id")["error"].to_dict()
    assert failed[102].startswith("video_missing: ") and "missing.mp4" in failed[102]
    assert failed[103].startswith("video_decode_error: ")
    assert summary["failed_by_reason"] == {"video_missing": 1, "video_decode_error": 1}
    assert summary["samples_done"] == 5 and summary["rollouts"] == 3 * N
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {f["sample_id"] for f in on_disk["failures"]} == {102, 103}


def test_embed_once_generation_equals_plain_generate(engine: HFEngine, video_dataset: Path) -> None:
    """Greedy decoding from the precomputed embeddings gives the tokens of HF's own pixel path."""
    import pyarrow.parquet as pq
    import torch

    row = pq.read_table(video_dataset).slice(0, 1).to_pylist()[0]
    prepared = prepare_sample(row, 100, 0, engine.processor)
    assert isinstance(prepared, PreparedSample) and prepared.videos is not None
    mine = engine.generate([prepared], SamplingConfig(n=1, temperature=0.0, max_tokens=16))[0][0]
    frames, meta = zip(*prepared.videos, strict=True)
    inputs = engine.processor(
        text=[prepared.prompt],
        videos=list(frames),
        video_metadata=list(meta),
        do_sample_frames=False,
        return_tensors="pt",
    )
    with torch.no_grad():
        out = engine.model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=16,
            suppress_tokens=engine._suppress,
            pad_token_id=engine._pad,
        )
    text = engine.processor.tokenizer.decode(
        [t for t in out[0, inputs["input_ids"].shape[1] :].tolist() if t != engine._pad],
        skip_special_tokens=True,
    )
    assert mine.text == text


def test_restart_is_a_no_op_and_other_settings_are_refused(
    engine: HFEngine, video_dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_rollout(_config(video_dataset, tiny_model_dir, out, limit=2, shard_size=1), engine=engine)
    before = {p: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    summary = run_rollout(_config(video_dataset, tiny_model_dir, out, limit=2, shard_size=1), engine=engine)
    assert {p: p.stat().st_mtime_ns for p in (out / "shards").iterdir()} == before
    assert summary["this_run"]["samples"] == 0 and summary["samples_done"] == 2
    with pytest.raises(RunMismatchError, match=r"sampling: was .*'n': 3.*now .*'n': 2"):
        run_rollout(
            _config(video_dataset, tiny_model_dir, out, limit=2, shard_size=1, sampling=SamplingConfig(n=2)),
            engine=engine,
        )


@pytest.mark.e2e
def test_killed_run_resumes_without_loss_or_duplicates(
    video_dataset: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """SIGKILL a real `python -m selection rollout` mid-run, restart it, compare with an uninterrupted run."""
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "selection", "rollout", "--dataset", str(video_dataset), "--model", str(tiny_model_dir),
        "--engine", "hf", "--n", str(N), "--max-tokens", "24", "--seed", "1", "--shard-size", "1",
        "--output", str(out), "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "FORCE_QWENVL_VIDEO_READER": "decord"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = shard_path(out, 0)
    deadline = time.monotonic() + 240
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted((out / "shards").glob("rollouts-*.parquet"))
    assert 1 <= len(done) < 5, f"the kill should land mid-run, found {len(done)} finished shards"
    kept_bytes = {p.name: p.read_bytes() for p in done}

    finished = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "5/5 samples" in finished.stdout
    assert {p.name: p.read_bytes() for p in done} == kept_bytes, "finished shards must not be redone"
    assert not list((out / "shards").glob(".*"))  # no temporary leftovers

    resumed = _all_rollouts(out)
    ok = resumed[resumed["error"].isna()]
    assert not ok.duplicated(["sample_id", "rollout_index"]).any()
    assert ok.groupby("sample_id").size().to_dict() == {100: N, 101: N, 104: N}

    # Per-sample seeds: the resumed run wrote exactly what an uninterrupted run writes.
    ref = tmp_path / "ref"
    cmd_ref = [*cmd[: cmd.index("--output")], "--output", str(ref), "--no-progress"]
    assert subprocess.run(cmd_ref, env=env, capture_output=True, timeout=300).returncode == 0
    cols = ["sample_id", "rollout_index", "response", "error"]
    pd.testing.assert_frame_equal(
        resumed[cols].reset_index(drop=True), _all_rollouts(ref)[cols].reset_index(drop=True)
    )


@pytest.mark.e2e
def test_ray_actor_pool_path(video_dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    """--distributed ray: engine replicas as Ray actors write the same shards as a local run."""
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    config = _config(
        video_dataset,
        tiny_model_dir,
        out,
        shard_size=2,
        distributed="ray",
        num_workers=2,
        gpus_per_worker=0.0,
    )
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_rollout(config)
    finally:
        ray.shutdown()
    assert summary["samples_done"] == 5 and summary["failed_samples"] == 2
    local = tmp_path / "local"
    run_rollout(_config(video_dataset, tiny_model_dir, local, shard_size=2))
    cols = ["sample_id", "rollout_index", "response", "error"]
    pd.testing.assert_frame_equal(
        _all_rollouts(out)[cols].reset_index(drop=True), _all_rollouts(local)[cols].reset_index(drop=True)
    )


def test_hf_engine_also_drives_qwen2_vl(tiny_qwen2_vl_dir: Path, video_dataset: Path, tmp_path: Path) -> None:
    """The other Qwen-VL family: same embed-once path (its vision tower also runs once per sample)."""
    engine = HFEngine(str(tiny_qwen2_vl_dir))
    calls: list[int] = []
    hook = engine.model.model.visual.register_forward_hook(lambda mod, args, out: calls.append(1))
    try:
        summary = run_rollout(
            _config(
                video_dataset,
                tiny_qwen2_vl_dir,
                tmp_path / "run",
                limit=2,
                sampling=SamplingConfig(n=4, max_tokens=8),
            ),
            engine=engine,
        )
    finally:
        hook.remove()
    assert len(calls) == 2 and summary["rollouts"] == 8
