"""Regex shortcuts of :mod:`video_rewards.spans` for the usual plain answers: one range (``"12.5 - 18"``,
``"[3, 7.5]"``, ``"from 4 to 9 seconds"``, ``{"start_time": …, "end_time": …}``) or a list of ranges.

Not a second parser: each shortcut answers only when the token reader would read the same span(s) (the
answer is nothing but a plain range or list of ranges, with no label) and returns ``None`` otherwise, so the
caller falls through to the reader. ``tests/rewards/test_spans.py`` and the fuzz test hold them to that.
"""

from __future__ import annotations

import re
from typing import Final

from video_rewards.geometry import Span
from video_rewards.tokens import number_value

__all__ = ["plain_range", "plain_range_list"]

# The common one-span answers ("12.5 - 18", "[3, 7.5]", "from 4 to 9 seconds"). Anchored at the first
# digit, every quantifier bounded or followed by a mandatory non-space; it answers only when the
# general reader would give the same span (nothing but a plain range, no label), else it defers.
_FAST_UNIT = r"(?:s|sec|secs|second|seconds)\b"
_FAST_NUM = r"(\d{1,9}(?::\d{1,2}){0,2}(?:\.\d{1,9})?)"
# One fullmatch: a few plain words ("The event happens"), an optional "from " / "between " / bracket, a
# range, optional units, closing bracket and full stop. With one range and no other number in the text
# the words cannot change the reading (a labelled pair needs two labelled times; an answer cue points at
# this same range); only "and" / "," need their opener ("between", a bracket).
_FAST_SPAN_RE: Final = re.compile(
    r"\s*((?:(?!(?:from|between)\s)[^\W\d_]{1,20}\s{1,3}){0,8})(?:(from|between)\s+|([\[(])\s*)?" + _FAST_NUM + r"\s*(?:" + _FAST_UNIT + r"\s*)?(-|–|—|~|to|and|,)\s*"
    + _FAST_NUM + r"(?:\s*" + _FAST_UNIT + r")?(?:\s*[\])}])?(?:\s*" + _FAST_UNIT + r")?(?:\s*[.!])?\s*",
    re.IGNORECASE,
)  # fmt: skip
_FAST_JSON_SPAN_RE: Final = re.compile(
    r'\s*\{\s*"start_time"\s*:\s*"?' + _FAST_NUM + r'"?\s*,\s*"end_time"\s*:\s*"?' + _FAST_NUM + r'"?\s*\}\s*'
)


def plain_range(text: str) -> Span | None:
    """The span of the usual one-span answers, or ``None`` to defer to the general reader."""
    m = _FAST_JSON_SPAN_RE.fullmatch(text)
    if m is not None:
        return Span(number_value(m.group(1)), number_value(m.group(2)))
    m = _FAST_SPAN_RE.fullmatch(text)
    if m is None:
        return None
    _, word, bracket, start, sep, end = m.groups()
    sep = sep.lower()
    if (sep == "and" and (word is None or word.lower() != "between")) or (sep == "," and bracket is None):
        return None

    return Span(number_value(start), number_value(end))


# Lists of plain ranges ("2 - 6.5, 14 to 18", "[[2, 6.5], [14, 18]]"), the usual multi-moment answer.
# Each number is whole (no digit, "digit." or colon before it; no digit, ".digit" or colon after it), so
# "0-00-0.00.1" cannot be cut into adjacent ranges at arbitrary digits (the reader reads such runs
# differently: defer to it).
_FAST_LIST_NUM = r"(?<![\d:])(?<!\d\.)(\d{1,9}(?:\.\d{1,9})?)(?![\deE]|\.\d|:)"
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


def plain_range_list(text: str) -> list[Span] | None:
    """All spans of an answer that is only a list of plain ranges, or ``None`` to defer to the reader."""
    if _FAST_LIST_RE.fullmatch(text) is None:
        return None
    out = []
    for m in _FAST_ITEM_RE.finditer(text):
        a, b, c, d, e, f = m.groups()
        s, t = (a, b) if a is not None else (c, d) if c is not None else (e, f)
        out.append(Span(float(s), float(t)))
    return out
