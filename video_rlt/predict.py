"""Deprecated: ``python -m video_rlt.predict`` is now ``python -m rlt_tools.predict``; this alias still runs it."""

from __future__ import annotations

import warnings
from typing import Any

import rlt_tools.predict as _moved
from rlt_tools.predict import *  # noqa: F403

warnings.warn("video_rlt.predict moved to rlt_tools.predict", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)


if __name__ == "__main__":
    raise SystemExit(_moved.main())
