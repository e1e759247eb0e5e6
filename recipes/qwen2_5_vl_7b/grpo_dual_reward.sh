#!/usr/bin/env bash
# Kept for old commands: the shared launcher recipes/grpo_dual_reward.sh with the Qwen2.5-VL-7B config
# (recipes/models/qwen2_5_vl_7b.env). Same environment variables and overrides:
#
#   MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct TRAIN_FILES=data/selected/train.parquet \
#     bash recipes/qwen2_5_vl_7b/grpo_dual_reward.sh [hydra overrides]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL_CONFIG=qwen2_5_vl_7b exec bash "$here/../grpo_dual_reward.sh" "$@"
