"""Generic JSONL (custom data) → verl parquet.

    python recipes/data/jsonl.py --annotations my_data.jsonl --video-root videos \
        --output data/my_data.parquet --data-source my_data

One object per line: ``video`` (a path relative to ``--video-root``, or a video id), ``ground_truth`` in the
reward contract (``{"task": "tvg", "segment": [s, e]}``, ``{"task": "mcq", "answer": "B", "options": [...]}``,
``"segments": [[s, e], ...]`` for several gold moments; a missing ``duration`` is filled from the video, or
from ``--durations`` with ``--no-video-check``), ``question`` (the task instruction is added), or a
full ``prompt`` instead.
"""

from __future__ import annotations

import sys

from dataset_converters import main
from dataset_converters.formats import read_jsonl

if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="custom",
            reader=lambda args: read_jsonl(args.annotations),
        )
    )
