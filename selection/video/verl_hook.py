"""Deprecated alias of :mod:`video_decoding.verl_hook` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import video_decoding.verl_hook as _moved
from video_decoding.verl_hook import *  # noqa: F403

warnings.warn("selection.video.verl_hook moved to video_decoding.verl_hook", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)
