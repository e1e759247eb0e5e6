"""The TRL reward functions as TRL calls them (keyword arguments, dataset columns), without a trainer."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import pytest

import video_rewards as vr
from video_rewards.integrations.trl import (
    AccuracyReward,
    DualReward,
    FormatReward,
    IoUReward,
    VideoReward,
    completion_text,
    dual_reward_funcs,
)

MCQ = {"task": "mcq", "answer": "B", "options": ["A. a dog", "B. a cat"]}
TVG = {"task": "tvg", "segment": [2.0, 6.0], "duration": 20.0}
GQA = {
    "task": "gqa",
    "answer": "A",
    "options": ["A. left", "B. right"],
    "segment": [4.0, 8.0],
    "duration": 10.0,
}

COMPLETIONS = [
    "<think>it meows</think><answer>B</answer>",
    "<answer>A</answer>",
    "<think>early</think><answer>3 to 6</answer>",
    '<think>x</think><answer>{"answer": "A", "start_time": 4, "end_time": 10}</answer>',
    "no idea",
]
TRUTHS: list[Any] = [MCQ, json.dumps(MCQ), TVG, GQA, TVG]


def _call(func: VideoReward, completions: list[Any], **columns: Any) -> list[float | None]:
    """Call like trl.GRPOTrainer._calculate_rewards does, hooks included."""
    return func(
        prompts=["p"] * len(completions),
        completions=completions,
        completion_ids=[[1, 2]] * len(completions),
        trainer_state=object(),
        log_extra=lambda column, values: None,
        log_metric=lambda name, value: None,
        **columns,
    )


def test_components_match_the_library_and_none_where_absent() -> None:
    expected = [vr.score(c, t) for c, t in zip(COMPLETIONS, TRUTHS, strict=True)]
    assert _call(DualReward(), COMPLETIONS, ground_truth=TRUTHS) == [e.score for e in expected]
    assert _call(FormatReward(), COMPLETIONS, ground_truth=TRUTHS) == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert _call(AccuracyReward(), COMPLETIONS, ground_truth=TRUTHS) == [1.0, 0.0, None, 1.0, None]
    iou = _call(IoUReward(), COMPLETIONS, ground_truth=TRUTHS)
    assert iou[:2] == [None, None]
    assert iou[2] == pytest.approx(0.75) and iou[3] == pytest.approx(4 / 6) and iou[4] == 0.0


def test_chat_message_completions() -> None:
    chat = [[{"role": "assistant", "content": c}] for c in COMPLETIONS]
    assert _call(DualReward(), chat, ground_truth=TRUTHS) == _call(
        DualReward(), COMPLETIONS, ground_truth=TRUTHS
    )


@pytest.mark.parametrize(
    ("completion", "text"),
    [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "a"}], "a"),
        (
            [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "image"},
                        {"type": "text", "text": "b"},
                    ],
                }
            ],
            "ab",
        ),
        (
            [
                {"role": "assistant", "content": "a"},
                {"role": "tool", "content": "out"},
                {"role": "assistant", "content": "b"},
            ],
            "ab",
        ),
        ([], ""),
    ],
)
def test_completion_text(completion: Any, text: str) -> None:
    assert completion_text(completion) == text


def test_names_and_pickle_round_trip() -> None:
    config = vr.RewardConfig.from_kwargs(iou_threshold=0.5)
    funcs, weights = dual_reward_funcs(config)
    assert [f.__name__ for f in funcs] == ["dual_reward", "format_reward", "accuracy_reward", "iou_reward"]
    assert weights == [1.0, 0.0, 0.0, 0.0]
    for func in funcs:
        clone = pickle.loads(pickle.dumps(func))
        assert clone.__name__ == func.__name__
        assert clone.config == config
        assert _call(clone, COMPLETIONS, ground_truth=TRUTHS) == _call(func, COMPLETIONS, ground_truth=TRUTHS)
    # The configuration is used: with a 0.5 IoU threshold, IoU 0.75 becomes a full temporal reward.
    assert _call(funcs[0], [COMPLETIONS[2]], ground_truth=[TVG]) == [1.0]
    assert _call(DualReward(), [COMPLETIONS[2]], ground_truth=[TVG]) == [0.875]


def test_column_names_and_verl_reward_model_column() -> None:
    custom = DualReward(ground_truth_key="solution")
    assert _call(custom, COMPLETIONS, solution=TRUTHS) == _call(
        DualReward(), COMPLETIONS, ground_truth=TRUTHS
    )
    reward_model = [{"style": "rule", "ground_truth": t} for t in TRUTHS]
    assert _call(DualReward(), COMPLETIONS, reward_model=reward_model) == _call(
        DualReward(), COMPLETIONS, ground_truth=TRUTHS
    )


def test_data_source_column_names_the_task() -> None:
    truth_without_task = {"segment": [2.0, 6.0], "duration": 20.0}
    out = _call(IoUReward(), [COMPLETIONS[2]], ground_truth=[truth_without_task], data_source=["tvg"])
    assert out == [pytest.approx(0.75)]


def test_missing_column_lists_the_columns() -> None:
    with pytest.raises(ValueError, match=r"no ground-truth column 'ground_truth'.*\['answer', 'video'\]"):
        _call(DualReward(), COMPLETIONS[:1], answer=["B"], video=["v.mp4"])


def test_bad_ground_truth_row_scores_none_and_the_batch_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    metrics: dict[str, float] = {}
    with caplog.at_level("WARNING", logger="video_rewards.integrations.trl"):
        out = DualReward()(
            prompts=["p"] * 2,
            completions=COMPLETIONS[:2],
            ground_truth=[MCQ, {"task": "tvg", "segment": [5, 1]}],
            log_metric=metrics.__setitem__,
        )
    assert out[1] is None and out[0] is not None
    assert metrics["bad_ground_truth"] == 0.5
    assert "batch row 1 has a bad ground truth" in caplog.text and "segment" in caplog.text


def test_mcq_index_base_reaches_the_trl_callables() -> None:
    truth = {"task": "mcq", "answer": 3, "options": ["three", "six", "two", "one", "five"]}
    completion = ["<think></think><answer>3</answer>"]
    assert _call(AccuracyReward(), completion, ground_truth=[truth]) == [0.0]
    config = vr.RewardConfig.from_kwargs(mcq_index_base=0)
    assert _call(AccuracyReward(config=config), completion, ground_truth=[truth]) == [1.0]


def test_parse_failures_are_logged_by_the_combined_reward_only() -> None:
    metrics: dict[str, float] = {}
    extra: dict[str, list[str | None]] = {}
    kwargs = {"log_metric": metrics.__setitem__, "log_extra": extra.__setitem__}
    DualReward()(prompts=["p"] * 5, completions=COMPLETIONS, ground_truth=TRUTHS, **kwargs)
    assert metrics == {"parse_failed": 0.2, "bad_ground_truth": 0.0}
    assert extra == {"parse_failure": [None, None, None, None, "no_answer_tag"]}
    metrics.clear()
    extra.clear()
    FormatReward()(prompts=["p"] * 5, completions=COMPLETIONS, ground_truth=TRUTHS, **kwargs)
    assert metrics == {} and extra == {}


def test_bad_component_name() -> None:
    with pytest.raises(ValueError, match="component must be"):
        VideoReward("reward")  # type: ignore[arg-type]


def test_results_are_floats_or_none() -> None:
    for func in dual_reward_funcs()[0]:
        for value in _call(func, COMPLETIONS, ground_truth=TRUTHS):
            assert value is None or (type(value) is float and math.isfinite(value))
