"""``python -m video_rlt.convert merge A.parquet B.parquet ... --output POOL.parquet``."""

from __future__ import annotations

import sys

from video_rlt.convert.cli import merge_main

if __name__ == "__main__":
    if sys.argv[1:2] != ["merge"]:
        sys.exit("usage: python -m video_rlt.convert merge A.parquet B.parquet ... --output POOL.parquet")
    sys.exit(merge_main(sys.argv[2:]))
