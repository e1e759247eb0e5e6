"""ActivityNet Captions → verl parquet (temporal video grounding, one row per sentence).

    python recipes/data/activitynet_captions.py --annotations val_2.json \
        --video-root activitynet/videos --output data/anet_val2.parquet --split val_2
    python recipes/data/activitynet_captions.py --annotations val_2.json --no-video-check \
        --output data/anet_val2.parquet --split val_2

Durations come from the annotation file; videos named ``v_<id>.<ext>`` or ``<id>.<ext>`` are both found.
2D-TAN's and TimeZero's copies (``{video_id: {duration, timestamps, sentences}}``) read the same way.
"""

from __future__ import annotations

import sys

from dataset_converters import main
from dataset_converters.formats import read_activitynet_captions

if __name__ == "__main__":
    sys.exit(
        main(
            None,
            description=__doc__ or "",
            data_source="activitynet_captions",
            reader=lambda args: read_activitynet_captions(args.annotations),
        )
    )
