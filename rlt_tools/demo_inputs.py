"""The demo's inputs: clips with a white square during known intervals, their annotations in the public
formats (Charades-STA, ActivityNet Captions, NExT-QA, NExT-GQA) and their conversion to verl parquet.

The answers are known by construction (:func:`when_answer`), so the demo's metrics can be read against them.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dataset_converters import Annotation, ConvertConfig, Skip, VideoSettings, merge_parquets, run
from dataset_converters.formats import (
    read_activitynet_captions,
    read_charades_sta,
    read_multiple_choice,
    read_nextgqa,
)
from rlt_tools.demo_console import say

__all__ = ["CLIPS", "DemoClip", "convert_all", "make_videos", "when_answer", "write_annotations"]

#: Clip length, frame rate and size of the generated videos (seconds, frames/s, pixels).
CLIP_SECONDS, CLIP_FPS, CLIP_SIZE = 4.0, 8.0, (64, 48)


@dataclass(frozen=True)
class DemoClip:
    """A generated video and the interval (seconds) during which its white square is visible."""

    video_id: str
    event: tuple[float, float]
    split: Literal["train", "val"]


#: Events chosen so the multiple-choice answer ("when is the square visible?") differs across clips.
CLIPS: tuple[DemoClip, ...] = (
    DemoClip("DEMO0", (0.0, 1.0), "train"),
    DemoClip("DEMO1", (1.5, 2.5), "train"),
    DemoClip("DEMO2", (3.0, 4.0), "train"),
    DemoClip("DEMO3", (0.5, 2.0), "train"),
    DemoClip("DEMO4", (2.0, 3.5), "train"),
    DemoClip("DEMO5", (1.0, 3.0), "train"),
    DemoClip("DEMO6", (0.5, 1.5), "val"),
    DemoClip("DEMO7", (2.5, 3.5), "val"),
)

WHEN_OPTIONS = ("at the start of the video", "in the middle of the video", "at the end of the video")
WHAT_OPTIONS = ("a white square", "a red circle", "a dog", "nothing")


def when_answer(event: tuple[float, float], seconds: float = CLIP_SECONDS) -> int:
    """Index into :data:`WHEN_OPTIONS` of the third of the clip holding the event's midpoint.

    >>> when_answer((0.0, 1.0)), when_answer((1.5, 2.5)), when_answer((3.0, 4.0))
    (0, 1, 2)
    """
    middle = (event[0] + event[1]) / 2
    return min(int(3 * middle / seconds), 2)


def make_videos(video_dir: Path) -> dict[str, Path]:
    """Write the demo clips (skipping ones already there)."""
    from rlt_tools.tiny_clips import make_clip

    paths = {}
    for clip in CLIPS:
        path = video_dir / f"{clip.video_id}.mp4"
        if not path.exists():
            make_clip(path, seconds=CLIP_SECONDS, fps=CLIP_FPS, size=CLIP_SIZE, event=clip.event)
        paths[clip.video_id] = path
    return paths


def write_annotations(ann_dir: Path) -> dict[str, Path]:
    """Annotation files for the clips, each in its dataset's public format."""
    ann_dir.mkdir(parents=True, exist_ok=True)
    train = [c for c in CLIPS if c.split == "train"]
    val = [c for c in CLIPS if c.split == "val"]
    files = {
        "charades_sta_train": ann_dir / "charades_sta_train.txt",
        "nextqa_train": ann_dir / "nextqa_train.csv",
        "nextgqa_train": ann_dir / "nextgqa_train.csv",
        "gsub_train": ann_dir / "gsub_train.json",
        "activitynet_val": ann_dir / "activitynet_val_1.json",
        "nextqa_val": ann_dir / "nextqa_val.csv",
        "nextgqa_val": ann_dir / "nextgqa_val.csv",
        "gsub_val": ann_dir / "gsub_val.json",
    }
    files["charades_sta_train"].write_text(
        "".join(
            f"{c.video_id} {c.event[0]:.1f} {c.event[1]:.1f}##a white square appears in the center.\n"
            for c in train
        )
    )
    # ActivityNet Captions keys videos as v_<id>; the converter finds <id>.mp4 as well.
    files["activitynet_val"].write_text(
        json.dumps(
            {
                f"v_{c.video_id}": {
                    "duration": CLIP_SECONDS,
                    "timestamps": [list(c.event)],
                    "sentences": ["A white square is shown."],
                }
                for c in val
            },
            indent=1,
        )
    )
    header = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2\n"
    for name, clips in (("nextqa_train", train), ("nextqa_val", val)):
        files[name].write_text(
            header
            + "".join(
                f"{c.video_id},{int(CLIP_SECONDS * CLIP_FPS)},{CLIP_SIZE[0]},{CLIP_SIZE[1]},"
                f"When is the white square visible?,{when_answer(c.event)},{k},TC,{','.join(WHEN_OPTIONS)}\n"
                for k, c in enumerate(clips)
            )
        )
    # NExT-GQA: the answer column holds the option's text; segments live in the gsub file by qid.
    gqa_header = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3\n"
    for name, gsub, clips in (("nextgqa_train", "gsub_train", train), ("nextgqa_val", "gsub_val", val)):
        files[name].write_text(
            gqa_header
            + "".join(
                f"{c.video_id},{int(CLIP_SECONDS * CLIP_FPS)},{CLIP_SIZE[0]},{CLIP_SIZE[1]},"
                f"What appears in the center of the video?,{WHAT_OPTIONS[0]},{k},DO,{','.join(WHAT_OPTIONS)}\n"
                for k, c in enumerate(clips)
            )
        )
        files[gsub].write_text(
            json.dumps(
                {
                    c.video_id: {
                        "duration": CLIP_SECONDS,
                        "fps": CLIP_FPS,
                        "location": {str(k): [list(c.event)]},
                    }
                    for k, c in enumerate(clips)
                }
            )
        )
    return files


def _video_flags(video: VideoSettings) -> list[str]:
    """The converter flags that reproduce ``video`` (only those that differ from the defaults)."""
    defaults = VideoSettings().model_dump()
    return [
        f"--{key.replace('_', '-')}={value}"
        for key, value in video.model_dump().items()
        if value != defaults[key]
    ]


def convert_all(
    files: Mapping[str, Path], video_dir: Path, data_dir: Path, video: VideoSettings
) -> dict[str, Path]:
    """Convert every annotation file, then merge the training sets into one candidate pool and the
    evaluation sets into one evaluation file (index offsets keep ``extra_info.index`` unique)."""
    gsub_train, gsub_val = files["gsub_train"], files["gsub_val"]
    jobs: list[tuple[str, str, str, Path, list[str], Iterable[Annotation | Skip]]] = [
        ("train", "charades_sta", "charades_sta.py", files["charades_sta_train"], [],
         read_charades_sta(files["charades_sta_train"])),
        ("train", "nextqa", "multiple_choice.py", files["nextqa_train"], [],
         read_multiple_choice(files["nextqa_train"])),
        ("train", "nextgqa", "nextgqa.py", files["nextgqa_train"], ["--gsub", str(gsub_train)],
         read_nextgqa(files["nextgqa_train"], gsub_train)),
        ("val", "activitynet_captions", "activitynet_captions.py", files["activitynet_val"], [],
         read_activitynet_captions(files["activitynet_val"])),
        ("val", "nextqa", "multiple_choice.py", files["nextqa_val"], [], read_multiple_choice(files["nextqa_val"])),
        ("val", "nextgqa", "nextgqa.py", files["nextgqa_val"], ["--gsub", str(gsub_val)],
         read_nextgqa(files["nextgqa_val"], gsub_val)),
    ]  # fmt: skip
    parts: dict[str, list[Path]] = {"train": [], "val": []}
    out: dict[str, Path] = {}
    for k, (split, source, script, ann_file, extra, records) in enumerate(jobs):
        target = data_dir / f"{source}_{split}.parquet"
        offset = 1000 * k
        config = ConvertConfig(
            data_source=source, video_root=video_dir, split=split, video=video, index_offset=offset
        )
        cmd = [
            "python", f"recipes/data/{script}", "--annotations", str(ann_file), *extra,
            "--video-root", str(video_dir), "--output", str(target), "--split", split,
            "--data-source", source, "--index-offset", str(offset), *_video_flags(video),
        ]  # fmt: skip
        say("  $ " + " ".join(shlex.quote(c) for c in cmd))
        # Same code path as the command line, in this process (no interpreter start-up per file).
        result = run(records, config, target)
        say("    " + result.summary(source).replace("\n", "\n    "))
        parts[split].append(target)
        out[f"{source}_{split}"] = target
    for split, name in (("train", "pool"), ("val", "eval")):
        out[name] = data_dir / f"{name}.parquet"
        merge_parquets(parts[split], out[name])
        say(f"  $ python -m dataset_converters merge {' '.join(map(str, parts[split]))} --output {out[name]}")
    return out
