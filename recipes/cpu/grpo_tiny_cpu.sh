#!/usr/bin/env bash
# GRPO on CPU with the tiny offline Qwen2.5-VL: the recipe the end-to-end test runs, and a dry run of the
# GPU recipes' wiring (reward manager, dataset filter, video inputs) on a laptop.
#
#   TRAIN_FILES=data/train.parquet bash recipes/cpu/grpo_tiny_cpu.sh trainer.total_training_steps=2
#
# TRAIN_FILES / VAL_FILES: verl parquet(s) written by `python -m selection select` (sel_* columns).
# MODEL_PATH: defaults to the tiny model built offline by rlt_tools.tiny_model (cached).
# Any extra argument is a Hydra override passed to verl.trainer.main_ppo (they come last and win).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
: "${TRAIN_FILES:?set TRAIN_FILES to a verl parquet with selection columns}"
VAL_FILES="${VAL_FILES:-$TRAIN_FILES}"
MODEL_PATH="${MODEL_PATH:-$("$PYTHON" -c 'from rlt_tools.tiny_model import build_tiny_model; print(build_tiny_model())')}"
MIN_STD="${MIN_STD:-0.1}"

# shellcheck source=recipes/cpu/cpu_overrides.sh
source "$here/cpu_overrides.sh"

exec "$PYTHON" -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files="$TRAIN_FILES" \
  data.val_files="$VAL_FILES" \
  data.video_key=videos \
  data.train_batch_size=2 \
  data.max_prompt_length=512 \
  data.max_response_length=32 \
  data.filter_overlong_prompts=False \
  data.custom_cls.path=pkg://verl_plugins.dataset \
  data.custom_cls.name=SelectedVideoDataset \
  +data.selection.min_std="$MIN_STD" \
  actor_rollout_ref.model.path="$MODEL_PATH" \
  actor_rollout_ref.actor.ppo_mini_batch_size=2 \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2 \
  actor_rollout_ref.actor.use_kl_loss=False \
  actor_rollout_ref.rollout.n=2 \
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2 \
  reward.reward_manager.source=importlib \
  reward.reward_manager.module.path=pkg://video_rewards.integrations.verl \
  reward.reward_manager.name=VideoRewardManager \
  trainer.logger='[console]' \
  trainer.val_before_train=False \
  trainer.test_freq=2 \
  trainer.save_freq=-1 \
  trainer.total_training_steps=2 \
  trainer.project_name=video_rlt \
  trainer.experiment_name=grpo_tiny_cpu \
  "${VERL_CPU_OVERRIDES[@]}" \
  "$@"
