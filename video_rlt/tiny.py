"""Deprecated alias of :mod:`rlt_tools.tiny_model` and :mod:`rlt_tools.tiny_clips` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import rlt_tools.tiny_clips as _moved1
import rlt_tools.tiny_model as _moved0
from rlt_tools.tiny_clips import *  # noqa: F403
from rlt_tools.tiny_model import *  # noqa: F403

warnings.warn(
    "video_rlt.tiny moved to rlt_tools.tiny_model and rlt_tools.tiny_clips", DeprecationWarning, stacklevel=2
)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    for module in (_moved0, _moved1):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
