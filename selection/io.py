"""Readers and writers at the edges of the selection blocks: rollout batches in, parquet out (atomically).

Rollouts may come from ``selection rollout`` (a run directory with ``run.json`` and ``shards/*.parquet``)
or from elsewhere: a parquet file, a directory of parquet files, or a JSONL file, with at least the
columns ``sample_id`` and ``response``. Optional columns: ``rollout_index`` (enables the duplicate check),
``error`` (a failed sample: its reason; ``response`` is then null) and ``rollout_settings`` (JSON).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selection.dataset import DatasetError, require_columns

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

__all__ = [
    "METADATA_KEY",
    "RolloutSource",
    "open_rollouts",
    "read_metadata",
    "write_parquet_atomic",
    "write_text_atomic",
]

#: Parquet schema-metadata key under which every selection output records how it was made (JSON).
METADATA_KEY = b"video_rlt.selection"
ROLLOUT_COLUMNS = ("sample_id", "rollout_index", "response", "error", "rollout_settings")


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe later on.
_UMASK = _process_umask()


def _as_created(tmp: str) -> None:
    """Give a ``mkstemp`` file (always 0600) the mode ``open()`` would have given the output (0666 & ~umask)."""
    os.chmod(tmp, 0o666 & ~_UMASK)


def write_parquet_atomic(
    table: pa.Table, path: str | Path, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``table`` to ``path`` via a temporary sibling and ``os.replace``: readers never see half a file."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if metadata is not None:
        merged = dict(table.schema.metadata or {})
        merged[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(merged)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _as_created(tmp)
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) like :func:`write_parquet_atomic`: whole or not at all, no temporary left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _as_created(tmp)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        # e.g. the target is a directory, the disk is full, or text holds an unencodable surrogate.
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The selection metadata recorded in a parquet file written by this package ({} when absent)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).schema_arrow.metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}


@dataclass(frozen=True)
class RolloutSource:
    """Where rollouts are read from, and what the producing run recorded about itself (``run.json``)."""

    path: Path
    files: tuple[Path, ...]
    run: dict[str, Any] = field(default_factory=dict)

    def num_rows(self) -> int | None:
        """Total rollout rows when cheap to know (parquet footers); None when a JSONL file is involved."""
        import pyarrow.parquet as pq

        if any(f.suffix != ".parquet" for f in self.files):
            return None
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def batches(self, batch_size: int) -> Iterator[pa.RecordBatch]:
        """Record batches with the columns of :data:`ROLLOUT_COLUMNS` that the files have."""
        for file in self.files:
            if file.suffix in (".jsonl", ".json"):
                yield from _jsonl_batches(file, batch_size)
            else:
                yield from _parquet_batches(file, batch_size)


def open_rollouts(path: str | Path) -> RolloutSource:
    """Resolve a rollout location: a run directory, a directory of parquet/JSONL files, or one file."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"rollouts {path}: no such file or directory")
    run: dict[str, Any] = {}
    if path.is_dir():
        run_file = path / "run.json"
        if run_file.exists():
            run = json.loads(run_file.read_text())
        root = path / "shards" if (path / "shards").is_dir() else path
        files = sorted(
            p for p in root.iterdir() if p.suffix in (".parquet", ".jsonl") and not p.name.startswith(".")
        )
    else:
        files = [path]
    if not files:
        raise DatasetError(f"rollouts {path}: no .parquet or .jsonl files found")
    return RolloutSource(path=path, files=tuple(files), run=run)


def _parquet_batches(file: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(file)
    names = pf.schema_arrow.names
    require_columns(names, ("sample_id", "response"), "rollouts", file)
    columns = [c for c in ROLLOUT_COLUMNS if c in names]
    yield from pf.iter_batches(batch_size=batch_size, columns=columns)


def _jsonl_batches(file: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pj

    # A block of ~16 MB of text is a few tens of thousands of typical rollouts: bounded memory.
    reader = pj.open_json(file, read_options=pj.ReadOptions(block_size=16 << 20))
    names = reader.schema.names
    require_columns(names, ("sample_id", "response"), "rollouts", file)
    columns = [c for c in ROLLOUT_COLUMNS if c in names]
    for batch in reader:
        batch = batch.select(columns)
        for start in range(0, batch.num_rows, batch_size):
            yield batch.slice(start, batch_size)
