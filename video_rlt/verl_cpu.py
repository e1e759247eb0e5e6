"""Deprecated alias of :mod:`verl_plugins.cpu` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import verl_plugins.cpu as _moved
from verl_plugins.cpu import *  # noqa: F403

warnings.warn("video_rlt.verl_cpu moved to verl_plugins.cpu", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)
