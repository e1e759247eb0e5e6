"""Reading a verl-format dataset: sample ids, ground truths, prompts and videos, with errors naming the row.

A dataset row (verl ``RLHFDataset``): ``prompt`` (chat messages whose string content holds ``<video>``
placeholders), ``videos`` (one dict per placeholder, keys for ``qwen_vl_utils.fetch_video``),
``data_source``, ``reward_model.ground_truth`` (the reward contract, a dict or its JSON string) and
``extra_info`` (``index``: the stable sample id; ``duration``: seconds, used by the reward when the ground
truth lacks it).

``sample_id`` is ``extra_info.index`` when the dataset has that field, else the row position.

**Fingerprint** (:func:`truth_fingerprint`): ``score`` records which dataset it scored, and ``select``,
``report`` and the verl filter refuse scores made on another one. It is ``"v1:"`` + the SHA-256 over the
rows sorted by sample id, each row contributing its sample id and its ground truth as canonical JSON
(keys sorted, no spaces, top-level null keys dropped — so a JSON string and a parquet struct holding the same
truth agree; a string that is not JSON contributes itself). Row order, other columns (prompt, videos, …)
and the file's name do not change it; any edit to an id or a ground truth does (``data_source`` and
``extra_info.duration``, which the reward reads only when a ground truth lacks ``task`` / ``duration``, are
not part of it). It costs about one JSON parse + dump per row (2.5 s per 100k rows, measured on a busy
2-core machine).
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pyarrow as pa

    from video_rewards import GroundTruth

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetError",
    "GroundTruthIndex",
    "SampleIndex",
    "dataset_fingerprint",
    "duplicate_id_rows",
    "load_ground_truths",
    "read_sample_ids",
    "require_columns",
    "table_fingerprint",
    "truth_fingerprint",
]


class DatasetError(ValueError):
    """Bad input data (dataset, rollouts, scores): the message names the file, column and row."""


def require_columns(schema_names: list[str], required: tuple[str, ...], what: str, path: str | Path) -> None:
    """Raise naming every missing column (and the ones present) at once.

    >>> require_columns(["a"], ("a", "b"), "dataset", "d.parquet")
    Traceback (most recent call last):
    ...
    selection.dataset.DatasetError: dataset d.parquet: missing column(s) ['b'] (has ['a'])
    """
    missing = [c for c in required if c not in schema_names]
    if missing:
        raise DatasetError(f"{what} {path}: missing column(s) {missing} (has {sorted(schema_names)})")


def _index_field(schema: pa.Schema) -> bool:
    import pyarrow as pa

    if "extra_info" not in schema.names:
        return False
    typ = schema.field("extra_info").type
    return pa.types.is_struct(typ) and typ.get_field_index("index") >= 0


def read_sample_ids(path: str | Path) -> npt.NDArray[np.int64]:
    """The dataset's sample ids in row order: ``extra_info.index`` when present, else the row position.

    Raises :class:`DatasetError` naming the row when an index is missing, not an integer, or repeated.
    """
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    if not _index_field(pf.schema_arrow):
        return np.arange(pf.metadata.num_rows, dtype=np.int64)
    return _ids_from_index_column(_read_field(path, "extra_info.index"), path)


def _read_field(path: str | Path, dotted: str) -> pa.Array:
    """One (possibly nested) column as a single array; reads only that column's pages."""
    import pyarrow.parquet as pq

    # A nested selection comes back flattened and named by its leaf: read one path at a time.
    return pq.read_table(path, columns=[dotted]).column(0).combine_chunks()


def _ids_from_index_column(index: pa.Array, path: str | Path) -> npt.NDArray[np.int64]:
    import pyarrow as pa
    import pyarrow.compute as pc

    nulls = index.is_null()
    if index.null_count:
        row = int(pc.index(nulls, True).as_py())
        raise DatasetError(
            f"dataset {path}: row {row} has no extra_info.index (every row needs one, or none)"
        )
    if not pa.types.is_integer(index.type):
        raise DatasetError(f"dataset {path}: extra_info.index must be integers, got type {index.type}")
    ids = index.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    repeated = duplicate_id_rows(ids)
    if repeated:
        shown = "; ".join(f"index {i} at rows {rows}" for i, rows in list(repeated.items())[:5])
        more = f" (and {len(repeated) - 5} more ids)" if len(repeated) > 5 else ""
        raise DatasetError(
            f"dataset {path}: extra_info.index repeated: {shown}{more}; every row needs its own index "
            "(re-index the dataset, e.g. after concatenating files that each count from 0)"
        )
    return ids


def duplicate_id_rows(ids: Sequence[int] | npt.NDArray[np.int64]) -> dict[int, list[int]]:
    """Every id that occurs more than once, with all its row positions (in id order).

    >>> duplicate_id_rows([4, 1, 4, 2, 1])
    {1: [1, 4], 4: [0, 2]}
    """
    arr = np.asarray(ids, dtype=np.int64)
    order = np.argsort(arr, kind="stable")
    sorted_ids = arr[order]
    if len(arr) < 2 or not (sorted_ids[1:] == sorted_ids[:-1]).any():
        return {}
    uniq, starts, counts = np.unique(sorted_ids, return_index=True, return_counts=True)
    return {
        int(u): sorted(order[s : s + c].tolist())
        for u, s, c in zip(uniq.tolist(), starts.tolist(), counts.tolist(), strict=True)
        if c > 1
    }


def _canonical_truth(raw: Any) -> bytes:
    """A ground truth as canonical JSON bytes (see the module docstring); never raises."""
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON (or too deep / too long a number): the text itself
            return b"s" + raw.encode("utf-8", "surrogatepass")
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, RecursionError, TypeError):
        text = repr(value)
    return b"j" + text.encode("utf-8", "surrogatepass")


def truth_fingerprint(ids: Sequence[int] | npt.NDArray[np.int64], truths: Sequence[Any]) -> str:
    """The dataset fingerprint of rows given as sample ids and raw ground truths (order-independent).

    >>> a = truth_fingerprint([1, 2], ['{"task": "mcq", "answer": "A"}', {"answer": "B", "task": "mcq"}])
    >>> b = truth_fingerprint([2, 1], [{"task": "mcq", "answer": "B", "segment": None}, '{"answer":"A","task":"mcq"}'])
    >>> a == b, a[:3]
    (True, 'v1:')
    >>> a == truth_fingerprint([1, 2], ['{"task": "mcq", "answer": "A"}', {"task": "mcq", "answer": "C"}])
    False
    """
    arr = np.asarray(ids, dtype=np.int64)
    if len(arr) != len(truths):
        raise ValueError(f"{len(arr)} ids but {len(truths)} ground truths")
    digest = hashlib.sha256()
    pack = struct.Struct("<qQ").pack
    order = np.argsort(arr, kind="stable").tolist()
    sorted_ids = arr[order].tolist()
    parts: list[bytes] = []
    for sid, pos in zip(sorted_ids, order, strict=True):
        blob = _canonical_truth(truths[pos])
        # Length-prefixed: no choice of ground-truth text can make two different datasets hash alike.
        parts += (pack(sid, len(blob)), blob)
        if len(parts) >= 8192:  # bounded memory: hash in slices
            digest.update(b"".join(parts))
            parts.clear()
    digest.update(b"".join(parts))
    return "v1:" + digest.hexdigest()


def table_fingerprint(table: pa.Table, where: str = "table") -> str:
    """The fingerprint of an in-memory verl table, with sample ids as :func:`read_sample_ids` reads them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if _index_field(table.schema):
        ids = _ids_from_index_column(
            pc.struct_field(table.column("extra_info").combine_chunks(), "index"), where
        )
    else:
        ids = np.arange(table.num_rows, dtype=np.int64)
    truths: list[Any] = [None] * table.num_rows
    if "reward_model" in table.schema.names:
        rm = table.column("reward_model").combine_chunks()
        if pa.types.is_struct(rm.type) and rm.type.get_field_index("ground_truth") >= 0:
            truths = pc.struct_field(rm, "ground_truth").to_pylist()
    return truth_fingerprint(ids, truths)


def dataset_fingerprint(path: str | Path) -> str:
    """The fingerprint of a dataset file (reads only ``extra_info.index`` and ``reward_model.ground_truth``)."""
    return load_ground_truths(path).fingerprint()


@dataclass(frozen=True)
class SampleIndex:
    """Maps sample ids to dataset row positions, vectorised.

    >>> idx = SampleIndex(np.array([10, 3, 7]))
    >>> idx.positions(np.array([7, 10])).tolist()
    [2, 0]
    """

    ids: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        order = np.argsort(self.ids, kind="stable")
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_sorted", self.ids[order])

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, sample_ids: npt.NDArray[np.int64], *, where: str = "input") -> npt.NDArray[np.int64]:
        """Row positions of ``sample_ids``; :class:`DatasetError` naming the ids the dataset does not have."""
        sorted_ids: npt.NDArray[np.int64] = self._sorted  # type: ignore[attr-defined]
        order: npt.NDArray[np.int64] = self._order  # type: ignore[attr-defined]
        if len(sorted_ids) == 0:
            if len(sample_ids):
                raise DatasetError(
                    f"{where}: the dataset is empty but sample ids {sample_ids[:5].tolist()} given"
                )
            return np.empty(0, dtype=np.int64)
        at = np.searchsorted(sorted_ids, sample_ids)
        at_clipped = np.minimum(at, len(sorted_ids) - 1)
        unknown = sorted_ids[at_clipped] != sample_ids
        if unknown.any():
            bad = np.unique(sample_ids[unknown])
            raise DatasetError(
                f"{where}: {len(bad)} sample id(s) not in the dataset, e.g. {bad[:5].tolist()} "
                "(sample_id is extra_info.index, or the row position when the dataset has none)"
            )
        return order[at_clipped].astype(np.int64, copy=False)


@dataclass(frozen=True)
class GroundTruthIndex:
    """What scoring needs from the dataset, one entry per row, ground truths still raw.

    Parsing (pydantic validation) is the costly part for 100k's of rows, so it happens lazily, once per
    row, in whichever scoring process sees the row's rollouts (:meth:`parse`).
    """

    path: str
    samples: SampleIndex
    raw: list[Any]
    data_sources: list[str | None]
    durations: list[Any]

    def parse(self, pos: int) -> GroundTruth:
        """The validated ground truth of row ``pos``; :class:`DatasetError` naming the row and sample id."""
        from video_rewards import parse_ground_truth

        gt = self.raw[pos]
        sid = int(self.samples.ids[pos])
        if gt is None:
            raise DatasetError(
                f"dataset {self.path}: row {pos} (sample_id {sid}): reward_model.ground_truth is null"
            )
        try:
            return parse_ground_truth(gt, data_source=self.data_sources[pos], duration=self.durations[pos])
        except ValueError as exc:
            raise DatasetError(f"dataset {self.path}: row {pos} (sample_id {sid}): {exc}") from None
        except (
            RecursionError,
            OverflowError,
            TypeError,
        ) as exc:  # a validator that should have said ValueError
            raise DatasetError(
                f"dataset {self.path}: row {pos} (sample_id {sid}): invalid ground truth "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def fingerprint(self) -> str:
        """:func:`truth_fingerprint` of this dataset."""
        return truth_fingerprint(self.samples.ids, self.raw)


def load_ground_truths(path: str | Path) -> GroundTruthIndex:
    """Read the columns scoring needs (ground truth, data source, duration, sample id); parse nothing yet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema_arrow
    require_columns(schema.names, ("reward_model",), "dataset", path)
    rm_type = schema.field("reward_model").type
    if not (pa.types.is_struct(rm_type) and rm_type.get_field_index("ground_truth") >= 0):
        raise DatasetError(f"dataset {path}: column reward_model has no field ground_truth (type {rm_type})")
    raw = _read_field(path, "reward_model.ground_truth").to_pylist()
    ids = read_sample_ids(path)
    extra_type = schema.field("extra_info").type if "extra_info" in schema.names else None
    has_duration = (
        extra_type is not None
        and pa.types.is_struct(extra_type)
        and extra_type.get_field_index("duration") >= 0
    )
    durations: list[Any] = (
        _read_field(path, "extra_info.duration").to_pylist() if has_duration else [None] * len(ids)
    )
    sources: list[str | None] = (
        _read_field(path, "data_source").to_pylist() if "data_source" in schema.names else [None] * len(ids)
    )
    return GroundTruthIndex(str(path), SampleIndex(ids), raw, sources, durations)
