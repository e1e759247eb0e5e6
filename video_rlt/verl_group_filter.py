"""Deprecated alias of :mod:`verl_plugins.group_filter` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import verl_plugins.group_filter as _moved
from verl_plugins.group_filter import *  # noqa: F403

warnings.warn(
    "video_rlt.verl_group_filter moved to verl_plugins.group_filter", DeprecationWarning, stacklevel=2
)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)
