"""The whole pipeline in one command: ``python -m rlt_tools.demo`` (``make demo``).

On a CPU machine with nothing downloaded it

1. prints the reward table (``python -m video_rewards.demo``);
2. builds the tiny offline Qwen2.5-VL (:func:`rlt_tools.tiny_model.build_tiny_model`) and a handful of real mp4
   clips in which a white square is visible during a known interval;
3. writes annotation files for those clips in the public formats (Charades-STA, NExT-QA, NExT-GQA for
   training; ActivityNet Captions, NExT-QA, NExT-GQA for evaluation) and converts them with the
   converters of ``recipes/data/``;
4. runs variance-aware selection on the training pool (``python -m selection rollout`` with the ``hf``
   engine, ``score``, ``select``, ``report``);
5. runs GRPO steps of the CPU recipe (``recipes/cpu/grpo_tiny_cpu.sh`` → ``verl.trainer.main_ppo``) on the
   selected parquet;
6. writes greedy predictions of the trained checkpoint (``python -m rlt_tools.predict``) and evaluates them
   (``python -m video_rewards.evaluate``),

printing every command and where each artefact went (``./outputs/demo/`` unless ``--output-dir``).
With ``--model PATH`` on a GPU machine the same command runs the real thing: vLLM rollouts, the 8-GPU
recipe (``--recipe``), the paper's video settings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dataset_converters import VideoSettings
from rlt_tools.demo_console import run_command, say
from rlt_tools.demo_inputs import convert_all, make_videos, write_annotations
from video_rewards.evaluate import format_table

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_RECIPE = REPO_ROOT / "recipes" / "cpu" / "grpo_tiny_cpu.sh"
GPU_RECIPE = REPO_ROOT / "recipes" / "grpo_dual_reward.sh"


class DemoSettings(BaseModel):
    """What the demo runs (validated once from the command line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output_dir: Path
    model: Path | None = None  # None: the tiny offline model
    engine: Literal["hf", "vllm"] = "hf"
    recipe: Path = CPU_RECIPE
    rollouts_per_sample: int = Field(default=4, ge=2)
    grpo_steps: int | None = Field(default=2, ge=1)  # None: the recipe's own schedule (epochs)
    max_tokens: int = Field(default=64, ge=1)  # response budget of selection rollouts and predictions
    video: VideoSettings


# --------------------------------------------------------------------------------------------------------
# Stages


def run_selection(settings: DemoSettings, model: Path, pool: Path, sel_dir: Path) -> dict[str, Path]:
    """Variance-aware selection on the candidate pool, through the ``selection`` command line."""
    py = sys.executable
    out = {
        "rollouts": sel_dir / "rollouts",
        "scores": sel_dir / "scores.parquet",
        "selected": sel_dir / "selected.parquet",
        "dropped": sel_dir / "dropped.parquet",
        "report": sel_dir / "report",
    }
    logs = sel_dir / "logs"
    run_command(
        [py, "-m", "selection", "rollout", "--dataset", str(pool), "--model", str(model),
         "--engine", settings.engine, "--n", str(settings.rollouts_per_sample),
         "--max-tokens", str(settings.max_tokens), "--output", str(out["rollouts"]), "--no-progress"],
        logs / "rollout.log",
    )  # fmt: skip
    run_command(
        [py, "-m", "selection", "score", "--dataset", str(pool), "--rollouts", str(out["rollouts"]),
         "--output", str(out["scores"])],
        logs / "score.log",
    )  # fmt: skip
    run_command(
        [py, "-m", "selection", "select", "--dataset", str(pool), "--scores", str(out["scores"]),
         "--output", str(out["selected"]), "--dropped", str(out["dropped"])],
        logs / "select.log",
    )  # fmt: skip
    run_command(
        [py, "-m", "selection", "report", "--scores", str(out["scores"]), "--selection", str(out["selected"]),
         "--output", str(out["report"])],
        logs / "report.log",
    )  # fmt: skip
    import pyarrow.parquet as pq

    kept = pq.ParquetFile(out["selected"]).metadata.num_rows
    total = pq.ParquetFile(pool).metadata.num_rows
    say(
        f"  kept {kept} of {total} candidates (rewards vary across the {settings.rollouts_per_sample} rollouts)"
    )
    if kept == 0:
        raise RuntimeError(f"selection kept no sample; see {out['report']}")
    return out


def run_grpo(settings: DemoSettings, model: Path, train: Path, val: Path, grpo_dir: Path) -> Path:
    """GRPO steps of the recipe through ``verl.trainer.main_ppo``; returns the trained HF checkpoint."""
    if not settings.recipe.is_file():
        raise FileNotFoundError(
            f"recipe {settings.recipe} not found: run the demo from a checkout of the repository"
        )
    ckpt_root = grpo_dir / "checkpoints"
    env = {
        "MODEL_PATH": str(model),
        "TRAIN_FILES": str(train),
        "VAL_FILES": str(val),
        "PYTHON": sys.executable,
        # The training file is already the selection; the dataset filter keeps all of it.
        "MIN_STD": "0",
    }
    overrides = [
        f"trainer.default_local_dir={ckpt_root}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,extra,hf_model]",
        "trainer.experiment_name=demo",
    ]
    if settings.grpo_steps is not None:
        steps = settings.grpo_steps
        overrides += [
            f"trainer.total_training_steps={steps}",
            f"trainer.save_freq={steps}",
            f"trainer.test_freq={steps}",
        ]
    run_command(["bash", str(settings.recipe), *overrides], grpo_dir / "main_ppo.log", env=env)
    # verl records the last saved step here, and always saves at the last step when save_freq > 0.
    latest = ckpt_root / "latest_checkpointed_iteration.txt"
    if not latest.is_file():
        raise RuntimeError(
            f"main_ppo finished but saved no checkpoint under {ckpt_root} (trainer.save_freq?)"
        )
    hf_dir = ckpt_root / f"global_step_{int(latest.read_text().strip())}" / "actor" / "huggingface"
    if not (hf_dir / "config.json").is_file():
        raise RuntimeError(f"main_ppo finished but wrote no Hugging Face checkpoint at {hf_dir}")
    return hf_dir


def run_evaluation(
    settings: DemoSettings, model: Path, eval_set: Path, eval_dir: Path, name: str
) -> dict[str, Path]:
    """Greedy predictions of ``model`` on the evaluation set, then the metrics."""
    py = sys.executable
    predictions = eval_dir / f"predictions_{name}.jsonl"
    metrics = eval_dir / f"metrics_{name}.json"
    run_command(
        [py, "-m", "rlt_tools.predict", "--dataset", str(eval_set), "--model", str(model),
         "--engine", settings.engine, "--max-tokens", str(settings.max_tokens), "--output", str(predictions)],
        eval_dir / "logs" / f"predict_{name}.log",
    )  # fmt: skip
    run_command(
        [py, "-m", "video_rewards.evaluate", "--predictions", str(predictions), "--output", str(metrics)],
        eval_dir / "logs" / f"evaluate_{name}.log",
    )
    return {"predictions": predictions, "metrics": metrics}


MARKER = ".video_rlt_demo"
#: Stage outputs that resume when present (rollout shards, verl checkpoints): removed before a rerun so a
#: rerun never mixes in results of an earlier model or recipe.
STAGE_DIRS = ("selection", "grpo", "eval")


def prepare_output_dir(out: Path) -> None:
    """Create the output directory, or clear the stage outputs of an earlier demo run in it.

    A non-empty directory that a demo did not create is refused rather than cleared.
    """
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ValueError(f"{out} is not empty and was not created by the demo; choose another --output-dir")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("outputs of python -m rlt_tools.demo\n")
    for name in STAGE_DIRS:
        if (out / name).exists():
            shutil.rmtree(out / name)


# --------------------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> DemoSettings:
    parser = argparse.ArgumentParser(
        prog="python -m rlt_tools.demo",
        description="Convert → select → GRPO → evaluate on generated videos (CPU, no downloads by default).",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/demo"))
    parser.add_argument(
        "--model", type=Path, help="a Qwen2-VL / Qwen2.5-VL checkpoint; default: the tiny offline model"
    )
    parser.add_argument(
        "--engine", choices=["hf", "vllm"], help="rollout engine (default: hf; vllm with --model)"
    )
    parser.add_argument(
        "--recipe",
        type=Path,
        help="GRPO launcher (default: the CPU recipe; with --model recipes/grpo_dual_reward.sh, whose "
        "MODEL_CONFIG environment variable picks the model's sizes)",
    )
    parser.add_argument(
        "--rollouts-per-sample", type=int, help="selection rollouts per sample (default 4; 8 with --model)"
    )
    parser.add_argument(
        "--grpo-steps", type=int, help="GRPO steps (default 2; with --model the recipe's schedule)"
    )
    args = parser.parse_args(argv)
    real = args.model is not None
    # The tiny model's processor is built for tiny frames; a real model gets the paper's settings.
    video = (
        VideoSettings()
        if real
        else VideoSettings(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16, total_pixels=28 * 28 * 256)
    )
    return DemoSettings(
        output_dir=args.output_dir,
        model=args.model,
        engine=args.engine or ("vllm" if real else "hf"),
        recipe=args.recipe or (GPU_RECIPE if real else CPU_RECIPE),
        rollouts_per_sample=args.rollouts_per_sample or (8 if real else 4),
        grpo_steps=args.grpo_steps if args.grpo_steps is not None or real else 2,
        max_tokens=2048 if real else 64,
        video=video,
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    out = settings.output_dir.resolve()
    try:
        prepare_output_dir(out)
    except ValueError as err:
        say(f"demo failed: {err}")
        return 1
    started = time.monotonic()
    artefacts: dict[str, Path] = {}
    try:
        say("[1/6] the dual reward on typical responses (python -m video_rewards.demo)")
        log = out / "logs" / "rewards_demo.log"
        run_command([sys.executable, "-m", "video_rewards.demo"], log)
        say(log.read_text().split("\n", 1)[1].rstrip())
        artefacts["reward table"] = log

        say("[2/6] model and videos")
        if settings.model is None:
            from rlt_tools.tiny_model import build_tiny_model

            model = build_tiny_model()
            say(f"  tiny offline Qwen2.5-VL: {model}")
        else:
            model = settings.model
            say(f"  model: {model}")
        videos = make_videos(out / "videos")
        say(f"  {len(videos)} clips with a white square during known intervals: {out / 'videos'}")
        artefacts["model"], artefacts["videos"] = model, out / "videos"

        say("[3/6] annotations in public formats → verl parquet")
        files = write_annotations(out / "annotations")
        artefacts["annotations"] = out / "annotations"
        data = convert_all(files, out / "videos", out / "data", settings.video)
        artefacts["candidate pool"], artefacts["evaluation set"] = data["pool"], data["eval"]

        say("[4/6] variance-aware selection (rollout → score → select → report)")
        sel = run_selection(settings, model, data["pool"], out / "selection")
        artefacts.update({f"selection {k}": v for k, v in sel.items()})

        recipe = (
            settings.recipe.relative_to(REPO_ROOT)
            if settings.recipe.is_relative_to(REPO_ROOT)
            else settings.recipe
        )
        steps = f"{settings.grpo_steps} steps" if settings.grpo_steps is not None else "the recipe's schedule"
        say(f"[5/6] GRPO, {steps}: {recipe}")
        trained = run_grpo(settings, model, sel["selected"], data["eval"], out / "grpo")
        artefacts["trained checkpoint"] = trained

        say("[6/6] greedy predictions and metrics, before and after GRPO")
        for name, checkpoint in (("base", model), ("trained", trained)):
            ev = run_evaluation(settings, checkpoint, data["eval"], out / "eval", name)
            artefacts[f"predictions ({name})"], artefacts[f"metrics ({name})"] = (
                ev["predictions"],
                ev["metrics"],
            )
            table = format_table(json.loads(ev["metrics"].read_text()))
            say(f"  {name} model:\n    " + table.replace("\n", "\n    "))
    except (RuntimeError, OSError, ValueError) as err:
        say(f"\ndemo failed: {err}")
        return 1
    say(f"\ndone in {time.monotonic() - started:.0f} s; artefacts:")
    width = max(map(len, artefacts))
    for label, path in artefacts.items():
        say(f"  {label:<{width}}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
