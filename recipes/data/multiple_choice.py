"""Multiple-choice VideoQA (NExT-QA style) → verl parquet.

    python recipes/data/multiple_choice.py --annotations nextqa/val.csv \
        --video-root NExTVideo --output data/nextqa_val.parquet --split val [--data-source nextqa]
    python recipes/data/multiple_choice.py --annotations nextqa/val.csv --no-video-check \
        --output data/nextqa_val.parquet --split val

Input: csv, JSON list or JSONL with ``video``/``video_id`` (an id, or a path relative to ``--video-root``
such as ``1104/4882821564.mp4``), ``question``, ``answer`` (the option's index, letter, ``(C)``, or its
text) and options ``a0``…``aN`` or an ``options`` list (bare, or already lettered ``(A) …``). Multiple-choice
rows need no duration, so ``--no-video-check`` converts them without videos or ``--durations``.
"""

from __future__ import annotations

import sys

from dataset_converters import main
from dataset_converters.formats import read_multiple_choice

if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="nextqa",
            reader=lambda args: read_multiple_choice(args.annotations),
        )
    )
