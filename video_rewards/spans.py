"""Reading a time span from an answer: labelled start/end pairs, ranges, and which span is *the* answer.

Which span a reply answers with (:func:`parse_span`), in order:

1. **a labelled start/end pair** — a start label with a time, then the next end label with a time:
   ``Start Time: 00:00:05`` / ``End Time: 00:00:09`` lines, ``the start time is X and the end time is Y``,
   ``starts at X and ends at Y``, ``begins at X … finishes at Y``, ``start_time: X, end_time: Y``, JSON
   ``{"start_time": X, "end_time": Y}``; with ``approximately/around/about/at``, a quoted query, units and
   ``HH:MM:SS`` between label and time. A labelled pair wins over every other span in the text, so a
   span quoted from the reasoning never replaces a labelled answer; of several pairs the **last** is read
   (a reply that revises itself, "Therefore, the start time is 0:05 and the end time is 0:10", is read at
   its final statement). A label followed by a *window*
   (``the start time is 0–3 s, the end time is 5–8 s``) gives the **outer** reading: ``[0, 8]``.
2. otherwise **the final-answer statement**: the last span right after an answer cue (``the answer is
   12 - 18``, ``Answer: [12, 18]``);
3. otherwise **the first span** written (``12 - 18``, ``[12, 18]``, ``from 12 to 18 s``, ``between 12 and
   18``, …).

Every reader walks the token list once with a bounded look-ahead (at most :data:`_LOOKAHEAD` tokens per
label), so the cost is linear in the answer's length; no regex here can backtrack more than a bounded
number of characters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

from video_rewards.geometry import Span
from video_rewards.span_shortcuts import plain_range, plain_range_list
from video_rewards.tokens import UNIT_SECONDS, Token, read_time, tokenize

__all__ = ["find_spans", "parse_span", "span_failure"]

_RANGE_SEPARATORS: Final = frozenset({"-", "–", "—", "~", "to", "until", "till", "through"})
_WINDOW_SEPARATORS: Final = frozenset({"-", "–", "—", "~", "to"})

# A start (end) label: the word that announces the time the moment starts (ends).
_START_LABELS: Final = frozenset(
    {"start", "starts", "started", "starting", "begin", "begins", "began", "beginning"}
    | {"start_time", "begin_time", "start_sec", "start_timestamp", "starttime", "start_s"}
)
_END_LABELS: Final = frozenset(
    {"end", "ends", "ended", "ending", "finish", "finishes", "finished", "stop", "stops", "stopped"}
    | {"until", "till"}
    | {"end_time", "end_sec", "end_timestamp", "stop_time", "endtime", "end_s"}
)
# Words allowed between a label and its time ("the start time of the query is approximately 0:09").
# Anything else ("the video starts with a man …", "start and end times") means the label has no time.
_FILLER_WORDS: Final = frozenset(
    {"time", "times", "timestamp", "timestamps", "point", "is", "was", "are", "be", "would", "will", "should"}
    | {"of", "the", "this", "that", "query", "event", "moment", "activity", "action", "segment", "video"}
    | {"clip", "at", "approximately", "approx", "around", "about", "roughly", "estimated", "as", "in"}
    | {"predicted", "prediction", "value", "frame", "second", "seconds", "sec", "s", "it", "its", "from"}
    | {"funny", "funniest", "humorous", "scene", "part", "mark", "exact", "approximate", "given", "relevant"}
)
# "The funny moment occurs at the 0:25 mark … the end time is 0:35": a start, when followed by one time
# (not a window: "occurs at 0:08 - 0:10 … the video ends at 0:15" is the span 8-10, not 8-15).
_WEAK_START_LABELS: Final = frozenset({"occurs", "occur", "occurred", "happens", "happen", "happened"})
_FILLER_PUNCT: Final = frozenset({":", "=", "*", "~", "(", "[", "{", "'", '"', "`", "“", "”", "’", "‘", "#"})
_CLOSING_QUOTE: Final = {'"': '"', "“": "”", "'": "'", "‘": "’", "`": "`"}
_ANSWER_CUES: Final = frozenset({"answer", "answers", "prediction"})
_CUE_FILLER: Final = frozenset({"is", "would", "be", "the", "final", ":", "*", "=", "-", "will"})

#: Tokens a label may look ahead for its time (a quoted query included), so a scan stays linear.
_LOOKAHEAD: Final = 64


class SpanMatch(NamedTuple):
    span: Span
    first_token: int
    next_token: int


# ------------------------------------------------------------------------------------ plain ranges


def _span_at(tokens: Sequence[Token], i: int) -> SpanMatch | None:
    """A range starting at token ``i`` (``12 - 18``, ``[12, 18]``, ``between 12 and 18``, …)."""
    n = len(tokens)
    first = read_time(tokens, i)
    if first is None:
        return None
    v1, u1, j = first
    if j >= n:
        return None
    sep = tokens[j].text.lower()
    prev = tokens[i - 1].text.lower() if i > 0 else ""
    if prev == "-" and i > 1:  # the sign of a negative start
        prev = tokens[i - 2].text.lower()
    if sep == "and":
        ok = prev == "between" or _after_pair_label(tokens, i)
    elif sep == ",":
        ok = prev in ("[", "(")
    else:
        ok = sep in _RANGE_SEPARATORS
    if not ok or j + 1 >= n:
        return None
    second = read_time(tokens, j + 1)
    if second is None:
        return None
    v2, u2, k = second
    # A unit written once applies to both ends: "from 1 to 2 minutes", "3 min - 4".
    u1, u2 = (u1 or u2 or 1.0), (u2 or u1 or 1.0)
    return SpanMatch(Span(v1 * u1, v2 * u2), i, k)


_PAIR_LABELS: Final = frozenset({"timestamps", "times"})
_PAIR_FILLER: Final = _FILLER_WORDS | {"provided", "given", "listed", "end", "and", "start"}


def _after_pair_label(tokens: Sequence[Token], i: int) -> bool:
    """Is the time at ``i`` the first of ``X and Y`` after "timestamps"/"times" ("the timestamps are
    provided as 0:00 and 0:03", "the start and end times are 2 and 5")? Looks back at most 8 tokens."""
    j = i - 1
    while j >= 0 and i - j <= 8 and tokens[j].kind == "word":
        word = tokens[j].text.lower()
        if word in _PAIR_LABELS:
            return True
        if word not in _PAIR_FILLER:
            return False
        j -= 1
    return False


def _iter_spans(tokens: Sequence[Token], limit: int | None) -> list[SpanMatch]:
    """Non-overlapping spans in order: labelled pairs and ranges (at most ``limit``)."""
    out: list[SpanMatch] = []
    i, n = 0, len(tokens)
    while i < n and (limit is None or len(out) < limit):
        tok = tokens[i]
        m = _pair_at(tokens, i) if tok.kind == "word" else _span_at(tokens, i)
        if m is None:
            i += 1
        else:
            out.append(m)
            i = m.next_token
    return out


# ---------------------------------------------------------------------------------- labelled times


_VERB_LABELS: Final = frozenset({"starts", "started", "begins", "began", "occurs", "happens"})
_AT: Final = frozenset({"at", "from"})


def _labelled_time(tokens: Sequence[Token], j: int, loose: bool = False) -> tuple[float, float, int] | None:
    """The time after a label whose word ends before token ``j``: ``(low, high, next_index)``.

    ``low == high`` for one time; a window ``0 - 3 s`` gives ``(0, 3)``. Fillers (see
    :data:`_FILLER_WORDS`) and one quoted passage may come first, at most :data:`_LOOKAHEAD` tokens.
    ``loose`` (after a verb: "starts flapping his arms at 0:00") also skips up to four other words when
    the time follows ``at`` / ``from``.
    """
    n = len(tokens)
    stop = min(n, j + _LOOKAHEAD)
    skipped = 0
    while j < stop:
        tok = tokens[j]
        if tok.kind == "num":
            break
        text = tok.text
        if tok.kind == "word":
            if text.lower() not in _FILLER_WORDS:
                skipped += 1
                if not loose or skipped > 4:
                    return None
            j += 1
            continue
        if text == "-" and j + 1 < n and tokens[j + 1].kind == "num" and tokens[j + 1].start == tok.end:
            break  # the sign of a negative time
        closing = _CLOSING_QUOTE.get(text)
        glued = tokens[j - 1].kind == "word" and tokens[j - 1].end == tok.start  # closes a key: start_time"
        if closing is not None and not glued:
            # A quoted passage with words in it is the query repeated ('the start time of the query
            # "2 men fall" is 0:09'): skip it. A quoted time ('"start_time": "00:00:02"') is not.
            k, words = j + 1, False
            while k < stop and tokens[k].text != closing:
                words = words or (tokens[k].kind == "word" and tokens[k].text.lower() not in UNIT_SECONDS)
                k += 1
            if words:
                if k >= stop:
                    return None
                j = k + 1
                continue
        if text not in _FILLER_PUNCT:
            return None
        j += 1
    else:
        return None
    if skipped and tokens[j - 1].text.lower() not in _AT:
        return None
    got = read_time(tokens, j)
    if got is None:
        return None
    value, unit, k = got
    if k + 1 < n and tokens[k].text.lower() in _WINDOW_SEPARATORS:
        second = read_time(tokens, k + 1)
        if second is not None:
            v2, u2, k2 = second
            u1, u2 = (unit or u2 or 1.0), (u2 or unit or 1.0)
            return value * u1, v2 * u2, k2
    scaled = value * (unit or 1.0)
    return scaled, scaled, k


def _pair_at(tokens: Sequence[Token], i: int) -> SpanMatch | None:
    """A labelled start/end pair whose start label is token ``i``.

    The end is the next end label with a time; a second start label with a time before it means ``i``
    starts no pair. Windows give the outer reading (start of the start window, end of the end window).
    """
    label = tokens[i].text.lower()
    if label not in _START_LABELS and label not in _WEAK_START_LABELS:
        return None
    start = _labelled_time(tokens, i + 1, loose=label in _VERB_LABELS)
    if start is None or (label in _WEAK_START_LABELS and start[0] != start[1]):
        return None
    low, _, j = start
    n = len(tokens)
    stop = min(n, j + 4 * _LOOKAHEAD)
    while j < stop:
        tok = tokens[j]
        if tok.kind == "word":
            word = tok.text.lower()
            if word in _END_LABELS:
                end = _labelled_time(tokens, j + 1)
                if end is not None:
                    return SpanMatch(Span(low, end[1]), i, end[2])
            elif word in _START_LABELS and _labelled_time(tokens, j + 1) is not None:
                return None
        j += 1
    return None


def _last_pair(tokens: Sequence[Token]) -> SpanMatch | None:
    """The last labelled pair (a reply that revises itself, "Therefore, the start time is …", is read at
    its final statement); pairs do not overlap."""
    start_labels = _START_LABELS | _WEAK_START_LABELS
    found: SpanMatch | None = None
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.kind == "word" and tok.text.lower() in start_labels:
            m = _pair_at(tokens, i)
            if m is not None:
                found, i = m, m.next_token
                continue
        i += 1
    return found


def _answer_cued_span(tokens: Sequence[Token]) -> SpanMatch | None:
    """The last range written right after an answer cue (``the answer is 12 - 18``)."""
    found: SpanMatch | None = None
    n = len(tokens)
    for i, tok in enumerate(tokens):
        if tok.kind != "word" or tok.text.lower() not in _ANSWER_CUES:
            continue
        j = i + 1
        while j < n and j < i + 6 and tokens[j].text.lower() in _CUE_FILLER:
            j += 1
        if j < n and tokens[j].text in ("[", "(") and j + 1 < n:
            j += 1  # "[12, 18]" starts at the bracket's number
        if j < n and tokens[j].kind == "num":
            m = _span_at(tokens, j)
            if m is not None:
                found = m
    return found


# -------------------------------------------------------------------------------------- public API


def find_spans(text: str, limit: int | None = None) -> list[Span]:
    """All non-overlapping spans in ``text`` (labelled pairs and ranges), in order (at most ``limit``).

    >>> find_spans("0:05-0:09 and 12 to 15.5 s")
    [Span(start=5.0, end=9.0), Span(start=12.0, end=15.5)]
    """
    fast = plain_range_list(text) if limit is None else None
    if fast is not None:
        return fast
    return [m.span for m in _iter_spans(tokenize(text), limit)]


def read_span(tokens: Sequence[Token]) -> Span | None:
    """:func:`parse_span` on tokens: labelled pair, else answer-cued span, else the first span."""
    m = _last_pair(tokens) or _answer_cued_span(tokens)
    if m is not None:
        return m.span
    for i, tok in enumerate(tokens):
        if tok.kind == "num":
            r = _span_at(tokens, i)
            if r is not None:
                return r.span
    return None


def parse_span(text: str) -> Span | None:
    """The span an answer gives, unvalidated (may be reversed or zero-length); ``None`` if there is none.

    Precedence (see the module docstring): a labelled start/end pair, else the last span after an answer
    cue, else the first span. Spellings: ``Start Time: 00:00:05`` / ``End Time: 00:00:09``, ``the start
    time is X and the end time is Y``, ``starts at X and ends at Y``, JSON ``{"start_time": 12,
    "end_time": "18.5"}``, ``[s, e]``, ``(s, e)``, ``s - e``, ``s to e``, ``from s to e seconds``,
    ``between s and e``; times as ``12``, ``12s``, ``2 min``, ``mm:ss`` or ``h:mm:ss(.f)``.

    >>> parse_span('{"start_time": "00:12", "end_time": 18.5}')
    Span(start=12.0, end=18.5)
    >>> parse_span("The event happens between 3.5 and 7 seconds.")
    Span(start=3.5, end=7.0)
    >>> parse_span("At 2.0s a man runs. Start Time: 00:00:05\\nEnd Time: 00:00:09")
    Span(start=5.0, end=9.0)
    >>> parse_span("the start time is approximately 0:00 - 0:03 and the end time is approximately 0:05-0:08")
    Span(start=0.0, end=8.0)
    >>> parse_span("[30, 20]"), parse_span("at the end") is None
    (Span(start=30.0, end=20.0), True)
    """
    fast = plain_range(text)
    if fast is not None:
        return fast
    return read_span(tokenize(text))


def span_failure(span: Span | None, duration: float | None) -> str | None:
    """Why a parsed span cannot be scored (``None`` if it can), before clipping to ``[0, duration]``.

    A zero-length span (``00:00:00 to 00:00:00``) is a point: read, but it covers no time
    (``zero_length_span``, IoU 0).
    """
    if span is None:
        return "no_span"
    s, e = span
    if not (math.isfinite(s) and math.isfinite(e)):
        return "non_finite_span"
    if s > e:
        return "reversed_span"
    if s == e:
        return "zero_length_span"
    if e <= 0.0 or (duration is not None and s >= duration):
        return "span_outside_video"
    return None
