"""Deprecated aliases of the old ``video_rlt.*`` paths (issue #16 split this package by what it holds).

* ``video_rlt.convert`` / ``video_rlt.formats`` → :mod:`dataset_converters` / :mod:`dataset_converters.formats`
* ``video_rlt.verl_cpu``, ``verl_dataset``, ``verl_group_filter``, ``selection_filter`` →
  :mod:`verl_plugins.cpu`, :mod:`verl_plugins.dataset`, :mod:`verl_plugins.group_filter`,
  :mod:`verl_plugins.selection_filter`
* ``video_rlt.demo``, ``predict``, ``tiny`` → :mod:`rlt_tools.demo`, :mod:`rlt_tools.predict`,
  :mod:`rlt_tools.tiny_model` + :mod:`rlt_tools.tiny_clips`; ``from video_rlt import learning_task`` →
  :mod:`rlt_tools.learning_task`

Each alias warns (``DeprecationWarning``) and re-exports the new module; ``python -m video_rlt.demo`` and
the other old commands still run the real ``main``.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

# Moved modules without an alias file: a file at the old path would hide the move from git's rename
# detection while the module is still being edited elsewhere. ``from video_rlt import learning_task`` works.
_MOVED_WITHOUT_FILE = {"learning_task": "rlt_tools.learning_task"}


def __getattr__(name: str) -> ModuleType:
    new = _MOVED_WITHOUT_FILE.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"video_rlt.{name} moved to {new}", DeprecationWarning, stacklevel=2)
    return importlib.import_module(new)
