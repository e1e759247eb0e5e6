"""Deprecated: ``python -m video_rlt.demo`` is now ``python -m rlt_tools.demo``; this alias still runs it."""

from __future__ import annotations

import warnings
from typing import Any

import rlt_tools.demo as _moved
from rlt_tools.demo import *  # noqa: F403

warnings.warn("video_rlt.demo moved to rlt_tools.demo", DeprecationWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # Names outside the new module's __all__ (private helpers some old code reached for).
    return getattr(_moved, name)


if __name__ == "__main__":
    raise SystemExit(_moved.main())
