"""The response's shape: the ``<think>…</think><answer>…</answer>`` format check and the answer block.

Tags are found with ``str.find`` / ``str.count`` (linear, in C); the usual ``<answer>(.*?)</answer>``
search is quadratic on responses with many unclosed tags and is not used.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MAX_ANSWER_CHARS",
    "MAX_RESPONSE_CHARS",
    "WELL_FORMED_RE",
    "check_format",
    "lenient_answer_text",
    "parse_answer_block",
    "split_irregular",
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


def lenient_answer_text(response: str) -> str:
    """What a reply without an answer block is read from (``require_answer_tag=False``).

    The text after the last ``</think>`` when there is any (the reasoning before it may quote spans and
    letters that are not the answer), else the whole reply; stripped.

    >>> lenient_answer_text("<think>maybe 3 to 5</think> It is 12 to 18 s.")
    'It is 12 to 18 s.'
    >>> lenient_answer_text("<think>Final answer: B</think>")
    '<think>Final answer: B</think>'
    """
    end = response.rfind(THINK_CLOSE)
    if end >= 0:
        after = response[end + len(THINK_CLOSE) :].strip()
        if after:
            return after
    return response.strip()
