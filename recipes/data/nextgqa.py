"""NExT-GQA → verl parquet (grounded VideoQA: answer letter + supporting segment).

    python recipes/data/nextgqa.py --annotations nextgqa/test.csv --gsub nextgqa/gsub_test.json \
        --video-root NExTVideo --output data/nextgqa_test.parquet --split test

``--multi-segment`` chooses what a question with several annotated segments becomes: ``span`` (default,
the segment covering them all), ``first``, or ``skip``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_rlt.convert import main
from video_rlt.formats import read_nextgqa


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gsub", type=Path, required=True, help="gsub_{val,test}.json: segments per video and qid"
    )
    parser.add_argument("--multi-segment", choices=["span", "first", "skip"], default="span")


if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="nextgqa",
            reader=lambda args: read_nextgqa(args.annotations, args.gsub, args.multi_segment),
            add_arguments=_arguments,
        )
    )
