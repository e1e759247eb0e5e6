"""The whole-batch fast path of ``score_batch`` gives the reference path's values, column by column.

The reference is ``score_batch(..., fast=False)`` (itself tested against ``score`` item by item in
``test_entry_points.py``). Table cases pin which inputs the fast path decides itself and which it hands to
the reference path, so that a fast path that silently declined everything would fail here too.
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
from video_rewards import batch
from video_rewards.batch import score_batch_columns
from video_rewards.config import RewardConfig
from video_rewards.fastpath import _plain_truth, distinct_truths, fast_columns
from video_rewards.tasks import parse_ground_truth

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
    "0 - 0", "70 - 80", "9" * 30 + " to 1", "answer\x00 12 to 18", " 12 to 18 ", "\x1c12 to 18\x1c", ' {"answer": "C", "start_time": 0, "end_time": 9}\x1f',
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
]


def assert_same(fast: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    assert fast.keys() == ref.keys()
    for key, want in ref.items():
        got = fast[key]
        assert got.dtype == want.dtype, key
        if want.dtype == object:
            assert got.tolist() == want.tolist(), key
        else:
            same = (got == want) | (np.isnan(got) & np.isnan(want))
            bad = np.flatnonzero(~same)
            assert bad.size == 0, (
                f"{key} differs at rows {bad[:5].tolist()}: {got[bad[:5]]} != {want[bad[:5]]}"
            )


def both(responses: list[Any], truths: list[Any], cfg: RewardConfig, **kw: Any) -> dict[str, np.ndarray]:
    fast = score_batch_columns(responses, truths, config=cfg, fast=True, **kw)
    ref = score_batch_columns(responses, truths, config=cfg, fast=False, **kw)
    assert_same(fast, ref)
    return fast


def decided(responses: list[Any], truths: list[Any], cfg: RewardConfig | None = None) -> list[bool]:
    """Which rows the fast path scores itself (the others go to the reference path)."""
    distinct, inverse, _, _ = distinct_truths(truths, None, None)
    return fast_columns(list(responses), distinct, inverse, cfg or RewardConfig()).done.tolist()


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
            ["", "<", ">", "/", "<answer>", "</answer>", "<think>", "</think>", " ", "\n", "-", "é"]
        ),
    ),
    st.text(alphabet=st.sampled_from(list('<>/thinkanswer 0123456789.-,:[]{}"ABCD\n\x00é')), max_size=80),
    st.text(max_size=40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(response, st.integers(0, len(TRUTHS) - 1)), max_size=24),
    cfg=st.sampled_from(CONFIGS),
)
def test_fast_path_equals_reference(rows: list[tuple[str, int]], cfg: RewardConfig) -> None:
    responses = [r for r, _ in rows]
    truths = [TRUTHS[k] for _, k in rows]  # shared objects, as verl repeats a prompt's ground truth
    both(responses, truths, cfg)


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
        ]
    ),
    cfg=st.sampled_from(CONFIGS[:5]),
)
def test_spans_equal_reference(start: float, length: float, spelling: str, cfg: RewardConfig) -> None:
    answer = spelling.format(s=start, e=round(start + length, 2))
    gqa = json.dumps({"answer": "B", "start_time": start, "end_time": round(start + length, 2)})
    multi = f"{start} - {round(start + abs(length) + 0.5, 2)}, 8 to 12"
    responses = [f"<think></think><answer>{a}</answer>" for a in (answer, gqa, multi)]
    both(responses, [TRUTHS[3], TRUTHS[6], TRUTHS[10]], cfg)


@settings(max_examples=80, deadline=None)
@given(
    st.fixed_dictionaries(
        {"task": st.sampled_from(["mcq", "tvg", "gqa", "numeric"])},
        optional={
            "answer": st.one_of(
                st.sampled_from(["A", "c", "E", "", "AB", 1, 3.5, True, None]), st.text(max_size=3)
            ),
            "options": st.sampled_from(
                [OPTS, OPTS[:2], [], ["x", "y"], ["A. a", "A. b"], [" "], None, [1, 2]]
            ),
            "segment": st.lists(
                st.one_of(st.integers(-2, 50), st.floats(-2, 60), st.booleans(), st.just("3")), max_size=3
            ),
            "duration": st.one_of(st.floats(-1, 70), st.integers(0, 70), st.none(), st.just(math.inf)),
            "abs_tol": st.one_of(st.floats(-1, 1), st.none()),
            "rel_tol": st.one_of(st.floats(-1, 1), st.integers(0, 2)),
            "extra": st.just(1),
        },
    )
)
def test_truth_check_accepts_only_what_validates_the_same(obj: dict[str, Any]) -> None:
    fast = _plain_truth(obj)
    try:
        model = parse_ground_truth(obj)
    except ValueError:
        assert fast is None
        with pytest.raises(ValueError, match=r"^row 0: ground_truth"):
            score_batch_columns(["x"], [obj], config=RewardConfig(), fast=True)
        return
    if fast is None:
        return
    assert fast.task == model.task
    fields: Any = model  # task-specific fields
    if hasattr(model, "segment"):
        assert (fast.start, fast.end) == tuple(fields.segment)
        assert fast.duration == (math.inf if fields.duration is None else fields.duration)
    if model.task in ("mcq", "gqa"):
        assert (fast.letter, fast.options) == (fields.answer, fields.option_set)
    if model.task == "numeric":
        assert (fast.value, fast.abs_tol, fast.rel_tol) == (fields.answer, fields.abs_tol, fields.rel_tol)


# ------------------------------------------------------------------------------------ table tests


@pytest.mark.parametrize(
    ("response", "truth"),
    [
        ("<think>a</think>\n<answer>C</answer>", 0),
        ("<answer>The answer is C.</answer>", 0),
        ("plain text, no tags", 0),
        ("<think>a</think><answer>from 12 to 20.5 seconds</answer>", 3),
        ("<think>a</think><answer>00:12.3 to 00:18.9</answer> thanks", 3),
        ('<think>a</think><answer>{"start_time": 12, "end_time": 18.5}</answer>', 3),
        ("<think>a <b</think><answer>between 3 and 7</answer>", 3),
        ('<answer>{"answer": "B", "start_time": 4, "end_time": 8.5}</answer>', 6),
        ("<think></think><answer>There are 3 people.</answer>", 8),
        ("<think></think><answer>1-2, 8 to 12</answer>", 10),
        ("<think>" + " " * 40 + "</think>" + "\n" * 30 + "<answer>C</answer>" + " " * 30, 0),
    ],
)
def test_usual_shapes_are_decided_by_the_fast_path(response: str, truth: int) -> None:
    assert decided([response], [TRUTHS[truth]]) == [True]
    both([response], [TRUTHS[truth]], RewardConfig())


@pytest.mark.parametrize(
    ("response", "truth", "cfg"),
    [
        ("<think>é</think><answer>C</answer>", 0, None),  # non-ASCII response
        ("<think>a</think><answer>" + "C " * 3000 + "</answer>", 0, None),  # answer over max_answer_chars
        ("<think>a</think><answer>C</answer>" + " " * 300_000, 0, None),  # response over max_response_chars
        ("C", 0, RewardConfig(require_answer_tag=False)),  # no tag, parsed whole
        ("<answer>The event is at 12 until 18</answer>", 3, None),  # unusual spelling: token scanner
        ("<answer>x -3 to 5</answer>", 3, None),  # a sign before the range
        ("<answer>12 and 18</answer>", 3, None),  # "and" without "between"
        ("<answer>12, 18</answer>", 3, None),  # "," without a bracket
        ("<answer>12–18</answer>", 3, None),  # en dash (non-ASCII)
        ('<answer>{"answer": "B", "start_time": 012, "end_time": 8}</answer>', 6, None),  # not JSON
        ('<answer>{"start_time": 4, "end_time": 8, "answer": "B"}</answer>', 6, None),  # other key order
        ('<answer>{"answer": "B", "start_time": -1, "end_time": 8}</answer>', 6, None),  # signed
        ("<answer>1 - 5, 8 - 12, 20 - 22</answer>", 10, None),  # three ranges
        ("<answer>5 - 1, 8 - 12</answer>", 10, None),  # an invalid range among them
        ("<answer>1 - 5, 8 - 12</answer>", 11, None),  # three gold segments
        ("<answer>1 - 5, 8 - 12</answer>", 10, RewardConfig(iou_mode="giou")),  # shaped multi IoU
        ("<answer>12 to 18</answer>", 3, None),  # control: decided (see the last assertion)
    ],
)
def test_fallback_triggers_go_to_the_reference_path(
    response: str, truth: int, cfg: RewardConfig | None
) -> None:
    config = cfg or RewardConfig()
    control = response == "<answer>12 to 18</answer>"
    assert decided([response], [TRUTHS[truth]], config) == [control]
    both([response], [TRUTHS[truth]], config)


def test_answer_with_nul_falls_back_with_its_neighbours_and_stays_equal() -> None:
    responses = ["<answer>12 to 18\x00</answer>", "<answer>3 to 7</answer>"]
    assert decided(responses, [TRUTHS[3], TRUTHS[3]]) == [False, False]
    both(responses, [TRUTHS[3], TRUTHS[3]], RewardConfig())


def test_truths_the_check_declines_are_validated_by_the_reference() -> None:
    for obj in TRUTHS[2], TRUTHS[7], TRUTHS[12], TRUTHS[13], TRUTHS[14], TRUTHS[15], TRUTHS[10]:
        assert _plain_truth(obj) is None
    assert all(_plain_truth(obj) is not None for obj in (TRUTHS[0], TRUTHS[3], TRUTHS[6], TRUTHS[8]))


def test_data_sources_and_durations_and_errors_match_the_reference() -> None:
    truths = [{"segment": [1, 4]}, {"task": "tvg", "segment": [1, 4]}, {"task": "tvg", "segment": [1, 4]}]
    responses = ["<answer>1 to 3</answer>", "<answer>2 to 30</answer>", "<answer>0 to 2</answer>"]
    out = both(
        responses, truths, RewardConfig(), data_sources=["tvg", None, None], durations=[None, 10.0, None]
    )
    assert out["iou"].tolist() == pytest.approx([2 / 3, 2 / 9, 1 / 4])
    bad = [TRUTHS[0], {"task": "tvg", "segment": [5, 1]}]
    for fast in (True, False):
        with pytest.raises(ValueError, match=r"^row 1: ground_truth \(task 'tvg'\): segment"):
            score_batch_columns(["a", "b"], bad, config=RewardConfig(), fast=fast)
    with pytest.raises(ValueError, match="2 responses but 1 ground truths"):
        score_batch_columns(["a", "b"], bad[:1], config=RewardConfig())


def test_non_strings_and_empty_batches() -> None:
    both([None, b"<answer>C</answer>", "<answer>C</answer>"], [TRUTHS[0]] * 3, RewardConfig())
    out = both([], [], RewardConfig())
    assert all(col.shape == (0,) for col in out.values())


def test_module_switch_selects_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    responses, truths = ["<answer>C</answer>"], [TRUTHS[0]]
    calls: list[str] = []
    real_fast, real_ref = batch._fast_columns, batch._columns

    def spy_fast(*args: Any) -> dict[str, np.ndarray]:
        calls.append("fast")
        return real_fast(*args)

    def spy_ref(*args: Any) -> dict[str, np.ndarray]:
        calls.append("ref")
        return real_ref(*args)

    monkeypatch.setattr(batch, "_fast_columns", spy_fast)
    monkeypatch.setattr(batch, "_columns", spy_ref)
    vr.score_batch(responses, truths)
    monkeypatch.setattr(batch, "FAST_PATH", False)
    vr.score_batch(responses, truths)
    assert calls == ["fast", "ref"]


def test_multi_tvg_tie_keeps_the_first_pairing() -> None:
    # Both pairings sum to 1/3 exactly; only the first (identity) one has no hit at threshold 0.3.
    truth = {"task": "multi_tvg", "segments": [[0, 1], [8, 12]], "duration": 30}
    response = "<think></think><answer>0 - 12, 4 - 10</answer>"
    cfg = RewardConfig(iou_threshold=0.3)
    assert decided([response], [truth], cfg) == [True]
    out = both([response], [truth], cfg)
    assert out["score"].tolist() == [0.5]  # format only


def test_long_whitespace_runs_are_checked_past_the_window() -> None:
    responses = [
        "<think>a</think>" + " " * 20 + "x<answer>C</answer>",
        "<think>a</think>" + " " * 20 + "<answer>C</answer>" + "\n" * 20 + ".",
        " " * 20 + "x<think>a</think><answer>C</answer>",
        " " * 20 + "<think>a</think>" + " " * 20 + "<answer>C</answer>" + " " * 20,
    ]
    assert decided(responses, [TRUTHS[0]] * 4) == [True] * 4
    assert both(responses, [TRUTHS[0]] * 4, RewardConfig())["format"].tolist() == [0.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "obj",
    [
        {"task": "tvg", "segment": [50, 60], "duration": 40},  # starts after the video
        {"task": "mcq", "answer": "A", "options": [f"option {k}" for k in range(27)]},  # too many options
        {"task": "mcq", "answer": "E", "options": OPTS},  # not an option
        {"task": "gqa", "answer": "B", "options": OPTS, "segment": [4, 4]},  # empty segment
        {"task": "numeric", "answer": 3, "abs_tol": -1.0},  # negative tolerance
        {"task": "tvg", "segment": [0, 10**400]},  # an int too large for a float
        {"task": "numeric", "answer": -(10**400)},
    ],
)
def test_invalid_truths_are_declined_and_raise_as_the_reference(obj: dict[str, Any]) -> None:
    assert _plain_truth(obj) is None
    errors = []
    for fast in (True, False):
        with pytest.raises(ValueError, match=r"^row 0: ground_truth") as info:
            score_batch_columns(["<answer>C</answer>"], [obj], config=RewardConfig(), fast=fast)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_tags_split_across_neighbouring_responses_do_not_count() -> None:
    responses = ["<think>a</think><answer>C<", "/answer>", "<think></think><answ", "er>C</answer>"]
    assert decided(responses, [TRUTHS[0]] * 4) == [True] * 4
    out = both(responses, [TRUTHS[0]] * 4, RewardConfig())
    assert out["format"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert out["failure"].tolist() == ["no_answer_tag"] * 4
