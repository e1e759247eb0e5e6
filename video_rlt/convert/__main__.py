"""Deprecated: ``python -m video_rlt.convert`` is now ``python -m dataset_converters``; this alias still runs it."""

from __future__ import annotations

import warnings

import dataset_converters.__main__ as _moved

warnings.warn("python -m video_rlt.convert moved to dataset_converters", DeprecationWarning, stacklevel=2)


if __name__ == "__main__":
    raise SystemExit(_moved.main())
