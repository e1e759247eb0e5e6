"""The whole-batch fast path of :func:`video_rewards.score_batch`: the reference values, fewer Python steps.

The reference batch path (:mod:`video_rewards.batch`) still spends a few microseconds of Python per
response. Here the per-item work is replaced by passes over the whole batch, in C:

* **ground truth**: the usual dict shapes (``mcq``/``tvg``/``gqa``/``numeric`` with plain ``str`` /
  ``int`` / ``float`` values) are checked by hand, once per distinct object, into plain fields; any other
  shape goes through :func:`~video_rewards.tasks.validate_truth` (which also raises the errors);
* **format + first answer block**: the responses are joined into one ASCII buffer; numpy finds every
  ``<`` and classifies the four tags from the 8 bytes at it, maps tags to responses with
  ``searchsorted`` and decides the format and the first ``<answer>…</answer>`` block per response with
  array operations (whitespace runs of more than 16 characters are checked with ``str.isspace``);
* **answers**: the ``tvg`` and ``gqa`` answer blocks are gathered (numpy) into one ``\\x00``-joined
  string and read by one ``findall`` of a regex whose alternatives fully match the usual spellings (for
  spans, the patterns of :func:`~video_rewards.parsing.parse_span`'s own fast path, so the spans are the
  same; for gqa, the JSON object exactly as ``json.loads`` reads it) and whose last alternative swallows
  anything else; ``mcq``/``numeric`` answers are parsed once per distinct ``(answer, options)``;
  ``multi_tvg`` answers with two plain ranges against two gold segments are matched with numpy (the same
  float operations as the reference);
* IoU, shaping and the weighted sum are numpy expressions over columns.

Measured on the benchmark mix (``benchmarks/bench_rewards.py``) this is about 1.7–1.8× the reference
batch path; what is left is CPython's cost per created object (answer strings, regex groups, predictions).

Whatever is not in those shapes — a non-ASCII or over-long response, an answer in an unusual spelling,
an over-long answer, an unusual ground truth, ``require_answer_tag=False`` — is scored by the reference
path, so the values never depend on which path ran (``tests/rewards/test_batch_fastpath.py`` checks this
column by column). Every regex here is anchored at a ``\\x00`` and made of bounded or possessive-by-
construction pieces, so the scan stays linear in the batch's size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from video_rewards.config import RewardConfig
from video_rewards.parsing import (
    _BETWEEN_END_RE,
    _FAST_ITEM_RE,
    _FAST_LIST_RE,
    _FAST_NUM,
    _FAST_SPAN_RE,
    OptionSet,
    _choice,
    _number_value,
    parse_number,
)
from video_rewards.tasks import _span_arrays, get_task, validate_truth
from video_rewards.truth import (
    ChoiceTruth,
    GroundedQATruth,
    GroundingTruth,
    GroundTruth,
    MultiGroundingTruth,
    NumericTruth,
)

__all__ = ["FastColumns", "fast_columns"]

# ----------------------------------------------------------------------------------- ground truth

_FLOAT_MAX_INT: Final = 2**1023  # larger ints do not convert to float


def _number(value: object) -> float | None:
    """A finite plain ``int``/``float`` (not ``bool``) as float, else ``None`` (left to pydantic)."""
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is int and -_FLOAT_MAX_INT < value < _FLOAT_MAX_INT:
        return float(value)
    return None


class Truth(NamedTuple):
    """The fields of one validated ground truth that scoring reads (NaN / ``None`` where absent)."""

    task: str
    letter: str | None = None  # mcq / gqa: the answer's option letter
    options: OptionSet | None = None
    start: float = math.nan  # tvg / gqa: the gold segment, clipped to the duration
    end: float = math.nan
    duration: float = math.inf
    value: float = math.nan  # numeric
    abs_tol: float | None = None
    rel_tol: float | None = None
    segments: tuple[tuple[float, float], ...] = ()  # multi_tvg
    model: GroundTruth | None = None  # the pydantic model, when it was built


_TVG_KEYS: Final = frozenset({"task", "segment", "duration"})
_MCQ_KEYS: Final = frozenset({"task", "answer", "options"})
_GQA_KEYS: Final = _MCQ_KEYS | _TVG_KEYS
_NUMERIC_KEYS: Final = frozenset({"task", "answer", "abs_tol", "rel_tol"})


def _segment(obj: dict[str, Any], duration: float) -> tuple[float, float] | None:
    seg = obj.get("segment")
    # Exact list/tuple only (a subclass such as Span goes to pydantic); isinstance narrows for mypy.
    if not isinstance(seg, list | tuple) or type(seg) not in (list, tuple) or len(seg) != 2:
        return None
    s, e = _number(seg[0]), _number(seg[1])
    if s is None or e is None or s < 0 or e <= s or s >= duration:
        return None
    return s, min(e, duration)


def _option_set(options: object) -> OptionSet | None:
    """The option set of a plain list/tuple of non-blank strings (at most 26), else ``None``."""
    if (
        type(options) not in (list, tuple)
        or len(options) > 26  # type: ignore[arg-type]
        or not all(type(o) is str and o.strip() for o in options)  # type: ignore[attr-defined]
    ):
        return None
    return OptionSet.from_options(options)  # type: ignore[arg-type]


def _options(obj: dict[str, Any], seen: dict[int, OptionSet | None]) -> tuple[str, OptionSet] | None:
    """``(letter, options)`` of a letter answer; ``seen`` caches option lists by identity for one batch
    (a dataset's rows often share one options list object)."""
    answer = obj.get("answer")
    options = obj.get("options", ())
    if type(answer) is not str or len(answer) != 1 or not (answer.isascii() and answer.isalpha()):
        return None
    key = id(options)
    if key in seen:
        opts = seen[key]
    else:
        opts = seen[key] = _option_set(options)
    if opts is None:
        return None
    letter = answer.upper()
    if opts.labels and letter not in opts.labels:
        return None
    return letter, opts


def _plain_truth(obj: object, seen: dict[int, OptionSet | None] | None = None) -> Truth | None:
    """The usual ground-truth dicts, checked as the pydantic models would; ``None`` for anything else.

    Only shapes whose validation is certain are accepted (plain ``str``/``int``/``float`` values, no
    extra keys, a letter answer); every other object goes to :func:`validate_truth`.
    """
    # Every accepted value is type-checked below, so a None value (dropped by the reference) or a numpy
    # value (converted by it) always takes the reference route.
    if type(obj) is not dict:
        return None
    task = obj.get("task")
    keys = obj.keys()
    if task == "tvg" or task == "gqa":
        if not keys <= (_TVG_KEYS if task == "tvg" else _GQA_KEYS):
            return None
        duration = math.inf
        if "duration" in obj:
            d = _number(obj["duration"])
            if d is None or d <= 0:
                return None
            duration = d
        seg = _segment(obj, duration)
        if seg is None:
            return None
        if task == "tvg":
            return Truth("tvg", start=seg[0], end=seg[1], duration=duration)
        choice = _options(obj, {} if seen is None else seen)
        if choice is None:
            return None
        return Truth("gqa", choice[0], choice[1], seg[0], seg[1], duration)
    if task == "mcq":
        if not keys <= _MCQ_KEYS:
            return None
        choice = _options(obj, {} if seen is None else seen)
        return None if choice is None else Truth("mcq", choice[0], choice[1])
    if task == "numeric":
        if not keys <= _NUMERIC_KEYS or "answer" not in obj:
            return None
        value = _number(obj["answer"])
        abs_tol = _number(obj["abs_tol"]) if "abs_tol" in obj else None
        rel_tol = _number(obj["rel_tol"]) if "rel_tol" in obj else None
        if (
            value is None
            or ("abs_tol" in obj and (abs_tol is None or abs_tol < 0))
            or ("rel_tol" in obj and (rel_tol is None or rel_tol < 0))
        ):
            return None
        return Truth("numeric", value=value, abs_tol=abs_tol, rel_tol=rel_tol)
    return None


def _from_model(model: GroundTruth) -> Truth:
    """The scoring fields of a validated model (any task; unknown ones keep only ``task``/``model``)."""
    if isinstance(model, GroundedQATruth):
        s, e = model.segment
        d = math.inf if model.duration is None else model.duration
        return Truth("gqa", model.answer, model.option_set, s, e, d, model=model)
    if isinstance(model, ChoiceTruth):
        return Truth("mcq", model.answer, model.option_set, model=model)
    if isinstance(model, GroundingTruth):
        s, e = model.segment
        d = math.inf if model.duration is None else model.duration
        return Truth("tvg", start=s, end=e, duration=d, model=model)
    if isinstance(model, MultiGroundingTruth):
        d = math.inf if model.duration is None else model.duration
        return Truth("multi_tvg", duration=d, segments=model.segments, model=model)
    if isinstance(model, NumericTruth):
        return Truth("numeric", value=model.answer, abs_tol=model.abs_tol, rel_tol=model.rel_tol, model=model)
    return Truth(model.task, model=model)


def distinct_truths(
    ground_truths: Sequence[Mapping[str, Any] | str | GroundTruth],
    data_sources: Sequence[str | None] | None,
    durations: Sequence[float | None] | None,
) -> tuple[list[Truth], npt.NDArray[np.intp], list[Any], list[Any]]:
    """``(truths, inverse, objects, keys)``: one :class:`Truth` per distinct ``(object, data_source,
    duration)`` (as the reference deduplicates), ``inverse`` mapping rows to them. Invalid ground truth
    raises the reference's ``ValueError`` naming the first bad row."""
    from video_rewards.batch import truth_keys

    plain = data_sources is None and durations is None
    keys = truth_keys(ground_truths, data_sources, durations)
    position: dict[Any, int] = dict.fromkeys(keys, 0)
    for j, key in enumerate(position):
        position[key] = j
    inverse = np.fromiter(map(position.__getitem__, keys), dtype=np.intp, count=len(keys))
    first_row = np.unique(inverse, return_index=True)[1]  # codes are numbered by first occurrence
    objects = [ground_truths[r] for r in first_row.tolist()]
    out: list[Truth] = []
    distinct_keys = list(position)
    seen: dict[int, OptionSet | None] = {}  # lists alive in `objects`: ids are not reused meanwhile
    for k, obj in enumerate(objects):
        got = _plain_truth(obj, seen) if plain else None
        if got is None:
            src, dur = (None, None) if plain else distinct_keys[k][1:]
            try:
                model = validate_truth(obj, src, dur)
            except ValueError as exc:
                raise ValueError(f"row {int(first_row[k])}: {exc}") from None
            got = _from_model(model)
        out.append(got)
    return out, inverse, objects, distinct_keys


def model_of(truth: Truth, obj: Any) -> GroundTruth:
    """The pydantic model of a distinct truth (built now if the fast check skipped it)."""
    if truth.model is not None:
        return truth.model
    return validate_truth(obj, None, None)


# ----------------------------------------------------------------------------- format and answers

# ASCII characters str.isspace() / str.strip() treat as whitespace.
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
_WS_WINDOW: Final = 16
_PAD: Final = "\x00" * 16
_LOW7: Final = (1 << 56) - 1
_THINK_OPEN = int.from_bytes(b"<think>", "little")
_THINK_CLOSE = int.from_bytes(b"</think>", "little")
_ANSWER_OPEN = int.from_bytes(b"<answer>", "little")
_ANSWER_CLOSE8 = int.from_bytes(b"</answer", "little")


def _first_per_item(items: npt.NDArray[np.intp], pos: npt.NDArray[np.int64], m: int) -> npt.NDArray[np.int64]:
    """Position of each item's first tag (``-1`` where it has none); ``items`` is sorted."""
    out = np.full(m, -1, dtype=np.int64)
    if items.size:
        first = np.ones(items.size, dtype=bool)
        first[1:] = items[1:] != items[:-1]
        out[items[first]] = pos[first]
    return out


def _all_ws(
    buf: npt.NDArray[np.uint8], text: str, start: npt.NDArray[np.int64], stop: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Is ``text[start:stop]`` empty or whitespace only, per row (``stop < start`` counts as no)."""
    length = stop - start
    out = length == 0
    rows = np.flatnonzero(length > 0)
    if rows.size:
        # The first 16 characters of each run settle it, unless the run is longer and they are all spaces.
        window = buf[start[rows, None] + np.arange(_WS_WINDOW)]
        inside = np.arange(_WS_WINDOW) < length[rows, None]
        out[rows] = np.all(_WS[window] | ~inside, axis=1)
    for r in np.flatnonzero(out & (length > _WS_WINDOW)).tolist():
        out[r] = text[start[r] : stop[r]].isspace()
    return out


class Blocks(NamedTuple):
    """Format flag of each response and where its first answer block's text lies in ``joined`` (unstripped;
    ``start == end == 0`` where there is no complete block)."""

    fmt: npt.NDArray[np.float64]
    has_block: npt.NDArray[np.bool_]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    joined: str
    buf: npt.NDArray[np.uint8]

    def texts(self, rows: npt.NDArray[np.intp]) -> list[str]:
        """The stripped answer blocks of ``rows`` (which have one)."""
        get = self.joined.__getitem__
        return list(map(str.strip, map(get, map(slice, self.start[rows].tolist(), self.end[rows].tolist()))))

    def joined_texts(self, rows: npt.NDArray[np.intp]) -> str:
        """``"\x00" + "\x00".join(blocks) + "\x00"`` of ``rows``' unstripped blocks, gathered in numpy."""
        start, length = self.start[rows], self.end[rows] - self.start[rows]
        total = int(length.sum())
        before = np.cumsum(length) - length  # block bytes before each block
        at = np.arange(total)
        out = np.zeros(total + rows.size + 1, dtype=np.uint8)  # the zeros left are the separators
        # Byte t of block k goes from start[k] + t to before[k] + t + k + 1 (k + 1 separators precede it).
        out[at + np.repeat(np.arange(1, rows.size + 1), length)] = self.buf[
            at + np.repeat(start - before, length)
        ]
        return out.tobytes().decode("ascii")


def split_blocks(texts: list[str], lens: npt.NDArray[np.int64] | None = None) -> Blocks:
    """:func:`~video_rewards.parsing.split_response` for many ASCII responses at once (``lens``: their
    lengths, if known)."""
    m = len(texts)
    if lens is None:
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=m)
    ends = np.cumsum(lens)
    starts = ends - lens
    total = int(ends[-1]) if m else 0
    # Padded so that the 16-byte windows read below never run past the end (one copy, not two).
    joined = "".join([*texts, _PAD])
    raw = joined.encode("ascii")
    buf = np.frombuffer(raw, dtype=np.uint8)
    # Every 8-byte little-endian word of the buffer (unaligned view, no copy): the tag at each "<".
    words = np.ndarray((len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))
    lt = np.flatnonzero(buf[:total] == 60)
    w = words[lt]
    kind = np.zeros(lt.size, dtype=np.int8)
    kind[(w & _LOW7) == _THINK_OPEN] = 1
    kind[w == _THINK_CLOSE] = 2
    kind[w == _ANSWER_OPEN] = 3
    kind[(w == _ANSWER_CLOSE8) & (buf[lt + 8] == 62)] = 4
    tags = np.flatnonzero(kind)
    pos, kind = lt[tags].astype(np.int64), kind[tags]
    item = np.searchsorted(ends, pos, side="right")
    size = np.array([0, 7, 8, 8, 9], dtype=np.int64)[kind]
    inside = pos + size <= ends[np.minimum(item, m - 1)] if m else np.zeros(0, dtype=bool)
    pos, kind, item = pos[inside], kind[inside], item[inside]

    count = [np.bincount(item[kind == k], minlength=m) for k in (1, 2, 3, 4)]
    first = [_first_per_item(item[kind == k], pos[kind == k], m) for k in (1, 2, 3, 4)]

    # First <answer>, then the first </answer> after it (tags never overlap, so any later one qualifies).
    a_open = first[2]
    close_pos = pos[kind == 4]
    close_item = item[kind == 4]
    has_open = a_open >= 0
    j = np.searchsorted(close_pos, a_open + 8)
    jc = np.minimum(j, max(close_pos.size - 1, 0))
    has_block = has_open & (j < close_pos.size)
    if close_pos.size:
        has_block &= close_item[jc] == np.arange(m)
    a_close = np.where(has_block, close_pos[jc] if close_pos.size else 0, -1)

    one_each = (count[0] == 1) & (count[1] == 1) & (count[2] == 1) & (count[3] == 1)
    fmt = np.zeros(m)
    rows = np.flatnonzero(one_each & has_block)
    if rows.size:
        t_open, t_close = first[0][rows], first[1][rows]
        ao, ac = a_open[rows], a_close[rows]
        ok = (
            (t_open < t_close)
            & (t_close + 8 <= ao)
            & _all_ws(buf, joined, starts[rows], t_open)
            & _all_ws(buf, joined, t_close + 8, ao)
            & _all_ws(buf, joined, ac + 9, ends[rows])
        )
        fmt[rows[ok]] = 1.0

    body_start = np.where(has_block, a_open + 8, 0)
    body_end = np.where(has_block, a_close, 0)
    return Blocks(fmt, has_block, body_start, body_end, joined, buf)


# -------------------------------------------------------------------------------------- answers

_SEP: Final = "\x00"

# One match per answer (each starts at its "\x00"): the JSON span shape, then "prefix + range" exactly as
# parsing._FAST_SPAN_RE reads it from the first digit, then anything else (no groups: a fallback).
# The prefix holds no digit, so it ends at the first digit as parsing._fast_span's search does.
_SPAN_BODY = _FAST_SPAN_RE.pattern.removesuffix(r"\s*\Z") + r"\s*(?=\x00)"
_TVG_RE: Final = re.compile(
    r'\x00(?:\s*\{\s*"start_time"\s*:\s*"?' + _FAST_NUM + r'"?\s*,\s*"end_time"\s*:\s*"?' + _FAST_NUM
    + r'"?\s*\}\s*(?=\x00)|([^\d\x00]*)' + _SPAN_BODY + r"|[^\x00]*)"
)  # fmt: skip

# A JSON object exactly as json.loads reads it: no sign, no leading zero, no exponent, ASCII answer text.
_JSON_WS = r"[ \t\n\r]*"
_JSON_NUM = r"((?:0|[1-9]\d{0,14})(?:\.\d{1,15})?)"
_GQA_RE: Final = re.compile(
    r"\x00(?:\s*\{" + _JSON_WS + r'"answer"' + _JSON_WS + ":" + _JSON_WS + r'"([^"\\\x00-\x1f]{0,64})"'
    + _JSON_WS + "," + _JSON_WS + r'"start_time"' + _JSON_WS + ":" + _JSON_WS + _JSON_NUM + _JSON_WS
    + "," + _JSON_WS + r'"end_time"' + _JSON_WS + ":" + _JSON_WS + _JSON_NUM + _JSON_WS + r"\}\s*(?=\x00)"
    + r"|[^\x00]*)"
)  # fmt: skip


def _joined_findall(pattern: re.Pattern[str], joined: str, n: int) -> list[Any] | None:
    """One ``findall`` over ``n`` answers joined by ``\x00``: one hit per answer (``None`` if an answer
    held a ``\x00`` itself, which makes the join ambiguous: the reference path decides those)."""
    hits = pattern.findall(joined)
    # The closing separator yields one more (empty) hit of the catch-all alternative.
    return hits[:-1] if len(hits) == n + 1 else None


def _numbers(texts: list[str]) -> npt.NDArray[np.float64]:
    """:func:`~video_rewards.parsing._number_value` of many ``_FAST_NUM`` texts, once per distinct text
    (times written to 0.1 s repeat a lot across a batch)."""
    value = {t: _number_value(t) if ":" in t else float(t) for t in set(texts)}
    return np.fromiter(map(value.__getitem__, texts), dtype=np.float64, count=len(texts))


def tvg_spans(
    joined: str, n: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """``(start, end, found)`` of the first span of each of the ``n`` answers in ``joined`` (see
    :meth:`Blocks.joined_texts`) as ``parse_span`` reads it, where the fast shapes decide it (``found``
    False: use the reference parser)."""
    hits = _joined_findall(_TVG_RE, joined, n)
    if hits is None:
        return np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    j1, j2, prefix, s1, sep, s2 = zip(*hits, strict=True)
    found = np.array([bool(x or y) for x, y in zip(j1, s1, strict=True)], dtype=bool)
    # parsing._fast_span may still decline a range it matched, for its prefix: decide each distinct
    # (prefix, separator) once. JSON rows and unmatched rows have no separator.
    pairs = list(zip(prefix, sep, strict=True))
    declined = {pq for pq in set(pairs) if pq[1] and not _prefix_ok(pq[0].rstrip(), pq[1])}
    if declined:
        found[[k for k, pq in enumerate(pairs) if pq in declined]] = False
    ends = _numbers([x or y or "0" for x, y in zip(j1 + j2, s1 + s2, strict=True)])
    return ends[:n], ends[n:], found


def _prefix_ok(prefix: str, sep: str) -> bool:
    """parsing._fast_span's conditions on the text before the first digit (rstripped)."""
    if prefix.endswith(("-", "−")):
        return False
    if sep == "and":
        return _BETWEEN_END_RE.search(prefix) is not None
    if sep == ",":
        return prefix.endswith(("[", "("))
    return True


class GqaParts(NamedTuple):
    answer: list[str]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    found: npt.NDArray[np.bool_]


def gqa_parts(joined: str, n: int) -> GqaParts:
    """The usual ``{"answer": …, "start_time": …, "end_time": …}`` blocks read without ``json.loads``
    (``n`` unstripped answers joined as for :func:`tvg_spans`)."""
    hits = _joined_findall(_GQA_RE, joined, n)
    if hits is None:
        return GqaParts([""] * n, np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool))
    found = np.fromiter((bool(h[1]) for h in hits), dtype=bool, count=n)
    texts = [h[0] for h in hits]
    s = np.array([float(h[1]) if h[1] else 0.0 for h in hits])
    e = np.array([float(h[2]) if h[2] else 0.0 for h in hits])
    return GqaParts(texts, s, e, found)


def multi_pairs(answers: list[str]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """``(spans (n, 2, 2), found)``: answers that are a list of exactly two plain ranges, read as
    ``find_spans`` reads them."""
    n = len(answers)
    spans = np.zeros((n, 2, 2))
    found = np.zeros(n, dtype=bool)
    fullmatch, findall = _FAST_LIST_RE.fullmatch, _FAST_ITEM_RE.findall
    for k, text in enumerate(answers):
        if fullmatch(text) is None:
            continue
        items = findall(text)
        if len(items) != 2:
            continue
        for i, (a, b, c, d, e, f) in enumerate(items):
            s, t = (a, b) if a else (c, d) if c else (e, f)
            spans[k, i, 0] = float(s)
            spans[k, i, 1] = float(t)
        found[k] = True
    return spans, found


# ------------------------------------------------------------------------------------- the columns


class FastColumns(NamedTuple):
    """What the fast path decided: component columns for rows where ``done``; the rest go to the
    reference path."""

    done: npt.NDArray[np.bool_]
    fmt: npt.NDArray[np.float64]
    accuracy: npt.NDArray[np.float64]
    iou: npt.NDArray[np.float64]
    iou_reward: npt.NDArray[np.float64]
    prediction: npt.NDArray[np.object_]
    failure: npt.NDArray[np.object_]


def _obj(n: int, fill: object = None) -> npt.NDArray[np.object_]:
    out = np.empty(n, dtype=object)
    out[:] = [fill] * n
    return out


#: Rows per pass: the joined text of a chunk (~3 MB for R1-style rollouts) stays in cache and its buffers
#: are reused by the allocator; one pass over 10⁵ rows (~40 MB) measured ~1.5× slower per row.
CHUNK_ROWS: Final = 8192


def fast_columns(
    responses: list[Any], truths: list[Truth], row_truth: npt.NDArray[np.intp], cfg: RewardConfig
) -> FastColumns:
    """Score what the fast path can decide with certainty; ``done`` marks those rows."""
    table = Table.of(truths)
    parts = [
        _fast_chunk(responses[a : a + CHUNK_ROWS], row_truth[a : a + CHUNK_ROWS], table, cfg)
        for a in range(0, len(responses), CHUNK_ROWS)
    ]
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _fast_chunk([], row_truth, table, cfg)
    return FastColumns(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def _fast_chunk(
    responses: list[Any], row_truth: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> FastColumns:
    n = len(responses)
    done = np.zeros(n, dtype=bool)
    fmt = np.zeros(n)
    acc = np.full(n, math.nan)
    iou = np.full(n, math.nan)
    iou_reward = np.zeros(n)
    prediction = _obj(n)
    failure = _obj(n)
    if n == 0 or not cfg.require_answer_tag:
        return FastColumns(done, fmt, acc, iou, iou_reward, prediction, failure)

    limit = cfg.max_response_chars
    rows: npt.NDArray[np.intp] | None = None
    lens: npt.NDArray[np.int64] | None = None
    if set(map(type, responses)) <= {str} and all(map(str.isascii, responses)):
        lens = np.fromiter(map(len, responses), dtype=np.int64, count=n)
        if lens.max() <= limit:
            rows = np.arange(n)
    if rows is None:
        lens = None
        rows = np.array(
            [i for i, r in enumerate(responses) if type(r) is str and r.isascii() and len(r) <= limit],
            dtype=np.intp,
        )
        texts = [responses[i] for i in rows.tolist()]
    else:
        texts = responses
    blocks = split_blocks(texts, lens)
    fmt[rows] = blocks.fmt
    has_answer = np.zeros(n, dtype=bool)
    has_answer[rows] = blocks.has_block
    local = np.full(n, -1, dtype=np.intp)  # a row's index in `blocks`
    local[rows] = np.arange(rows.size)
    eligible = np.zeros(n, dtype=bool)
    eligible[rows] = True

    tcode_of = table.task_code_of
    row_code = table.task_code[row_truth]
    max_answer = cfg.max_answer_chars
    # The block's length bounds the stripped answer's: only the few long blocks are measured.
    long_blocks = rows[np.flatnonzero(blocks.end - blocks.start > max_answer)]
    too_long = [len(text) > max_answer for text in blocks.texts(local[long_blocks])]
    eligible[long_blocks[np.array(too_long, dtype=bool)]] = False

    for name, code in tcode_of.items():
        spec = get_task(name)
        of_task = (row_code == code) & eligible
        empty = np.flatnonzero(of_task & ~has_answer)
        if empty.size:
            if spec.has_accuracy:
                acc[empty] = 0.0
            if spec.has_iou:
                iou[empty] = 0.0
            failure[empty] = "no_answer_tag"
            done[empty] = True
        idx = np.flatnonzero(of_task & has_answer)
        if idx.size == 0:
            continue
        scorer = _TASK_SCORERS.get(name)
        if scorer is None:
            continue
        got = scorer(blocks, local[idx], row_truth[idx], table, cfg)
        ok = got.done
        sel = idx[ok]
        acc[sel] = got.accuracy[ok]
        iou[sel] = got.iou[ok]
        iou_reward[sel] = got.iou_reward[ok]
        prediction[sel] = got.prediction[ok]
        failure[sel] = got.failure[ok]
        done[sel] = True
    return FastColumns(done, fmt, acc, iou, iou_reward, prediction, failure)


class _Part(NamedTuple):
    done: npt.NDArray[np.bool_]
    accuracy: npt.NDArray[np.float64]
    iou: npt.NDArray[np.float64]
    iou_reward: npt.NDArray[np.float64]
    prediction: npt.NDArray[np.object_]
    failure: npt.NDArray[np.object_]


class Table(NamedTuple):
    """The distinct truths as columns (indexed by a row's distinct-truth index)."""

    truths: list[Truth]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    letter: npt.NDArray[np.object_]
    option_code: npt.NDArray[np.intp]
    option_sets: list[OptionSet | None]
    task_code: npt.NDArray[np.intp]
    task_code_of: dict[str, int]

    @classmethod
    def of(cls, truths: list[Truth]) -> Table:
        n = len(truths)
        code_of: dict[OptionSet | None, int] = {}
        codes = [code_of.setdefault(t.options, len(code_of)) for t in truths]
        task_code_of: dict[str, int] = {}
        task_codes = [task_code_of.setdefault(t.task, len(task_code_of)) for t in truths]
        return cls(
            truths,
            np.fromiter((t.start for t in truths), dtype=np.float64, count=n),
            np.fromiter((t.end for t in truths), dtype=np.float64, count=n),
            np.fromiter((t.duration for t in truths), dtype=np.float64, count=n),
            _objs([t.letter for t in truths]),
            np.array(codes, dtype=np.intp),
            list(code_of),
            np.array(task_codes, dtype=np.intp),
            task_code_of,
        )


def _choices(
    answers: list[str], tix: npt.NDArray[np.intp], table: Table
) -> tuple[list[str | None], list[str | None]]:
    """``_choice`` per row, computed once per distinct ``(answer, options)``."""
    keys = list(zip(answers, table.option_code[tix].tolist(), strict=True))
    sets = table.option_sets
    memo = {key: _choice(key[0], sets[key[1]] or OptionSet((), ())) for key in dict.fromkeys(keys)}
    got = list(map(memo.__getitem__, keys))
    return [g[0] for g in got], [g[1] for g in got]


def _mcq(
    blocks: Blocks, rows: npt.NDArray[np.intp], tix: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> _Part:
    n = rows.size
    letters, fails = _choices(blocks.texts(rows), tix, table)
    acc = (_objs(letters) == table.letter[tix]).astype(np.float64)
    return _Part(np.ones(n, dtype=bool), acc, np.full(n, math.nan), np.zeros(n), _objs(letters), _objs(fails))


def _objs(values: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _tvg(
    blocks: Blocks, rows: npt.NDArray[np.intp], tix: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> _Part:
    n = rows.size
    ps, pe, found = tvg_spans(blocks.joined_texts(rows), n)
    gs, ge, dur = table.start[tix], table.end[tix], table.duration[tix]
    iou, reward, failure, prediction = _span_arrays(ps, pe, ~found, gs, ge, dur, cfg)
    return _Part(found, np.full(n, math.nan), iou, reward, _objs(prediction), _objs(failure))


def _gqa(
    blocks: Blocks, rows: npt.NDArray[np.intp], tix: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> _Part:
    n = rows.size
    parts = gqa_parts(blocks.joined_texts(rows), n)
    gs, ge, dur = table.start[tix], table.end[tix], table.duration[tix]
    iou, reward, span_failures, spans = _span_arrays(parts.start, parts.end, ~parts.found, gs, ge, dur, cfg)
    letters, fails = _choices(parts.answer, tix, table)
    acc = (_objs(letters) == table.letter[tix]).astype(np.float64)
    prediction = [f"{c or '?'} @ {sp or '?'}" for c, sp in zip(letters, spans, strict=True)]
    failure = [c or f for c, f in zip(fails, span_failures, strict=True)]
    return _Part(parts.found, acc, iou, reward, _objs(prediction), _objs(failure))


def _numeric(
    blocks: Blocks, rows: npt.NDArray[np.intp], tix: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> _Part:
    n = rows.size
    answers = blocks.texts(rows)
    memo = {a: parse_number(a) for a in dict.fromkeys(answers)}
    truths = list(map(table.truths.__getitem__, tix.tolist()))
    acc = np.zeros(n)
    prediction: list[str | None] = [None] * n
    failure: list[str | None] = [None] * n
    for k, (answer, t) in enumerate(zip(answers, truths, strict=True)):
        value = memo[answer]
        if value is None or not math.isfinite(value):
            failure[k] = "no_number"
            continue
        abs_tol = cfg.numeric_abs_tol if t.abs_tol is None else t.abs_tol
        rel_tol = cfg.numeric_rel_tol if t.rel_tol is None else t.rel_tol
        acc[k] = float(abs(value - t.value) <= max(abs_tol, rel_tol * abs(t.value)))
        prediction[k] = f"{value:g}"
    return _Part(
        np.ones(n, dtype=bool), acc, np.full(n, math.nan), np.zeros(n), _objs(prediction), _objs(failure)
    )


def _multi(
    blocks: Blocks, rows: npt.NDArray[np.intp], tix: npt.NDArray[np.intp], table: Table, cfg: RewardConfig
) -> _Part:
    """Two plain ranges against two gold segments, every span valid: ``score_multi_tvg``'s optimal
    matching is the better of the two pairings (the identity pairing on a tie), with its float sums."""
    n = rows.size
    nan = np.full(n, math.nan)
    shaped = cfg.iou_threshold is None and cfg.iou_mode != "iou"
    if shaped or cfg.max_predicted_segments < 2:
        return _Part(np.zeros(n, dtype=bool), nan, nan, np.zeros(n), _obj(n), _obj(n))
    spans, found = multi_pairs(blocks.texts(rows))
    truths = list(map(table.truths.__getitem__, tix.tolist()))
    two = np.array([len(t.segments) == 2 for t in truths], dtype=bool)
    gold = np.array([t.segments if len(t.segments) == 2 else ((0.0, 1.0), (0.0, 1.0)) for t in truths])
    gold = gold.reshape(n, 2, 2)
    dur = table.duration[tix][:, None]
    ps, pe = spans[:, :, 0], spans[:, :, 1]
    ok = found & two & np.all((ps < pe) & (pe > 0.0) & (ps < dur), axis=1)
    cs = np.minimum(np.maximum(ps, 0.0), dur)[:, :, None]
    ce = np.minimum(np.maximum(pe, 0.0), dur)[:, :, None]
    gs, ge = gold[:, None, :, 0], gold[:, None, :, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        inter = np.minimum(ce, ge) - np.maximum(cs, gs)
        hull = np.maximum(ce, ge) - np.minimum(cs, gs)
        ious = np.where(inter > 0.0, np.minimum(1.0, inter / hull), 0.0)  # ious[row, pred, gold]
    straight = ious[:, 0, 0] + ious[:, 1, 1]
    crossed = ious[:, 0, 1] + ious[:, 1, 0]
    swap = crossed > straight
    total = np.where(swap, crossed, straight)
    if cfg.iou_threshold is None:
        reward_sum = total
    else:
        hit = (ious >= cfg.iou_threshold).astype(np.float64)
        reward_sum = np.where(swap, hit[:, 0, 1] + hit[:, 1, 0], hit[:, 0, 0] + hit[:, 1, 1])
    iou = np.where(ok, np.minimum(1.0, total / 2), math.nan)
    reward = np.where(ok, np.minimum(1.0, reward_sum / 2), 0.0)
    clipped = np.concatenate([cs[:, :, 0], ce[:, :, 0]], axis=1)[:, [0, 2, 1, 3]]
    prediction = _obj(n)
    rows = np.flatnonzero(ok)
    prediction[rows] = ["[[%g, %g], [%g, %g]]" % tuple(r) for r in clipped[rows].tolist()]  # noqa: UP031
    return _Part(ok, nan, iou, reward, prediction, _obj(n))


_TASK_SCORERS: Final = {"mcq": _mcq, "tvg": _tvg, "gqa": _gqa, "numeric": _numeric, "multi_tvg": _multi}
