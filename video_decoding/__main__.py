"""``python -m video_decoding inspect|budget|parity PATH [options]``: what the model will see, as JSON.

Exit status 0 on success, 2 on a bad video (the message names the file and the reason), 1 when
``parity`` finds a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .backends import BACKENDS
from .errors import VideoError
from .sampling import VideoSampling


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m video_decoding", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("inspect", "decode as the model would and print frames, timestamps, duration, tokens"),
        ("budget", "frames and tokens from the container header alone (no decode)"),
        ("parity", "compare with qwen-vl-utils (and a HF processor with --processor DIR)"),
    ):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument("path")
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--fps", type=float, help="frames per second to sample (default 2)")
        group.add_argument("--nframes", type=int, help="exact number of frames instead of --fps")
        cmd.add_argument("--min-frames", type=int)
        cmd.add_argument("--max-frames", type=int)
        cmd.add_argument("--min-pixels", type=float)
        cmd.add_argument("--max-pixels", type=float)
        cmd.add_argument("--total-pixels", type=float)
        cmd.add_argument("--video-start", type=float, help="seconds")
        cmd.add_argument("--video-end", type=float, help="seconds")
        cmd.add_argument("--image-patch-size", type=int, default=14)
        if name != "budget":
            cmd.add_argument("--backend", choices=BACKENDS, default=None)
            cmd.add_argument("--resize", choices=("exact", "fast"), default="exact")
        if name == "parity":
            cmd.add_argument("--processor", help="a saved HF Qwen2-VL/2.5-VL processor directory")
    return parser


def _sampling(args: argparse.Namespace) -> VideoSampling:
    keys = (
        "fps",
        "nframes",
        "min_frames",
        "max_frames",
        "min_pixels",
        "max_pixels",
        "total_pixels",
        "video_start",
        "video_end",
        "image_patch_size",
    )
    return VideoSampling(**{k: getattr(args, k) for k in keys if getattr(args, k) is not None})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        sampling = _sampling(args)
    except ValueError as err:
        sys.stderr.write(f"video_decoding: {args.path}: bad settings: {err}\n")
        return 2
    try:
        if args.command == "budget":
            from .budget import estimate_video

            out: dict[str, Any] = estimate_video(args.path, sampling).to_dict()
            code = 0
        elif args.command == "inspect":
            from .loader import load_video

            out = load_video(args.path, sampling, backend=args.backend, resize=args.resize).summary()
            code = 0
        else:
            from .parity import compare_with_qwen

            out = compare_with_qwen(
                args.path, sampling, backend=args.backend, resize=args.resize, processor_dir=args.processor
            )
            code = 0 if out["agree"] else 1
    except VideoError as err:
        sys.stderr.write(f"video_decoding: {err}\n")
        return 2
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return code


if __name__ == "__main__":
    os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
    sys.exit(main())
