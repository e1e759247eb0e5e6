"""Deprecated alias of :mod:`dataset_converters.formats` (moved by the layout change, issue #16); import that instead."""

from __future__ import annotations

import warnings
from typing import Any

import dataset_converters.formats as _moved
from dataset_converters.formats import *  # noqa: F403

warnings.warn("video_rlt.formats moved to dataset_converters.formats", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)
