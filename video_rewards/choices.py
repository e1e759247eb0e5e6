"""Reading a multiple-choice answer: option letters, option texts, index answers, refusals.

How an answer text is read (:func:`read_choice`), first rule that applies:

1. the text is an option's text (``the man opens the door``, ``C. the man opens the door``) → that option;
2. the text is empty or a refusal (``N/A``, ``none of the above``, ``cannot be determined``, ``I don't
   know``, …) → failure ``refusal``, never an option;
3. the text is one letter however wrapped (``c``, ``(C)``, ``[C]``, ``**C**``, ``C.``) → that letter; with
   ``index_base`` set (0 or 1), one integer (``3``, ``(3)``) → the option at that index;
4. the **last final-answer phrase** (``the answer is B``, ``Answer: (B)``, ``Final answer: b``, ``the
   correct option is B``, ``Best option: (B)``, ``the least likely statement is: C``, ``I'll choose B``,
   ``B is correct``) → its letter; two letters in it (``the answer is C or D``), or a different lone
   letter on a later line (``… the answer is B.\n\nA``) → ``ambiguous_choice``;
5. the last line is a lone letter or an option line (``B. When giving …``), else the first line is a
   lone letter (answer-first replies: ``A\\n\\nLet me think …``) → that letter;
6. the letters the text names (a capital ``A``/``I`` before a lowercase word is the article/pronoun):
   one → it; several (``C or D``, ``C and B``, ``A, B``) → ``ambiguous_choice``;
7. an option's text inside a longer answer → that option (several → ``ambiguous_choice``);
8. a refusal phrase anywhere → ``refusal``; else ``no_choice``.

A letter outside the options is returned (it is read, and scores as wrong), except a lone ``N`` when
``N`` is not an option: the short form of N/A / None / Neither, a ``refusal``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, NamedTuple

__all__ = ["OptionSet", "parse_choice", "read_choice"]


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
_LETTERS: Final = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))


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
    return OptionSet(tuple(_LETTERS[k] for k in range(len(options))), tuple(_norm(o) for o in options))


# ------------------------------------------------------------------------------------------ refusals

_REFUSALS: Final = frozenset(
    {"n/a", "na", "n.a", "none", "none of the above", "none of them", "none of these", "neither"}
    | {"neither of them", "neither option", "neither statement", "no answer", "no option", "null", "nil"}
    | {"unknown", "not sure", "unsure", "i don't know", "i do not know", "i'm not sure", "cannot answer"}
    | {"cannot be determined", "can't be determined", "can not be determined", "cannot determine"}
    | {"cannot be answered", "undetermined", "indeterminate", "unanswerable", "not applicable"}
    | {"not enough information", "insufficient information", "impossible to determine", "none apply"}
    | {"not determinable", "no correct answer", "no correct option", "not possible to determine"}
)
_REFUSAL_STARTS: Final = (
    "neither ",
    "none of ",
    "cannot ",
    "can't ",
    "can not ",
    "not enough ",
    "unable to ",
)
_REFUSAL_PHRASES_RE: Final = re.compile(
    r"\b(?:cannot be determined|can(?:no|')t determine|(?:impossible|not possible) to determine|"
    r"none of the (?:above|options)|neither (?:statement|option))\b",
    re.IGNORECASE,
)


def _is_refusal(norm: str) -> bool:
    """Is the whole (normalised) answer a refusal? Short ``Neither A nor B`` / ``None of them`` too."""
    if norm.strip(_WRAPPING) in _REFUSALS:
        return True
    return len(norm) <= 80 and "\n" not in norm and norm.startswith(_REFUSAL_STARTS)


# -------------------------------------------------------------------------------------- letter scan
# Letters, cues and verdicts are each found by one C-level regex pass over the text; the per-letter
# Python work is a set lookup and an article check, so a 4 KB answer of letters costs a few passes.

# A one-character word, not part of "T-shirt", "A's", "2A", and not a list label ("A: this option …",
# "Option B: …"). With an index base, 1-2 digit numbers too (not inside "1.5", "2,000", "1:05").
_LETTER_RE: Final = re.compile(r"(?<![\w'’\-])[A-Za-z](?![\w'’\-])(?![ \t]*:)")
_LETTER_OR_INDEX_RE: Final = re.compile(
    r"(?<![\w'’\-.,:])(?:[A-Za-z]|\d{1,2})(?![\w'’\-]|[.,:]\d)(?![ \t]*:)"
)
# A cue right before a letter (each match ends where the letter starts): "the answer is B", "Final
# answer: (b)", "option C", "I'll choose: B", "the least likely statement is **C**", "the answer would be
# option B". Every piece is bounded, so a match attempt costs a few steps.
_CUE_RE: Final = re.compile(
    r"\b(?:answers?|options?|choice|is|be|was|choose|chose|choosing|select(?:ed|ing)?|pick(?:ed)?|letter)"
    r"[\s:*(\[\"'`=\-]{1,8}(?:(?:option|choice|letter)[\s:*(\[\"'`=\-]{1,8})?(?=[A-Za-z\d])",
    re.IGNORECASE,
)
# A verdict right after a letter: "B is correct", "B is the answer", "B is the correct answer".
_VERDICT_RE: Final = re.compile(
    r"(?<![\w'’\-])[A-Za-z][)*\]]{0,2}\s{1,3}is\s{1,3}(?:correct|right|the\s{1,3}(?:correct\s{1,3})?answer)\b",
    re.IGNORECASE,
)
# Another letter joined to a cued one: "C or D", "C, D", "C and B", "(B)/(C)".
_JOINED_RE: Final = re.compile(
    r"[)\]*'\"]{0,3}(?:\s{0,3}[,/&]|\s{1,3}(?:or|and|nor)\b)\s{0,3}(?:option\s{1,3})?[(*]{0,2}"
    r"([A-Za-z])(?![\w'’\-])",
    re.IGNORECASE,
)


class Candidate(NamedTuple):
    letter: str
    cued: bool
    start: int
    end: int


def _is_article(text: str, end: int) -> bool:
    """Is the next word after ``end`` lowercase ("A cup", "I think", "is a bottle")?"""
    n = len(text)
    j = end
    while j < n and text[j] in " \t\r\n":
        j += 1
    return j > end and j < n and text[j].islower()


def _candidates(text: str, index_labels: tuple[str, ...], index_base: int | None) -> list[Candidate]:
    """Letters (and, with an ``index_base``, cued index numbers) the text names, in order.

    An uppercase letter counts; a lowercase one only parenthesised (``(c)``) or cued (``answer: b``). A
    capital ``A``/``I`` before a lowercase word is the article / pronoun; a letter before ``:`` is a list
    label (``A: this option implies …``, ``Option B: …``).
    """
    out: list[Candidate] = []
    n = len(text)
    finder = _LETTER_RE if index_base is None else _LETTER_OR_INDEX_RE
    cued_at = {m.end() for m in _CUE_RE.finditer(text)} | {m.start() for m in _VERDICT_RE.finditer(text)}
    for m in finder.finditer(text):
        start, end = m.start(), m.end()
        word = m.group()
        cued = start in cued_at
        if word.isdigit():
            if cued and index_base is not None:  # digits are matched only with a base
                k = int(word) - index_base
                out.append(
                    Candidate(index_labels[k] if 0 <= k < len(index_labels) else "?", True, start, end)
                )
            continue
        parenthesised = start > 0 and text[start - 1] == "(" and end < n and text[end] == ")"
        if not parenthesised and word in "aAiI" and _is_article(text, end):
            continue
        if word.isupper() or parenthesised or cued:
            out.append(Candidate(word.upper(), cued, start, end))
    return out


def _phrase_choice(
    text: str, cands: list[Candidate], valid: Sequence[str]
) -> tuple[str | None, str | None] | None:
    """Rule 4: the last cued letter, ambiguous if another option letter is joined to it (``C or D``)."""
    last = next((c for c in reversed(cands) if c.cued and c.letter in valid), None)
    if last is None:
        return None
    m = _JOINED_RE.match(text, last.end)
    if m is not None:
        other = m.group(1).upper()
        if other in valid and other != last.letter and not (other in "AI" and _is_article(text, m.end())):
            return None, "ambiguous_choice"
    # A different lone letter on a line after the phrase ("… the most unlikely option is B.\n\nA").
    tail = text.rstrip()
    line_start = tail.rfind("\n") + 1
    bare = tail[line_start:].strip(_WRAPPING)
    if line_start >= last.end and len(bare) == 1 and bare.upper() in valid and bare.upper() != last.letter:
        return None, "ambiguous_choice"
    return last.letter, None


def _line_choice(line: str, options: OptionSet, valid: Sequence[str]) -> str | None:
    """A line that is only a choice: a wrapped letter, or an option line ``B. <text>``."""
    bare = line.strip(_WRAPPING)
    if len(bare) == 1 and bare.isascii() and bare.isalpha() and bare.upper() in valid:
        return bare.upper()
    m = _LABEL_RE.match(line)
    if m is None:
        return None
    label = (m.group(1) or m.group(2)).upper()
    rest = _norm(line[m.end() :])
    if label not in valid:
        return None
    if options.texts and rest and rest != options.texts[options.labels.index(label)]:
        # With known options the line must repeat the option's text (not "A. a cup falls, or maybe …").
        return label if options.texts[options.labels.index(label)].startswith(rest[:40]) else None
    return label


def _lines_choice(text: str, options: OptionSet, valid: Sequence[str]) -> str | None:
    """Rule 5: the last line as a choice (unless the line before is another option line), else the
    first line as a lone letter."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    last = _line_choice(lines[-1], options, valid)
    if last is not None:
        before = _line_choice(lines[-2], options, valid)
        if before is None or before == last or len(lines[-2].strip(_WRAPPING)) == 1:
            return last
    first = lines[0].strip(_WRAPPING)
    if len(first) == 1 and first.isascii() and first.isalpha() and first.upper() in valid:
        return first.upper()
    return None


def read_choice(
    text: str, options: OptionSet, index_base: int | None = None
) -> tuple[str | None, str | None]:
    """``(letter, failure)`` of an answer text; the rules are in the module docstring.

    >>> opts = OptionSet.from_options(["A. a cup", "B. a dog"])
    >>> read_choice("N/A", opts), read_choice("Final answer: b", opts), read_choice("1", opts, 0)
    ((None, 'refusal'), ('B', None), ('B', None))
    """
    norm = _norm(text)
    labels, texts = options
    # 1. The answer is an option's text, with or without its label.
    for label, opt in zip(labels, texts, strict=True):
        if norm == opt or norm == f"{label.lower()}. {opt}" or norm == f"({label.lower()}) {opt}":
            return label, None
    # 2. Nothing, or a refusal.
    if not norm or _is_refusal(norm):
        return None, "refusal"
    # 3. A lone letter, however wrapped: "c", "(C)", "[C]", "**C**", "C."; an index when enabled.
    bare = text.strip(_WRAPPING)
    if len(bare) == 1 and bare.isascii() and bare.isalpha():
        letter = bare.upper()
        if letter == "N" and labels and "N" not in labels:
            return None, "refusal"  # "N" for N/A / None / Neither ("neither (a) nor (b)" … <answer>N)
        return letter, None
    index_labels = labels or _LETTERS
    if index_base is not None and bare.isascii() and bare.isdigit() and len(bare) <= 3:
        k = int(bare) - index_base
        return (index_labels[k], None) if 0 <= k < len(index_labels) else (None, "no_choice")
    # "C. <text of option C>": the option's own text may name other letters ("person A").
    m = _LABEL_RE.match(text)
    if m is not None and texts:
        label = (m.group(1) or m.group(2)).upper()
        if label in labels and _norm(text[m.end() :]) == texts[labels.index(label)]:
            return label, None
    valid = labels or _LETTERS
    cands = _candidates(text, index_labels, index_base)
    # 4. The last final-answer phrase.
    phrase = _phrase_choice(text, cands, valid)
    if phrase is not None:
        return phrase
    # 5. The last line, or an answer-first reply's first line.
    line = _lines_choice(text, options, valid)
    if line is not None:
        return line, None
    # 6. Letters named in the text.
    inside = list(dict.fromkeys(c.letter for c in cands if c.letter in valid))
    if len(inside) == 1:
        return inside[0], None
    if len(inside) > 1:
        return None, "ambiguous_choice"
    if cands and cands[0].letter != "?":
        return cands[0].letter, None  # a letter that is not an option: read, and wrong
    # 7. An option's text inside a longer answer ("I think the man opens the door.").
    hits = [label for label, opt in zip(labels, texts, strict=True) if len(opt) >= 3 and opt in norm]
    if len(hits) > 1:
        # Drop options whose text is part of another hit's text ("door" inside "open the door").
        hits = [
            lab
            for lab in hits
            if not any(texts[labels.index(lab)] in texts[labels.index(o)] for o in hits if o != lab)
        ]
    if len(hits) == 1:
        return hits[0], None
    if len(hits) > 1:
        return None, "ambiguous_choice"
    # 8. A refusal phrase in a longer answer.
    if _REFUSAL_PHRASES_RE.search(text) is not None:
        return None, "refusal"
    return None, "no_choice"


def parse_choice(
    text: str, options: Sequence[str] | OptionSet | None = None, *, index_base: int | None = None
) -> str | None:
    """The option letter an answer names, or ``None`` (no choice, a refusal, or an ambiguous choice).

    See :mod:`video_rewards.choices` for the rules. ``index_base`` (0 or 1) reads integer answers as
    option indices (NExT-QA prompts ask for ``0``–``4``).

    >>> opts = ["A. The man opens the door", "B. A woman drinks", "C. A cup falls", "D. Nothing"]
    >>> parse_choice("The answer is C.", opts), parse_choice("(b)", opts), parse_choice("a cup falls", opts)
    ('C', 'B', 'C')
    >>> parse_choice("C or D", opts) is None, parse_choice("N/A", opts) is None
    (True, True)
    >>> parse_choice("A cup falls off the table, so C", opts), parse_choice("2", opts, index_base=0)
    ('C', 'C')
    """
    opts = options if isinstance(options, OptionSet) else OptionSet.from_options(options)
    return read_choice(text, opts, index_base)[0]
