"""Parsers from model output to typed predictions: format, answer block, spans, choices, numbers.

Every parser is total: any string in, a typed value (or ``None``) plus a failure reason out; nothing
raises (``inf``/``nan``/overflowing numbers, deep JSON and malformed clock times included). The readers
live in small modules, re-exported here:

* :mod:`video_rewards.tags` — the ``<think>/<answer>`` format check and the answer block;
* :mod:`video_rewards.tokens` — the tokenizer and the readers of one number / one time;
* :mod:`video_rewards.spans` — spans and which span is the answer (labelled pairs first);
* :mod:`video_rewards.choices` — option letters, option texts, index answers and refusals;
* this module — grounded-QA answers (a JSON object with an answer and a span).

Why the scanning is written this way: tags are found with ``str.find`` (linear, in C); text is split by
one tokenizer regex whose alternatives each succeed or fail at their first character; spans, choices and
numbers are read by hand-written scanners over those tokens with a bounded look-ahead, so every reader
is linear in the answer's length; and input length is bounded explicitly (``max_response_chars``,
``max_answer_chars``), so no response costs more than a few milliseconds.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final, NamedTuple

from video_rewards.choices import _LABEL_RE, OptionSet, _norm, parse_choice, read_choice
from video_rewards.geometry import Span
from video_rewards.spans import find_spans, parse_span, span_failure
from video_rewards.tags import (
    ANSWER_CLOSE,
    ANSWER_OPEN,
    MAX_ANSWER_CHARS,
    MAX_RESPONSE_CHARS,
    THINK_CLOSE,
    THINK_OPEN,
    WELL_FORMED_RE,
    check_format,
    lenient_answer_text,
    parse_answer_block,
    split_irregular,
    split_response,
)
from video_rewards.tokens import parse_number, parse_time, tokenize

__all__ = [
    "ANSWER_CLOSE",
    "ANSWER_OPEN",
    "MAX_ANSWER_CHARS",
    "MAX_RESPONSE_CHARS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "WELL_FORMED_RE",
    "_LABEL_RE",
    "GroundedAnswer",
    "OptionSet",
    "_choice",
    "_norm",
    "check_format",
    "find_spans",
    "lenient_answer_text",
    "parse_answer_block",
    "parse_choice",
    "parse_grounded_answer",
    "parse_number",
    "parse_span",
    "parse_time",
    "read_choice",
    "span_failure",
    "split_irregular",
    "split_response",
    "tokenize",
]

#: The ``(letter, failure)`` reader under its historical name (``video_rewards.truth`` resolves gold
#: answers with it).
_choice = read_choice

#: JSON nested deeper than this is not decoded (``json.loads`` recurses per level and would raise
#: ``RecursionError``); the text is then read as free text.
_MAX_JSON_NESTING: Final = 32


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


def _json_object(body: str) -> dict[str, Any] | None:
    """``body`` decoded as a JSON (or single-quoted, Python-style) object, or ``None``; never raises."""
    if not body.startswith("{") or body.count("{") + body.count("[") > _MAX_JSON_NESTING:
        return None
    for candidate in (body, body.replace("'", '"')):
        try:
            obj = json.loads(candidate)
        except (ValueError, RecursionError):  # ValueError includes over-long integer literals
            continue
        return obj if isinstance(obj, dict) else None
    return None


def parse_grounded_answer(text: str) -> GroundedAnswer:
    """Split a grounded-QA answer: a JSON object ``{"answer": …, "start_time": …, "end_time": …}``.

    Also read: single-quoted (Python-style) objects, code fences, and free text (the answer is read from
    the whole text, the span by :func:`~video_rewards.spans.parse_span`).

    >>> parse_grounded_answer('{"answer": "B", "start_time": "0:04", "end_time": "9.5s"}')
    GroundedAnswer(answer='B', span=Span(start=4.0, end=9.5))
    >>> parse_grounded_answer('{"answer": "B", "start_time": "1e999", "end_time": 9}').span
    Span(start=inf, end=9.0)
    """
    body = _strip_code_fence(text)
    obj = _json_object(body)
    if obj is None:
        return GroundedAnswer(text, parse_span(text))
    answer = obj.get("answer")
    answer_text = None if answer is None else str(answer)
    start, end = obj.get("start_time"), obj.get("end_time")
    if start is not None and end is not None:
        s, e = _value_seconds(start), _value_seconds(end)
        return GroundedAnswer(answer_text, None if s is None or e is None else Span(s, e))
    # Other keys ("start"/"end", "segment": [s, e], …): read the object's own text, not a re-dump of it.
    return GroundedAnswer(answer_text, parse_span(body))


def _value_seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value + 0.0  # -0.0 is 0.0 (it would print as "-0")
    if isinstance(value, int):
        # An int past float range (a 400-digit literal) is an overflowing number: a failure, not a raise.
        return float(value) if abs(value) < 2**1023 else math.inf
    if isinstance(value, str):
        return parse_time(value)
    return None
