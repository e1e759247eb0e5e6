"""Does the method learn? GRPO on CPU through ``verl.trainer.main_ppo`` on a synthetic video task.

    python benchmarks/learning.py --quick --out outputs/learning_quick    # one arm, one seed (≤ 10 min)
    python benchmarks/learning.py --out docs/learning                     # 3 arms × 3 seeds

What runs (every step a real command of this repository, printed to ``<out>/logs``):

1. real mp4 clips of :mod:`rlt_tools.learning_task` (a coloured square visible for whole seconds; MCQ
   colour, grounding "when", grounded QA both), fixed seeds: warm-up clips, a training pool, held-out clips;
2. the tiny offline Qwen2.5-VL (:func:`rlt_tools.tiny_model.build_tiny_model`) given a short supervised warm-up
   on the warm-up clips (:func:`rlt_tools.learning_task.warm_up`): it answers in format, above chance;
3. arms, each trained from the same warm model with the same steps and seeds:
   ``selected`` — the ``K`` pool rows with the highest reward std (``python -m selection rollout/score/
   select --top-k K``); ``random`` — ``K`` random pool rows; ``full`` — the whole pool;
4. GRPO: ``recipes/cpu/grpo_tiny_cpu.sh`` (``verl.trainer.main_ppo``, the project's reward manager and the
   training reward metrics of :mod:`video_rewards.integrations.verl_metrics`);
5. greedy held-out predictions before and after (``python -m rlt_tools.predict --engine hf``) and their
   metrics (``python -m video_rewards.evaluate``).

Writes ``result.json`` (``reward_curve`` of the first arm and seed, ``heldout`` before/after of it,
``metric_keys`` verl logged, ``arms`` with every seed's curve and before/after), ``table.md`` and
``learning_curve.png``. Held-out summary metrics, in percent: ``accuracy`` over the rows with a choice
(mcq and gqa), ``mIoU`` over the rows with a span (tvg and gqa), ``R1@0.5`` over the grounding rows (tvg).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from learning_report import constant_predictions, plot, quarter_gain, summarize, table  # noqa: E402
from learning_settings import ARMS, FULL, QUICK, Settings, with_overrides  # noqa: E402

logger = logging.getLogger("benchmarks.learning")
PY = sys.executable
#: ``--resume``: reuse every finished stage found under ``--out`` (warm model, held-out metrics, selection, runs
#: with their held-out metrics), so an interrupted full run continues where it stopped.
RESUME: list[bool] = []


def finished(path: Path) -> bool:
    return bool(RESUME) and path.is_file()


#: ``--lock FILE``: hold this ``flock`` only while a heavy command runs, so a long benchmark on a shared
#: machine lets other jobs in between its stages (``flock FILE python benchmarks/learning.py`` holds it all).
LOCK: list[Path] = []


@contextlib.contextmanager
def heavy() -> Iterator[None]:
    if not LOCK:
        yield
        return
    with LOCK[0].open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None, timeout: float = 3600) -> str:
    """Run a command, its output to ``log``; raise with the log's tail when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with heavy(), log.open("w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(
            list(cmd), stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, timeout=timeout
        )
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed (exit {proc.returncode}), log {log}:\n{text[-4000:]}")
    logger.info("  %.0fs  %s", time.monotonic() - started, " ".join(cmd[:6]))
    return text


# ---------------------------------------------------------------------------------------------- data
def build_data(s: Settings, out: Path) -> dict[str, Path]:
    from rlt_tools import learning_task as lt

    videos = out / "videos"
    warm = lt.task_rows(lt.make_clips(videos, s.n_warm, seed=101, prefix="warm"), s.tasks)
    pool = lt.task_rows(lt.make_clips(videos, s.n_pool, seed=202, prefix="pool"), s.tasks, 10_000)
    held = lt.task_rows(lt.make_clips(videos, s.n_eval, seed=303, prefix="eval"), s.tasks, 20_000)
    data = out / "data"
    return {
        "warm": lt.write_rows(warm, data / "warm.parquet"),
        "pool": lt.write_rows(pool, data / "pool.parquet"),
        "eval": lt.write_rows(held, data / "eval.parquet"),
    }


def warm_model(s: Settings, files: dict[str, Path], out: Path) -> Path:
    from rlt_tools.learning_task import read_rows, warm_up
    from rlt_tools.tiny_model import build_tiny_model

    if finished(out / "warm_model" / "config.json"):
        return out / "warm_model"
    rows = read_rows(files["warm"])
    with heavy():
        return warm_up(
            build_tiny_model(), rows, out / "warm_model", steps=s.warmup_steps, lr=s.warmup_lr, seed=0
        )


def arm_files(s: Settings, model: Path, pool: Path, out: Path) -> dict[str, Path]:
    """The training parquet of every arm (selection runs only if the ``selected`` arm is asked for)."""
    import pandas as pd

    files: dict[str, Path] = {}
    if "full" in s.arms:
        files["full"] = pool
    if "random" in s.arms:
        rows = pd.read_parquet(pool)
        files["random"] = out / "data" / "random.parquet"
        rows.iloc[sorted(random.Random(7).sample(range(len(rows)), s.subset))].to_parquet(files["random"])
    if "selected" in s.arms and finished(out / "selection" / "selected.parquet"):
        files["selected"] = out / "selection" / "selected.parquet"
    elif "selected" in s.arms:
        sel, logs = out / "selection", out / "logs"
        run([PY, "-m", "selection", "rollout", "--dataset", str(pool), "--model", str(model), "--engine", "hf",
             "--n", str(s.n), "--max-tokens", str(s.max_tokens), "--temperature", "1.0",
             "--output", str(sel / "rollouts"), "--no-progress"], logs / "selection_rollout.log")  # fmt: skip
        run([PY, "-m", "selection", "score", "--dataset", str(pool), "--rollouts", str(sel / "rollouts"),
             "--output", str(sel / "scores.parquet")], logs / "selection_score.log")  # fmt: skip
        run([PY, "-m", "selection", "select", "--dataset", str(pool), "--scores", str(sel / "scores.parquet"),
             "--top-k", str(s.subset), "--output", str(sel / "selected.parquet")],
            logs / "selection_select.log")  # fmt: skip
        files["selected"] = sel / "selected.parquet"
    return files


# ------------------------------------------------------------------------------------------- training
_STEP = re.compile(r"step:(\d+) - (.*)")


def _value(text: str) -> float:
    match = re.fullmatch(r"np\.\w+\((.*)\)", text.strip())
    try:
        return float(match.group(1) if match else text)
    except ValueError:
        return float("nan")


def step_metrics(log: str) -> dict[int, dict[str, float]]:
    """verl's console logger: one ``step:N - key:value - …`` line per step."""
    steps: dict[int, dict[str, float]] = {}
    for match in _STEP.finditer(log):
        parts = (p.split(":", 1) for p in match.group(2).strip().split(" - ") if ":" in p)
        steps[int(match.group(1))] = {k.strip(): _value(v) for k, v in parts}
    return steps


def train(
    s: Settings, model: Path, train_file: Path, eval_file: Path, run_dir: Path, seed: int
) -> tuple[Path, str]:
    """GRPO through the CPU recipe; returns the trained Hugging Face checkpoint and the console log."""
    ckpt = run_dir / "ckpt"
    env = {
        "PYTHON": PY,
        "MODEL_PATH": str(model),
        "TRAIN_FILES": str(train_file),
        "VAL_FILES": str(eval_file),
        "RAY_DEDUP_LOGS": "0",
        # verl's agent loop decodes a prompt's video once per rollout (n times a step): decode it once.
        "VIDEO_RLT_FRAME_CACHE": str(run_dir / "frame_cache"),
        # verl imports it in every process: it registers trainer.v1.trainer_mode=video_rewards.
        "VERL_USE_EXTERNAL_MODULES": "video_rewards.integrations.verl_metrics",
        "PATH": f"{Path(PY).parent}:{os.environ.get('PATH', '')}",
    }
    overrides = [
        f"trainer.total_training_steps={s.steps}", f"trainer.save_freq={s.steps}", "trainer.test_freq=-1",
        f"trainer.default_local_dir={ckpt}", "actor_rollout_ref.actor.checkpoint.save_contents=[model,extra,hf_model]",
        # The arms are already selected offline: no second filter, but the project's video loader, so the
        # agent loop reads each clip's frames from the frame cache instead of decoding it for every rollout.
        "data.custom_cls.name=VideoRLHFDataset",
        f"data.train_batch_size={s.batch}", f"data.max_response_length={s.max_tokens}", f"data.seed={seed}",
        # The synthetic prompts are ≤ 120 tokens with their video; verl pads every prompt to this length.
        "data.max_prompt_length=160",
        f"actor_rollout_ref.rollout.agent.num_workers={s.agent_workers}",
        f"actor_rollout_ref.rollout.n={s.n}", "actor_rollout_ref.rollout.temperature=1.0",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={s.mini_batch}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={s.mini_batch * s.n}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={s.batch * s.n}",
        f"actor_rollout_ref.actor.optim.lr={s.lr}",
        f"actor_rollout_ref.actor.optim.lr_warmup_steps={s.lr_warmup_steps}",
        f"actor_rollout_ref.actor.optim.lr_scheduler_type={s.lr_scheduler}",
        f"actor_rollout_ref.actor.optim.min_lr_ratio={s.lr_min_ratio}",
        "trainer.v1.trainer_mode=video_rewards", f"+trainer.reward_metrics.min_std={s.min_std}",
        f"trainer.experiment_name=learning_{run_dir.name}",
    ]  # fmt: skip
    log = run(
        ["bash", str(REPO / "recipes" / "cpu" / "grpo_tiny_cpu.sh"), *overrides],
        run_dir / "main_ppo.log",
        env,
    )
    latest = int((ckpt / "latest_checkpointed_iteration.txt").read_text().strip())
    return ckpt / f"global_step_{latest}" / "actor" / "huggingface", log


# ----------------------------------------------------------------------------------------- evaluation
def heldout(model: Path | None, eval_file: Path, out: Path, s: Settings) -> dict[str, Any]:
    """Greedy predictions + ``video_rewards.evaluate``; returns the summary and the per-source metrics.

    ``model=None``: the constant answers of :data:`learning_report.CONSTANT_ANSWERS` (no model, no video)."""
    predictions, metrics_file = out / "predictions.jsonl", out / "metrics.json"
    if finished(metrics_file):
        return read_metrics(metrics_file)
    if model is None:
        from rlt_tools.learning_task import read_rows

        constant_predictions(read_rows(eval_file), predictions)
    else:
        run([PY, "-m", "rlt_tools.predict", "--dataset", str(eval_file), "--model", str(model), "--engine", "hf",
             "--max-tokens", str(s.max_tokens), "--output", str(predictions)], out / "predict.log")  # fmt: skip
    run([PY, "-m", "video_rewards.evaluate", "--predictions", str(predictions), "--output", str(metrics_file)],
        out / "evaluate.log")  # fmt: skip
    return read_metrics(metrics_file)


def read_metrics(metrics_file: Path) -> dict[str, Any]:
    """The summary and per-source metrics of a ``video_rewards.evaluate`` output."""
    per_source = json.loads(metrics_file.read_text())
    return {"summary": summarize(per_source), "per_source": per_source}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one arm (full pool), one seed")
    parser.add_argument("--out", type=Path, default=Path("outputs/learning"))
    parser.add_argument("--arms", help=f"comma-separated subset of {','.join(ARMS)}")
    parser.add_argument("--seeds", help="comma-separated seeds (default 0 with --quick, else 0,1,2)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a scalar setting of benchmarks/learning_settings.py, e.g. steps=8 (repeatable)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="reuse the finished stages and runs under --out"
    )
    parser.add_argument("--lock", type=Path, help="flock this file around each heavy stage (shared machines)")
    args = parser.parse_args(argv)
    if args.lock:
        LOCK.append(args.lock)
    if args.resume:
        RESUME.append(True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    s = QUICK if args.quick else FULL
    try:
        if args.arms:
            s = replace(s, arms=tuple(a.strip() for a in args.arms.split(",")))
        if args.seeds:
            try:
                s = replace(s, seeds=tuple(int(x) for x in args.seeds.split(",")))
            except ValueError:
                raise ValueError(f"--seeds {args.seeds!r}: expected comma-separated integers") from None
        s = with_overrides(s, args.set)
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    timings: dict[str, float] = {}

    t = time.monotonic()
    files = build_data(s, out)
    model = warm_model(s, files, out)
    timings["data_and_warmup_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    before = heldout(model, files["eval"], out / "eval" / "before", s)
    timings["heldout_eval_s"] = round(time.monotonic() - t, 1)
    constant = heldout(None, files["eval"], out / "eval" / "constant", s)
    logger.info("before GRPO: %s; constant answers: %s", before["summary"], constant["summary"])
    t = time.monotonic()
    trains = arm_files(s, model, files["pool"], out)
    timings["selection_s"] = round(time.monotonic() - t, 1)

    import pyarrow.parquet as pq

    arms: dict[str, list[dict[str, Any]]] = {}
    metric_keys: set[str] = set()
    for arm in s.arms:
        for seed in s.seeds:
            run_dir = out / "runs" / f"{arm}_seed{seed}"
            t = time.monotonic()
            train_s: float | None = None  # None: a run trained before (--resume), its log and metrics reused
            if finished(run_dir / "eval" / "metrics.json"):
                log = (run_dir / "main_ppo.log").read_text(errors="replace")
                after = read_metrics(run_dir / "eval" / "metrics.json")
            else:
                # A run stopped half-way leaves a checkpoint verl would resume from: start it afresh.
                shutil.rmtree(run_dir, ignore_errors=True)
                trained, log = train(s, model, trains[arm], files["eval"], run_dir, seed)
                train_s = time.monotonic() - t
                after = heldout(trained, files["eval"], run_dir / "eval", s)
            steps = step_metrics(log)
            for fields in steps.values():
                metric_keys.update(fields)
            curve = [steps[k].get("critic/score/mean", float("nan")) for k in sorted(steps)]
            arms.setdefault(arm, []).append(
                {
                    "seed": seed,
                    "train_rows": pq.ParquetFile(trains[arm]).metadata.num_rows,
                    "reward_curve": curve,
                    "reward_gain_first_to_last_quarter": round(quarter_gain(curve), 4),
                    "informative_fraction": [
                        steps[k].get("reward/groups/informative_fraction", float("nan"))
                        for k in sorted(steps)
                    ],
                    "before": before["summary"],
                    "after": after["summary"],
                    "after_per_source": after["per_source"],
                    "train_seconds": None if train_s is None else round(train_s, 1),
                }
            )
            logger.info("%s seed %d: reward %s → after %s", arm, seed, curve, after["summary"])
    first = arms[s.arms[0]][0]
    result = {
        "settings": asdict(s),
        "command": " ".join(
            ["python", "benchmarks/learning.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "reward_curve": first["reward_curve"],
        "reward_gain_first_to_last_quarter": first["reward_gain_first_to_last_quarter"],
        "heldout": {"before": before["summary"], "after": first["after"]},
        "heldout_before_per_source": before["per_source"],
        "heldout_constant_answer": constant["summary"],
        "heldout_constant_answer_per_source": constant["per_source"],
        "metric_keys": sorted(metric_keys),
        "arms": arms,
        "timings": {**timings, "total_s": round(time.monotonic() - started, 1)},
    }
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "table.md").write_text(table(result))
    plot(result, out / "learning_curve.png")
    logger.info(
        "\n%s\nwrote %s (total %.0fs)", table(result), out / "result.json", time.monotonic() - started
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
