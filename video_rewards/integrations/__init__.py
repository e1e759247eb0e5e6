"""Adapters between :mod:`video_rewards` and RL stacks; each imports its stack lazily on its own import.

* :mod:`video_rewards.integrations.verl`: ``VideoRewardManager`` for verl 0.9.1's reward loop.
* :mod:`video_rewards.integrations.trl`: reward functions for TRL's ``GRPOTrainer``.
"""
