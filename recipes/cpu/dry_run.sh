#!/usr/bin/env bash
# Dry-run any verl launcher of this repo on a CPU machine before renting GPUs: same recipe, same reward
# manager, dataset filter and video pipeline, but the tiny offline model, tiny batches and 2 steps.
#
#   TRAIN_FILES=data/selected/train.parquet \
#     bash recipes/cpu/dry_run.sh recipes/grpo_dual_reward.sh [extra hydra overrides]
#   (MODEL_CONFIG=qwen2_5_vl_3b picks the 3B sizes of the GPU launcher, as on GPUs.)
#
# The launcher's own overrides come first; the CPU backend's (cpu_overrides.sh), then the dry-run sizes
# below, then yours: with Hydra the last value of a key wins. MODEL_PATH defaults to the tiny model.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
launcher="${1:?usage: dry_run.sh <launcher.sh> [hydra overrides]}"
shift
PYTHON="${PYTHON:-python}"
export PYTHON
MODEL_PATH="${MODEL_PATH:-$("$PYTHON" -c 'from rlt_tools.tiny_model import build_tiny_model; print(build_tiny_model())')}"
export MODEL_PATH

# shellcheck source=recipes/cpu/cpu_overrides.sh
source "$here/cpu_overrides.sh"

DRY_RUN_SIZES=(
  data.train_batch_size=2
  data.max_prompt_length=1024
  data.max_response_length=32
  actor_rollout_ref.actor.ppo_mini_batch_size=2
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2
  actor_rollout_ref.rollout.n=2
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2
  trainer.total_training_steps=2
  trainer.test_freq=2
  trainer.save_freq=-1
  trainer.val_before_train=False
  trainer.logger='[console]'
)

exec bash "$launcher" "${VERL_CPU_OVERRIDES[@]}" "${DRY_RUN_SIZES[@]}" "$@"
