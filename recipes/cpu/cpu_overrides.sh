# shellcheck shell=bash
# Overrides that run any verl 0.9.1 recipe on a CPU machine (dry run before renting GPUs).
# Source it from a launcher, then append "${VERL_CPU_OVERRIDES[@]}" after the recipe's own overrides:
#   source recipes/cpu/cpu_overrides.sh
#   python -m verl.trainer.main_ppo "${RECIPE_OVERRIDES[@]}" "${VERL_CPU_OVERRIDES[@]}" "$@"
# It exports the variables that load the CPU backend (verl_plugins/cpu/) into every verl process.
# Sizes that matter on CPU (batch, lengths) stay with the launcher: a 7B model will not fit anyway, so a
# dry run swaps in the tiny model (rlt_tools.tiny_model) and small batches.

export VERL_PLATFORM=cpu
# Modules the caller already listed (e.g. video_rewards.integrations.verl_metrics) are kept after ours.
export VERL_USE_EXTERNAL_MODULES="verl_plugins.cpu${VERL_USE_EXTERNAL_MODULES:+,$VERL_USE_EXTERNAL_MODULES}"
# qwen-vl-utils would try torchcodec first; its PyPI wheel is CUDA-linked.
export FORCE_QWENVL_VIDEO_READER="${FORCE_QWENVL_VIDEO_READER:-decord}"
export TOKENIZERS_PARALLELISM=false

VERL_CPU_OVERRIDES=(
  trainer.device=cpu
  trainer.n_gpus_per_node=1
  trainer.nnodes=1
  # Ray gets fake GPUs: verl's resource pools always ask for accelerators; each is a CPU process here.
  +ray_kwargs.ray_init.num_gpus=1
  +ray_kwargs.ray_init.num_cpus=8
  actor_rollout_ref.rollout.name=hf
  actor_rollout_ref.rollout.tensor_model_parallel_size=1
  actor_rollout_ref.rollout.agent.num_workers=1
  +actor_rollout_ref.model.override_config.attn_implementation=sdpa
  actor_rollout_ref.model.use_remove_padding=False
  actor_rollout_ref.actor.strategy=fsdp2
  actor_rollout_ref.ref.strategy=fsdp2
  actor_rollout_ref.actor.fsdp_config.use_torch_compile=False
  # FSDP's default bf16 compute is slow on CPUs and makes the actor's log-probs differ from the fp32 rollout's.
  # Measured on the learning benchmark (128 rollouts/step): update_actor 22.8 s -> 4.6 s, step 38.6 s -> 17 s.
  "+actor_rollout_ref.actor.fsdp_config.mixed_precision={param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}"
  # Offloading parameters "to CPU" is meaningless here and FSDP's offload path expects a device.
  actor_rollout_ref.actor.fsdp_config.param_offload=False
  actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
  actor_rollout_ref.ref.fsdp_config.param_offload=False
  data.dataloader_num_workers=0
  reward.num_workers=1
  # TransferQueue's default of 8 storage units hangs on 2 cores.
  transfer_queue.backend.SimpleStorage.num_data_storage_units=1
)
