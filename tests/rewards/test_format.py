"""Format reward and answer-block extraction: the issue's rules, one table row each."""

from __future__ import annotations

import pytest

from video_rewards import check_format, parse_answer_block, score
from video_rewards.parsing import split_response

FORMAT_CASES = [
    # (response, well formed?, first answer block, why)
    ("<think>x</think><answer>C</answer>", True, "C", "minimal"),
    ("<think>\nThe man opens the door.\n</think>\n<answer>\nC\n</answer>\n", True, "C", "R1 newlines"),
    ("  <think>a</think>   <answer>b</answer>  ", True, "b", "whitespace around and between"),
    ("<think></think><answer></answer>", True, "", "empty tags are well formed"),
    ("<think>a</think>\n\n<answer>[1, 2]</answer>", True, "[1, 2]", "blank lines between"),
    ("<think>x < y</think><answer>C</answer>", True, "C", "a '<' inside think is text"),
    ("<think>a</think><answer>x < 5</answer>", True, "x < 5", "a '<' inside the answer is text"),
    ("Sure! <think>a</think><answer>C</answer>", False, "C", "text before <think>"),
    ("<think>a</think><answer>C</answer> Hope this helps.", False, "C", "text after </answer>"),
    ("<think>a</think> so <answer>C</answer>", False, "C", "text between the blocks"),
    ("<answer>C</answer>", False, "C", "no think block"),
    ("<think>a</think>", False, None, "no answer block"),
    ("<answer>C</answer><think>a</think>", False, "C", "blocks in the wrong order"),
    ("<think>a</think><think>b</think><answer>C</answer>", False, "C", "two think blocks"),
    ("<think>a</think><answer>C</answer><answer>D</answer>", False, "C", "two answer blocks: first counts"),
    ("<think>a <answer>B</answer></think><answer>C</answer>", False, "B", "answer nested in think"),
    ("<think>a</think><answer>C", False, None, "unclosed answer"),
    ("<think>a<answer>C</answer>", False, "C", "unclosed think"),
    ("<THINK>a</THINK><ANSWER>C</ANSWER>", False, None, "tags are case sensitive"),
    ("<think>a</think><answer><answer>C</answer>", False, "<answer>C", "block runs to the first close"),
    ("", False, None, "empty response"),
    ("The answer is C.", False, None, "plain text"),
]


@pytest.mark.parametrize(
    ("response", "well_formed", "answer", "why"), FORMAT_CASES, ids=[c[3] for c in FORMAT_CASES]
)
def test_format_and_answer_block(response: str, well_formed: bool, answer: str | None, why: str) -> None:
    assert check_format(response) is well_formed
    assert parse_answer_block(response) == answer
    assert split_response(response) == (well_formed, answer)


def test_no_complete_answer_block_scores_zero_task_reward() -> None:
    r = score("<think>The man hands over the cup.</think><answer>C", {"task": "mcq", "answer": "C"})
    assert (r.accuracy, r.failure, r.score) == (0.0, "no_answer_tag", 0.0)


def test_format_weight_counts_even_when_the_answer_is_wrong() -> None:
    r = score("<think>x</think><answer>B</answer>", {"task": "mcq", "answer": "C"})
    assert (r.format, r.accuracy, r.score) == (1.0, 0.0, 0.5)


def test_only_the_first_answer_block_is_scored() -> None:
    gt = {"task": "mcq", "answer": "D"}
    assert score("<think>x</think><answer>C</answer><answer>D</answer>", gt).accuracy == 0.0
