"""Every GPU launcher under recipes/ composes, with the CPU overrides, into a config verl accepts and that
uses this project's reward manager, dataset filter and the CPU backend.

Hydra only (``--cfg job``), no training; recipes/cpu/grpo_tiny_cpu.sh itself is run by the e2e test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GPU_LAUNCHER = REPO / "recipes" / "grpo_dual_reward.sh"
MODEL_CONFIGS = sorted(p.stem for p in (REPO / "recipes" / "models").glob("*.env"))


def compose(cmd: list[str], tmp_path: Path, env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "TRAIN_FILES": str(tmp_path / "train.parquet"),
        **(env_extra or {}),
    }
    proc = subprocess.run(
        ["bash", *cmd, "--cfg", "job"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    config: dict[str, Any] = yaml.safe_load(proc.stdout)
    return config


def assert_project_pieces(config: dict[str, Any]) -> None:
    manager = config["reward"]["reward_manager"]
    assert (manager["source"], manager["module"]["path"], manager["name"]) == (
        "importlib",
        "pkg://video_rewards.integrations.verl",
        "VideoRewardManager",
    )
    assert config["data"]["custom_cls"] == {
        "path": "pkg://verl_plugins.dataset",
        "name": "SelectedVideoDataset",
    }


def assert_cpu(config: dict[str, Any]) -> None:
    assert config["trainer"]["device"] == "cpu" and config["trainer"]["n_gpus_per_node"] == 1
    assert config["actor_rollout_ref"]["rollout"]["name"] == "hf"
    assert config["actor_rollout_ref"]["model"]["use_remove_padding"] is False


@pytest.mark.slow
@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_gpu_launcher_dry_runs_on_cpu(model: str, tmp_path: Path) -> None:
    config = compose(
        [str(REPO / "recipes/cpu/dry_run.sh"), str(GPU_LAUNCHER)], tmp_path, {"MODEL_CONFIG": model}
    )
    assert_project_pieces(config)
    assert_cpu(config)
    assert config["data"]["train_batch_size"] == 2 and config["trainer"]["total_training_steps"] == 2
