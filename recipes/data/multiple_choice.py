"""Multiple-choice VideoQA (NExT-QA style) → verl parquet.

    python recipes/data/multiple_choice.py --annotations nextqa/val.csv \
        --video-root NExTVideo --output data/nextqa_val.parquet --split val [--data-source nextqa]

Input: csv, JSON list or JSONL with ``video``/``video_id``, ``question``, ``answer`` (the option's index, letter
or its text) and options ``a0``…``aN`` (or an ``options`` list).
"""

from __future__ import annotations

import sys

from video_rlt.convert import main
from video_rlt.formats import read_multiple_choice

if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="nextqa",
            reader=lambda args: read_multiple_choice(args.annotations),
        )
    )
