"""Deprecated alias of :mod:`video_decoding` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import video_decoding as _moved
from video_decoding import *  # noqa: F403

warnings.warn("selection.video moved to video_decoding", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)
