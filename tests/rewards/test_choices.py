"""Choice parsing and the multiple-choice (mcq) reward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import video_rewards as vr
from video_rewards import compute_score, parse_choice, score
from video_rewards.evaluate import main as evaluate_main
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


# Every MCQ spelling the reward reads (README "Spellings" table), refusals and ambiguity included.
READER_CASES = [
    # letters, however wrapped, in any case
    ("(c)", "C", None),
    ("**b**", "B", None),
    ("Answer: (B)", "B", None),
    ("Best option: (B)", "B", None),
    ("The correct option is B.", "B", None),
    ("Final answer: b", "B", None),
    ("B is correct.", "B", None),
    ("So, I'll choose:\n\nB", "B", None),
    ("Therefore, the least likely statement is: C", "C", None),
    # the last final-answer phrase of a long reply
    ("Option A: too early. Option B: he drinks. I first thought A. Final answer: C", "C", None),
    ("A\n\nLet me think. A: unlikely. B: likely. Therefore, the answer is B.", "B", None),
    ("A\n\nLet me think carefully. The man clearly hands over the cup.", "A", None),  # answer first
    ("Reasoning about each option.\nC. The man hands the cup to the woman", "C", None),  # last line
    # several letters
    ("C and B", None, "ambiguous_choice"),
    ("A, B", None, "ambiguous_choice"),
    ("the answer is C or D", None, "ambiguous_choice"),
    ("I think the most unlikely option is B.\n\nA", None, "ambiguous_choice"),
    # refusals are never an option
    ("N/A", None, "refusal"),
    ("n/a", None, "refusal"),
    ("None of the above.", None, "refusal"),
    ("Neither (a) nor (b)", None, "refusal"),
    ("The answer cannot be determined.", None, "refusal"),
    ("I don't know", None, "refusal"),
    ("Unknown", None, "refusal"),
    ("   ", None, "refusal"),
]


@pytest.mark.parametrize(("text", "letter", "failure"), READER_CASES, ids=[c[0][:40] for c in READER_CASES])
def test_reader_spellings(text: str, letter: str | None, failure: str | None) -> None:
    assert _choice(text, OptionSet.from_options(OPTIONS)) == (letter, failure)


def test_an_option_named_none_of_the_above_is_an_option() -> None:
    opts = ["A. A cup", "B. A dog", "C. None of the above"]
    assert _choice("None of the above", OptionSet.from_options(opts)) == ("C", None)


@pytest.mark.parametrize("answer", ["<answer>N/A</answer>", "<answer></answer>", "<answer>N</answer>"])
def test_no_refusal_earns_a_point(answer: str) -> None:
    # "N/A" used to read as option A: a reward a policy could learn to hack.
    for gold in "ABCD":
        r = score(f"<think>unclear</think>{answer}", {"task": "mcq", "answer": gold, "options": OPTIONS})
        assert (r.accuracy, r.failure, r.prediction) == (0.0, "refusal", None)


NEXTQA = {"task": "mcq", "answer": 3, "options": ["three", "six", "two", "one", "five"]}


@pytest.mark.parametrize(
    ("answer", "base", "accuracy", "failure"),
    [
        ("3", None, 0.0, "no_choice"),  # index answers are opt-in
        ("3", 0, 1.0, None),
        ("4", 1, 1.0, None),
        ("(3)", 0, 1.0, None),
        ("The answer is 3.", 0, 1.0, None),
        ("5", 0, 0.0, "no_choice"),  # outside the options
        ("0", 1, 0.0, "no_choice"),
        ("one", 0, 1.0, None),  # the option's text still reads
    ],
)
def test_index_answers_with_mcq_index_base(
    answer: str, base: int | None, accuracy: float, failure: str | None
) -> None:
    cfg = vr.RewardConfig.from_kwargs(mcq_index_base=base)
    r = score(f"<think></think><answer>{answer}</answer>", NEXTQA, config=cfg)
    assert (r.accuracy, r.failure) == (accuracy, failure)


def test_mcq_index_base_from_every_kwargs_channel(tmp_path: Path) -> None:
    response = "<think></think><answer>3</answer>"
    # verl reward_kwargs (compute_score / the reward manager build a RewardConfig from them)
    assert compute_score(None, response, NEXTQA, mcq_index_base=0)["accuracy"] == 1.0
    assert compute_score(None, response, NEXTQA, config='{"mcq_index_base": 0}')["accuracy"] == 1.0
    # JSON --reward-kwargs of the server and of evaluate (strings from a hand-written config too)
    assert vr.RewardConfig.from_kwargs(**json.loads('{"mcq_index_base": 1}')).mcq_index_base == 1
    assert vr.RewardConfig.from_kwargs(mcq_index_base="0").mcq_index_base == 0
    assert vr.RewardConfig.from_kwargs(mcq_index_base="none").mcq_index_base is None
    with pytest.raises(ValueError, match="mcq_index_base"):
        vr.RewardConfig.from_kwargs(mcq_index_base=2)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"response": response, "ground_truth": NEXTQA}) + "\n")
    out = tmp_path / "m.json"
    argv = [
        "--predictions",
        str(predictions),
        "--output",
        str(out),
        "--reward-kwargs",
        '{"mcq_index_base": 0}',
    ]
    assert evaluate_main(argv) == 0
    assert json.loads(out.read_text())["mcq"]["accuracy"] == 100.0


def test_lenient_mode_reads_the_last_final_answer_phrase() -> None:
    cfg = vr.RewardConfig(require_answer_tag=False)
    reply = "Option A is possible, but the man hands it over.\n\nThe answer is C. Let me double-check: yes."
    assert score(reply, GT, config=cfg).prediction == "C"
    # After </think>: the reasoning inside is not read when the reply goes on after it.
    assert score("<think>maybe B</think> So the answer is: C", GT, config=cfg).prediction == "C"
    assert score("<think>... Final answer: c\n</think>", GT, config=cfg).prediction == "C"
