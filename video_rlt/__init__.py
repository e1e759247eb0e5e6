"""Deprecated aliases of the old ``video_rlt.*`` paths (issue #16 split this package by what it holds).

* ``video_rlt.convert`` / ``video_rlt.formats`` → :mod:`dataset_converters` / :mod:`dataset_converters.formats`
* ``video_rlt.verl_cpu``, ``verl_dataset``, ``verl_group_filter``, ``selection_filter`` →
  :mod:`verl_plugins.cpu`, :mod:`verl_plugins.dataset`, :mod:`verl_plugins.group_filter`,
  :mod:`verl_plugins.selection_filter`
* ``video_rlt.demo``, ``predict``, ``tiny`` → :mod:`rlt_tools.demo`, :mod:`rlt_tools.predict`,
  :mod:`rlt_tools.tiny_model` + :mod:`rlt_tools.tiny_clips`

Each alias warns (``DeprecationWarning``) and re-exports the new module; ``python -m video_rlt.demo`` and
the other old commands still run the real ``main``.
"""
