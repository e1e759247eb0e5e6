"""The learning benchmark's settings: one frozen record per run, the ``--quick`` and full presets, ``--set``.

Every number here was chosen by a measurement (README "Does it learn?" and the comments below); a run's
``result.json`` records the settings it ran with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

from rlt_tools.learning_task import Task

ARMS = ("selected", "random", "full")
SCHEDULERS = ("constant", "cosine")


@dataclass(frozen=True)
class Settings:
    """One benchmark run; ``--quick`` and the full run differ only in these numbers."""

    arms: tuple[str, ...]
    seeds: tuple[int, ...]
    n_warm: int
    n_pool: int
    n_eval: int
    subset: int  # K rows of the selected and random arms
    warmup_steps: int
    warmup_lr: float
    steps: int
    batch: int
    n: int
    lr: float
    min_std: float
    # Prompts per PPO update (batch / mini_batch optimizer steps per GRPO step). Measured on --quick with 8
    # (two updates a step): training reward +0.075 and held-out mIoU 57.3, against +0.098 and 71.9 with 16.
    mini_batch: int = 16
    # verl agent-loop worker processes; 2 measured slower on 2 cores (step ≈ 21 s vs 18 s: they compete with
    # the rollout server).
    agent_workers: int = 1
    max_tokens: int = 24
    # GRPO steps over which verl ramps the actor lr up from 0 (the first update moves no weight but fills
    # Adam's moments). Without it Adam's first update is lr·sign(g) on every weight: it cost reward in 7 of 9
    # runs (0.75 -> 0.64 on --quick) and the greedy policy ended on one constant span in 5 of 9 (measured).
    lr_warmup_steps: int = 0
    # verl's lr schedule after the ramp: "constant", or "cosine" down to lr · lr_min_ratio at the last step.
    lr_scheduler: Literal["constant", "cosine"] = "constant"
    lr_min_ratio: float = 0.0
    # Tasks of the warm-up, the GRPO pool and the held-out set.
    tasks: tuple[Task, ...] = ("mcq", "tvg", "gqa")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.arms) - set(ARMS))
        if unknown:
            raise ValueError(f"unknown arm(s) {unknown}; known: {', '.join(ARMS)}")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"lr_scheduler {self.lr_scheduler!r}: expected one of {', '.join(SCHEDULERS)}")


# Measured choices (README "Does it learn?"). The task is grounding ("when", the continuous temporal IoU
# reward): after a short warm-up the tiny model answers in format and its samples disagree, and GRPO moves it
# within minutes. The colour (MCQ) part stayed at chance under GRPO at this scale and the model confused the
# mcq and gqa prompts (measured). A 400-step warm-up on 96 clips at lr 1e-3 (250 steps: GRPO learned a
# constant span, held-out R1@0.5 43.8 -> 28.1); a batch is the whole 16-row training set (its reward curve is
# not dominated by which rows a step drew); lr 1e-3 after a 4-step ramp (2e-3: collapse to one span by step 9).
QUICK = Settings(
    arms=("full",), seeds=(0,), n_warm=96, n_pool=16, n_eval=64, subset=16,
    warmup_steps=400, warmup_lr=1e-3, steps=20, batch=16, n=8, lr=1e-3, min_std=0.1,
    lr_warmup_steps=4, tasks=("tvg",),
)  # fmt: skip
# Full: a 48-row pool; the selected and random arms train on 16 of its rows, the full arm on all 48, with the
# same steps, batch size and seeds. Batches of 16 prompts as in --quick (a subset arm sees its 16 rows every
# step): with batches of 8 (≈ 9 s a step instead of 15 s) no run's greedy policy read the video (held-out
# mIoU 35.9-47.4 in four runs, 39.8 before). A run of 16 steps took 346-386 s alone on 2 cores (+ 17 s of
# held-out evaluation): nine ≈ 59 min, at the 60-minute budget.
FULL = Settings(
    arms=ARMS, seeds=(0, 1, 2), n_warm=96, n_pool=48, n_eval=64, subset=16,
    warmup_steps=400, warmup_lr=1e-3, steps=16, batch=16, n=8, lr=1e-3, min_std=0.1,
    lr_warmup_steps=4, tasks=("tvg",),
)  # fmt: skip


def with_overrides(s: Settings, items: Sequence[str]) -> Settings:
    """``--set FIELD=VALUE`` items applied in order, each value typed like the scalar field it replaces.

    >>> with_overrides(QUICK, ["lr=5e-4", "steps=8"]).lr, with_overrides(QUICK, ["steps=8"]).steps
    (0.0005, 8)
    """
    for item in items:
        field, _, value = item.partition("=")
        fields = asdict(s)
        scalar = [k for k, v in fields.items() if isinstance(v, int | float | str)]
        if field not in scalar or not value:
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(scalar)}")
        kind = type(fields[field])
        try:
            s = replace(s, **{field: kind(value)})
        except ValueError as exc:
            raise ValueError(f"--set {item!r}: {exc}") from exc
    return s
