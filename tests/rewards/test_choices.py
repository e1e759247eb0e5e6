"""Choice parsing and the multiple-choice (mcq) reward."""

from __future__ import annotations

import pytest

from video_rewards import compute_score, parse_choice, score
from video_rewards.parsing import OptionSet, _choice

OPTIONS = [
    "A. The man puts the cup on the shelf",
    "B. The man drinks from the cup",
    "C. The man hands the cup to the woman",
    "D. Nothing happens",
]

CHOICE_CASES = [
    # (answer text, parsed letter, failure)
    ("C", "C", None),
    ("c", "C", None),
    ("(C)", "C", None),
    ("(c)", "C", None),
    ("[C]", "C", None),
    ("**C**", "C", None),
    ("C.", "C", None),
    ("C. The man hands the cup to the woman", "C", None),
    ("C) The man hands the cup to the woman.", "C", None),
    ("Option C", "C", None),
    ("option c", "C", None),
    ("The answer is C", "C", None),
    ("The answer is C.", "C", None),
    ("Answer: (C)", "C", None),
    ("The man hands the cup to the woman", "C", None),
    ("the man hands the cup to the woman.", "C", None),
    ("THE MAN HANDS THE CUP TO THE WOMAN!", "C", None),
    ("nothing happens", "D", None),
    ("I think the man hands the cup to the woman here.", "C", None),
    ("C or D", None, "ambiguous_choice"),
    ("C, D", None, "ambiguous_choice"),
    ("C and D", None, "ambiguous_choice"),
    ("(B) or (C)", None, "ambiguous_choice"),
    ("A cup is handed to the woman, so C.", "C", None),
    ("A man holds a cup.", None, "no_choice"),
    ("A", "A", None),
    ("A.", "A", None),
    ("(A) The man puts the cup on the shelf", "A", None),
    ("I am not sure.", None, "no_choice"),
    ("E", "E", None),  # outside the options: parsed, scored wrong
    ("The T-shirt man, so B", "B", None),
    ("", None, "refusal"),
    ("N/A", None, "refusal"),
    ("None of the above", None, "refusal"),
    ("Cannot be determined.", None, "refusal"),
    ("Neither A nor B", None, "refusal"),
    ("N", None, "refusal"),
]


@pytest.mark.parametrize(
    ("text", "letter", "failure"), CHOICE_CASES, ids=[c[0] or "empty" for c in CHOICE_CASES]
)
def test_parse_choice(text: str, letter: str | None, failure: str | None) -> None:
    assert _choice(text, OptionSet.from_options(OPTIONS)) == (letter, failure)
    assert parse_choice(text, OPTIONS) == letter


def test_unlabelled_options_are_lettered_by_position() -> None:
    opts = ["red", "green", "blue"]
    assert parse_choice("Green.", opts) == "B"
    assert (
        score(
            "<think></think><answer>blue</answer>", {"task": "mcq", "answer": "blue", "options": opts}
        ).accuracy
        == 1.0
    )


GT = {"task": "mcq", "answer": "C", "options": OPTIONS}

MCQ_CASES = [
    # R1-style
    ("<think>\nHe extends his arm and she takes the cup.\n</think>\n<answer>C</answer>", 1.0, 1.0, None),
    ("<think>He drinks.</think>\n<answer>(B)</answer>", 1.0, 0.0, None),
    ("<think>Either.</think><answer>C or D</answer>", 1.0, 0.0, "ambiguous_choice"),
    ("<think>It is E.</think><answer>E</answer>", 1.0, 0.0, None),
    ("<think>The woman receives it.</think><answer>C", 0.0, 0.0, "no_answer_tag"),
    # Qwen2.5-VL-style (answer tag after free reasoning, or option text)
    ("<think>the cup moves</think><answer>The man hands the cup to the woman.</answer>", 1.0, 1.0, None),
    ("Let me look. <think>x</think><answer>C</answer>", 0.0, 1.0, None),
    ("The man hands the cup to the woman.", 0.0, 0.0, "no_answer_tag"),
]


@pytest.mark.parametrize(("response", "fmt", "accuracy", "failure"), MCQ_CASES)
def test_mcq_reward(response: str, fmt: float, accuracy: float, failure: str | None) -> None:
    r = score(response, GT)
    assert (r.format, r.accuracy, r.failure, r.iou) == (fmt, accuracy, failure, None)
    assert r.score == 0.5 * fmt + 0.5 * accuracy


def test_without_answer_tag_requirement_the_whole_response_is_read() -> None:
    resp = "The man hands the cup to the woman."
    assert compute_score(None, resp, GT, require_answer_tag=False) == {
        "score": 0.5,
        "format": 0.0,
        "accuracy": 1.0,
    }


def test_require_format_gates_the_score() -> None:
    resp = "Sure. <think>x</think><answer>C</answer>"
    assert compute_score(None, resp, GT)["score"] == 0.5
    assert compute_score(None, resp, GT, require_format=True)["score"] == 0.0


@pytest.mark.parametrize("answer", ["C", "c", "(C)", "C.", "The man hands the cup to the woman", 2])
def test_gold_answer_spellings(answer: object) -> None:
    r = score("<think></think><answer>C</answer>", {"task": "mcq", "answer": answer, "options": OPTIONS})
    assert r.accuracy == 1.0
