"""Writing converted rows: the one parquet schema, merging files of several datasets, the skipped rows."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataset_converters.records import Skip

if TYPE_CHECKING:
    import pyarrow as pa

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
    """The one parquet schema every converter writes (see :mod:`dataset_converters`)."""
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
    """One JSON object per row not kept (``source``, ``ordinal``, ``reason``, ``detail``); an empty file
    when every row was kept, so a stale file from an earlier run never stands for this one."""
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
