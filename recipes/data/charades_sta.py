"""Charades-STA → verl parquet (temporal video grounding).

    python recipes/data/charades_sta.py --annotations charades_sta_test.txt \
        --video-root Charades_v1_480 --output data/charades_sta_test.parquet --split test \
        [--durations Charades_v1_test.csv]
    python recipes/data/charades_sta.py --annotations charades_sta_test.txt --no-video-check \
        --durations Charades_v1_test.csv --output data/charades_sta_test.parquet --split test

``--annotations`` is 2D-TAN's ``charades_sta_{train,test}.txt`` or the JSON copy TimeZero / VideoChat-R1 ship
(``{video_id: {duration, timestamps, sentences}}``, durations included). For the text file, durations come
from ``--durations`` (Charades' ``Charades_v1_{train,test}.csv``: ``id``, ``length``) or else from each
video's container metadata (no frame is decoded). Gold moments are kept as annotated, also when they end past
the stated length (counted in the summary).
"""

from __future__ import annotations

import sys

from dataset_converters import main
from dataset_converters.formats import read_charades_sta

if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="charades_sta",
            reader=lambda args: read_charades_sta(args.annotations),
        )
    )
