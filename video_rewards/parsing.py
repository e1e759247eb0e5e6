"""Parsers from model output to typed predictions: format, answer block, spans, choices, numbers.

Every parser is total: any string in, a typed value (or ``None``) plus a failure reason out; nothing raises.

Why the scanning is written this way
------------------------------------
The usual ``<answer>(.*?)</answer>`` search is quadratic on responses with many unclosed tags, and span
patterns such as ``(\\d+\\.?\\d*)\\s*(to|and)\\s*(\\d+\\.?\\d*)`` backtrack cubically on long digit runs. Here:

* tags are found with ``str.find`` / ``str.count`` (linear, in C);
* the answer text is split by one tokenizer regex whose alternatives are each followed by nothing
  mandatory, so every match attempt succeeds or fails at its first character: ``finditer`` is linear;
* spans, choices and numbers are read by small hand-written scanners over those tokens, each looking a
  bounded number of tokens ahead: linear in the number of tokens;
* input length is bounded explicitly: responses longer than ``RewardConfig.max_response_chars`` and answer
  blocks longer than ``RewardConfig.max_answer_chars`` are not parsed (failure ``response_too_long`` /
  ``answer_too_long``), so no response costs more than a few milliseconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, NamedTuple

from video_rewards.geometry import Span

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_RESPONSE_CHARS",
    "OptionSet",
    "check_format",
    "find_spans",
    "parse_answer_block",
    "parse_choice",
    "parse_number",
    "parse_span",
    "parse_time",
    "split_response",
]

#: Default bound on a response's length (characters); longer responses are not parsed at all.
MAX_RESPONSE_CHARS: Final = 200_000
#: Default bound on an answer block's length (characters); longer blocks are not parsed.
MAX_ANSWER_CHARS: Final = 4_096

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

# --------------------------------------------------------------------------------------------- format


def check_format(response: str) -> bool:
    """Exactly one ``<think>…</think>`` then exactly one ``<answer>…</answer>``, only whitespace outside.

    Empty tags are well formed; tag names are case sensitive.

    >>> check_format("<think>the cup is red</think>\\n<answer>B</answer>")
    True
    >>> check_format("Sure! <think>x</think><answer>B</answer>")
    False
    >>> check_format("<think></think><answer></answer>")
    True
    """
    if (
        response.count(THINK_OPEN) != 1
        or response.count(THINK_CLOSE) != 1
        or response.count(ANSWER_OPEN) != 1
        or response.count(ANSWER_CLOSE) != 1
    ):
        return False
    text = response.strip()
    if not (text.startswith(THINK_OPEN) and text.endswith(ANSWER_CLOSE)):
        return False
    think_end = text.find(THINK_CLOSE) + len(THINK_CLOSE)
    answer_start = text.find(ANSWER_OPEN)
    # With one tag of each kind, starting with <think> and ending with </answer>, the only other
    # requirement is that </think> comes before <answer> with nothing but whitespace between.
    return think_end <= answer_start and (think_end == answer_start or text[think_end:answer_start].isspace())


def parse_answer_block(response: str) -> str | None:
    """The text of the **first** complete ``<answer>…</answer>`` block, or ``None`` if there is none.

    The block runs from the first ``<answer>`` to the first ``</answer>`` after it; its text is stripped.

    >>> parse_answer_block("<think>…</think><answer> (C) </answer><answer>D</answer>")
    '(C)'
    >>> parse_answer_block("<answer>never closed") is None
    True
    """
    start = response.find(ANSWER_OPEN)
    if start < 0:
        return None
    start += len(ANSWER_OPEN)
    end = response.find(ANSWER_CLOSE, start)
    if end < 0:
        return None
    return response[start:end].strip()


#: Well formed with no "<" besides the four tags (the usual case): ``[^<]*`` runs as a tight C loop and
#: can only stop at a "<", so a failed match gives back each character once — linear time.
WELL_FORMED_RE: Final = re.compile(r"\s*<think>[^<]*</think>\s*<answer>([^<]*)</answer>\s*")


def split_response(response: str) -> tuple[bool, str | None]:
    """``(check_format(response), parse_answer_block(response))`` in one pass over the text.

    The common well-formed case is settled by :data:`WELL_FORMED_RE`, then by four ``find("<")`` calls
    (memchr speed) when there is text after the answer; anything else falls back to the two reference
    functions.

    >>> split_response(" <think>a</think>\\n<answer> B </answer>\\n")
    (True, 'B')
    >>> split_response("<think>a</think><answer>B</answer> trailing words")
    (False, 'B')
    """
    m = WELL_FORMED_RE.fullmatch(response)
    if m is not None:
        return True, m.group(1).strip()
    return split_irregular(response)


def split_irregular(response: str) -> tuple[bool, str | None]:
    """:func:`split_response` for a response :data:`WELL_FORMED_RE` did not match."""
    i = response.find("<")
    if i < 0:
        return False, None  # no tag at all (plain-text answers)
    if i >= 0 and response.startswith(THINK_OPEN, i) and (i == 0 or response[:i].isspace()):
        j = response.find("<", i + 7)
        if j >= 0 and response.startswith(THINK_CLOSE, j):
            k = response.find("<", j + 8)
            if (
                k >= 0
                and response.startswith(ANSWER_OPEN, k)
                and (k == j + 8 or response[j + 8 : k].isspace())
            ):
                end = response.find("<", k + 8)
                if end >= 0 and response.startswith(ANSWER_CLOSE, end):
                    # No "<" before the tags, between them, or inside the blocks: each tag occurs once,
                    # and this answer block is the first one.
                    tail = end + 9
                    well_formed = tail == len(response) or response[tail:].isspace()
                    return well_formed, response[k + 8 : end].strip()
    return check_format(response), parse_answer_block(response)


# ------------------------------------------------------------------------------------------ tokenizer


class Token(NamedTuple):
    kind: str  # "num" | "word" | "punct"
    text: str
    start: int
    end: int


# Each alternative's tail is optional, so a match attempt never backtracks past its first character.
_TOKEN_RE: Final = re.compile(r"(\d+(?::\d+){0,2}(?:\.\d+)?)|([^\W\d]+)|([^\w\s])")
_KINDS: Final = ("num", "word", "punct")

# Longest digit string read as a number; longer runs (adversarial or garbage) are not numbers.
_MAX_DIGITS: Final = 18


def tokenize(text: str) -> list[Token]:
    """Numbers (``12``, ``12.5``, ``1:02``, ``0:01:02.5``), words (letters/underscore) and single
    punctuation characters, with their character offsets.

    >>> [t.text for t in tokenize("from 00:12 to 18.5s")]
    ['from', '00:12', 'to', '18.5', 's']
    """
    out: list[Token] = []
    append = out.append
    for m in _TOKEN_RE.finditer(text):
        idx = m.lastindex or 3
        append(Token(_KINDS[idx - 1], m.group(idx), m.start(), m.end()))
    return out


def _number_value(text: str) -> float:
    """Value of a ``num`` token in seconds (``mm:ss`` and ``h:mm:ss(.f)`` included); NaN if malformed.

    >>> _number_value("12.5"), _number_value("01:05"), _number_value("1:00:30.5"), _number_value("1:75")
    (12.5, 65.0, 3630.5, nan)
    """
    if len(text) > _MAX_DIGITS + 8:
        return math.inf
    if ":" not in text:
        return float(text)
    parts = text.split(":")
    seconds = float(parts[-1])
    if seconds >= 60.0:
        return math.nan  # 1:75 is not a time
    if len(parts) == 2:
        return int(parts[0]) * 60.0 + seconds
    minutes = int(parts[1])
    if minutes >= 60:
        return math.nan
    return int(parts[0]) * 3600.0 + minutes * 60.0 + seconds


_UNIT_SECONDS: Final = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "ms": 0.001,
}  # fmt: skip


def _is_sign(tokens: Sequence[Token], i: int) -> bool:
    """Is the token before ``tokens[i]`` a minus sign (glued ``-`` not closing a range ``12-18``)?"""
    prev = tokens[i - 1]
    if prev.text not in ("-", "−") or prev.end != tokens[i].start:
        return False
    if i < 2:
        return True
    before = tokens[i - 2]
    return not (before.kind == "num" or (before.kind == "word" and before.text.lower() in _UNIT_SECONDS))


def _read_time(tokens: Sequence[Token], i: int) -> tuple[float, float | None, int] | None:
    """Read a time at token ``i``: ``(value, unit_or_None, next_index)``; ``None`` if not a number.

    A ``-`` glued to the number and not following another number is a sign (``-3 to 5``).
    """
    tok = tokens[i]
    if tok.kind != "num":
        return None
    value = _number_value(tok.text)
    if i > 0 and _is_sign(tokens, i):
        value = -value
    j = i + 1
    # Clock notation already is in seconds; a unit word after it ("1:05 min") is read and ignored.
    unit: float | None = 1.0 if ":" in tok.text else None
    if j < len(tokens) and tokens[j].kind == "word":
        u = _UNIT_SECONDS.get(tokens[j].text.lower())
        if u is not None:
            unit, j = (unit or u), j + 1
    return value, unit, j


def parse_time(text: str) -> float | None:
    """One time value in seconds: ``12``, ``12.5s``, ``2 min``, ``01:05``, ``1:02:03.5``; else ``None``.

    >>> parse_time("1:02:03.5"), parse_time("12.5 s"), parse_time("2 minutes"), parse_time("soon")
    (3723.5, 12.5, 120.0, None)
    """
    tokens = tokenize(text[:MAX_ANSWER_CHARS])
    for i, tok in enumerate(tokens):
        if tok.kind == "num":
            got = _read_time(tokens, i)
            if got is None:
                return None
            value, unit, _ = got
            return value * (unit or 1.0)
    return None


# ---------------------------------------------------------------------------------------------- spans

_RANGE_SEPARATORS: Final = frozenset({"-", "–", "—", "~", "to", "until", "till", "through"})
_START_KEYS: Final = frozenset({"start_time", "start", "begin", "begin_time", "start_sec", "start_timestamp"})
_END_KEYS: Final = frozenset({"end_time", "end", "end_sec", "end_timestamp", "stop", "stop_time"})
_QUOTES: Final = frozenset({'"', "'", "`"})


class SpanMatch(NamedTuple):
    span: Span
    first_token: int
    next_token: int


def _keyed_value(tokens: Sequence[Token], i: int, keys: frozenset[str]) -> tuple[float, int] | None:
    """``key [quote] (:|=) [quote] time`` starting at token ``i``; returns ``(seconds, next_index)``."""
    n = len(tokens)
    if tokens[i].kind != "word" or tokens[i].text.lower() not in keys:
        return None
    j = i + 1
    while j < n and tokens[j].text in _QUOTES:
        j += 1
    if j >= n or tokens[j].text not in (":", "="):
        return None
    j += 1
    while j < n and tokens[j].text in _QUOTES:
        j += 1
    if j >= n:
        return None
    got = _read_time(tokens, j)
    if got is None:
        return None
    value, unit, k = got
    return value * (unit or 1.0), k


def _span_at(tokens: Sequence[Token], i: int) -> SpanMatch | None:
    """A span starting at token ``i`` (range form or ``start_time … end_time`` key form)."""
    n = len(tokens)
    tok = tokens[i]
    if tok.kind == "word":
        got = _keyed_value(tokens, i, _START_KEYS)
        if got is None:
            return None
        start, j = got
        # The matching end key is the next one; stop at a second start key (a new object).
        while j < n:
            if tokens[j].kind == "word":
                word = tokens[j].text.lower()
                if word in _END_KEYS:
                    end = _keyed_value(tokens, j, _END_KEYS)
                    if end is not None:
                        return SpanMatch(Span(start, end[0]), i, end[1])
                elif word in _START_KEYS:
                    return None
            j += 1
        return None
    first = _read_time(tokens, i)
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
        ok = prev == "between"
    elif sep == ",":
        ok = prev in ("[", "(")
    else:
        ok = sep in _RANGE_SEPARATORS
    if not ok or j + 1 >= n:
        return None
    second = _read_time(tokens, j + 1)
    if second is None:
        return None
    v2, u2, k = second
    # A unit written once applies to both ends: "from 1 to 2 minutes", "3 min - 4".
    u1, u2 = (u1 or u2 or 1.0), (u2 or u1 or 1.0)
    return SpanMatch(Span(v1 * u1, v2 * u2), i, k)


def find_spans(text: str, limit: int | None = None) -> list[Span]:
    """All non-overlapping spans in ``text``, in order (at most ``limit``).

    >>> find_spans("0:05-0:09 and 12 to 15.5 s")
    [Span(start=5.0, end=9.0), Span(start=12.0, end=15.5)]
    """
    fast = _fast_spans(text) if limit is None else None
    if fast is not None:
        return fast
    return [m.span for m in _iter_spans(tokenize(text), limit)]


def _iter_spans(tokens: Sequence[Token], limit: int | None) -> list[SpanMatch]:
    out: list[SpanMatch] = []
    i, n = 0, len(tokens)
    while i < n and (limit is None or len(out) < limit):
        m = _span_at(tokens, i)
        if m is None:
            i += 1
        else:
            out.append(m)
            i = m.next_token
    return out


# A fast path for the common one-span answers ("12.5 - 18", "[3, 7.5]", "from 4 to 9 seconds"). It is
# anchored at the first digit, every quantifier is bounded or followed by a mandatory non-space, and it
# only answers when the general scanner would provably give the same span; otherwise it defers to it.
_FAST_UNIT = r"(?:s|sec|secs|second|seconds)\b"
_FAST_NUM = r"(\d{1,9}(?::\d{1,2}){0,2}(?:\.\d{1,9})?)"
_FAST_SPAN_RE: Final = re.compile(
    _FAST_NUM + r"\s*(?:" + _FAST_UNIT + r"\s*)?(-|–|—|~|to|and|,)\s*" + _FAST_NUM
    + r"(?:\s*" + _FAST_UNIT + r")?(?:\s*[\])}])?(?:\s*" + _FAST_UNIT + r")?(?:\s*[.!])?\s*\Z"
)  # fmt: skip
_FAST_JSON_SPAN_RE: Final = re.compile(
    r'\s*\{\s*"start_time"\s*:\s*"?' + _FAST_NUM + r'"?\s*,\s*"end_time"\s*:\s*"?' + _FAST_NUM + r'"?\s*\}\s*'
)
_FIRST_DIGIT_RE: Final = re.compile(r"\d")
_BETWEEN_END_RE: Final = re.compile(r"(?<![^\W\d])between\Z", re.IGNORECASE)


def _fast_span(text: str) -> Span | None:
    """The first span of the usual one-span answers, or ``None`` to defer to the general scanner."""
    m = _FAST_JSON_SPAN_RE.fullmatch(text)
    if m is not None:
        return Span(_number_value(m.group(1)), _number_value(m.group(2)))
    first = _FIRST_DIGIT_RE.search(text)
    if first is None:
        return None
    pos = first.start()
    m = _FAST_SPAN_RE.match(text, pos)
    if m is None:
        return None
    prefix = text[:pos].rstrip()
    if prefix.endswith(("-", "−")):
        return None  # maybe a sign
    sep = m.group(2)
    if sep == "and" and _BETWEEN_END_RE.search(prefix) is None:
        return None
    if sep == "," and not prefix.endswith(("[", "(")):
        return None
    return Span(_number_value(m.group(1)), _number_value(m.group(3)))


# Lists of plain ranges ("2 - 6.5, 14 to 18", "[[2, 6.5], [14, 18]]"), the usual multi-moment answer.
# Each number is whole (no digit, "digit." or colon before it; no digit, ".digit" or colon after it), so "0-00-0.00.1" cannot be
# cut into adjacent ranges at arbitrary digits (the scanner reads such runs differently: defer to it).
_FAST_LIST_NUM = r"(?<![\d:])(?<!\d\.)(\d{1,9}(?:\.\d{1,9})?)(?!\d|\.\d|:)"
_FAST_ITEM = (
    r"(?:\[\s*" + _FAST_LIST_NUM + r"\s*,\s*" + _FAST_LIST_NUM + r"\s*\]"
    r"|\(\s*" + _FAST_LIST_NUM + r"\s*,\s*" + _FAST_LIST_NUM + r"\s*\)"
    r"|" + _FAST_LIST_NUM + r"\s*(?:-|–|—|to)\s*" + _FAST_LIST_NUM + r")"
)
_FAST_ITEM_RE: Final = re.compile(_FAST_ITEM)
_FAST_ITEM_NC = _FAST_ITEM.replace("(\\d", "(?:\\d")  # the same, without capture groups
# Every optional piece starts with a mandatory non-space character, so no two whitespace runs compete.
_FAST_LIST_RE: Final = re.compile(
    r"\s*(?:\[\s*)?" + _FAST_ITEM_NC + r"(?:\s*(?:[,;]\s*)?(?:and\s+)?" + _FAST_ITEM_NC + r")*"
    r"(?:\s*\])?(?:\s*\.)?\s*"
)


def _fast_spans(text: str) -> list[Span] | None:
    """All spans of an answer that is only a list of plain ranges, or ``None`` to defer to the scanner."""
    if _FAST_LIST_RE.fullmatch(text) is None:
        return None
    out = []
    for m in _FAST_ITEM_RE.finditer(text):
        a, b, c, d, e, f = m.groups()
        s, t = (a, b) if a is not None else (c, d) if c is not None else (e, f)
        out.append(Span(float(s), float(t)))
    return out


def parse_span(text: str) -> Span | None:
    """The **first** span written in ``text``, unvalidated (may be reversed); ``None`` if there is none.

    Spellings: JSON ``{"start_time": 12, "end_time": "18.5"}``, ``[s, e]``, ``(s, e)``, ``s - e``,
    ``s – e``, ``s to e``, ``from s to e seconds``, ``between s and e``; endpoints as ``12``, ``12s``,
    ``mm:ss`` or ``h:mm:ss(.f)``.

    >>> parse_span('{"start_time": "00:12", "end_time": 18.5}')
    Span(start=12.0, end=18.5)
    >>> parse_span("The event happens between 3.5 and 7 seconds.")
    Span(start=3.5, end=7.0)
    >>> parse_span("[30, 20]")
    Span(start=30.0, end=20.0)
    >>> parse_span("at the end") is None
    True
    """
    fast = _fast_span(text)
    if fast is not None:
        return fast
    found = _iter_spans(tokenize(text), 1)
    return found[0].span if found else None


def span_failure(span: Span | None, duration: float | None) -> str | None:
    """Why a parsed span cannot be scored (``None`` if it can), before clipping to ``[0, duration]``."""
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


# -------------------------------------------------------------------------------------------- choices


class OptionSet(NamedTuple):
    """Option labels (``"A"``, ``"B"``, …) and their normalised texts, as a hashable value."""

    labels: tuple[str, ...]
    texts: tuple[str, ...]

    @classmethod
    def from_options(cls, options: Sequence[str] | None) -> OptionSet:
        return _option_set(tuple(options) if options else ())


_LABEL_RE: Final = re.compile(r"\s*(?:\(([A-Za-z])\)|([A-Za-z])[.):])\s*")
_TRAILING_PUNCT: Final = " \t\r\n.!?。;,'\"`*"
_WRAPPING: Final = " \t\r\n()[]{}.:*'\"`"


def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(_TRAILING_PUNCT)


@lru_cache(maxsize=4096)
def _option_set(options: tuple[str, ...]) -> OptionSet:
    if not options:
        return OptionSet((), ())
    labels: list[str] = []
    texts: list[str] = []
    for opt in options:
        m = _LABEL_RE.match(opt)
        if m is None:
            break
        labels.append((m.group(1) or m.group(2)).upper())
        texts.append(_norm(opt[m.end() :]))
    if len(labels) == len(options) and len(set(labels)) == len(labels):
        return OptionSet(tuple(labels), tuple(texts))
    # Unlabelled options are lettered by position, like the prompt shows them.
    return OptionSet(tuple(chr(ord("A") + k) for k in range(len(options))), tuple(_norm(o) for o in options))


_ANSWER_CUES: Final = frozenset({"option", "choice", "answer", "is", "choose", "select", "pick"})


def _letter_candidates(tokens: Sequence[Token]) -> list[str]:
    """Letters the text names as choices, in order. See :func:`parse_choice` for the rules."""
    out: list[str] = []
    n = len(tokens)
    for i, tok in enumerate(tokens):
        if tok.kind != "word" or len(tok.text) != 1:
            continue
        ch = tok.text
        prev = tokens[i - 1] if i > 0 else None
        nxt = tokens[i + 1] if i + 1 < n else None
        # Hyphenated or apostrophe'd words (T-shirt, X-ray, A's) are not labels.
        if (nxt is not None and nxt.text in ("-", "'", "’") and nxt.start == tok.end) or (
            prev is not None and prev.text in ("-", "'", "’") and prev.end == tok.start
        ):
            continue
        parenthesised = prev is not None and prev.text == "(" and nxt is not None and nxt.text == ")"
        cued = prev is not None and (prev.text.lower() in _ANSWER_CUES or prev.text == ":")
        if ch.isupper():
            # "A cup is …" / "I think …": the article and the pronoun, not options A and I.
            if (
                ch in ("A", "I")
                and not parenthesised
                and nxt is not None
                and nxt.kind == "word"
                and nxt.text[:1].islower()
            ):
                continue
            out.append(ch)
        elif ch.isalpha() and ch.isascii() and (parenthesised or cued):
            out.append(ch.upper())
    return out


def _choice(text: str, options: OptionSet) -> tuple[str | None, str | None]:
    """``(letter, failure)`` for :func:`parse_choice`."""
    norm = _norm(text)
    if not norm:
        return None, "no_choice"
    labels, texts = options
    # 1. The answer is an option's text, with or without its label.
    for label, opt in zip(labels, texts, strict=True):
        if norm == opt or norm == f"{label.lower()}. {opt}" or norm == f"({label.lower()}) {opt}":
            return label, None
    # 2. A lone letter, however wrapped: "c", "(C)", "[C]", "**C**", "C.".
    bare = text.strip(_WRAPPING)
    if len(bare) == 1 and bare.isascii() and bare.isalpha():
        return bare.upper(), None
    # 3. "C. <text of option C>": the option's own text may name other letters ("person A").
    m = _LABEL_RE.match(text)
    if m is not None and texts:
        label = (m.group(1) or m.group(2)).upper()
        rest = _norm(text[m.end() :])
        if label in labels and rest == texts[labels.index(label)]:
            return label, None
    # 4. Letters named in the text.
    candidates = _letter_candidates(tokenize(text))
    valid = labels or tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))
    inside = list(dict.fromkeys(c for c in candidates if c in valid))
    if len(inside) == 1:
        return inside[0], None
    if len(inside) > 1:
        return None, "ambiguous_choice"
    if candidates:
        return candidates[0], None  # a letter that is not an option: parsed, and wrong
    # 5. An option's text inside a longer answer ("I think the man opens the door.").
    hits = [label for label, opt in zip(labels, texts, strict=True) if len(opt) >= 3 and opt in norm]
    if len(hits) > 1:
        # Drop options whose text is part of another hit's text ("door" inside "open the door").
        longest = [
            lab
            for lab in hits
            if not any(texts[labels.index(lab)] in texts[labels.index(o)] for o in hits if o != lab)
        ]
        hits = longest
    if len(hits) == 1:
        return hits[0], None
    if len(hits) > 1:
        return None, "ambiguous_choice"
    return None, "no_choice"


def parse_choice(text: str, options: Sequence[str] | OptionSet | None = None) -> str | None:
    """The option letter an answer names, or ``None`` (no choice, or an ambiguous one).

    Accepted: a lone letter in any case (``c``, ``(C)``), ``C.``/``C)`` + text, ``Option C``, ``The answer
    is C``, or the text of an option (case and trailing punctuation ignored). Two or more different option
    letters (``C or D``, ``C, D``) are ambiguous. A capital ``A`` (or ``I``) followed by a lowercase word is
    the article (pronoun), not an option. A letter outside the options is returned (and scores as wrong).

    >>> opts = ["A. The man opens the door", "B. A woman drinks", "C. A cup falls", "D. Nothing"]
    >>> parse_choice("The answer is C.", opts), parse_choice("(b)", opts), parse_choice("a cup falls", opts)
    ('C', 'B', 'C')
    >>> parse_choice("C or D", opts) is None
    True
    >>> parse_choice("A cup falls off the table, so C", opts)
    'C'
    """
    opts = options if isinstance(options, OptionSet) else OptionSet.from_options(options)
    return _choice(text, opts)[0]


# -------------------------------------------------------------------------------------------- numbers

_NUMBER_WORDS: Final = {
    w: float(k)
    for k, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


def parse_number(text: str) -> float | None:
    """The first number in ``text``: sign, decimals, thousands separators, or a number word up to twenty.

    >>> parse_number("About 1,250.5 people"), parse_number("-3"), parse_number("three cups")
    (1250.5, -3.0, 3.0)
    """
    tokens = tokenize(text)
    n = len(tokens)
    for i, tok in enumerate(tokens):
        if tok.kind == "word":
            word_value = _NUMBER_WORDS.get(tok.text.lower())
            if word_value is not None:
                return word_value
            continue
        if tok.kind != "num" or ":" in tok.text:
            continue
        digits = tok.text
        j = i + 1
        # "1,234,567": comma + exactly three digits, all glued together.
        while (
            j + 1 < n
            and tokens[j].text == ","
            and tokens[j].start == tokens[j - 1].end
            and tokens[j + 1].kind == "num"
            and tokens[j + 1].start == tokens[j].end
            and "." not in digits
            and len(tokens[j + 1].text.split(".")[0]) == 3
        ):
            digits += tokens[j + 1].text
            j += 2
        if len(digits) > _MAX_DIGITS + 8:
            return None
        value = float(digits)
        if i > 0 and tokens[i - 1].text in ("-", "−") and tokens[i - 1].end == tok.start:
            value = -value
        return value
    return None


# ----------------------------------------------------------------------------------------------- gqa


class GroundedAnswer(NamedTuple):
    """A grounded-QA answer block split into its answer text and its span text."""

    answer: str | None
    span: Span | None


def _strip_code_fence(text: str) -> str:
    if text.startswith("```"):
        text = text[3:]
        if text[:4].lower() == "json":
            text = text[4:]
        end = text.rfind("```")
        if end >= 0:
            text = text[:end]
    return text.strip()


def parse_grounded_answer(text: str) -> GroundedAnswer:
    """Split a grounded-QA answer: a JSON object ``{"answer": …, "start_time": …, "end_time": …}``.

    Also read: single-quoted (Python-style) objects, code fences, and free text (the answer is read from
    the whole text, the span is its first span).

    >>> parse_grounded_answer('{"answer": "B", "start_time": "0:04", "end_time": "9.5s"}')
    GroundedAnswer(answer='B', span=Span(start=4.0, end=9.5))
    """
    body = _strip_code_fence(text)
    obj: object = None
    if body.startswith("{"):
        for candidate in (body, body.replace("'", '"')):
            try:
                obj = json.loads(candidate)
                break
            except ValueError:
                continue
    if isinstance(obj, dict):
        answer = obj.get("answer")
        answer_text = None if answer is None else str(answer)
        span: Span | None = None
        start, end = obj.get("start_time"), obj.get("end_time")
        if start is not None and end is not None:
            s, e = _value_seconds(start), _value_seconds(end)
            span = None if s is None or e is None else Span(s, e)
        else:
            rest = {k: v for k, v in obj.items() if k != "answer"}
            span = parse_span(json.dumps(rest)) if rest else None
        return GroundedAnswer(answer_text, span)
    return GroundedAnswer(text, parse_span(text))


def _value_seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return parse_time(value)
    return None
