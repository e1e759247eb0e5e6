"""The tokenizer every reader shares, and the readers of one number or one time value.

Numbers are read so that no string can raise: digit runs longer than :data:`MAX_NUMBER_CHARS` and values
that overflow a float (``1e999``, a 5 000-digit integer) read as ``inf``, which every caller turns into a
failure with a reason (``non_finite_span``, ``no_number``); ``int()`` is never called on an unbounded run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["MAX_NUMBER_CHARS", "Token", "number_value", "parse_number", "parse_time", "read_time", "tokenize"]

#: Longest number token read as a number (digits, colons, point, exponent); longer runs read as ``inf``.
MAX_NUMBER_CHARS: Final = 32

#: Bound on the text :func:`parse_time` / :func:`parse_number` look at (they read the first value only).
_MAX_VALUE_TEXT: Final = 4_096


class Token(NamedTuple):
    kind: str  # "num" | "word" | "punct"
    text: str
    start: int
    end: int


# Each alternative's tail is optional, so a match attempt never backtracks past its first character.
# The exponent is read so that "1e999" is one (overflowing) number, not the number 1 and the word "e999".
# Punctuation tokens are ASCII punctuation and the typographic dashes / quotes / minus; other symbols
# (emoji, CJK punctuation, arrows) carry nothing a reader uses and are skipped, so a 4 KB answer of emoji
# costs one regex pass instead of 4 000 tokens.
_TOKEN_RE: Final = re.compile(
    r"(\d+(?::\d+){0,2}(?:\.\d+)?(?:[eE][+-]?\d+)?)|([^\W\d]+)|([!-/:-@\[-`{-~–—“”’‘−])"
)
_KINDS: Final = ("num", "word", "punct")


def tokenize(text: str) -> list[Token]:
    """Numbers (``12``, ``12.5``, ``1:02``, ``0:01:02.5``, ``2e3``), words (letters/underscore) and single
    punctuation characters (other symbols are skipped), with their character offsets.

    >>> [t.text for t in tokenize("from 00:12 to 18.5s")]
    ['from', '00:12', 'to', '18.5', 's']
    """
    out: list[Token] = []
    append = out.append
    for m in _TOKEN_RE.finditer(text):
        idx = m.lastindex or 3
        append(Token(_KINDS[idx - 1], m.group(idx), m.start(), m.end()))
    return out


def number_value(text: str) -> float:
    """Value of a ``num`` token in seconds (``mm:ss`` and ``h:mm:ss(.f)`` included).

    NaN if malformed (``1:75``), ``inf`` if too long or overflowing; never raises.

    >>> number_value("12.5"), number_value("01:05"), number_value("1:00:30.5"), number_value("1:75")
    (12.5, 65.0, 3630.5, nan)
    >>> number_value("1e999"), number_value("9" * 5000)
    (inf, inf)
    """
    if len(text) > MAX_NUMBER_CHARS:
        return math.inf
    if ":" not in text:
        return float(text)  # a bounded decimal: float() cannot raise on it ("1e999" is inf)
    parts = text.split(":")
    seconds = float(parts[-1])
    if not seconds < 60.0:
        return math.nan  # 1:75 is not a time
    if len(parts) == 2:
        return float(parts[0]) * 60.0 + seconds
    minutes = float(parts[1])
    if minutes >= 60:
        return math.nan
    return float(parts[0]) * 3600.0 + minutes * 60.0 + seconds


UNIT_SECONDS: Final = {
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
    return not (before.kind == "num" or (before.kind == "word" and before.text.lower() in UNIT_SECONDS))


def read_time(tokens: Sequence[Token], i: int) -> tuple[float, float | None, int] | None:
    """Read a time at token ``i``: ``(value, unit_or_None, next_index)``; ``None`` if not a number.

    A ``-`` glued to the number and not following another number is a sign (``-3 to 5``).
    """
    tok = tokens[i]
    if tok.kind != "num":
        return None
    value = number_value(tok.text)
    if i > 0 and _is_sign(tokens, i):
        value = -value + 0.0  # "-0" is 0.0, not -0.0 (which would print as "-0")
    j = i + 1
    # Clock notation already is in seconds; a unit word after it ("1:05 min") is read and ignored.
    unit: float | None = 1.0 if ":" in tok.text else None
    if j < len(tokens) and tokens[j].kind == "word":
        u = UNIT_SECONDS.get(tokens[j].text.lower())
        if u is not None:
            unit, j = (unit or u), j + 1
    return value, unit, j


def parse_time(text: str) -> float | None:
    """One time value in seconds: ``12``, ``12.5s``, ``2 min``, ``01:05``, ``1:02:03.5``; else ``None``.

    >>> parse_time("1:02:03.5"), parse_time("12.5 s"), parse_time("2 minutes"), parse_time("soon")
    (3723.5, 12.5, 120.0, None)
    """
    tokens = tokenize(text[:_MAX_VALUE_TEXT])
    for i, tok in enumerate(tokens):
        if tok.kind == "num":
            got = read_time(tokens, i)
            if got is None:
                return None
            value, unit, _ = got
            return value * (unit or 1.0)
    return None


_NUMBER_WORDS: Final = {
    w: float(k)
    for k, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


def parse_number(text: str) -> float | None:
    """The first number in ``text``: sign, decimals, thousands separators, or a number word up to twenty.

    A number too long or too large for a float reads as ``inf`` (the numeric task's ``no_number``).

    >>> parse_number("About 1,250.5 people"), parse_number("-3"), parse_number("three cups")
    (1250.5, -3.0, 3.0)
    """
    tokens = tokenize(text[:_MAX_VALUE_TEXT])
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
            and "e" not in digits.lower()
            and ":" not in tokens[j + 1].text
            and len(tokens[j + 1].text.split(".")[0]) == 3
            and len(digits) <= MAX_NUMBER_CHARS
        ):
            digits += tokens[j + 1].text
            j += 2
        value = number_value(digits)
        if i > 0 and tokens[i - 1].text in ("-", "−") and tokens[i - 1].end == tok.start:
            value = -value + 0.0  # "-0" is 0.0, not -0.0
        return value
    return None
