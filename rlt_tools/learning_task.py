"""A synthetic video task a tiny Qwen2.5-VL can learn on a CPU in minutes (the learning benchmark's task).

Each clip is a real H.264 mp4 (:func:`rlt_tools.tiny_clips.make_clip`, 4 s, 56×56) in which a square of one of
four colours is visible during a whole-second interval. Three questions per clip, one ``data_source`` each:

* ``synth_mcq`` — which colour? (``mcq``: ``A. red`` … ``D. yellow``)
* ``synth_tvg`` — when is the square visible? (``tvg``: ``[start, end]`` in seconds)
* ``synth_gqa`` — which colour, and when? (``gqa``: ``B [1, 3]``)

Rows are written in verl's RLHFDataset format (the same columns ``recipes/data/*.py`` write), so the same
parquet feeds ``python -m selection``, ``verl.trainer.main_ppo`` and ``python -m rlt_tools.predict``.
:func:`warm_up` gives the tiny model a short supervised start on *separate* clips: it learns the answer
format and a little of the task, so GRPO rollouts disagree — the regime in which GRPO has a signal.
Everything is seeded: the same arguments give the same clips, rows and weights.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

__all__ = [
    "COLOURS",
    "TASKS",
    "SynthClip",
    "answer_text",
    "make_clips",
    "prepare_inputs",
    "read_rows",
    "task_rows",
    "warm_up",
    "write_rows",
]

Task = Literal["mcq", "tvg", "gqa"]
TASKS: tuple[Task, ...] = ("mcq", "tvg", "gqa")
#: Option letter → (name, RGB). Saturated colours on the grey-ish gradient background of the tiny clips.
COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (230, 30, 30)),
    ("green", (30, 200, 30)),
    ("blue", (30, 60, 230)),
    ("yellow", (235, 225, 30)),
)
LETTERS = "ABCD"
OPTIONS = [f"{LETTERS[i]}. {name}" for i, (name, _) in enumerate(COLOURS)]
#: Clip length (s), encoded frame rate, frame size, and the frame rate verl samples at (8 frames).
SECONDS, CLIP_FPS, SIZE, SAMPLE_FPS = 4.0, 4.0, (56, 56), 2.0
#: Whole-second intervals: with 2 frames per temporal patch, each visual time step covers one second.
INTERVALS: tuple[tuple[float, float], ...] = (
    (0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (0.0, 2.0), (1.0, 3.0), (2.0, 4.0),
)  # fmt: skip
THINK = "<think>look</think>"
QUESTIONS: dict[str, str] = {
    "mcq": "Which colour is the square? " + " ".join(OPTIONS) + " Answer with the letter.",
    "tvg": "When is the square visible? Answer [start, end] in seconds.",
    "gqa": "Which colour is the square, and when is it visible? "
    + " ".join(OPTIONS)
    + " Answer with the letter and [start, end].",
}


@dataclass(frozen=True)
class SynthClip:
    """One generated clip: its file, the square's colour (index into :data:`COLOURS`) and interval."""

    path: Path
    colour: int
    event: tuple[float, float]


def make_clips(video_dir: Path, n: int, seed: int, prefix: str) -> list[SynthClip]:
    """Write ``n`` clips with seeded random intervals and *balanced* colours (each colour ``n/4`` times, so
    always answering one colour scores chance, 25 %: a policy cannot look better by learning the label mix).
    A file already holding the same clip (its name encodes colour and interval) is reused."""
    from rlt_tools.tiny_clips import make_clip

    rng = random.Random(seed)
    colours = [k % len(COLOURS) for k in range(n)]
    rng.shuffle(colours)
    clips = []
    for k, colour in enumerate(colours):
        event = rng.choice(INTERVALS)
        path = video_dir / f"{prefix}{k:04d}_{COLOURS[colour][0]}_{event[0]:g}-{event[1]:g}.mp4"
        if not path.is_file():
            make_clip(path, seconds=SECONDS, fps=CLIP_FPS, size=SIZE, event=event, colour=COLOURS[colour][1])
        clips.append(SynthClip(path, colour, event))
    return clips


def _span(event: tuple[float, float]) -> str:
    return f"[{event[0]:g}, {event[1]:g}]"


def answer_text(task: Task, clip: SynthClip) -> str:
    """The correct reply (what the warm-up teaches the format of).

    >>> answer_text("gqa", SynthClip(Path("c.mp4"), 1, (1.0, 3.0)))
    '<think>look</think><answer>B [1, 3]</answer>'
    """
    letter = LETTERS[clip.colour]
    body = {"mcq": letter, "tvg": _span(clip.event), "gqa": f"{letter} {_span(clip.event)}"}[task]
    return f"{THINK}<answer>{body}</answer>"


def _truth(task: Task, clip: SynthClip) -> dict[str, Any]:
    letter = LETTERS[clip.colour]
    segment = list(clip.event)
    if task == "mcq":
        return {"task": "mcq", "answer": letter, "options": OPTIONS}
    if task == "tvg":
        return {"task": "tvg", "segment": segment, "duration": SECONDS}
    return {"task": "gqa", "answer": letter, "options": OPTIONS, "segment": segment, "duration": SECONDS}


def task_rows(
    clips: Sequence[SynthClip], tasks: Sequence[Task], index_offset: int = 0
) -> list[dict[str, Any]]:
    """verl rows: one per clip, the task cycling through ``tasks`` (so a pool holds each task equally)."""
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    rows = []
    for k, clip in enumerate(clips):
        task = tasks[k % len(tasks)]
        rows.append(
            {
                "data_source": f"synth_{task}",
                "prompt": [{"role": "user", "content": "<video>" + QUESTIONS[task]}],
                "videos": [
                    {
                        "video": str(clip.path),
                        "fps": SAMPLE_FPS,
                        "min_pixels": MIN_PIXELS,
                        "max_pixels": MAX_PIXELS,
                    }
                ],
                "reward_model": {"style": "rule", "ground_truth": json.dumps(_truth(task, clip))},
                "extra_info": {
                    "index": index_offset + k,
                    "task": task,
                    "duration": SECONDS,
                    "answer": answer_text(task, clip),
                },
            }
        )
    return rows


def write_rows(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(rows)).to_parquet(path)
    return path


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a verl parquet as plain Python lists and dicts (parquet gives numpy arrays)."""
    import pandas as pd

    rows = pd.read_parquet(path).to_dict("records")
    return [json.loads(json.dumps(r, default=lambda o: o.tolist())) for r in rows]


def prepare_inputs(row: dict[str, Any], processor: Any) -> dict[str, Any]:
    """Processor outputs of a row's prompt, with its video decoded exactly as verl's rollout decodes it."""
    from selection.prompts import SampleFailure, prepare_sample

    sample = prepare_sample(row, int(row["extra_info"]["index"]), 0, processor)
    if isinstance(sample, SampleFailure):
        raise ValueError(f"row index={row['extra_info']['index']}: {sample}")
    frames = [v[0] for v in sample.videos or []]
    metadata = [v[1] for v in sample.videos or []]
    return dict(
        processor(
            text=[sample.prompt],
            videos=frames,
            video_metadata=metadata,
            do_sample_frames=False,
            return_tensors="pt",
        )
    )


def warm_up(
    base_model: Path, rows: Sequence[dict[str, Any]], out_dir: Path, *, steps: int, lr: float, seed: int
) -> Path:
    """Supervised steps (batch 8, loss on the reply) on ``rows``' correct answers; saves to ``out_dir``.

    A finished warm-up with the same recipe is reused (``warmup.json`` records it).
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    recipe = {"base": str(base_model), "rows": len(rows), "steps": steps, "lr": lr, "seed": seed}
    marker = out_dir / "warmup.json"
    if marker.is_file() and json.loads(marker.read_text()).get("recipe") == recipe:
        return out_dir
    processor = AutoProcessor.from_pretrained(base_model)
    model = AutoModelForImageTextToText.from_pretrained(base_model, dtype=torch.float32)
    tok = processor.tokenizer
    # Rows of one task have prompts and replies of equal length (same clip size, question and answer
    # shape), so a batch of one task stacks without padding: one forward per step instead of eight.
    by_task: dict[str, list[tuple[Any, Any, Any, Any]]] = {}
    for row in rows:
        inputs = prepare_inputs(row, processor)
        reply = tok(row["extra_info"]["answer"] + "<|im_end|>", return_tensors="pt")["input_ids"]
        ids = torch.cat([inputs["input_ids"], reply], dim=1)
        labels = ids.clone()
        labels[:, : inputs["input_ids"].shape[1]] = -100  # learn the reply only
        key = f"{row['extra_info']['task']}:{ids.shape[1]}"
        by_task.setdefault(key, []).append(
            (ids, labels, inputs["pixel_values_videos"], inputs["video_grid_thw"])
        )
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss_value = float("nan")
    keys = sorted(by_task)
    for _ in range(steps):
        group = by_task[rng.choice(keys)]
        batch = rng.sample(group, min(8, len(group)))
        loss = model(
            input_ids=torch.cat([b[0] for b in batch]),
            labels=torch.cat([b[1] for b in batch]),
            pixel_values_videos=torch.cat([b[2] for b in batch]),
            video_grid_thw=torch.cat([b[3] for b in batch]),
        ).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
        loss_value = float(loss.detach())
    model.eval()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    marker.write_text(json.dumps({"recipe": recipe, "final_loss": loss_value}))
    logger.info("warm-up: %d steps on %d rows, final loss %.3f → %s", steps, len(rows), loss_value, out_dir)
    return out_dir
