"""Deprecated: ``python -m video_rlt.predict`` is now ``python -m rlt_tools.predict``; this alias still runs it."""

from __future__ import annotations

import warnings

import rlt_tools.predict as _moved

warnings.warn("video_rlt.predict moved to rlt_tools.predict", DeprecationWarning, stacklevel=2)


if __name__ == "__main__":
    raise SystemExit(_moved.main())
