"""Deprecated: ``python -m selection.video`` is now ``python -m video_decoding``; this alias still runs it."""

from __future__ import annotations

import os
import sys
import warnings

import video_decoding.__main__ as _moved

warnings.warn("python -m selection.video moved to video_decoding", DeprecationWarning, stacklevel=2)


if __name__ == "__main__":
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    sys.exit(_moved.main())
