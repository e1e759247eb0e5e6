"""Turn annotation records into verl ``RLHFDataset`` parquet rows, validating each against the reward contract.

The converters under ``recipes/data/`` are thin command lines over this module: a *reader*
(:mod:`video_rlt.formats`) turns one public annotation format into :class:`Annotation` records (or
:class:`Skip` records for rows it cannot read), and :func:`convert` runs every record through the same
stages — find the video, find its duration, check the segment, build and validate the ground truth, build
the prompt — keeping the row or recording why it was skipped. Nothing is dropped silently: every skip
carries a reason code and a detail naming the annotation row, the summary counts them, and the CLI writes
them to ``<output>.skipped.jsonl``.

Row layout (one fixed pyarrow schema, :func:`row_schema`, for every dataset and task, so parquet files from
different converters concatenate and verl's ``datasets`` reader sees one struct type):

* ``prompt``: ``[{"role": "user", "content": "<video>\\n…task instruction…"}]``;
* ``videos``: ``[{"video": path, "fps", "max_frames", "min_pixels", "max_pixels", "total_pixels"}]`` —
  the keys go straight to ``qwen_vl_utils.fetch_video``;
* ``data_source``; ``reward_model``: ``{"style": "rule", "ground_truth": <contract JSON string>}`` — a JSON
  string rather than a struct because the contract's task dicts have different keys, and a parquet struct
  would fill the missing ones with nulls;
* ``extra_info``: ``index`` (stable: position of the record in the annotation file plus
  ``--index-offset``, so re-converting after a video goes missing renumbers nothing), ``uid``, ``split``,
  ``video_id``, ``duration``, ``task``, ``question``, ``source`` (file and line/key of the annotation).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

SkipReason = Literal[
    "malformed_row",  # the reader could not read the row (missing column, non-numeric time, ...)
    "missing_video",  # no file for the video id under --video-root
    "ambiguous_video",  # several files share the video id in different directories
    "unreadable_video",  # the container metadata could not be read
    "no_duration",  # no duration in the annotation, the duration table or the container
    "bad_segment",  # start >= end, or a negative time
    "segment_outside_video",  # the segment ends past the video (beyond the tolerance)
    "missing_segment",  # grounded QA row without a segment in the segment file
    "bad_answer_index",  # the answer is neither an option index nor an option's text
    "invalid_ground_truth",  # the reward contract rejected the ground truth
]
SKIP_REASONS: tuple[str, ...] = get_args(SkipReason)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg")
OPTION_LETTERS = string.ascii_uppercase  # the reward contract allows up to 26 options


class VideoSettings(BaseModel):
    """How the trainer samples each video (keys of ``qwen_vl_utils.fetch_video``).

    Defaults follow the paper's setup (Temporal-R1 code base): 2 frames per second, at most 768 frames
    (qwen-vl-utils' cap), a total budget of 2048 visual patches of 28×28 (≈1.6 M pixels) per video, and
    qwen-vl-utils' per-frame bounds.

    >>> VideoSettings().video_entry("/data/v.mp4")["total_pixels"]
    1605632
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: PositiveFloat = 2.0
    max_frames: PositiveInt = 768
    min_pixels: PositiveInt = 16 * 28 * 28
    max_pixels: PositiveInt = 768 * 28 * 28
    total_pixels: PositiveInt = 2048 * 28 * 28

    def video_entry(self, path: str) -> dict[str, Any]:
        return {"video": path, **self.model_dump()}


class ConvertConfig(BaseModel):
    """Settings shared by every converter (validated once, from the command line)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_source: str = Field(min_length=1)
    video_root: Path
    split: str = "train"
    video: VideoSettings = VideoSettings()
    index_offset: int = Field(default=0, ge=0)
    # Segments ending at most this many seconds past the video's end are clipped to it (annotation
    # rounding); further out they are skipped as ``segment_outside_video``.
    segment_tolerance: float = Field(default=0.0, ge=0.0)
    durations: Mapping[str, float] | None = None
    strict: bool = False


@dataclass(frozen=True)
class Annotation:
    """One sample as a reader found it, before any check against the videos or the reward contract."""

    source: str  # "<file>:<line or key>", used in every message about this record
    ordinal: int  # position in the annotation file(s): the stable ``extra_info.index`` before the offset
    video_id: str
    task: str  # a reward-contract task name ("tvg", "mcq", "gqa", ...)
    text: str  # the grounding query, or the question
    options: tuple[str, ...] = ()  # option texts, without letters
    answer_index: int | None = None
    segment: tuple[float, float] | None = None
    duration: float | None = None  # when the annotation file states it
    video_path: str | None = None  # explicit (relative to --video-root) path; else looked up by id
    ground_truth: Mapping[str, Any] | None = None  # a ready contract dict (generic JSONL)
    prompt: str | None = None  # a ready prompt (generic JSONL); else built from the task instruction


@dataclass(frozen=True)
class Skip:
    """A record that was not converted, and why."""

    source: str
    ordinal: int
    reason: SkipReason
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "ordinal": self.ordinal, "reason": self.reason, "detail": self.detail}


class ConversionError(ValueError):
    """Raised by ``strict`` conversions at the first skipped row, and when no row survives."""


# ---------------------------------------------------------------------------------------------------------
# Prompts: one instruction per task, each stating exactly the answer format ``video_rewards`` parses.

THINK_ANSWER = "Think step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags."

_INSTRUCTIONS: dict[str, str] = {
    "tvg": (
        '<video>\nFind the moment in the video described by: "{text}".\n'
        + THINK_ANSWER
        + " The answer is the start and end time of the moment in seconds, as JSON: "
        '{{"start_time": <start>, "end_time": <end>}}. '
        'Example: <think>...</think><answer>{{"start_time": 4.5, "end_time": 9.0}}</answer>'
    ),
    "mcq": (
        "<video>\n{text}\nOptions:\n{options}\n"
        + THINK_ANSWER
        + " The answer is the letter of the correct option only. Example: <think>...</think><answer>B</answer>"
    ),
    "gqa": (
        "<video>\n{text}\nOptions:\n{options}\n"
        + THINK_ANSWER
        + " The answer is the letter of the correct option and the start and end time, in seconds, of the "
        'part of the video that supports it, as JSON: {{"answer": <letter>, "start_time": <start>, '
        '"end_time": <end>}}. Example: <think>...</think><answer>{{"answer": "B", "start_time": 4.5, '
        '"end_time": 9.0}}</answer>'
    ),
}


def lettered_options(options: Sequence[str]) -> list[str]:
    """Options as the contract and the prompt show them.

    >>> lettered_options(["open the door", "sit down"])
    ['A. open the door', 'B. sit down']
    """
    if len(options) > len(OPTION_LETTERS):
        raise ValueError(f"at most {len(OPTION_LETTERS)} options are supported, got {len(options)}")
    return [f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options)]


def build_prompt(task: str, text: str, options: Sequence[str] = ()) -> str:
    """The user message for one sample: ``<video>``, the query or question, the answer-format instruction.

    >>> print(build_prompt("mcq", "What does the man hold?", ["a cup", "a book"]).splitlines()[:4])
    ['<video>', 'What does the man hold?', 'Options:', 'A. a cup']
    """
    try:
        template = _INSTRUCTIONS[task]
    except KeyError:
        raise ValueError(f"no prompt instruction for task {task!r}; known: {sorted(_INSTRUCTIONS)}") from None
    return template.format(text=text.strip(), options="\n".join(lettered_options(options)))


# ---------------------------------------------------------------------------------------------------------
# Videos: find the file, read its duration from the container (no frame decoding).


class VideoIndex:
    """Video files under a root, found by exact relative path or by file stem (the dataset's video id).

    The root is scanned once; ActivityNet's ``v_<id>`` and bare ``<id>`` spellings both match.
    """

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ValueError(f"--video-root {root} is not a directory")
        self.root = root
        self._by_stem: dict[str, list[Path]] = {}
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
                self._by_stem.setdefault(path.stem, []).append(path)

    def __len__(self) -> int:
        return sum(len(paths) for paths in self._by_stem.values())

    def find(self, video_id: str, relative_path: str | None = None) -> Path | tuple[SkipReason, str]:
        """The video's path, or why there is none (``missing_video`` / ``ambiguous_video`` and a detail)."""
        if relative_path is not None:
            path = Path(relative_path)
            path = path if path.is_absolute() else self.root / path
            return path if path.is_file() else ("missing_video", f"no file {path}")
        candidates = [video_id]
        candidates += [video_id[2:]] if video_id.startswith("v_") else [f"v_{video_id}"]
        for stem in candidates:
            paths = self._by_stem.get(stem, [])
            dirs = {p.parent for p in paths}
            if len(dirs) > 1:
                return (
                    "ambiguous_video",
                    f"video id {video_id!r} matches files in several directories: {sorted(map(str, paths))}",
                )
            if paths:
                # Same directory, several containers: prefer the more common one.
                return min(paths, key=lambda p: VIDEO_EXTENSIONS.index(p.suffix.lower()))
        return (
            "missing_video",
            f"no video file named {video_id!r}.* (extensions {', '.join(VIDEO_EXTENSIONS)}) under {self.root}",
        )


def probe_duration(path: Path) -> float:
    """Duration in seconds from the container metadata (PyAV); frames are not decoded.

    The video stream's own duration wins over the container's (the audio track may be longer).
    """
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        if stream.frames and stream.average_rate:
            return float(stream.frames / stream.average_rate)
    raise ValueError(f"{path}: the container states no duration")


def read_duration_table(path: Path) -> dict[str, float]:
    """Video durations from a CSV (``id``/``video_id``/``video`` + ``length``/``duration`` columns, as in
    Charades' ``Charades_v1_*.csv``) or a JSON object ``{video_id: seconds}``."""
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a JSON object {{video_id: seconds}}")
        return {str(k): _seconds(v, f"{path}[{k!r}]") for k, v in raw.items()}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        id_col = _pick_column(reader.fieldnames or (), ("id", "video_id", "video"), path)
        dur_col = _pick_column(reader.fieldnames or (), ("length", "duration"), path)
        return {
            row[id_col]: _seconds(row[dur_col], f"{path.name}:{reader.line_num} column {dur_col!r}")
            for row in reader
        }


def _pick_column(columns: Iterable[str], names: Sequence[str], path: Path) -> str:
    present = list(columns)
    for name in names:
        if name in present:
            return name
    raise ValueError(f"{path}: needs one of the columns {list(names)}, has {present}")


def _seconds(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{where}: duration must be a positive number of seconds, got {value!r}")
    return seconds


# ---------------------------------------------------------------------------------------------------------
# The conversion pipeline.

ROW_SCHEMA_FIELDS: tuple[tuple[str, str], ...] = (
    ("index", "int64"),
    ("uid", "string"),
    ("split", "string"),
    ("video_id", "string"),
    ("duration", "float64"),
    ("task", "string"),
    ("question", "string"),
    ("source", "string"),
)


def row_schema() -> pa.Schema:
    """The one parquet schema every converter writes (see the module docstring)."""
    import pyarrow as pa

    video = pa.struct(
        [
            ("video", pa.string()),
            ("fps", pa.float64()),
            ("max_frames", pa.int64()),
            ("min_pixels", pa.int64()),
            ("max_pixels", pa.int64()),
            ("total_pixels", pa.int64()),
        ]
    )
    extra = pa.struct([(name, getattr(pa, kind)()) for name, kind in ROW_SCHEMA_FIELDS])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("videos", pa.list_(video)),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


@dataclass
class ConversionResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    clipped: int = 0  # segments clipped to the video's end (within the tolerance)

    def counts(self) -> dict[str, int]:
        """``kept``, ``skipped`` and one ``skipped:<reason>`` entry per reason seen."""
        by_reason: Counter[str] = Counter(s.reason for s in self.skipped)
        out = {"kept": len(self.rows), "skipped": len(self.skipped), "clipped": self.clipped}
        out.update({f"skipped:{reason}": by_reason[reason] for reason in SKIP_REASONS if by_reason[reason]})
        return out

    def summary(self, data_source: str) -> str:
        counts = self.counts()
        lines = [
            f"{data_source}: kept {counts['kept']}, skipped {counts['skipped']}, clipped {counts['clipped']}"
        ]
        lines += [
            f"  skipped {n:>6}  {key.split(':', 1)[1]}"
            for key, n in counts.items()
            if key.startswith("skipped:")
        ]
        return "\n".join(lines)


class _RowBuilder:
    """The per-record stages; holds the per-run caches (video index, probed durations)."""

    def __init__(self, config: ConvertConfig, videos: VideoIndex) -> None:
        from video_rewards import parse_ground_truth

        self._parse_ground_truth = parse_ground_truth
        self.config = config
        self.videos = videos
        self._durations: dict[Path, float | str] = {}  # probed duration, or the probe's error
        self.clipped = 0

    def __call__(self, ann: Annotation) -> dict[str, Any] | Skip:
        def skip(reason: SkipReason, detail: str) -> Skip:
            return Skip(ann.source, ann.ordinal, reason, detail)

        path = self.videos.find(ann.video_id, ann.video_path)
        if not isinstance(path, Path):
            return skip(*path)
        duration = self._duration(ann, path)
        if isinstance(duration, Skip):
            return duration
        segment = ann.segment
        if segment is not None:
            start, end = segment
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or start >= end:
                return skip("bad_segment", f"segment [{start}, {end}] must satisfy 0 <= start < end")
            if start >= duration or end > duration + self.config.segment_tolerance:
                return skip(
                    "segment_outside_video",
                    f"segment [{start}, {end}] is outside the video (duration {duration:.3f} s, "
                    f"tolerance {self.config.segment_tolerance} s)",
                )
            if end > duration:
                segment = (start, duration)
                self.clipped += 1
        if len(ann.options) > len(OPTION_LETTERS):
            return skip(
                "malformed_row", f"{len(ann.options)} options; at most {len(OPTION_LETTERS)} are supported"
            )
        if ann.answer_index is not None and not 0 <= ann.answer_index < len(ann.options):
            return skip("bad_answer_index", f"answer index {ann.answer_index} for {len(ann.options)} options")

        truth = self._ground_truth(ann, segment, duration)
        try:
            self._parse_ground_truth(truth)
        except ValueError as err:
            return skip("invalid_ground_truth", f"{err}")
        task = str(truth["task"])
        prompt = ann.prompt if ann.prompt is not None else build_prompt(task, ann.text, ann.options)
        if "<video>" not in prompt:
            prompt = "<video>\n" + prompt
        index = self.config.index_offset + ann.ordinal
        return {
            "data_source": self.config.data_source,
            "prompt": [{"role": "user", "content": prompt}],
            "videos": [self.config.video.video_entry(str(path.resolve()))],
            "reward_model": {"style": "rule", "ground_truth": json.dumps(truth, sort_keys=True)},
            "extra_info": {
                "index": index,
                "uid": f"{self.config.data_source}/{self.config.split}/{index}",
                "split": self.config.split,
                "video_id": ann.video_id,
                "duration": duration,
                "task": task,
                "question": ann.text,
                "source": ann.source,
            },
        }

    def _duration(self, ann: Annotation, path: Path) -> float | Skip:
        if ann.duration is not None:
            return ann.duration
        table = self.config.durations
        if table is not None:
            for key in (ann.video_id, path.stem):
                if key in table:
                    return table[key]
        if path not in self._durations:
            try:
                self._durations[path] = probe_duration(path)
            except Exception as err:  # PyAV raises its own error tree (av.error.*) for broken files
                self._durations[path] = f"{type(err).__name__}: {err}"
        probed = self._durations[path]
        if isinstance(probed, str):
            return Skip(ann.source, ann.ordinal, "unreadable_video", f"{path}: {probed}")
        if probed <= 0:
            return Skip(ann.source, ann.ordinal, "no_duration", f"{path}: container duration {probed}")
        return probed

    @staticmethod
    def _ground_truth(
        ann: Annotation, segment: tuple[float, float] | None, duration: float
    ) -> dict[str, Any]:
        truth: dict[str, Any]
        if ann.ground_truth is not None:
            truth = dict(ann.ground_truth)
            if truth.get("task") in ("tvg", "gqa", "multi_tvg") and "duration" not in truth:
                truth["duration"] = duration
            if segment is not None and "segment" in truth:
                truth["segment"] = list(segment)
            return truth
        truth = {"task": ann.task}
        if ann.task in ("mcq", "gqa"):
            if ann.answer_index is None:
                raise ValueError(f"{ann.source}: a {ann.task} record needs an answer index")
            truth["options"] = lettered_options(ann.options)
            truth["answer"] = OPTION_LETTERS[ann.answer_index]
        if ann.task in ("tvg", "gqa"):
            if segment is None:
                raise ValueError(f"{ann.source}: a {ann.task} record needs a segment")
            truth["segment"] = [segment[0], segment[1]]
            truth["duration"] = duration
        return truth


def convert(records: Iterable[Annotation | Skip], config: ConvertConfig) -> ConversionResult:
    """Run every record through the checks; keep the valid rows, record the others with their reason."""
    videos = VideoIndex(config.video_root)
    logger.info("found %d video files under %s", len(videos), config.video_root)
    builder = _RowBuilder(config, videos)
    result = ConversionResult()
    seen: dict[int, str] = {}
    for record in records:
        outcome = builder(record) if isinstance(record, Annotation) else record
        if isinstance(outcome, Skip):
            if config.strict:
                raise ConversionError(f"{outcome.source}: {outcome.reason}: {outcome.detail}")
            result.skipped.append(outcome)
            continue
        index = outcome["extra_info"]["index"]
        if index in seen:
            raise ConversionError(
                f"{outcome['extra_info']['source']}: index {index} already used by {seen[index]}"
            )
        seen[index] = outcome["extra_info"]["source"]
        result.rows.append(outcome)
    result.clipped = builder.clipped
    return result


def write_parquet(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write rows with :func:`row_schema` (a row that does not fit raises, naming the column)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows), schema=row_schema())
    pq.write_table(table, path)


def merge_parquets(paths: Sequence[Path], output: Path) -> int:
    """Concatenate converted parquet files into one (a training pool mixing tasks); returns the row count.

    Every input must have :func:`row_schema`, and ``extra_info.index`` must stay unique across them
    (convert each dataset with its own ``--index-offset``): selection and verl key samples by it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = row_schema()
    tables = []
    owner: dict[int, Path] = {}
    for path in paths:
        table = pq.read_table(path)
        if not table.schema.equals(schema):
            raise ValueError(f"{path}: not a converter output (schema {table.schema} != {schema})")
        for index in table.column("extra_info").combine_chunks().field("index").to_pylist():
            if index in owner:
                raise ValueError(
                    f"{path}: extra_info.index {index} is also in {owner[index]}; convert with distinct --index-offset"
                )
            owner[index] = path
        tables.append(table)
    if not tables:
        raise ValueError("nothing to merge: no input files")
    output.parent.mkdir(parents=True, exist_ok=True)
    merged = pa.concat_tables(tables)
    pq.write_table(merged, output)
    return merged.num_rows


def write_skipped(skipped: Sequence[Skip], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for s in skipped:
            fh.write(json.dumps(s.to_dict()) + "\n")


def skipped_path(output: Path) -> Path:
    """Where the CLI writes the skipped records: ``out.parquet`` → ``out.skipped.jsonl``.

    >>> skipped_path(Path("data/charades_test.parquet")).as_posix()
    'data/charades_test.skipped.jsonl'
    """
    return output.with_name(re.sub(r"\.parquet$", "", output.name) + ".skipped.jsonl")


# ---------------------------------------------------------------------------------------------------------
# Command line shared by recipes/data/*.py.


def add_common_arguments(parser: argparse.ArgumentParser, *, data_source: str) -> None:
    defaults = VideoSettings()
    parser.add_argument("--annotations", type=Path, required=True, help="the public annotation file")
    parser.add_argument(
        "--video-root", type=Path, required=True, help="directory holding the videos (searched recursively)"
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
        default=0.0,
        help="seconds a segment may end past the video (clipped)",
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
    return ConvertConfig(
        data_source=args.data_source,
        video_root=args.video_root,
        split=args.split,
        video=VideoSettings(
            fps=args.fps,
            max_frames=args.max_frames,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
            total_pixels=args.total_pixels,
        ),
        index_offset=args.index_offset,
        segment_tolerance=args.segment_tolerance,
        durations=read_duration_table(args.durations) if args.durations else None,
        strict=args.strict,
    )


def run(records: Iterable[Annotation | Skip], config: ConvertConfig, output: Path) -> ConversionResult:
    """Convert, write the parquet and the skipped records, log the summary; raise if nothing survived."""
    result = convert(records, config)
    if not result.rows:
        detail = result.summary(config.data_source)
        raise ConversionError(f"no row survived the conversion; nothing written to {output}\n{detail}")
    write_parquet(result.rows, output)
    write_skipped(result.skipped, skipped_path(output))
    logger.info("%s", result.summary(config.data_source))
    logger.info(
        "wrote %s (%d rows); skipped rows with reasons: %s", output, len(result.rows), skipped_path(output)
    )
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


def _merge_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m video_rlt.convert merge",
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


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] != ["merge"]:
        sys.exit("usage: python -m video_rlt.convert merge A.parquet B.parquet ... --output POOL.parquet")
    sys.exit(_merge_main(sys.argv[2:]))
