"""Deprecated: ``python -m video_rlt.demo`` is now ``python -m rlt_tools.demo``; this alias still runs it."""

from __future__ import annotations

import warnings

import rlt_tools.demo as _moved

warnings.warn("video_rlt.demo moved to rlt_tools.demo", DeprecationWarning, stacklevel=2)


if __name__ == "__main__":
    raise SystemExit(_moved.main())
