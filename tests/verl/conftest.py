"""Fixtures for the verl integration tests: a verl parquet of real tiny video samples of every task."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Six rows, two per task, each with a distinct ground truth (so a rollout can be traced back to its row).
# `sel_reward_std` decides the selection: with min_std=0.1 rows 3 and 5 are dropped as low_std.
SELECTED_ROWS: list[dict[str, Any]] = [
    {
        "task": "mcq",
        "std": 0.30,
        "gt": {"task": "mcq", "answer": "B", "options": ["A. cup", "B. box", "C. dog"]},
    },
    {"task": "tvg", "std": 0.25, "gt": {"task": "tvg", "segment": [1.0, 2.5], "duration": 4.0}},
    {
        "task": "gqa",
        "std": 0.20,
        "gt": {
            "task": "gqa",
            "answer": "A",
            "options": ["A. a square", "B. a ball"],
            "segment": [1.0, 2.5],
            "duration": 4.0,
        },
    },
    {
        "task": "mcq",
        "std": 0.00,
        "gt": {"task": "mcq", "answer": "C", "options": ["A. red", "B. blue", "C. white"]},
    },
    {"task": "tvg", "std": 0.40, "gt": {"task": "tvg", "segment": [0.5, 3.0], "duration": 4.0}},
    {
        "task": "gqa",
        "std": 0.05,
        "gt": {
            "task": "gqa",
            "answer": "B",
            "options": ["A. left", "B. right"],
            "segment": [2.0, 3.5],
            "duration": 4.0,
        },
    },
]
MIN_STD = 0.1
KEPT_ROWS = [i for i, r in enumerate(SELECTED_ROWS) if r["std"] >= MIN_STD]

QUESTIONS = {
    "mcq": "What is shown? Options: {options}. Think in <think></think>, answer with the letter in <answer></answer>.",
    "tvg": "When does the white square appear? Answer [start, end] in seconds in <answer></answer>.",
    "gqa": "What appears, and when? Options: {options}. Answer as JSON in <answer></answer>.",
}


def verl_row(i: int, spec: dict[str, Any], video: Path) -> dict[str, Any]:
    """One row in verl's RLHFDataset format with the selection columns attached."""
    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS

    gt = spec["gt"]
    question = QUESTIONS[spec["task"]].format(options="; ".join(gt.get("options", [])))
    return {
        "data_source": f"tiny_{spec['task']}",
        "prompt": [{"role": "user", "content": "<video>" + question}],
        "videos": [{"video": str(video), "fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}],
        "reward_model": {"style": "rule", "ground_truth": json.dumps(gt)},
        "extra_info": {"index": i, "task": spec["task"], "duration": 4.0},
        "sel_reward_std": spec["std"],
        "sel_reward_mean": 0.5,
        "sel_pass_rate": 0.5,
        "sel_n": 4,
        "sel_keep_reason": "reward_std>=0.1",
    }


@pytest.fixture(scope="session")
def selected_parquet(tmp_path_factory: pytest.TempPathFactory, clip_factory: Callable[..., Path]) -> Path:
    """A verl parquet of 6 real-video rows (mcq, tvg, gqa) with selection score columns."""
    import pandas as pd

    clips = [clip_factory(f"verl_clip{k}", seconds=4.0, fps=8.0, event=(1.0, 2.5)) for k in range(3)]
    rows = [verl_row(i, spec, clips[i % 3]) for i, spec in enumerate(SELECTED_ROWS)]
    path = tmp_path_factory.mktemp("verl_data") / "selected.parquet"
    pd.DataFrame(rows).to_parquet(path)
    return path


@pytest.fixture(scope="session")
def verl_config_factory(tiny_model_dir: Path) -> Callable[..., Any]:
    """``verl_config_factory(*overrides)``: verl 0.9.1's own ``ppo_trainer`` config, composed by Hydra."""
    from hydra import compose, initialize_config_module

    def factory(*overrides: str) -> Any:
        with initialize_config_module(config_module="verl.trainer.config", version_base=None):
            return compose(
                "ppo_trainer", overrides=[f"actor_rollout_ref.model.path={tiny_model_dir}", *overrides]
            )

    return factory


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from verl.utils import hf_tokenizer

    return hf_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="session")
def tiny_processor(tiny_model_dir: Path) -> Any:
    from verl.utils import hf_processor

    return hf_processor(str(tiny_model_dir))
