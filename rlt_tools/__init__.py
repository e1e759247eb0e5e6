"""Command-line tools around the pipeline, run with ``python -m rlt_tools.<tool>``.

* :mod:`rlt_tools.demo`: the whole pipeline on generated data (``make demo``);
* :mod:`rlt_tools.predict`: greedy predictions of a checkpoint on a converted dataset (input of
  ``python -m video_rewards.evaluate``);
* :mod:`rlt_tools.tiny_model` / :mod:`rlt_tools.tiny_clips`: the tiny offline Qwen-VL and real mp4 clips that
  tests, the demo and the benchmarks use;
* :mod:`rlt_tools.learning_task`: the learning benchmark's synthetic task and warm-up.
"""
