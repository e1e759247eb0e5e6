"""What public video LLMs actually wrote, read as a person reads it (issue #11).

``realdata_expected.jsonl`` (next to this file) holds, per row id of ``<repo>/../shared/realdata/outputs/``
``tvg.jsonl`` / ``mcq.jsonl``, the reading a person wrote down after reading the response — never the output
of the parser under test — with the row's spelling bucket and a note of what was read:

* ``file``: ``"tvg"`` or ``"mcq"``; ``mode``: ``"lenient"`` (``require_answer_tag=False``, plain-text replies),
  ``"tagged"`` (default config) or ``"index"`` (``mcq_index_base=0``: NExT-QA prompts ask for 0–4);
* ``expected``: tvg — ``[start, end]`` in seconds (a point is ``[x, x]``), ``"reversed"`` (the reader reads a
  start after the end) or ``null`` (no span a reader can find); mcq — the letter, ``"refusal"``,
  ``"ambiguous"`` or ``null`` (no option).

Reading rules agreed for issue #11: a labelled start/end pair wins over any other span in the reply (never a
span quoted from the reasoning), otherwise the final-answer statement; start and end given as windows read as
the outer span; times are seconds (``HH:MM:SS`` and minutes converted); index answers are letters with base 0.
The responses are read in place and never copied into the repository; without the folder these tests skip.
``benchmarks/bench_reading.py`` prints the same comparison per spelling bucket.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import video_rewards as vr

OUTPUTS = Path(__file__).resolve().parents[2].parent / "shared" / "realdata" / "outputs"
EXPECTED = Path(__file__).with_name("realdata_expected.jsonl")

pytestmark = pytest.mark.skipif(
    not OUTPUTS.is_dir(), reason=f"real video-LLM outputs not found at {OUTPUTS} (../shared/realdata/outputs)"
)

#: The one row without a ground truth (Time-R1's issue report) is read against this stand-in: only its
#: prediction is compared, and with no duration nothing is clipped.
STAND_IN_TRUTH: Mapping[str, Any] = {"task": "tvg", "segment": [0.0, 1.0]}

SPAN_TOLERANCE = 0.01  # seconds
PLAIN_GROUNDING_TARGET = 0.95
MCQ_TARGET = 0.99

#: Answer blocks a reader takes as "no option chosen" (for the refusal check over every mcq row).
REFUSAL_BLOCK_RE = re.compile(r"<answer>\s*(N/A|n/a|N|none|)\s*</answer>")

_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class LabelledRow:
    """One hand-labelled row: what a reader reads in ``response``, and how the project is configured."""

    id: str
    file: str
    mode: str
    bucket: str
    expected: Any
    note: str
    model: str
    response: str
    ground_truth: Mapping[str, Any]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@cache
def outputs(file: str) -> dict[str, dict[str, Any]]:
    """The rows of ``<file>.jsonl`` by id."""
    return {row["id"]: row for row in _read_jsonl(OUTPUTS / f"{file}.jsonl")}


def load_table() -> list[LabelledRow]:
    """The labelled rows joined with their responses (empty when the real data is absent)."""
    if not OUTPUTS.is_dir():
        return []
    table = []
    for label in _read_jsonl(EXPECTED):
        source = outputs(label["file"])[label["id"]]
        table.append(
            LabelledRow(
                id=label["id"],
                file=label["file"],
                mode=label["mode"],
                bucket=label["bucket"],
                expected=label["expected"],
                note=label["note"],
                model=source["model"],
                response=source["response"],
                ground_truth=source["ground_truth"] or STAND_IN_TRUTH,
            )
        )
    return table


def config_for(mode: str) -> vr.RewardConfig:
    """The configuration a row is read with (see the module docstring)."""
    if mode == "lenient":
        return vr.RewardConfig(require_answer_tag=False)
    if mode == "index":
        return vr.RewardConfig.from_kwargs(mcq_index_base=0)
    if mode == "tagged":
        return vr.RewardConfig()
    raise ValueError(f"unknown mode {mode!r} in {EXPECTED.name}")


def score_row(row: LabelledRow) -> vr.RewardResult:
    return vr.score(row.response, row.ground_truth, config=config_for(row.mode))


def predicted_span(prediction: str | None) -> tuple[float, float] | None:
    """``"[12.5, 18]"`` → ``(12.5, 18.0)``; anything else → ``None``."""
    if prediction is None:
        return None
    numbers = _NUMBER_RE.findall(prediction)
    if len(numbers) != 2:
        return None
    return float(numbers[0]), float(numbers[1])


def disagreement(row: LabelledRow, result: vr.RewardResult) -> str | None:
    """``None`` when the project reads what the reader reads, else what differs."""
    got = f"prediction={result.prediction!r} failure={result.failure!r}"
    expected = row.expected
    if row.file == "tvg":
        if expected is None:
            return None if result.prediction is None else f"reader finds no span; project: {got}"
        if expected == "reversed":
            ok = result.prediction is None and result.failure == "reversed_span"
            return None if ok else f"reader reads a reversed span; project: {got}"
        span = predicted_span(result.prediction)
        if span is not None and all(
            abs(g - e) <= SPAN_TOLERANCE for g, e in zip(span, expected, strict=True)
        ):
            return None
        return f"reader reads {expected}; project: {got}"
    if expected is None:
        return None if result.prediction is None else f"reader reads no option; project: {got}"
    if expected == "refusal":
        ok = result.prediction is None and result.failure == "refusal" and result.accuracy == 0.0
        return None if ok else f"reader reads a refusal; project: {got} accuracy={result.accuracy}"
    if expected == "ambiguous":
        ok = result.prediction is None and (result.failure or "").startswith("ambiguous")
        return None if ok else f"reader reads several letters; project: {got}"
    return None if result.prediction == expected else f"reader reads {expected}; project: {got}"


def reading_outcome(row: LabelledRow) -> str | None:
    """:func:`disagreement`, with an exception counted as a disagreement (for the aggregate rates)."""
    try:
        return disagreement(row, score_row(row))
    except Exception as exc:  # a raise on model output is itself a defect; the table test shows it
        return f"raised {type(exc).__name__}: {exc}"


TABLE = load_table()


def _row_id(row: LabelledRow) -> str:
    return f"{row.file}-{row.bucket}-{row.id}"


def test_table_covers_every_model_and_spelling() -> None:
    labels = _read_jsonl(EXPECTED)
    ids = [(label["file"], label["id"]) for label in labels]
    assert len(ids) == len(set(ids)), "a row is labelled twice"
    assert len(TABLE) >= 150
    for file in ("tvg", "mcq"):
        models = {row["model"] for row in outputs(file).values()}
        assert models == {row.model for row in TABLE if row.file == file}, f"{file}: a model has no row"
    assert {row.bucket for row in TABLE if row.file == "tvg"} >= {
        "start_time_is",
        "labelled",
        "starts_at",
        "window",
        "json",
        "from_to",
        "undecidable",
    }
    assert {row.expected for row in TABLE if row.file == "mcq"} >= {"A", "B", "C", "D", "E", "refusal"}
    assert {row.mode for row in TABLE} == {"lenient", "tagged", "index"}
    for row in TABLE:
        assert row.note, f"{row.id}: every reading carries a note of what was read"
        if row.file == "tvg" and isinstance(row.expected, list):
            start, end = row.expected
            assert 0 <= start <= end and math.isfinite(end), row.id


@pytest.mark.parametrize("row", TABLE, ids=_row_id)
def test_reads_what_a_reader_reads(row: LabelledRow) -> None:
    result = score_row(row)
    why = disagreement(row, result)
    assert why is None, f"{row.id} ({row.model}; {row.note}): {why}"
    numbers = [result.score, result.format, result.accuracy, result.iou]
    assert all(x is None or math.isfinite(x) for x in numbers)


def _rate(rows: list[LabelledRow]) -> tuple[float, list[str]]:
    misses = [f"{row.id}: {why}" for row in rows if (why := reading_outcome(row)) is not None]
    return 1.0 - len(misses) / len(rows), misses


def test_plain_grounding_answers_read_as_a_reader_does() -> None:
    decidable = [row for row in TABLE if row.file == "tvg" and row.mode == "lenient" and row.expected]
    rate, misses = _rate(decidable)
    missed = "\n".join(misses)
    assert rate >= PLAIN_GROUNDING_TARGET, f"{rate:.1%} of {len(decidable)} read; missed:\n{missed}"


def test_mcq_answers_read_as_a_reader_does() -> None:
    rows = [row for row in TABLE if row.file == "mcq"]
    rate, misses = _rate(rows)
    missed = "\n".join(misses)
    assert rate >= MCQ_TARGET, f"{rate:.1%} of {len(rows)} read; missed:\n{missed}"


def test_no_refusal_earns_an_accuracy_point() -> None:
    # Every refusal in the data (the labelled ones and each N/A / empty answer block), under both configs.
    refusals = [row for row in TABLE if row.expected == "refusal"]
    blocks = [r for r in outputs("mcq").values() if REFUSAL_BLOCK_RE.search(r["response"])]
    assert len(blocks) >= 25
    earned = []
    for cfg in (vr.RewardConfig(), vr.RewardConfig(require_answer_tag=False)):
        for response, truth in [(r.response, r.ground_truth) for r in refusals] + [
            (r["response"], r["ground_truth"]) for r in blocks
        ]:
            result = vr.score(response, truth, config=cfg)
            if result.accuracy:
                earned.append(f"{response[-40:]!r} → {result.prediction} (gold {truth['answer']})")
    assert not earned, f"{len(earned)} refusals earned a point:\n" + "\n".join(earned)
