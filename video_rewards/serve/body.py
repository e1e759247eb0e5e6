"""Request bodies: what one costs in memory, and reading one as JSON without letting one value fail the batch.

The server charges every request against its memory budget twice: before the body is read, from its
``Content-Length`` (:func:`admission_cost`), and once the bytes are in, with what parsing, scoring and
answering them can take at most (:func:`request_cost`), an upper bound for any JSON shape, hostile
ones included.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from video_rewards.serve.errors import RequestError, short

__all__ = ["BodyBuffer", "OversizedInteger", "admission_cost", "decode_json", "request_cost"]

#: Upper bounds of what a parsed JSON value costs beyond its characters, measured with tracemalloc
#: (``tests/serve/test_body.py`` holds the model to that on hostile shapes): any value (object header,
#: its pointer in the container, the container's spare capacity, a dict slot, the decoder's key memo)
#: and, on top, an object (its hash table).
VALUE_BYTES = 96
OBJECT_BYTES = 240
#: Upper bound of what scoring and answering one item add (its result, its error message, the encoded
#: answer and the transport's copies of it); charged per value, up to the batch limit.
ANSWER_BYTES = 1536
#: Per-request allocations that do not grow with the body (frames, small dicts, the headers).
REQUEST_OVERHEAD_BYTES = 64 * 1024

# Everything but the quotes and the characters that can precede a value.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'",:[{')
# A JSON escape: a backslash and the character after it (pairs read left to right, as JSON does).
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# A string, once escaped backslashes and quotes are gone and only structural characters are left in it.
_BARE_STRING = re.compile(rb'"[^"]*"')
# Every byte below the UTF-8 lead bytes of characters above U+FFFF.
_BELOW_ASTRAL = bytes(range(0xF0))


def admission_cost(content_length: int) -> int:
    """What a request is charged before its body is read: the body and two more of its size.

    That covers measuring the body (:func:`request_cost` copies it at most twice), and decoding and
    parsing a body of ASCII strings (its text, then the parsed strings that replace the text); once
    measured, the request's charge becomes :func:`request_cost`, up or down.
    """
    return 3 * content_length + REQUEST_OVERHEAD_BYTES


def _char_width(raw: bytes | bytearray) -> int:
    """Bytes per character of the widest string the body can decode to (CPython's compact strings).

    Bytes scans only (``str.isascii``, ``in``, ``translate``: C speed); a ``\\u`` escape may stand for
    any character, a ``\\ud8xx`` one for a character above U+FFFF.
    """
    if raw.isascii() and b"\\u" not in raw:
        return 1
    if raw.translate(None, _BELOW_ASTRAL) or b"\\ud" in raw or b"\\uD" in raw:
        return 4
    return 2


def _separators(raw: bytes | bytearray) -> tuple[int, int]:
    """``(values, objects)``: 1 + the ``,``, ``:``, ``[``, ``{`` outside strings, and the ``{`` among them.

    Bytes operations at C speed (~0.15 s per 32 MiB of text): drop every escape (so every quote left
    opens or closes a string), keep only quotes and separators, cut out what is left of each string. At
    most two copies of the body's size are alive at once (:func:`admission_cost` charges them).
    """
    unescaped = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw
    kept = unescaped.translate(None, _NOT_STRUCTURAL)
    del unescaped
    skeleton = _BARE_STRING.sub(b"", kept)
    del kept
    return 1 + len(skeleton) - skeleton.count(b'"'), skeleton.count(b"{")


def request_cost(raw: bytes | bytearray, max_items: int) -> int:
    """Upper bound of the memory a request with body ``raw`` takes at its peak, its answer included.

    Reading goes body → text (the body is then dropped) → values (the text is then dropped), so the
    peak is the text plus the larger of the body and the values. The values take at most the text again
    plus :data:`VALUE_BYTES` for each value and :data:`OBJECT_BYTES` for each object; every value but the
    first follows a ``,``, ``:``, ``[`` or ``{`` outside a string. Scoring and answering add
    :data:`ANSWER_BYTES` per item, and a batch has fewer items than values and no more than ``max_items``.

    >>> request_cost(b'{"items": []}', max_items=100) - REQUEST_OVERHEAD_BYTES
    6794
    >>> request_cost(b'["a,b", "c\\\\", "d\\"e:f"]', 100) - REQUEST_OVERHEAD_BYTES
    4940
    """
    size = len(raw)
    text = size * _char_width(raw)
    values, objects = _separators(raw)
    parsed = text + VALUE_BYTES * values + OBJECT_BYTES * objects
    answer = ANSWER_BYTES * min(values, max_items)
    return text + max(size, parsed) + answer + REQUEST_OVERHEAD_BYTES


class OversizedInteger:
    """Stands in for a JSON integer too long for Python to convert (over ``sys.get_int_max_str_digits()``).

    Every field that expects a number or a string rejects it, so the item that holds it fails on its own
    instead of the whole body failing to parse.
    """

    __slots__ = ("digits",)

    def __init__(self, text: str) -> None:
        self.digits = len(text.lstrip("-"))

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


def _parse_int(text: str) -> int | OversizedInteger:
    try:
        return int(text)
    except ValueError:
        return OversizedInteger(text)


class BodyBuffer:
    """A body handed from the event loop to a scoring thread, which takes it and so frees it early."""

    def __init__(self, data: bytearray) -> None:
        self._data: bytearray | None = data

    def take(self) -> bytearray:
        data, self._data = self._data, None
        if data is None:
            raise RuntimeError("the body was already taken")
        return data

    def peek(self) -> bytearray:
        if self._data is None:
            raise RuntimeError("the body was already taken")
        return self._data


def decode_json(body: BodyBuffer) -> Any:
    """Decode and parse a request body; malformed JSON is a 400 that says what is wrong.

    Integers too long to convert become :class:`OversizedInteger` (a failure of their item only).

    >>> decode_json(BodyBuffer(bytearray(b'[1, ' + b'9' * 5000 + b']')))
    [1, <integer of 5000 digits>]
    """
    try:
        text = body.take().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            HTTPStatus.BAD_REQUEST, f"request body is not valid JSON: not UTF-8 ({exc})"
        ) from None
    try:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError:
            # The only other ValueError of json.loads is Python's limit on integer digits; the slower
            # hook is used only then.
            return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            "request body is nested too deeply to parse (the limit is several hundred levels); "
            "a ground truth sent as a JSON string is refused on its own instead",
        ) from None
    except json.JSONDecodeError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, short(f"request body is not valid JSON: {exc}")) from None
