#!/usr/bin/env bash
# GRPO with the dual (semantic + temporal + format) reward on variance-selected data: one launcher for every
# model, 1 node x 8 GPUs, FSDP actor, vLLM rollout, 8 rollouts per prompt. The model and its sizes come
# from a small config, recipes/models/<MODEL_CONFIG>.env (qwen2_5_vl_7b by default, or qwen2_5_vl_3b,
# or the path of your own file):
#
#   MODEL_CONFIG=qwen2_5_vl_7b MODEL_PATH=/models/Qwen2.5-VL-7B-Instruct \
#   TRAIN_FILES=data/selected/train.parquet VAL_FILES=data/charades_sta_test.parquet \
#     bash recipes/grpo_dual_reward.sh [hydra overrides, e.g. trainer.total_epochs=2]
#
# TRAIN_FILES is the parquet written by `python -m selection select` (or by recipes/data/*.py, unselected).
# Settings follow the paper's released training scripts (Temporal-R1 on EasyR1): 8 rollouts per prompt at
# temperature 1.0, lr 1e-6, weight decay 1e-2, low-variance KL loss with coefficient 1e-2, entropy bonus
# 1e-3, gradient clipping 1.0, responses up to 2048 tokens; prompts per step and micro-batches per model.
# Video sampling (fps, frame cap, pixel budget) is stored in each row by the converters
# (recipes/data/*.py --fps/--max-frames/--total-pixels). Prompts may hold 4096 tokens: the converters'
# default budget (--total-pixels 1605632) is up to 2048 visual tokens per video (one per 28x28 pixels),
# plus the instruction. Everything can be overridden on the command line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

MODEL_CONFIG="${MODEL_CONFIG:-qwen2_5_vl_7b}"
config_file="$MODEL_CONFIG"
[[ -f "$config_file" ]] || config_file="$here/models/$MODEL_CONFIG.env"
if [[ ! -f "$config_file" ]]; then
    echo "MODEL_CONFIG=$MODEL_CONFIG: no such model config; known: $(cd "$here/models" && ls -- *.env)" >&2
    exit 2
fi
# shellcheck source=recipes/models/qwen2_5_vl_7b.env
source "$config_file"
model_name="$(basename "$config_file" .env)"

MODEL_PATH="${MODEL_PATH:-$DEFAULT_MODEL_PATH}"
TRAIN_FILES="${TRAIN_FILES:?set TRAIN_FILES to the selected training parquet}"
VAL_FILES="${VAL_FILES:-$TRAIN_FILES}"
N_GPUS="${N_GPUS:-8}"
NNODES="${NNODES:-1}"
EXPERIMENT="${EXPERIMENT:-${model_name}_grpo_dual_reward}"
PYTHON="${PYTHON:-python3}"
# qwen-vl-utils tries torchcodec first; decord is the reader this project tests.
export FORCE_QWENVL_VIDEO_READER="${FORCE_QWENVL_VIDEO_READER:-decord}"

"$PYTHON" -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.use_kl_in_reward=False \
    data.train_files="$TRAIN_FILES" \
    data.val_files="$VAL_FILES" \
    data.train_batch_size="$PROMPTS_PER_STEP" \
    data.max_prompt_length=4096 \
    data.max_response_length=2048 \
    data.filter_overlong_prompts=False \
    data.truncation=error \
    data.video_key=videos \
    data.custom_cls.path=pkg://verl_plugins.dataset \
    data.custom_cls.name=SelectedVideoDataset \
    actor_rollout_ref.model.path="$MODEL_PATH" \
    actor_rollout_ref.model.use_remove_padding=True \
    actor_rollout_ref.model.enable_gradient_checkpointing=True \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.optim.weight_decay=1e-2 \
    actor_rollout_ref.actor.ppo_mini_batch_size="$PROMPTS_PER_STEP" \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$ACTOR_MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.actor.use_kl_loss=True \
    actor_rollout_ref.actor.kl_loss_coef=1e-2 \
    actor_rollout_ref.actor.kl_loss_type=low_var_kl \
    actor_rollout_ref.actor.entropy_coeff=1e-3 \
    actor_rollout_ref.actor.grad_clip=1.0 \
    actor_rollout_ref.actor.fsdp_config.param_offload=False \
    actor_rollout_ref.actor.fsdp_config.optimizer_offload=False \
    actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model] \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.temperature=1.0 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
    actor_rollout_ref.rollout.enable_chunked_prefill=False \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu="$LOG_PROB_MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu="$LOG_PROB_MICRO_BATCH_PER_GPU" \
    actor_rollout_ref.ref.fsdp_config.param_offload="$REF_PARAM_OFFLOAD" \
    reward.reward_manager.source=importlib \
    reward.reward_manager.module.path=pkg://video_rewards.integrations.verl \
    reward.reward_manager.name=VideoRewardManager \
    trainer.n_gpus_per_node="$N_GPUS" \
    trainer.nnodes="$NNODES" \
    trainer.project_name=video-rlt \
    trainer.experiment_name="$EXPERIMENT" \
    trainer.logger='[console,wandb]' \
    trainer.val_before_train=False \
    trainer.test_freq=50 \
    trainer.save_freq=50 \
    trainer.total_epochs=1 \
    "$@"
