"""``python -m dataset_converters merge A.parquet B.parquet ... --output POOL.parquet``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dataset_converters.cli import merge_main

USAGE = "usage: python -m dataset_converters merge A.parquet B.parquet ... --output POOL.parquet"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] != ["merge"]:
        sys.exit(USAGE)
    return merge_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
