#!/usr/bin/env bash
# Kept for old commands: the shared launcher recipes/grpo_dual_reward.sh with the Qwen2.5-VL-3B config
# (recipes/models/qwen2_5_vl_3b.env). Same environment variables and overrides:
#
#   MODEL_PATH=/models/Qwen2.5-VL-3B-Instruct TRAIN_FILES=data/selected/train.parquet \
#     bash recipes/qwen2_5_vl_3b/grpo_dual_reward.sh [hydra overrides]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODEL_CONFIG=qwen2_5_vl_3b exec bash "$here/../grpo_dual_reward.sh" "$@"
