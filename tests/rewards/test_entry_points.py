"""``compute_score`` (verl's signature), ``score_batch`` columns, the ``Reward`` callable, pickling."""

from __future__ import annotations

import inspect
import json
import math
import pickle

import numpy as np
import pytest

import video_rewards as vr

MCQ = {"task": "mcq", "answer": "C", "options": ["A. x", "B. y", "C. z", "D. w"]}
TVG = {"task": "tvg", "segment": [10.0, 20.0], "duration": 30.0}
GQA = {"task": "gqa", "answer": "B", "options": ["A. x", "B. y"], "segment": [4.0, 10.0], "duration": 24.0}
NUM = {"task": "numeric", "answer": 3}
MULTI = {"task": "multi_tvg", "segments": [[2.0, 6.0], [14.0, 18.0]], "duration": 30.0}


def test_compute_score_accepts_verls_keyword_call() -> None:
    out = vr.compute_score(
        data_source="charades_sta",
        solution_str="<think>x</think><answer>[10, 15]</answer>",
        ground_truth=TVG,
        extra_info={"index": 3, "split": "train"},
    )
    assert out == {"score": 0.75, "format": 1.0, "iou": 0.5}
    assert all(isinstance(v, float) for v in out.values())
    assert list(inspect.signature(vr.compute_score).parameters)[:4] == [
        "data_source",
        "solution_str",
        "ground_truth",
        "extra_info",
    ]


@pytest.mark.parametrize(
    ("gt", "keys"),
    [(MCQ, {"accuracy"}), (TVG, {"iou"}), (GQA, {"accuracy", "iou"}), (NUM, {"accuracy"}), (MULTI, {"iou"})],
)
def test_compute_score_keys_per_task(gt: dict[str, object], keys: set[str]) -> None:
    for gt_form in (gt, json.dumps(gt)):
        out = vr.compute_score("x", "<think></think><answer>C</answer>", gt_form)
        assert set(out) == {"score", "format"} | keys


def test_stable_keys_for_mixed_batches() -> None:
    for gt in (MCQ, TVG, GQA, NUM, MULTI):
        out = vr.compute_score("x", "<answer>nothing</answer>", gt, stable_keys=True)
        assert tuple(out) == vr.COMPONENT_KEYS
        assert out["parse_failed"] == 1.0
    assert math.isnan(vr.compute_score("x", "<answer>C</answer>", MCQ, stable_keys=True)["iou"])


def test_model_output_never_raises() -> None:
    for bad in [None, 42, b"<answer>C</answer>", "\x00" * 10, "<" * 10_000]:
        out = vr.compute_score("x", bad, MCQ)  # type: ignore[arg-type]
        assert out["score"] == 0.0


def test_response_length_bound() -> None:
    long = "<think>" + "a" * 300_000 + "</think><answer>C</answer>"
    r = vr.score(long, MCQ)
    assert (r.score, r.failure) == (0.0, "response_too_long")
    assert vr.score(long, MCQ, config=vr.RewardConfig(max_response_chars=400_000)).score == 1.0
    r = vr.score("<think></think><answer>" + "C " * 3000 + "</answer>", MCQ)
    assert (r.format, r.failure, r.score) == (1.0, "answer_too_long", 0.5)


def test_result_to_dict_and_components() -> None:
    r = vr.score('<think></think><answer>{"answer": "B", "start_time": 4, "end_time": 7}</answer>', GQA)
    assert r.to_dict() == vr.compute_score(
        None, '<think></think><answer>{"answer": "B", "start_time": 4, "end_time": 7}</answer>', GQA
    )
    assert r.components() == {
        "score": r.score,
        "format": 1.0,
        "accuracy": 1.0,
        "iou": 0.5,
        "parse_failed": 0.0,
    }
    assert r.prediction == "B @ [4, 7]"
    assert pickle.loads(pickle.dumps(r)) == r


def test_score_batch_columns_match_score() -> None:
    responses = [
        "<think></think><answer>C</answer>",
        "<answer>B</answer>",
        "<think>a</think><answer>12 - 18</answer>",
        "<think>a</think><answer>18 - 12</answer>",
        '<think></think><answer>{"answer": "B", "start_time": 4, "end_time": 10}</answer>',
        "<think></think><answer>three</answer>",
        "<think></think><answer>2-6, 14-18</answer>",
        "no tags at all",
        None,
    ]
    truths = [MCQ, MCQ, TVG, TVG, GQA, NUM, MULTI, TVG, MCQ]
    cols = vr.score_batch(responses, truths)  # type: ignore[arg-type]
    assert set(cols) == {
        "score",
        "format",
        "accuracy",
        "iou",
        "parse_failed",
        "failure",
        "task",
        "prediction",
    }
    assert all(len(c) == len(responses) for c in cols.values())
    for i, (resp, gt) in enumerate(zip(responses, truths, strict=True)):
        r = vr.score(resp, gt)  # type: ignore[arg-type]
        assert cols["score"][i] == r.score
        assert cols["format"][i] == r.format
        assert (math.isnan(cols["accuracy"][i]) and r.accuracy is None) or cols["accuracy"][i] == r.accuracy
        assert (math.isnan(cols["iou"][i]) and r.iou is None) or cols["iou"][i] == r.iou
        assert (cols["failure"][i], cols["task"][i], cols["prediction"][i]) == (
            r.failure,
            r.task,
            r.prediction,
        )
    assert cols["failure"].tolist()[-2:] == ["no_answer_tag", "not_a_string"]


def test_score_batch_errors_name_the_row() -> None:
    with pytest.raises(ValueError, match=r"row 1: ground_truth \(task 'tvg'\): segment"):
        vr.score_batch(["a", "b"], [MCQ, {"task": "tvg", "segment": [3, 1]}])
    with pytest.raises(ValueError, match="2 responses but 1 ground truths"):
        vr.score_batch(["a", "b"], [MCQ])


def test_score_batch_empty_and_durations() -> None:
    cols = vr.score_batch([], [])
    assert all(len(c) == 0 for c in cols.values())
    gt = {"task": "tvg", "segment": [10.0, 20.0]}
    cols = vr.score_batch(["<answer>15 to 45</answer>"] * 2, [gt, gt], durations=[None, 30.0])
    assert cols["iou"].tolist() == pytest.approx([5 / 35, 0.25])


def test_reward_callable_pickles_and_keeps_its_config() -> None:
    reward = vr.Reward(vr.RewardConfig(iou_threshold=0.5))
    clone = pickle.loads(pickle.dumps(reward))
    assert clone == reward and clone.__name__ == "video_rewards"
    resp = "<think></think><answer>[10, 15]</answer>"
    assert clone(data_source="x", solution_str=resp, ground_truth=TVG, extra_info=None)["score"] == 1.0
    with pytest.raises(TypeError, match="already configured"):
        clone("x", resp, TVG, None, iou_mode="giou")
    assert vr.Reward(stable_keys=True)("x", resp, TVG)["parse_failed"] == 0.0
    assert clone.score_batch([resp], [TVG])["score"].tolist() == [1.0]


def test_compute_score_pickles_by_reference() -> None:
    assert pickle.loads(pickle.dumps(vr.compute_score)) is vr.compute_score


def test_reward_version_is_a_string() -> None:
    assert isinstance(vr.REWARD_VERSION, str) and vr.REWARD_VERSION


def test_numpy_ground_truth_through_compute_score() -> None:
    gt = {"task": "tvg", "segment": np.array([10.0, 20.0]), "duration": None, "answer": None}
    assert (
        vr.compute_score("x", "<answer>[10, 20]</answer>", gt, extra_info={"duration": np.float32(30)})["iou"]
        == 1.0
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_score_batch_restores_the_garbage_collector_state(enabled: bool) -> None:
    import gc

    was = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        vr.score_batch(["<answer>C</answer>"], [MCQ])
        assert gc.isenabled() is enabled
        long_answer = "<answer>" + "The man, then the woman. " * 40 + "So C.</answer>"
        assert vr.score(long_answer, MCQ).accuracy == 1.0  # parsed with the collector paused
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError):
            vr.score_batch(["x"], [{"task": "nope"}])
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()
