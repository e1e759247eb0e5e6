"""A CI-sized fuzz of the reward entry points: any string scores, nothing raises, batch equals single.

The generator mixes random text (ASCII, Arabic-Indic / full-width digits, emoji, tag fragments) with the
answer spellings real models write, numbers in every awkward spelling (huge integers, ``1e999``, ``-0``,
``1,2:3``, ``1:75``), JSON (deep, unicode, emoji keys) and tag wrappers (well formed, unclosed, doubled), and
mutates them. ``benchmarks/fuzz_rewards.py`` runs the same generator on 1M strings and reports exceptions,
batch/single disagreements and the slowest inputs; this file runs 30k of them with a fixed seed, plus the
inputs that once broke the reward (issue #11) and ground truths that must fail with a ``ValueError``.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import video_rewards as vr

SEED = 20261201
CI_SIZE = 20_000

# ----------------------------------------------------------------------------------------- the generator

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
FULL_WIDTH = "０１２３４５６７８９"
EMOJI = "😀🎬⏱️🔥👍🏽🇫🇷"
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDE0123456789 \n\t:.,-–—[]{}()<>/\\\"'_*#"
    + ARABIC_INDIC
    + FULL_WIDTH
    + EMOJI
)
TAGS = ("<think>", "</think>", "<answer>", "</answer>", "<answer", "answer>", "</think")

TRUTHS: tuple[Mapping[str, Any], ...] = (
    {"task": "tvg", "segment": [12.0, 20.0]},
    {"task": "tvg", "segment": [0.5, 3.25], "duration": 30.0},
    {"task": "mcq", "answer": "B", "options": ["A. a cup", "B. a ball", "C. a dog", "D. a hat"]},
    {"task": "mcq", "answer": 3, "options": ["zero", "one", "two", "three", "four"]},
    {"task": "mcq", "answer": "A", "options": ["(a) he thinks so", "(b) he does not"]},
    {"task": "mcq", "answer": "C"},
    {"task": "gqa", "answer": "B", "options": ["A. no", "B. yes"], "segment": [4.0, 10.0], "duration": 60.0},
    {"task": "numeric", "answer": 7.0},
    {"task": "multi_tvg", "segments": [[1.0, 3.0], [5.0, 9.0]], "duration": 12.0},
)


def fuzz_number(rng: random.Random) -> str:
    """A number as a model (or an adversary) might spell it."""
    kind = rng.randrange(14)
    if kind == 0:
        return str(rng.randint(0, 10**6))
    if kind == 1:
        return f"{rng.uniform(-5, 300):.{rng.randrange(0, 7)}f}"
    if kind == 2:
        return str(rng.randint(1, 9)) * rng.choice((19, 40, 400, 5000))  # overflowing integers
    if kind == 3:
        return rng.choice(("1e999", "-1e999", "1e-999", "1e308", "2e+5", "1E3", "inf", "-inf", "nan", "NaN"))
    if kind == 4:
        return rng.choice(("-0", "-0.0", "+0", "0", "00", "-00:00", "−3"))
    if kind == 5:
        return rng.choice(("1,2:3", "1:75", "1:2:3:4", "12:60", "1,000", "1.2.3", "3.", ".5", "1:05.5"))
    if kind == 6:
        h, m, s = rng.randrange(0, 3), rng.randrange(0, 60), rng.uniform(0, 60)
        return rng.choice((f"{h:02d}:{m:02d}:{s:05.2f}", f"{m}:{int(s):02d}", f"{h}:{m:02d}:{int(s):02d}"))
    if kind == 7:
        return "".join(rng.choice(ARABIC_INDIC) for _ in range(rng.randint(1, 12)))
    if kind == 8:
        return "".join(rng.choice(FULL_WIDTH) for _ in range(rng.randint(1, 4)))
    if kind == 9:
        return str(rng.randint(0, 120)) + rng.choice(("s", " s", " sec", " seconds", " min", "ms", " h", ""))
    if kind == 10:
        return "9" * rng.randint(15, 25) + "." + "9" * rng.randint(1, 30)
    return f"{rng.uniform(0, 60):.1f}"


def _span_text(rng: random.Random) -> str:
    a, b = fuzz_number(rng), fuzz_number(rng)
    return rng.choice(
        (
            f"{a} to {b}",
            f"[{a}, {b}]",
            f"from {a} to {b} seconds",
            f"{a}-{b}",
            f"The start time is {a} and the end time is {b}.",
            f"The start time of the query is approximately {a} - {b}, and the end time is around {b}-{a}.",
            f"Start Time: {a}\nEnd Time: {b}",
            f"start_time: {a}, end_time: {b}",
            f"The event starts at {a} and ends at {b}.",
            f"It begins at {a} and finishes at {b}.",
            f'{{"start_time": {a}, "end_time": {b}}}',
            f'{{"start_time": "{a}", "end_time": "{b}"}}',
            f'{{"start": "{a}", "end": "{b}"}}',
            f"between {a} and {b}",
            f"at the {a} mark",
        )
    )


def _choice_text(rng: random.Random) -> str:
    letter = rng.choice("ABCDEabcde")
    other = rng.choice("ABCDE")
    return rng.choice(
        (
            letter,
            f"({letter})",
            f"{letter}.",
            f"The answer is {letter}",
            f"Answer: ({letter})",
            f"Best option: ({letter})",
            f"Final answer: {letter}",
            f"{letter} or {other}",
            f"{letter}, {other}",
            f"{letter} and {other}",
            str(rng.randrange(-1, 7)),
            rng.choice(("N/A", "n/a", "None of the above", "cannot be determined", "N", "", "neither")),
            f"{letter}. a ball",
            f"the correct option is {letter}",
        )
    )


def _json_text(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        depth = rng.randint(10, 1900)  # deep but under 4 KB
        return "[" * depth + fuzz_number(rng) + "]" * depth
    if kind == 1:
        depth = rng.randint(10, 600)
        return '{"a":' * depth + "1" + "}" * depth
    if kind == 2:
        digits = "".join(rng.choice(ARABIC_INDIC) for _ in range(rng.randint(100, 1500)))
        return f'{{"start_time": "{digits}", "end_time": "{digits}"}}'
    if kind == 3:
        keys = ", ".join(
            f'"{rng.choice(EMOJI) * rng.randint(1, 40)}": "{rng.choice(EMOJI)}"' for _ in range(30)
        )
        return "{" + keys + ', "start_time": 1, "end_time": 2}'
    if kind == 4:
        return f'{{"answer": "{_choice_text(rng)}", "start_time": {fuzz_number(rng)}, "end_time": {fuzz_number(rng)}}}'
    return f'{{"start_time": {fuzz_number(rng)}, "end_time": {fuzz_number(rng)}}}'


def _random_text(rng: random.Random) -> str:
    n = min(int(rng.expovariate(1 / 40)), 600)
    parts = [rng.choice(ALPHABET) for _ in range(n)]
    for _ in range(rng.randrange(3)):
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(TAGS))
    return "".join(parts)


def _wrap(rng: random.Random, answer: str) -> str:
    think = rng.choice(("", "Let me think. ", _random_text(rng), f"It happens at {_span_text(rng)}. "))
    kind = rng.randrange(8)
    if kind <= 2:
        return f"<think>{think}</think>\n<answer>{answer}</answer>"
    if kind == 3:
        return f"{think}\n{answer}"  # untagged
    if kind == 4:
        return f"<think>{think}</think><answer>{answer}"  # unclosed
    if kind == 5:
        return f"<answer>{answer}</answer><answer>{_choice_text(rng)}</answer>"
    if kind == 6:
        return "<answer>" * rng.randint(1, 50) + answer + "</answer>" * rng.randint(0, 3)
    return f"<think>{think}<answer>{answer}</answer></think>"


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(chars) + 1)
        op = rng.randrange(3)
        if op == 0:
            chars.insert(i, rng.choice(ALPHABET))
        elif chars and op == 1:
            del chars[min(i, len(chars) - 1)]
        elif chars:
            chars[min(i, len(chars) - 1)] = rng.choice(ALPHABET)
    return "".join(chars)


def fuzz_responses(n: int, seed: int = SEED) -> Iterator[str]:
    """``n`` generated responses (deterministic for a seed)."""
    rng = random.Random(seed)
    makers = (_span_text, _choice_text, _json_text, _random_text, fuzz_number)
    for _ in range(n):
        answer = rng.choice(makers)(rng)
        text = _wrap(rng, answer) if rng.random() < 0.7 else answer
        yield _mutate(rng, text) if rng.random() < 0.3 else text


def fuzz_cases(n: int, seed: int = SEED) -> tuple[list[str], list[Mapping[str, Any]]]:
    """Responses and the ground truths they are scored against (a fixed rotation over :data:`TRUTHS`)."""
    responses = list(fuzz_responses(n, seed))
    truths = [TRUTHS[i % len(TRUTHS)] for i in range(n)]
    return responses, truths


def fuzz_configs() -> list[vr.RewardConfig]:
    """Default, lenient, and index answers when the configuration has that option."""
    configs = [vr.RewardConfig(), vr.RewardConfig(require_answer_tag=False)]
    if "mcq_index_base" in vr.RewardConfig.model_fields:
        configs.append(vr.RewardConfig.from_kwargs(require_answer_tag=False, mcq_index_base=0))
    return configs


# ------------------------------------------------------------------------------------------- the checks

COLUMNS = ("score", "format", "accuracy", "iou")

#: ``(response, truth, config) -> RewardResult``: how :func:`check_chunk` scores one response.
SingleScorer = Callable[[str, Mapping[str, Any], vr.RewardConfig], vr.RewardResult]


@dataclass
class FuzzReport:
    """What a fuzz run found: exceptions and batch/single disagreements, each with an example input."""

    scored: int = 0
    exceptions: dict[str, list[str]] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)
    bad_values: list[str] = field(default_factory=list)

    def raised(self, where: str, exc: BaseException, response: object) -> None:
        self.exceptions.setdefault(f"{where}: {type(exc).__name__}", []).append(_show(response))

    @property
    def exception_count(self) -> int:
        return sum(map(len, self.exceptions.values()))


def _show(text: object, limit: int = 120) -> str:
    s = repr(text)
    return s if len(s) <= limit else f"{s[:limit]}… ({len(s)} chars)"


def _same(a: float | None, b: float) -> bool:
    if a is None:
        return math.isnan(b)
    return a == b or (math.isnan(a) and math.isnan(b))


def check_single(result: vr.RewardResult, response: object, report: FuzzReport) -> None:
    """Finite components, and a failure reason whenever there is no prediction."""
    values = [result.score, result.format, result.accuracy, result.iou]
    if not all(v is None or math.isfinite(v) for v in values):
        report.bad_values.append(f"non-finite {values} for {_show(response)}")
    if result.prediction is None and result.failure is None:
        report.bad_values.append(f"no prediction and no failure for {_show(response)}")


def check_chunk(
    responses: Sequence[str],
    truths: Sequence[Mapping[str, Any]],
    cfg: vr.RewardConfig,
    report: FuzzReport,
    on_single: SingleScorer | None = None,
) -> None:
    """Score a chunk one by one (``score`` and ``compute_score``) and as a batch; record what differs.

    ``on_single`` replaces the single :func:`video_rewards.score` call (the benchmark times it).
    """
    kwargs = cfg.model_dump(exclude_defaults=True)
    singles: list[vr.RewardResult | None] = []
    for response, truth in zip(responses, truths, strict=True):
        try:
            if on_single is None:
                result = vr.score(response, truth, config=cfg)
            else:
                result = on_single(response, truth, cfg)
            check_single(result, response, report)
            dict_result = vr.compute_score(None, response, truth, stable_keys=True, **kwargs)
            if not all(_same(getattr(result, k), dict_result[k]) for k in COLUMNS):
                report.disagreements.append(f"compute_score≠score on {_show(response)}")
            singles.append(result)
        except Exception as exc:
            report.raised("single", exc, response)
            singles.append(None)
    report.scored += len(responses)
    try:
        cols = vr.score_batch(responses, truths, config=cfg)
    except Exception:
        # Attribute the exception to its input(s).
        for response, truth in zip(responses, truths, strict=True):
            try:
                vr.score_batch([response], [truth], config=cfg)
            except Exception as exc:
                report.raised("batch", exc, response)
        return
    for i, single in enumerate(singles):
        if single is None:
            continue
        batch = {k: float(cols[k][i]) for k in COLUMNS}
        same = all(_same(getattr(single, k), batch[k]) for k in COLUMNS)
        same = same and cols["failure"][i] == single.failure and cols["prediction"][i] == single.prediction
        if not same:
            row = {k: cols[k][i] for k in (*COLUMNS, "failure", "prediction")}
            report.disagreements.append(f"batch {row} ≠ single {single!r} on {_show(responses[i])}")


def run_fuzz(n: int, seed: int = SEED, chunk: int = 2_000) -> FuzzReport:
    report = FuzzReport()
    responses, truths = fuzz_cases(n, seed)
    for cfg in fuzz_configs():
        for start in range(0, n, chunk):
            check_chunk(responses[start : start + chunk], truths[start : start + chunk], cfg, report)
    return report


# ------------------------------------------------------------------------------------------------ tests


def test_generator_is_deterministic_and_varied() -> None:
    first = list(fuzz_responses(500, seed=1))
    assert first == list(fuzz_responses(500, seed=1))
    assert len(set(first)) > 400
    joined = "".join(first)
    for needle in ("<answer>", "1e999", ARABIC_INDIC[3], "start_time", "N/A"):
        assert needle in joined


def test_fuzz_never_raises_and_batch_equals_single() -> None:
    report = run_fuzz(CI_SIZE // len(fuzz_configs()))
    assert report.scored >= CI_SIZE - len(fuzz_configs())
    assert not report.exceptions, {k: v[:3] for k, v in report.exceptions.items()}
    assert not report.bad_values, report.bad_values[:5]
    assert not report.disagreements, report.disagreements[:5]


DEEP_LIST = "[" * 1900 + "1" + "]" * 1900  # under 4 KB
KILLERS: list[tuple[str, str, Mapping[str, Any]]] = [
    ("5000-digit integer", "<answer>" + "9" * 5000 + " to 12</answer>", TRUTHS[0]),
    ("5000-digit integer, numeric", "<answer>" + "7" * 5000 + "</answer>", TRUTHS[7]),
    (
        "5000-digit JSON number",
        '<answer>{"start_time": ' + "9" * 5000 + ', "end_time": 5}</answer>',
        TRUTHS[0],
    ),
    ("1e999 in JSON", '<answer>{"start_time": "1e999", "end_time": 5}</answer>', TRUTHS[0]),
    ("1e999 span", "<answer>1e999 to 5</answer>", TRUTHS[0]),
    ("deep JSON list", f"<answer>{DEEP_LIST}</answer>", TRUTHS[0]),
    ("deep JSON object", "<answer>" + '{"a":' * 600 + "1" + "}" * 600 + "</answer>", TRUTHS[6]),
    ("1,2:3", "<answer>1,2:3 to 5</answer>", TRUTHS[0]),
    ("1,2:3 numeric", "<answer>1,2:3</answer>", TRUTHS[7]),
    ("-0 numeric", "<answer>-0</answer>", TRUTHS[7]),
    ("-0 span", "<answer>-0 to 5</answer>", TRUTHS[0]),
    ("-0 choice index", "<answer>-0</answer>", TRUTHS[3]),
    (
        "Arabic-Indic JSON",
        '<answer>{"start_time": "'
        + ARABIC_INDIC * 150
        + '", "end_time": "'
        + ARABIC_INDIC * 150
        + '"}</answer>',
        TRUTHS[0],
    ),
    (
        "emoji JSON",
        "<answer>{" + ", ".join(f'"{"😀" * 60}": "🔥"' for _ in range(30)) + "}</answer>",
        TRUTHS[6],
    ),
    ("nan span", "<answer>nan to inf</answer>", TRUTHS[0]),
    ("lone surrogate", "<answer>\ud800 12 to 20</answer>", TRUTHS[0]),
    ("NUL bytes", "<answer>\x00B\x00</answer>", TRUTHS[2]),
]


@pytest.mark.parametrize(("name", "response", "truth"), KILLERS, ids=[k[0] for k in KILLERS])
@pytest.mark.parametrize("lenient", [False, True], ids=["tagged", "lenient"])
def test_known_killers_score_without_raising(
    name: str, response: str, truth: Mapping[str, Any], lenient: bool
) -> None:
    cfg = vr.RewardConfig(require_answer_tag=not lenient)
    report = FuzzReport()
    check_chunk([response, response[8:]], [truth, truth], cfg, report)
    assert not report.exceptions, report.exceptions
    assert not report.bad_values, report.bad_values
    assert not report.disagreements, report.disagreements


def test_overflowing_numbers_are_parse_failures() -> None:
    # "1e999" is infinite: no span at all, never a clipped or rounded one (issue #11: it read as 1).
    for response in (
        '<answer>{"start_time": "1e999", "end_time": 5}</answer>',
        "<answer>1e999 to 5</answer>",
        "<answer>" + "9" * 400 + " to 5</answer>",
    ):
        result = vr.score(response, TRUTHS[0])
        assert result.iou == 0.0 and result.prediction is None and result.failure is not None, response[:60]


DEEP_SEGMENT: Any = [1.0, 2.0]
for _ in range(5000):
    DEEP_SEGMENT = [DEEP_SEGMENT]

BAD_TRUTHS: list[tuple[str, Any, str]] = [
    ("segment nested 5000 deep", {"task": "tvg", "segment": DEEP_SEGMENT}, "segment"),
    (
        "segment nested 5000 deep, JSON",
        '{"task": "tvg", "segment": ' + "[" * 5000 + "]" * 5000 + "}",
        "segment",
    ),
    ("duration 10**400", {"task": "tvg", "segment": [1, 2], "duration": 10**400}, "duration"),
    ("segment end 10**400", {"task": "tvg", "segment": [1, 10**400]}, "segment"),
    ("numeric answer 10**400", {"task": "numeric", "answer": 10**400}, "answer"),
    ("mcq index 10**400", {"task": "mcq", "answer": 10**400, "options": ["a", "b"]}, "answer"),
    ("options nested deep", {"task": "mcq", "answer": "A", "options": DEEP_SEGMENT}, "options"),
]


@pytest.mark.parametrize(("name", "truth", "field_name"), BAD_TRUTHS, ids=[b[0] for b in BAD_TRUTHS])
def test_bad_ground_truth_is_a_value_error_naming_the_field(name: str, truth: Any, field_name: str) -> None:
    assert sys.getrecursionlimit() < 5000  # the nesting is deeper than Python's recursion limit
    with pytest.raises(ValueError, match=field_name):
        vr.parse_ground_truth(truth)
    with pytest.raises(ValueError, match=field_name):
        vr.compute_score(None, "<answer>1 to 2</answer>", truth)


def test_batch_columns_mark_parse_failures() -> None:
    responses, truths = fuzz_cases(3_000, seed=7)
    cols = vr.score_batch(responses, truths, config=vr.RewardConfig(require_answer_tag=False))
    failed = cols["parse_failed"] == 1.0
    assert np.array_equal(failed, np.array([f is not None for f in cols["failure"]]))
    assert all(f is not None for f, p in zip(cols["failure"], cols["prediction"], strict=True) if p is None)
    assert np.isfinite(cols["score"]).all() and np.isfinite(cols["format"]).all()
