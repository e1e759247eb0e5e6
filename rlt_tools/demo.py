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
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dataset_converters import Annotation, ConvertConfig, Skip, VideoSettings, merge_parquets, run
from dataset_converters.formats import (
    read_activitynet_captions,
    read_charades_sta,
    read_multiple_choice,
    read_nextgqa,
)
from video_rewards.evaluate import format_table

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_RECIPE = REPO_ROOT / "recipes" / "cpu" / "grpo_tiny_cpu.sh"
GPU_RECIPE = REPO_ROOT / "recipes" / "qwen2_5_vl_7b" / "grpo_dual_reward.sh"

#: Clip length, frame rate and size of the generated videos (seconds, frames/s, pixels).
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 4.0, 8.0, (64, 48)


@dataclass(frozen=True)
class DemoClip:
    """A generated video and the interval (seconds) during which its white square is visible."""

    video_id: str
    event: tuple[float, float]
    split: Literal["train", "val"]


#: Events chosen so the multiple-choice answer ("when is the square visible?") differs across clips.
CLIPS: tuple[DemoClip, ...] = (
    DemoClip("DEMO0", (0.0, 1.0), "train"),
    DemoClip("DEMO1", (1.5, 2.5), "train"),
    DemoClip("DEMO2", (3.0, 4.0), "train"),
    DemoClip("DEMO3", (0.5, 2.0), "train"),
    DemoClip("DEMO4", (2.0, 3.5), "train"),
    DemoClip("DEMO5", (1.0, 3.0), "train"),
    DemoClip("DEMO6", (0.5, 1.5), "val"),
    DemoClip("DEMO7", (2.5, 3.5), "val"),
)

WHEN_OPTIONS = ("at the start of the video", "in the middle of the video", "at the end of the video")
WHAT_OPTIONS = ("a white square", "a red circle", "a dog", "nothing")


def when_answer(event: tuple[float, float], seconds: float = CLIP_SECONDS) -> int:
    """Index into :data:`WHEN_OPTIONS` of the third of the clip holding the event's midpoint.

    >>> when_answer((0.0, 1.0)), when_answer((1.5, 2.5)), when_answer((3.0, 4.0))
    (0, 1, 2)
    """
    middle = (event[0] + event[1]) / 2
    return min(int(3 * middle / seconds), 2)


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


def _say(text: str = "") -> None:
    # The demo's console output is its product (what ran, where things went); library code logs instead.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _run(cmd: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> None:
    """Run one pipeline command, its output going to ``log``; on failure raise with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = " ".join(shlex.quote(c) for c in cmd)
    _say(f"  $ {shown}")
    started = time.monotonic()
    with log.open("w") as fh:
        fh.write(f"$ {shown}\n")
        fh.flush()
        proc = subprocess.run(
            list(cmd), stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    _say(f"    ({time.monotonic() - started:.0f} s, log: {log})")
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(
            f"command failed with exit code {proc.returncode}: {shown}\n--- {log} (tail) ---\n{tail}"
        )


def make_videos(video_dir: Path) -> dict[str, Path]:
    """Write the demo clips (skipping ones already there)."""
    from rlt_tools.tiny_clips import make_clip

    paths = {}
    for clip in CLIPS:
        path = video_dir / f"{clip.video_id}.mp4"
        if not path.exists():
            make_clip(path, seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE, event=clip.event)
        paths[clip.video_id] = path
    return paths


def write_annotations(ann_dir: Path) -> dict[str, Path]:
    """Annotation files for the clips, each in its dataset's public format."""
    ann_dir.mkdir(parents=True, exist_ok=True)
    train = [c for c in CLIPS if c.split == "train"]
    val = [c for c in CLIPS if c.split == "val"]
    files = {
        "charades_sta_train": ann_dir / "charades_sta_train.txt",
        "nextqa_train": ann_dir / "nextqa_train.csv",
        "nextgqa_train": ann_dir / "nextgqa_train.csv",
        "gsub_train": ann_dir / "gsub_train.json",
        "activitynet_val": ann_dir / "activitynet_val_1.json",
        "nextqa_val": ann_dir / "nextqa_val.csv",
        "nextgqa_val": ann_dir / "nextgqa_val.csv",
        "gsub_val": ann_dir / "gsub_val.json",
    }
    files["charades_sta_train"].write_text(
        "".join(
            f"{c.video_id} {c.event[0]:.1f} {c.event[1]:.1f}##a white square appears in the center.\n"
            for c in train
        )
    )
    # ActivityNet Captions keys videos as v_<id>; the converter finds <id>.mp4 as well.
    files["activitynet_val"].write_text(
        json.dumps(
            {
                f"v_{c.video_id}": {
                    "duration": CLIP_SECONDS,
                    "timestamps": [list(c.event)],
                    "sentences": ["A white square is shown."],
                }
                for c in val
            },
            indent=1,
        )
    )
    header = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2\n"
    for name, clips in (("nextqa_train", train), ("nextqa_val", val)):
        files[name].write_text(
            header
            + "".join(
                f"{c.video_id},{int(CLIP_SECONDS * CLIP_FPS)},{CLIP_SIZE[0]},{CLIP_SIZE[1]},"
                f"When is the white square visible?,{when_answer(c.event)},{k},TC,{','.join(WHEN_OPTIONS)}\n"
                for k, c in enumerate(clips)
            )
        )
    # NExT-GQA: the answer column holds the option's text; segments live in the gsub file by qid.
    gqa_header = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3\n"
    for name, gsub, clips in (("nextgqa_train", "gsub_train", train), ("nextgqa_val", "gsub_val", val)):
        files[name].write_text(
            gqa_header
            + "".join(
                f"{c.video_id},{int(CLIP_SECONDS * CLIP_FPS)},{CLIP_SIZE[0]},{CLIP_SIZE[1]},"
                f"What appears in the center of the video?,{WHAT_OPTIONS[0]},{k},DO,{','.join(WHAT_OPTIONS)}\n"
                for k, c in enumerate(clips)
            )
        )
        files[gsub].write_text(
            json.dumps(
                {
                    c.video_id: {
                        "duration": CLIP_SECONDS,
                        "fps": CLIP_FPS,
                        "location": {str(k): [list(c.event)]},
                    }
                    for k, c in enumerate(clips)
                }
            )
        )
    return files


def _video_flags(video: VideoSettings) -> list[str]:
    """The converter flags that reproduce ``video`` (only those that differ from the defaults)."""
    defaults = VideoSettings().model_dump()
    return [
        f"--{key.replace('_', '-')}={value}"
        for key, value in video.model_dump().items()
        if value != defaults[key]
    ]


def convert_all(
    files: Mapping[str, Path], video_dir: Path, data_dir: Path, video: VideoSettings
) -> dict[str, Path]:
    """Convert every annotation file, then merge the training sets into one candidate pool and the
    evaluation sets into one evaluation file (index offsets keep ``extra_info.index`` unique)."""
    gsub_train, gsub_val = files["gsub_train"], files["gsub_val"]
    jobs: list[tuple[str, str, str, Path, list[str], Iterable[Annotation | Skip]]] = [
        ("train", "charades_sta", "charades_sta.py", files["charades_sta_train"], [],
         read_charades_sta(files["charades_sta_train"])),
        ("train", "nextqa", "multiple_choice.py", files["nextqa_train"], [],
         read_multiple_choice(files["nextqa_train"])),
        ("train", "nextgqa", "nextgqa.py", files["nextgqa_train"], ["--gsub", str(gsub_train)],
         read_nextgqa(files["nextgqa_train"], gsub_train)),
        ("val", "activitynet_captions", "activitynet_captions.py", files["activitynet_val"], [],
         read_activitynet_captions(files["activitynet_val"])),
        ("val", "nextqa", "multiple_choice.py", files["nextqa_val"], [], read_multiple_choice(files["nextqa_val"])),
        ("val", "nextgqa", "nextgqa.py", files["nextgqa_val"], ["--gsub", str(gsub_val)],
         read_nextgqa(files["nextgqa_val"], gsub_val)),
    ]  # fmt: skip
    parts: dict[str, list[Path]] = {"train": [], "val": []}
    out: dict[str, Path] = {}
    for k, (split, source, script, ann_file, extra, records) in enumerate(jobs):
        target = data_dir / f"{source}_{split}.parquet"
        offset = 1000 * k
        config = ConvertConfig(
            data_source=source, video_root=video_dir, split=split, video=video, index_offset=offset
        )
        cmd = [
            "python", f"recipes/data/{script}", "--annotations", str(ann_file), *extra,
            "--video-root", str(video_dir), "--output", str(target), "--split", split,
            "--data-source", source, "--index-offset", str(offset), *_video_flags(video),
        ]  # fmt: skip
        _say("  $ " + " ".join(shlex.quote(c) for c in cmd))
        # Same code path as the command line, in this process (no interpreter start-up per file).
        result = run(records, config, target)
        _say("    " + result.summary(source).replace("\n", "\n    "))
        parts[split].append(target)
        out[f"{source}_{split}"] = target
    for split, name in (("train", "pool"), ("val", "eval")):
        out[name] = data_dir / f"{name}.parquet"
        merge_parquets(parts[split], out[name])
        _say(
            f"  $ python -m dataset_converters merge {' '.join(map(str, parts[split]))} --output {out[name]}"
        )
    return out


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
    _run(
        [py, "-m", "selection", "rollout", "--dataset", str(pool), "--model", str(model),
         "--engine", settings.engine, "--n", str(settings.rollouts_per_sample),
         "--max-tokens", str(settings.max_tokens), "--output", str(out["rollouts"]), "--no-progress"],
        logs / "rollout.log",
    )  # fmt: skip
    _run(
        [py, "-m", "selection", "score", "--dataset", str(pool), "--rollouts", str(out["rollouts"]),
         "--output", str(out["scores"])],
        logs / "score.log",
    )  # fmt: skip
    _run(
        [py, "-m", "selection", "select", "--dataset", str(pool), "--scores", str(out["scores"]),
         "--output", str(out["selected"]), "--dropped", str(out["dropped"])],
        logs / "select.log",
    )  # fmt: skip
    _run(
        [py, "-m", "selection", "report", "--scores", str(out["scores"]), "--selection", str(out["selected"]),
         "--output", str(out["report"])],
        logs / "report.log",
    )  # fmt: skip
    import pyarrow.parquet as pq

    kept = pq.ParquetFile(out["selected"]).metadata.num_rows
    total = pq.ParquetFile(pool).metadata.num_rows
    _say(
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
    _run(["bash", str(settings.recipe), *overrides], grpo_dir / "main_ppo.log", env=env)
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
    _run(
        [py, "-m", "rlt_tools.predict", "--dataset", str(eval_set), "--model", str(model),
         "--engine", settings.engine, "--max-tokens", str(settings.max_tokens), "--output", str(predictions)],
        eval_dir / "logs" / f"predict_{name}.log",
    )  # fmt: skip
    _run(
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
        "--recipe", type=Path, help="GRPO launcher (default: the CPU recipe; the 7B recipe with --model)"
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
        _say(f"demo failed: {err}")
        return 1
    started = time.monotonic()
    artefacts: dict[str, Path] = {}
    try:
        _say("[1/6] the dual reward on typical responses (python -m video_rewards.demo)")
        log = out / "logs" / "rewards_demo.log"
        _run([sys.executable, "-m", "video_rewards.demo"], log)
        _say(log.read_text().split("\n", 1)[1].rstrip())
        artefacts["reward table"] = log

        _say("[2/6] model and videos")
        if settings.model is None:
            from rlt_tools.tiny_model import build_tiny_model

            model = build_tiny_model()
            _say(f"  tiny offline Qwen2.5-VL: {model}")
        else:
            model = settings.model
            _say(f"  model: {model}")
        videos = make_videos(out / "videos")
        _say(f"  {len(videos)} clips with a white square during known intervals: {out / 'videos'}")
        artefacts["model"], artefacts["videos"] = model, out / "videos"

        _say("[3/6] annotations in public formats → verl parquet")
        files = write_annotations(out / "annotations")
        artefacts["annotations"] = out / "annotations"
        data = convert_all(files, out / "videos", out / "data", settings.video)
        artefacts["candidate pool"], artefacts["evaluation set"] = data["pool"], data["eval"]

        _say("[4/6] variance-aware selection (rollout → score → select → report)")
        sel = run_selection(settings, model, data["pool"], out / "selection")
        artefacts.update({f"selection {k}": v for k, v in sel.items()})

        recipe = (
            settings.recipe.relative_to(REPO_ROOT)
            if settings.recipe.is_relative_to(REPO_ROOT)
            else settings.recipe
        )
        steps = f"{settings.grpo_steps} steps" if settings.grpo_steps is not None else "the recipe's schedule"
        _say(f"[5/6] GRPO, {steps}: {recipe}")
        trained = run_grpo(settings, model, sel["selected"], data["eval"], out / "grpo")
        artefacts["trained checkpoint"] = trained

        _say("[6/6] greedy predictions and metrics, before and after GRPO")
        for name, checkpoint in (("base", model), ("trained", trained)):
            ev = run_evaluation(settings, checkpoint, data["eval"], out / "eval", name)
            artefacts[f"predictions ({name})"], artefacts[f"metrics ({name})"] = (
                ev["predictions"],
                ev["metrics"],
            )
            table = format_table(json.loads(ev["metrics"].read_text()))
            _say(f"  {name} model:\n    " + table.replace("\n", "\n    "))
    except (RuntimeError, OSError, ValueError) as err:
        _say(f"\ndemo failed: {err}")
        return 1
    _say(f"\ndone in {time.monotonic() - started:.0f} s; artefacts:")
    width = max(map(len, artefacts))
    for label, path in artefacts.items():
        _say(f"  {label:<{width}}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
