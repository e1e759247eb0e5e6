"""Reading ground truth: a dict, its JSON string, a verl parquet struct or a model, validated into the
task's :class:`~video_rewards.truth.GroundTruth` model. Every problem is a ``ValueError`` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import ValidationError

from video_rewards.tasks import TASKS, known_tasks
from video_rewards.truth import GroundTruth

__all__ = ["MAX_TRUTH_DEPTH", "parse_ground_truth", "validate_truth"]

_SCALARS = (str, int, float, bool, type(None))

#: How deep a ground truth may nest (``{"segments": [[s, e]]}`` is 3): deeper input is an error naming
#: its field, never a RecursionError from the JSON decoder, the conversion below or pydantic.
MAX_TRUTH_DEPTH = 8


def _to_plain(value: Any, field: str = "ground_truth", depth: int = 1) -> Any:
    """numpy arrays / scalars (verl's parquet structs) to Python lists / numbers, recursively.

    Raises ``ValueError`` naming ``field`` past :data:`MAX_TRUTH_DEPTH` levels.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth > MAX_TRUTH_DEPTH:
        raise ValueError(f"{field}: nested more than {MAX_TRUTH_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        if depth + value.ndim > MAX_TRUTH_DEPTH + 1:
            raise ValueError(f"{field}: nested more than {MAX_TRUTH_DEPTH} levels deep")
        if value.dtype != object:
            return value.tolist()
        return [_to_plain(v, field, depth + 1) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _to_plain(v, field, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v, field, depth + 1) for k, v in value.items()}
    return value


def _deepest_field(text: str) -> str:
    """The top-level key of a JSON object text whose value nests past :data:`MAX_TRUTH_DEPTH` (for the
    error message after the decoder gave up); a linear scan, no recursion."""
    depth, key, in_string, escaped, start = 0, "?", False, False, 0
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1 and text[i + 1 :].lstrip().startswith(":"):
                    key = text[start:i]
        elif ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_TRUTH_DEPTH:
                return f"ground_truth.{key}"
        elif ch in "]}":
            depth -= 1
    return "ground_truth"


def parse_ground_truth(
    obj: Mapping[str, Any] | str | GroundTruth,
    *,
    data_source: str | None = None,
    duration: float | None = None,
) -> GroundTruth:
    """Validate a ground truth: a dict, its JSON string, or a model instance.

    Keys whose value is ``None`` are dropped (a parquet struct column holds every task's keys). Without a
    ``task`` key, a ``data_source`` that names a task is used. ``duration`` (e.g. from ``extra_info``)
    fills in a missing ``duration``. Raises ``ValueError`` naming the field.

    >>> parse_ground_truth('{"task": "tvg", "segment": [2, 9.5], "duration": 30}').segment
    Span(start=2.0, end=9.5)
    >>> parse_ground_truth({"task": "tvg", "segment": [9, 2]})
    Traceback (most recent call last):
    ...
    ValueError: ground_truth (task 'tvg'): segment must satisfy 0 <= start < end, got [9.0, 2.0]
    """
    if isinstance(obj, GroundTruth):
        if (
            duration is not None
            and "duration" in type(obj).model_fields
            and getattr(obj, "duration", None) is None
        ):
            return _validate(obj.model_dump(), data_source, duration)
        return obj
    if isinstance(obj, str):
        return _parse_json_truth(obj, data_source, duration)
    if not isinstance(obj, Mapping):
        raise ValueError(f"ground_truth must be a dict or its JSON string, got {type(obj).__name__}")
    plain = _plain_fields(obj)
    try:
        # verl hands over a fresh dict per call: its JSON text is the cache key of the validated model.
        key = json.dumps(plain, allow_nan=False)
    except (TypeError, ValueError):
        return _validate(plain, data_source, duration)  # not JSON-able: validate (and report) directly
    return _parse_json_truth(key, data_source, duration)


def _plain_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ground truth's fields as plain Python values, ``None`` values dropped."""
    return {str(k): _to_plain(v, f"ground_truth.{k}") for k, v in obj.items() if v is not None}


@lru_cache(maxsize=65_536)
def _parse_json_truth(text: str, data_source: str | None, duration: float | None) -> GroundTruth:
    try:
        obj = json.loads(text)
    except RecursionError:
        raise ValueError(f"{_deepest_field(text)}: nested more than {MAX_TRUTH_DEPTH} levels deep") from None
    except ValueError as exc:
        raise ValueError(f"ground_truth: not valid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"ground_truth: JSON must be an object, got {type(obj).__name__}")
    return _validate(obj, data_source, duration)


def validate_truth(
    obj: Mapping[str, Any] | str | GroundTruth, data_source: str | None, duration: float | None
) -> GroundTruth:
    """:func:`parse_ground_truth` without the JSON-text cache for dicts (for callers that deduplicate)."""
    if isinstance(obj, GroundTruth | str) or not isinstance(obj, Mapping):
        return parse_ground_truth(obj, data_source=data_source, duration=duration)
    return _validate(obj, data_source, duration)


def _validate(obj: Mapping[str, Any], data_source: str | None, duration: float | None) -> GroundTruth:
    data = _plain_fields(obj)
    task = data.get("task")
    if task is None:
        if data_source is not None and data_source in TASKS:
            task = data["task"] = data_source
        else:
            raise ValueError(f"ground_truth.task: missing; known tasks: {', '.join(known_tasks())}")
    try:
        spec = TASKS.get(str(task))
    except ValueError as exc:
        raise ValueError(f"ground_truth.task: {exc}") from None
    if duration is not None and "duration" not in data and "duration" in spec.truth.model_fields:
        data["duration"] = duration
    try:
        return spec.truth.model_validate(data)
    except ValidationError as exc:
        detail = "; ".join(_error_text(e) for e in exc.errors())
        raise ValueError(f"ground_truth (task {task!r}): {detail}") from None


def _error_text(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Model-level validators already name their field in the message.
    return f"{loc}: {msg}" if loc else msg
