"""Every launcher under ``recipes/``: the shell contract, and the verl config it builds resolves for real.

Each launcher runs under bash with ``python``/``python3``/``$PYTHON`` replaced by a recorder that writes
the argument list and environment it was given. The ``main_ppo`` overrides are then composed with verl's
own Hydra config (an unknown key fails there, as it would on the cluster), and the dataset and reward
manager classes are resolved with the same verl functions ``main_ppo`` uses.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_FILES = sorted((ROOT / "recipes").rglob("*.sh"))
# Launchers are executable scripts; the other .sh files are fragments they source (cpu_overrides.sh).
LAUNCHERS = [p for p in SHELL_FILES if p.read_text().startswith("#!")]
# One GPU launcher for every model; the model and its sizes are a config under recipes/models/.
GPU_LAUNCHER = ROOT / "recipes" / "grpo_dual_reward.sh"
MODEL_CONFIGS = sorted(p.stem for p in (ROOT / "recipes" / "models").glob("*.env"))
# The old per-model paths, kept as thin wrappers: (wrapper, the model config it selects).
OLD_LAUNCHERS = [
    (ROOT / "recipes" / m / "grpo_dual_reward.sh", m) for m in ("qwen2_5_vl_7b", "qwen2_5_vl_3b")
]
# Launchers that wrap another launcher get it as their first argument.
WRAPPED = {ROOT / "recipes" / "cpu" / "dry_run.sh": [str(GPU_LAUNCHER)]}

RECORDER = """#!/usr/bin/env bash
# Stands in for python: records one invocation (argv + the environment verl reads) and succeeds.
{ printf '%s\\0' "$@"; printf '\\1'; env -0; printf '\\2'; } >> "$RECORD_FILE"
"""


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def record_launch(
    launcher: Path, tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> list[tuple[list[str], dict[str, str]]]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in ("python", "python3", "recorded-python"):
        (bindir / name).write_text(RECORDER)
        (bindir / name).chmod(0o755)
    record = tmp_path / "record.bin"
    record.write_bytes(b"")
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RECORD_FILE": str(record),
        "PYTHON": str(bindir / "recorded-python"),
        "MODEL_PATH": "/models/some-model",
        "TRAIN_FILES": str(tmp_path / "train.parquet"),
        "VAL_FILES": str(tmp_path / "val.parquet"),
        "OUTPUT_DIR": str(tmp_path / "out"),
        **(env_extra or {}),
    }
    subprocess.run(
        ["bash", str(launcher), *extra], env=env, check=True, cwd=tmp_path, capture_output=True, timeout=60
    )
    calls = []
    for chunk in record.read_bytes().split(b"\x02"):
        if not chunk:
            continue
        args_part, env_part = chunk.split(b"\x01")
        args = [a.decode() for a in args_part.split(b"\x00")[:-1]]
        call_env = dict(kv.decode().split("=", 1) for kv in env_part.split(b"\x00") if b"=" in kv)
        calls.append((args, call_env))
    return calls


def main_ppo_call(
    launcher: Path, tmp_path: Path, *extra: str, env_extra: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    calls = [
        c
        for c in record_launch(launcher, tmp_path, *extra, env_extra=env_extra)
        if c[0][:2] == ["-m", "verl.trainer.main_ppo"]
    ]
    assert len(calls) == 1, f"{launcher.name} must run `python -m verl.trainer.main_ppo` exactly once"
    args, env = calls[0]
    return args[2:], env


def compose(overrides: list[str]) -> Any:
    import verl
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


def test_there_are_launchers() -> None:
    assert {GPU_LAUNCHER, *(w for w, _ in OLD_LAUNCHERS)} <= set(LAUNCHERS)
    assert MODEL_CONFIGS == ["qwen2_5_vl_3b", "qwen2_5_vl_7b"]
    assert ROOT / "recipes" / "cpu" / "grpo_tiny_cpu.sh" in LAUNCHERS


@pytest.mark.parametrize("path", SHELL_FILES, ids=ids(SHELL_FILES))
def test_shell_syntax(path: Path) -> None:
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("launcher", LAUNCHERS, ids=ids(LAUNCHERS))
def test_shell_contract(launcher: Path) -> None:
    text = launcher.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert lines[1].startswith("# "), "line 2 starts the header comment"
    header = "\n".join(line for line in lines[1:] if line.startswith("#"))
    assert f"recipes/{launcher.relative_to(ROOT / 'recipes')}" in header, "the header shows the exact command"
    assert "set -euo pipefail" in lines
    assert '"$@"' in text


@pytest.mark.parametrize("launcher", LAUNCHERS, ids=ids(LAUNCHERS))
def test_config_composes_and_classes_resolve(launcher: Path, tmp_path: Path) -> None:
    from verl.trainer.ppo.reward import resolve_reward_manager_cls
    from verl.utils.dataset.rl_dataset import get_dataset_class

    overrides, env = main_ppo_call(launcher, tmp_path, *WRAPPED.get(launcher, []))
    # Modules verl imports in every process (e.g. the CPU backend, a registered reward manager).
    for module in filter(None, env.get("VERL_USE_EXTERNAL_MODULES", "").split(",")):
        importlib.import_module(module.strip())
    config = compose(overrides)

    dataset_cls = get_dataset_class(config.data)
    assert dataset_cls.__module__ == "verl_plugins.dataset"
    manager_cls = resolve_reward_manager_cls(config)
    assert manager_cls.__module__.startswith("video_rewards.integrations.verl")
    custom_fn = config.reward.custom_reward_function
    if custom_fn.path is not None:
        fn_module = importlib.import_module(custom_fn.path.removeprefix("pkg://"))
        assert callable(getattr(fn_module, custom_fn.name))
    assert config.algorithm.adv_estimator == "grpo"
    assert config.data.video_key == "videos"


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_gpu_recipe_settings(model: str, tmp_path: Path) -> None:
    overrides, env = main_ppo_call(
        GPU_LAUNCHER,
        tmp_path,
        "trainer.total_epochs=3",
        "data.train_batch_size=64",
        env_extra={"MODEL_CONFIG": model},
    )
    # "$@" is passed last, so the caller's overrides win over the recipe's.
    assert overrides[-2:] == ["trainer.total_epochs=3", "data.train_batch_size=64"]
    config = compose(overrides)
    assert config.trainer.total_epochs == 3 and config.data.train_batch_size == 64
    assert config.actor_rollout_ref.model.path == "/models/some-model"
    assert config.data.train_files == str(tmp_path / "train.parquet")
    assert config.trainer.experiment_name == f"{model}_grpo_dual_reward"
    rollout, actor = config.actor_rollout_ref.rollout, config.actor_rollout_ref.actor
    assert (rollout.name, rollout.n, config.trainer.n_gpus_per_node) == ("vllm", 8, 8)
    assert actor.strategy in ("fsdp", "fsdp2")
    assert (actor.optim.lr, actor.use_kl_loss, actor.kl_loss_coef) == (1e-6, True, 1e-2)
    assert "hf_model" in actor.checkpoint.save_contents  # checkpoints are evaluable by rlt_tools.predict
    assert env["FORCE_QWENVL_VIDEO_READER"] == "decord"
    assert "VERL_PLATFORM" not in env


# The sizes of the two per-model launchers this one replaced (the paper's 7B / 3B training scripts):
# prompts per step, actor micro-batch, log-prob micro-batch, reference offload, default model.
MODEL_SIZES = {
    "qwen2_5_vl_7b": (16, 1, 2, True, "Qwen/Qwen2.5-VL-7B-Instruct"),
    "qwen2_5_vl_3b": (32, 4, 8, False, "Qwen/Qwen2.5-VL-3B-Instruct"),
}


@pytest.mark.parametrize("model", sorted(MODEL_SIZES))
def test_model_config_sets_the_sizes(model: str, tmp_path: Path) -> None:
    overrides, _ = main_ppo_call(GPU_LAUNCHER, tmp_path, env_extra={"MODEL_CONFIG": model, "MODEL_PATH": ""})
    config = compose(overrides)
    arr = config.actor_rollout_ref
    assert (
        config.data.train_batch_size,
        arr.actor.ppo_micro_batch_size_per_gpu,
        arr.rollout.log_prob_micro_batch_size_per_gpu,
        arr.ref.fsdp_config.param_offload,
        arr.model.path,
    ) == MODEL_SIZES[model]
    assert arr.actor.ppo_mini_batch_size == config.data.train_batch_size
    assert arr.ref.log_prob_micro_batch_size_per_gpu == arr.rollout.log_prob_micro_batch_size_per_gpu


def test_default_model_config_is_7b(tmp_path: Path) -> None:
    default, _ = main_ppo_call(GPU_LAUNCHER, tmp_path)
    seven, _ = main_ppo_call(GPU_LAUNCHER, tmp_path, env_extra={"MODEL_CONFIG": "qwen2_5_vl_7b"})
    assert default == seven


@pytest.mark.parametrize(("wrapper", "model"), OLD_LAUNCHERS, ids=[m for _, m in OLD_LAUNCHERS])
def test_old_launcher_paths_run_the_shared_launcher(wrapper: Path, model: str, tmp_path: Path) -> None:
    old = main_ppo_call(wrapper, tmp_path, "trainer.total_epochs=2")
    new = main_ppo_call(GPU_LAUNCHER, tmp_path, "trainer.total_epochs=2", env_extra={"MODEL_CONFIG": model})
    assert old[0] == new[0]
    assert len(wrapper.read_text().splitlines()) < 12, "a wrapper, not a second copy of the launcher"


def test_model_config_by_path(tmp_path: Path) -> None:
    own = tmp_path / "mine.env"
    own.write_text((ROOT / "recipes" / "models" / "qwen2_5_vl_3b.env").read_text().replace("=32", "=24"))
    overrides, _ = main_ppo_call(GPU_LAUNCHER, tmp_path, env_extra={"MODEL_CONFIG": str(own)})
    assert "data.train_batch_size=24" in overrides
    assert "trainer.experiment_name=mine_grpo_dual_reward" in overrides


def test_unknown_model_config_names_the_known_ones(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TRAIN_FILES": "x", "MODEL_CONFIG": "qwen9"}
    proc = subprocess.run(["bash", str(GPU_LAUNCHER)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "MODEL_CONFIG=qwen9" in proc.stderr and "qwen2_5_vl_3b.env" in proc.stderr


def test_missing_train_files_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    proc = subprocess.run(["bash", str(GPU_LAUNCHER)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "TRAIN_FILES" in proc.stderr


def test_record_roundtrip(tmp_path: Path) -> None:
    """The recorder itself: arguments with spaces and brackets arrive intact."""
    script = tmp_path / "t.sh"
    script.write_text(
        '#!/usr/bin/env bash\nset -euo pipefail\npython -m verl.trainer.main_ppo "a b" \'x=[1,2]\' "$@"\n'
    )
    args, _ = main_ppo_call(script, tmp_path, "c=d e")
    assert args == ["a b", "x=[1,2]", "c=d e"]
    assert json.dumps(args)  # plain strings
