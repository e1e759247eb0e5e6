"""Plug-ins that verl 0.9.1 loads by name: everything here is imported by verl, never the other way round.

* :mod:`verl_plugins.dataset`: ``data.custom_cls.path=pkg://verl_plugins.dataset`` (``SelectedVideoDataset``:
  the selection filter over verl's ``RLHFDataset``, videos decoded by :mod:`video_decoding`);
* :mod:`verl_plugins.selection_filter` and :mod:`verl_plugins.selection_filter_config`: the verl-free
  row rules that dataset applies;
* :mod:`verl_plugins.group_filter`: the online GRPO group filter (``trainer.v1.sampler.custom_sampler``);
* :mod:`verl_plugins.cpu`: the CPU platform + ``rollout.name=hf`` (``VERL_USE_EXTERNAL_MODULES=verl_plugins.cpu``).

The reward side of verl (reward manager, training-time metrics) lives with the rewards, in
:mod:`video_rewards.integrations`, so that the light reward package installs alone.
"""
