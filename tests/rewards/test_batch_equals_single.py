"""``score_batch`` gives :func:`video_rewards.score`'s values row by row, on every input.

There is one parser; the batch path only validates each distinct ground truth once, parses each distinct
``(answer, truth)`` pair once and computes IoU and the weighted sum in numpy. These tests compare the two
entry points column by column on generated responses (hypothesis) and on table cases.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import video_rewards as vr
from video_rewards.config import RewardConfig
from video_rewards.truth_parsing import parse_ground_truth

OPTS = ["A. The man opens the door", "B. The woman drinks water", "C. A cup falls", "D. Nothing happens"]
TRUTHS: list[Any] = [
    {"task": "mcq", "answer": "C", "options": OPTS},
    {"task": "mcq", "answer": "b"},
    {"task": "mcq", "answer": "a cup falls", "options": OPTS},  # text answer: reference validation
    {"task": "tvg", "segment": [10, 20.5], "duration": 60},
    {"task": "tvg", "segment": [3.0, 95.0], "duration": 40.0},  # clipped gold
    {"task": "tvg", "segment": [0, 4]},
    {"task": "gqa", "answer": "B", "options": OPTS, "segment": [4, 10], "duration": 30},
    {"task": "gqa", "answer": "(B)", "options": OPTS, "segment": [4, 10]},
    {"task": "numeric", "answer": 3},
    {"task": "numeric", "answer": 12.5, "abs_tol": 0.5, "rel_tol": 0.0},
    {"task": "multi_tvg", "segments": [[1, 5], [8, 12]], "duration": 30},
    {"task": "multi_tvg", "segments": [[1, 5], [8, 12], [20, 22]]},
    '{"task": "tvg", "segment": [1, 2], "duration": 10}',
    parse_ground_truth({"task": "gqa", "answer": "A", "options": OPTS, "segment": [0, 3]}),
    {"task": "tvg", "segment": np.array([2.0, 6.0]), "duration": np.float64(20.0)},  # numpy values
    {"task": "tvg", "segment": [2, 6], "duration": None},  # None dropped
]

ANSWERS = [
    "C", "(b)", "c. a cup falls", "The answer is C.", "C or D", "A cup falls", "Option E", "",
    "12.5 - 18", "from 12 to 20.5 seconds", "[3, 7.5]", "(3, 7.5)", "between 3.5 and 7", "between 7 and 3",
    "The event happens between 12.3 and 18.9 seconds.", "00:12.3 to 00:18.9", "0:05-0:09", "1:75 to 2:00",
    '{"start_time": 12, "end_time": "18.5"}', '{"start_time": "00:12", "end_time": 18.5}',
    '{"answer": "B", "start_time": 4, "end_time": 8.5}', '{"answer": "(B)", "start_time": 4.0, "end_time": 0}',
    '{"answer": "B", "start_time": 012, "end_time": 8}', '{"answer": "B"}', "{'answer': 'B', 'start_time': 1}",
    '```json\n{"answer": "B", "start_time": 4, "end_time": 8}\n```', "3", "There are 3 people.", "three",
    "1-2, 8 to 12", "[[1, 5], [8, 12]]", "1 - 5, 8 - 12, 20 - 22", "5 - 1, 8 - 12", "-3 to 5", "x -3 to 5",
    "12 , 18", "[12 , 18]", "12 and 18", "1e3 to 2e3", "12–18", "12 to 18 min", "1 2 3 4", "A B C D",
    "0 - 0", "70 - 80", "9" * 30 + " to 1", "-0 to 5", "[-0, 25:00]", "1e999 to 5", "1,2:3",
    "Start Time: 00:00:05\nEnd Time: 00:00:09", "the start time is 0-3 s, the end time is 5-8 s",
    "starts at 4 and ends at 9", "00:00:00 to 00:00:00", "N/A", "none of the above", "Final answer: b",
    "2", "(c)", "C and B", "Best option: (B)", '{"answer": "B", "start_time": "1e999", "end_time": 9}', "answer\x00 12 to 18", " 12 to 18 ", "\x1c12 to 18\x1c", ' {"answer": "C", "start_time": 0, "end_time": 9}\x1f',
]  # fmt: skip

THINKS = ["", "The man sits.", "Around 12 s the cup <b>falls</b> a<b", "x\n" * 3, "⏱ 12 s", "<answ"]
WRAPS = [
    "<think>{t}</think><answer>{a}</answer>",
    " \n<think>{t}</think>\n<answer>{a}</answer>\n",
    "<think>{t}</think>" + " " * 20 + "<answer>{a}</answer>" + "\t" * 17,
    "<think>{t}</think>\x1c<answer>{a}</answer>\x0b",
    "<think>{t}</think>\u2003<answer>{a}</answer>",
    "{t} So the answer is: {a}",
    "<answer>{a}</answer>",
    "<think>{t}</think><answer>{a}",
    "<think>{t}</think><answer>{a}</answer> I hope this helps!",
    "Sure! <think>{t}</think><answer>{a}</answer>",
    "<think>{t}</think><answer>{a}</answer><answer>D</answer>",
    "<think>{t}</think></answer><answer>{a}</answer>",
    "<think>{t}<answer>{a}</answer></think>",
    "<think>{t}</think><think></think><answer>{a}</answer>",
    "<think><think>{t}</think><answer>{a}</answer>",
    "<think>{t}</think><answer>{a}</answer></answer>",
    "<think>{t}</think><answer>{a}</answer >",
    "<Think>{t}</Think><answer>{a}</answer>",
    "{a}",
]
CONFIGS = [
    RewardConfig(),
    RewardConfig(require_format=True),
    RewardConfig(iou_threshold=0.5),
    RewardConfig(iou_mode="giou"),
    RewardConfig(iou_mode="distance"),
    RewardConfig(require_answer_tag=False),
    RewardConfig(max_answer_chars=12, max_response_chars=60),
    RewardConfig(max_predicted_segments=1, numeric_abs_tol=0.6),
    RewardConfig(require_answer_tag=False, mcq_index_base=0),
    RewardConfig(mcq_index_base=1),
]


def assert_batch_equals_single(
    responses: list[Any], truths: list[Any], cfg: RewardConfig, **kw: Any
) -> dict[str, np.ndarray]:
    """Score the batch, then every row alone, and compare every column exactly (NaN equals NaN)."""
    cols = vr.score_batch(responses, truths, config=cfg, **kw)
    assert all(len(col) == len(responses) for col in cols.values())
    sources = kw.get("data_sources") or [None] * len(responses)
    durations = kw.get("durations") or [None] * len(responses)
    for i, (resp, truth) in enumerate(zip(responses, truths, strict=True)):
        one = vr.score(resp, truth, config=cfg, data_source=sources[i], duration=durations[i])
        for key, want in one.components().items():
            got = float(cols[key][i])
            assert got == want or (math.isnan(got) and math.isnan(want)), (i, key, resp, got, want)
        assert (cols["failure"][i], cols["prediction"][i], cols["task"][i]) == (
            one.failure,
            one.prediction,
            one.task,
        ), (i, resp)
    return cols


# ----------------------------------------------------------------------------------- properties

response = st.one_of(
    st.builds(
        lambda w, t, a: w.format(t=t, a=a),
        st.sampled_from(WRAPS),
        st.sampled_from(THINKS),
        st.sampled_from(ANSWERS),
    ),
    st.builds(  # a realistic response with a random edit
        lambda w, a, cut, ins: (s := w.format(t="ok", a=a))[:cut] + ins + s[cut:],
        st.sampled_from(WRAPS),
        st.sampled_from(ANSWERS),
        st.integers(0, 60),
        st.sampled_from(
            ["", "<", ">", "/", "<answer>", "</answer>", "<think>", "</think>", " ", "\n", "-", "é", "-0"]
        ),
    ),
    st.text(alphabet=st.sampled_from(list('<>/thinkanswer 0123456789.-,:[]{}"ABCD\n\x00é٣e')), max_size=80),
    st.text(max_size=40),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(response, st.integers(0, len(TRUTHS) - 1)), max_size=24),
    cfg=st.sampled_from(CONFIGS),
)
def test_batch_equals_single(rows: list[tuple[str, int]], cfg: RewardConfig) -> None:
    responses = [r for r, _ in rows]
    truths = [TRUTHS[k] for _, k in rows]  # shared objects, as verl repeats a prompt's ground truth
    assert_batch_equals_single(responses, truths, cfg)


@settings(max_examples=60, deadline=None)
@given(
    start=st.floats(0, 200, allow_nan=False).map(lambda x: round(x, 2)),
    length=st.floats(-5, 50, allow_nan=False).map(lambda x: round(x, 2)),
    spelling=st.sampled_from(
        [
            "{s} - {e}",
            "from {s} to {e} seconds",
            "[{s}, {e}]",
            "between {s} and {e}",
            '{{"start_time": {s}, "end_time": {e}}}',
            "Start Time: {s}\nEnd Time: {e}",
            "The start time is approximately {s} seconds and the end time is {e} seconds.",
        ]
    ),
    cfg=st.sampled_from(CONFIGS[:5]),
)
def test_spans_batch_equals_single(start: float, length: float, spelling: str, cfg: RewardConfig) -> None:
    answer = spelling.format(s=start, e=round(start + length, 2))
    gqa = json.dumps({"answer": "B", "start_time": start, "end_time": round(start + length, 2)})
    multi = f"{start} - {round(start + abs(length) + 0.5, 2)}, 8 to 12"
    responses = [f"<think></think><answer>{a}</answer>" for a in (answer, gqa, multi)]
    assert_batch_equals_single(responses, [TRUTHS[3], TRUTHS[6], TRUTHS[10]], cfg)


# ------------------------------------------------------------------------------------ table tests


def test_negative_zero_reads_as_zero_in_both_paths() -> None:
    responses = [
        "<answer>-0 to 5</answer>",
        "<answer>[-0, 25:00]</answer>",
        '<answer>{"answer": "B", "start_time": -0.0, "end_time": 9}</answer>',
    ]
    cols = assert_batch_equals_single(responses, [TRUTHS[3], TRUTHS[3], TRUTHS[6]], RewardConfig())
    assert cols["prediction"].tolist() == ["[0, 5]", "[0, 60]", "B @ [0, 9]"]


def test_data_sources_and_durations_and_errors() -> None:
    truths = [{"segment": [1, 4]}, {"task": "tvg", "segment": [1, 4]}, {"task": "tvg", "segment": [1, 4]}]
    responses = ["<answer>1 to 3</answer>", "<answer>2 to 30</answer>", "<answer>0 to 2</answer>"]
    out = assert_batch_equals_single(
        responses, truths, RewardConfig(), data_sources=["tvg", None, None], durations=[None, 10.0, None]
    )
    assert out["iou"].tolist() == pytest.approx([2 / 3, 2 / 9, 1 / 4])
    bad = [TRUTHS[0], {"task": "tvg", "segment": [5, 1]}]
    with pytest.raises(ValueError, match=r"^row 1: ground_truth \(task 'tvg'\): segment"):
        vr.score_batch(["a", "b"], bad)
    with pytest.raises(ValueError, match="2 responses but 1 ground truths"):
        vr.score_batch(["a", "b"], bad[:1])


def test_non_strings_and_empty_batches() -> None:
    cols = vr.score_batch([None, b"<answer>C</answer>", "<answer>C</answer>"], [TRUTHS[0]] * 3)  # type: ignore[list-item]
    assert cols["failure"].tolist() == ["not_a_string", "not_a_string", None]
    out = vr.score_batch([], [])
    assert all(col.shape == (0,) for col in out.values())


def test_multi_tvg_tie_keeps_the_first_pairing() -> None:
    # Both pairings sum to 1/3 exactly; only the first (identity) one has no hit at threshold 0.3.
    truth = {"task": "multi_tvg", "segments": [[0, 1], [8, 12]], "duration": 30}
    response = "<think></think><answer>0 - 12, 4 - 10</answer>"
    out = assert_batch_equals_single([response], [truth], RewardConfig(iou_threshold=0.3))
    assert out["score"].tolist() == [0.5]  # format only


def test_tags_split_across_neighbouring_responses_do_not_count() -> None:
    responses = ["<think>a</think><answer>C<", "/answer>", "<think></think><answ", "er>C</answer>"]
    out = assert_batch_equals_single(responses, [TRUTHS[0]] * 4, RewardConfig())
    assert out["format"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out["failure"].tolist() == ["no_answer_tag"] * 4


def test_one_distinct_answer_is_parsed_once_per_truth() -> None:
    """A GRPO group repeats answers; the batch path parses each distinct (answer, truth) pair once."""
    from video_rewards.tasks import Distinct

    truth = TRUTHS[3]
    answers = ["12 to 18", "12 to 18", "3 to 5", "12 to 18"]
    distinct = Distinct(answers, [truth] * 4)
    assert distinct.answers == ["12 to 18", "3 to 5"]
    assert distinct.inverse.tolist() == [0, 0, 1, 0]
    assert_batch_equals_single([f"<answer>{a}</answer>" for a in answers], [truth] * 4, RewardConfig())
