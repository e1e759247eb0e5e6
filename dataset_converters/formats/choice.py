"""Multiple-choice rows: options (bare or already lettered), answers (index, letter, ``(C)``, text), and
the NExT-QA-style reader (csv, JSON list or JSONL)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dataset_converters.formats.tables import positive, row_source, table_rows, video_ref
from dataset_converters.records import OPTION_LETTERS, Annotation, Skip, SkipReason

Record = Annotation | Skip

# A leading option label: "(C)", "C.", "C)", "C:" and what follows it.
_LABELLED = re.compile(r"\s*(?:\(([A-Za-z])\)|([A-Za-z])[.):])\s*(.*)", re.DOTALL)
# An answer that is only a label: "C", "(C)", "C.", "C)".
_LABEL_ONLY = re.compile(r"\s*(?:\(([A-Za-z])\)|([A-Z])[.)]?)\s*")


def strip_letters(options: Sequence[str]) -> list[str]:
    """Option texts without their labels, when every option carries the next letter (``(A) x``,
    ``B. y``, …); otherwise unchanged (an option may begin with a letter and a dot by chance).

    >>> strip_letters(["(A) clap proudly", "(B) crawl"]), strip_letters(["A. lincoln", "the dog"])
    (['clap proudly', 'crawl'], ['A. lincoln', 'the dog'])
    """
    texts = []
    for k, option in enumerate(options):
        match = _LABELLED.fullmatch(option)
        if match is None or (match[1] or match[2]).upper() != OPTION_LETTERS[k % 26] or not match[3].strip():
            return list(options)
        texts.append(match[3].strip())
    return texts


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def resolve_answer(answer: Any, options: Sequence[str]) -> int | tuple[SkipReason, str]:
    """The answer as an option index, or why it cannot be one.

    Read in this order: an integer (``3``, ``"3"``), an option's text (which wins over a letter: an option
    may be literally ``"B"``), a label (``C``, ``(C)``, ``C.``, ``(C) lay on floor``). An answer that is
    the text of two options (a duplicated option) has no index: NExT-GQA's test.csv writes ``happy`` for a
    question whose options D and E are both ``happy``.

    >>> resolve_answer("(C)", ["x", "y", "z"]), resolve_answer("crawl", ["lay", "crawl"]), resolve_answer(4, ["a"])
    (2, 1, 4)
    >>> resolve_answer("happy", ["sad", "happy", "happy"])[0]
    'ambiguous_answer'
    """
    if isinstance(answer, bool) or answer is None:
        return "bad_answer_index", f"answer {answer!r} is not an index, a letter or an option's text"
    if isinstance(answer, int):
        return answer
    text = str(answer).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    matches = [i for i, option in enumerate(options) if _norm(option) == _norm(text)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        letters = " and ".join(OPTION_LETTERS[i] for i in matches if i < 26)
        return (
            "ambiguous_answer",
            f"answer {text!r} is the text of options {letters}: the same option appears "
            f"{len(matches)} times, so the file does not say which letter is right",
        )
    label = _LABEL_ONLY.fullmatch(text) or _LABELLED.fullmatch(text)
    if label is not None and (label[1] or label[2]):
        return ord((label[1] or label[2]).upper()) - ord("A")
    return (
        "bad_answer_index",
        f"answer {text[:80]!r} is not an index, a letter or the text of one of {len(options)} options",
    )


def _answer_index(answer: Any, options: Sequence[str]) -> int | None:
    """:func:`resolve_answer` without the reason.

    >>> _answer_index("2", ["a", "b", "c"]), _answer_index("cry", ["cry", "x"]), _answer_index("B", ["x", "y"])
    (2, 0, 1)
    >>> _answer_index("b", ["x", "b"]), _answer_index("7", ["a", "b"])  # out of range: reported by the caller
    (1, 7)
    """
    index = resolve_answer(answer, options)
    return index if isinstance(index, int) else None


def options_of(row: Mapping[str, Any]) -> list[str] | None:
    """Option texts from an ``options`` list or columns ``a0…aN``, labels removed (:func:`strip_letters`)."""
    if isinstance(row.get("options"), list):
        options = [str(o) for o in row["options"]]
    else:
        options = []
        for k in range(27):  # a0..a26: one more than the contract allows, so too many options is reported
            value = row.get(f"a{k}")
            if value is None or str(value).strip() == "":
                break
            options.append(str(value))
    return strip_letters(options) if options else None


def choice_fields(row: Any, source: str, ordinal: int) -> tuple[str, str | None, str, list[str], int] | Skip:
    """``(video_id, video_path, question, options, answer index)`` of a multiple-choice row, or a Skip."""
    ref = video_ref(row) if isinstance(row, dict) else None
    options = options_of(row) if isinstance(row, dict) else None
    question = row.get("question") if isinstance(row, dict) else None
    if ref is None or not question or options is None or "answer" not in row:
        return Skip(
            source, ordinal, "malformed_row", "needs 'video'/'video_id', 'question', 'answer' and options"
        )
    index = resolve_answer(row["answer"], options)
    if not isinstance(index, int):
        return Skip(source, ordinal, *index)
    if not 0 <= index < len(options):
        return Skip(
            source,
            ordinal,
            "bad_answer_index",
            f"answer {row['answer']!r}: no option {index} of {len(options)}",
        )
    return ref[0], ref[1], str(question), options, index


def read_multiple_choice(path: Path) -> Iterator[Record]:
    """NExT-QA-style multiple-choice VideoQA (csv, JSON list or JSONL), VideoChat-R1's JSON included."""
    for i, row in enumerate(table_rows(path)):
        source = row_source(path, i)
        fields = choice_fields(row, source, i)
        if isinstance(fields, Skip):
            yield fields
            continue
        video_id, video_path, question, options, index = fields
        yield Annotation(
            source,
            i,
            video_id,
            "mcq",
            question,
            options=tuple(options),
            answer_index=index,
            video_path=video_path,
            duration=positive(row.get("duration")),
        )
