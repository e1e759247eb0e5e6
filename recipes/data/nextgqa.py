"""NExT-GQA → verl parquet (grounded VideoQA: answer letter + supporting moment).

    python recipes/data/nextgqa.py --annotations nextgqa/test.csv --gsub nextgqa/gsub_test.json \
        --video-root NExTVideo --output data/nextgqa_test.parquet --split test
    python recipes/data/nextgqa.py --annotations videochat_r1/nextgqa_test.json --no-video-check \
        --output data/nextgqa_test.parquet --split test

``--annotations`` is the QA csv (with ``--gsub``) or VideoChat-R1's ``nextgqa_{val,test}.json``. Every gold
moment of a question is kept (``segments`` in the ground truth when there are several; the official metric
takes the best IoU / IoP over them). ``--multi-segment span|first|skip`` turns several moments into one
covering span, the first one, or a skipped row, for users who want one moment per question.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dataset_converters import main
from dataset_converters.formats import read_nextgqa


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gsub", type=Path, help="gsub_{val,test}.json: gold moments per video and qid (with the csv)"
    )
    parser.add_argument("--multi-segment", choices=["all", "span", "first", "skip"], default="all")


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
