"""Command line shared by ``recipes/data/*.py``: arguments, the run (convert, write, summarise), ``merge``."""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dataset_converters.parquet import merge_parquets, skipped_path, write_parquet, write_skipped
from dataset_converters.pipeline import ConversionResult, convert
from dataset_converters.records import Annotation, ConversionError, ConvertConfig, Skip, VideoSettings
from dataset_converters.videos import read_duration_table

logger = logging.getLogger(__name__)


def add_common_arguments(parser: argparse.ArgumentParser, *, data_source: str) -> None:
    defaults = VideoSettings()
    parser.add_argument("--annotations", type=Path, required=True, help="the public annotation file")
    parser.add_argument(
        "--video-root",
        type=Path,
        help="directory holding the videos (searched recursively); optional with --no-video-check",
    )
    parser.add_argument(
        "--no-video-check",
        dest="video_check",
        action="store_false",
        help="convert the annotations without the videos: paths are written unchecked (under --video-root "
        "when given), durations come from the annotation file or --durations; multiple-choice rows need none",
    )
    parser.add_argument("--output", type=Path, required=True, help="output parquet (verl RLHFDataset schema)")
    parser.add_argument(
        "--data-source", default=data_source, help=f"data_source column (default {data_source})"
    )
    parser.add_argument("--split", default="train", help="recorded in extra_info.split and the uid")
    parser.add_argument(
        "--index-offset", type=int, default=0, help="added to every extra_info.index (merging datasets)"
    )
    parser.add_argument(
        "--segment-tolerance",
        type=float,
        default=None,
        help="off by default: gold moments are kept as annotated, also past the video's end (counted). "
        "With a number of seconds, ends at most that far past the video are clipped to it, further out skipped",
    )
    parser.add_argument(
        "--durations", type=Path, help="CSV (id,length) or JSON {id: seconds}; else read from the videos"
    )
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames)
    parser.add_argument("--min-pixels", type=int, default=defaults.min_pixels)
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels)
    parser.add_argument("--total-pixels", type=int, default=defaults.total_pixels)
    parser.add_argument("--strict", action="store_true", help="fail at the first row that would be skipped")


def config_from_args(args: argparse.Namespace) -> ConvertConfig:
    if args.video_check and args.video_root is None:
        raise ValueError("--video-root is required (or pass --no-video-check to convert without the videos)")
    tolerance = args.segment_tolerance
    return ConvertConfig(
        data_source=args.data_source,
        video_root=args.video_root,
        video_check=args.video_check,
        split=args.split,
        video=VideoSettings(
            fps=args.fps,
            max_frames=args.max_frames,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            total_pixels=args.total_pixels,
        ),
        index_offset=args.index_offset,
        # ``inf`` (the old way to keep everything) means the same as no tolerance.
        segment_tolerance=None if tolerance is None or math.isinf(tolerance) else tolerance,
        durations=read_duration_table(args.durations) if args.durations else None,
        strict=args.strict,
    )


def run(records: Iterable[Annotation | Skip], config: ConvertConfig, output: Path) -> ConversionResult:
    """Convert, write the parquet and the skipped records, log the summary; raise if nothing survived.

    ``<stem>.skipped.jsonl`` is written in every case — empty when every row was kept, and also when the
    conversion fails (``--strict``, or no row kept), so the reasons are always on disk.
    """
    skipped_file = skipped_path(output)
    try:
        result = convert(records, config)
    except ConversionError as err:
        write_skipped(err.skipped, skipped_file)
        raise
    write_skipped(result.skipped, skipped_file)
    if not result.rows:
        detail = result.summary(config.data_source)
        raise ConversionError(
            f"no row survived the conversion; nothing written to {output}; reasons in {skipped_file}\n{detail}",
            tuple(result.skipped),
        )
    write_parquet(result.rows, output)
    logger.info("%s", result.summary(config.data_source))
    logger.info("wrote %s (%d rows); skipped rows with reasons: %s", output, len(result.rows), skipped_file)
    return result


def main(
    argv: Sequence[str] | None,
    *,
    description: str,
    data_source: str,
    reader: Callable[[argparse.Namespace], Iterable[Annotation | Skip]],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """The whole CLI of one converter: parse arguments, read, convert, write, summarise."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_arguments(parser, data_source=data_source)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        run(reader(args), config_from_args(args), args.output)
    except ValueError as err:  # bad input file or settings: one clear line, no traceback
        logger.error("error: %s", err)
        return 2
    return 0


def merge_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dataset_converters merge",
        description="Concatenate converted parquet files (extra_info.index must stay unique).",
    )
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        rows = merge_parquets(args.inputs, args.output)
    except (OSError, ValueError) as err:
        logger.error("error: %s", err)
        return 2
    logger.info("wrote %s (%d rows from %d files)", args.output, rows, len(args.inputs))
    return 0
