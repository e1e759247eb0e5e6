"""Ground-truth validation, the config, and the task registry."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from pydantic import BaseModel

import video_rewards as vr
from video_rewards import (
    GroundTruth,
    Registry,
    RewardConfig,
    TaskOutcome,
    TaskWeights,
    UnknownNameError,
    parse_ground_truth,
    register_task,
)
from video_rewards.tasks import TASKS

OPTIONS = ["A. red", "B. green", "C. blue"]

BAD_TRUTHS = [
    ({"answer": "C"}, r"ground_truth\.task: missing"),
    ({"task": "tvgg", "segment": [1, 2]}, r"unknown task 'tvgg'.*did you mean 'tvg'"),
    ({"task": "mcq", "answer": "Z", "options": OPTIONS}, r"answer: 'Z' is not one of the options"),
    ({"task": "mcq", "answer": "purple", "options": OPTIONS}, r"answer: 'purple' is neither"),
    ({"task": "mcq", "answer": 7, "options": OPTIONS}, r"answer: index 7 is outside the 3 options"),
    ({"task": "mcq", "answer": "A", "options": ["A. x", " "]}, r"options"),
    ({"task": "tvg", "segment": [5, 2]}, r"segment must satisfy 0 <= start < end"),
    ({"task": "tvg", "segment": [-1, 2]}, r"segment must satisfy"),
    ({"task": "tvg", "segment": [1]}, r"segment\.1"),
    ({"task": "tvg", "segment": [1, "x"]}, r"segment\.1"),
    ({"task": "tvg", "segment": [1, float("inf")]}, r"segment must be finite"),
    ({"task": "tvg", "segment": [40, 50], "duration": 30}, r"segment starts at 40.0 s, at or after"),
    ({"task": "tvg", "segment": [1, 2], "duration": 0}, r"duration"),
    ({"task": "tvg", "segment": [1, 2], "segmnt": [1, 2]}, r"segmnt: Extra inputs are not permitted"),
    ({"task": "gqa", "answer": "B", "options": OPTIONS}, r"segment: Field required"),
    ({"task": "numeric", "answer": "many"}, r"answer: Input should be a valid number"),
    ({"task": "numeric", "answer": float("nan")}, r"answer"),
    ({"task": "multi_tvg", "segments": []}, r"segments"),
    ({"task": "multi_tvg", "segments": [[1, 2], [4, 3]]}, r"segments\[1\] must satisfy"),
    ({"task": "tvg", "segments": []}, r"segments must hold at least one"),
    ({"task": "tvg", "segments": [[1, 2], [4, 3]]}, r"segments\[1\] must satisfy"),
    (
        {"task": "gqa", "answer": "A", "options": OPTIONS, "segments": [[-0.1, 2]]},
        r"segments\[0\] must satisfy",
    ),
    ({"task": "tvg", "segments": [[1, 2], [40, 50]], "duration": 30}, r"segments\[1\] starts at 40.0 s"),
    ({"task": "tvg", "segments": [[1, 2]] * 33}, r"segments: .*at most 32"),
    (
        {"task": "tvg", "segment": [1, 2], "segments": [[1, 2], [3, 4]]},
        r"segment \[1.0, 2.0\] and segments .* disagree",
    ),
    ({"task": "tvg", "segment": [1, 2], "duration": 10**400}, r"duration: Input should be a valid number"),
    ({"task": "tvg", "segment": [1, 10**400]}, r"segment\.1: Input should be a valid number"),
    ({"task": "numeric", "answer": 10**400}, r"answer: Input should be a valid number"),
    ({"task": "mcq", "answer": 10**400, "options": OPTIONS}, r"answer: index of 1329 bits is outside"),
]


@pytest.mark.parametrize(("gt", "message"), BAD_TRUTHS, ids=[m for _, m in BAD_TRUTHS])
def test_invalid_ground_truth_names_the_field(gt: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ground_truth(gt)
    with pytest.raises(ValueError, match=message):
        parse_ground_truth(json.dumps(gt))
    with pytest.raises(ValueError, match=message):  # compute_score does not swallow it either
        vr.compute_score(None, "<think></think><answer>C</answer>", gt)


def _nested(depth: int) -> list[object]:
    value: list[object] = [1.0, 2.0]
    for _ in range(depth):
        value = [value]
    return value


def test_deeply_nested_ground_truth_is_a_value_error_naming_the_field() -> None:
    """5,000 levels (far past the recursion limit) in a dict, a JSON string, a numpy array or a batch."""
    deep = {"task": "tvg", "segment": _nested(5000)}
    with pytest.raises(ValueError, match=r"ground_truth\.segment: nested more than 8 levels deep"):
        parse_ground_truth(deep)
    text = '{"task": "mcq", "answer": "A", "options": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(ValueError, match=r"ground_truth\.options: nested more than 8 levels deep"):
        parse_ground_truth(text)
    with pytest.raises(ValueError, match=r"row 0: ground_truth\.segment: nested"):
        vr.score_batch(["<answer>1 to 2</answer>"], [deep])
    with pytest.raises(ValueError, match=r"ground_truth\.segments: nested"):
        parse_ground_truth({"task": "tvg", "segments": np.zeros((1,) * 12)})
    # Nesting a real truth needs (segments: 3 levels) still validates.
    truth = parse_ground_truth({"task": "tvg", "segments": np.array([[1.0, 2.0]])})
    assert isinstance(truth, vr.GroundingTruth) and truth.segments == (vr.Span(1, 2),)


def test_huge_numbers_in_ground_truth_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"duration: Input should be a valid number"):
        parse_ground_truth('{"task": "tvg", "segment": [1, 2], "duration": 1' + "0" * 400 + "}")
    with pytest.raises(ValueError, match=r"duration"):
        vr.score_batch(["<answer>1 to 2</answer>"], [{"task": "tvg", "segment": [1, 2]}], durations=[10**400])
    with pytest.raises(ValueError, match=r"duration"):
        vr.score("<answer>1 to 2</answer>", {"task": "tvg", "segment": [1, 2]}, duration=10**400)


def test_bad_json_and_types() -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_ground_truth("{task: mcq")
    with pytest.raises(ValueError, match="JSON must be an object"):
        parse_ground_truth("[1, 2]")
    with pytest.raises(ValueError, match="must be a dict or its JSON string"):
        parse_ground_truth(42)  # type: ignore[arg-type]


def test_verl_parquet_struct_with_numpy_arrays_and_none() -> None:
    # verl reads a struct column: every row carries every key (None where unused), lists as arrays.
    gt = {
        "task": "gqa",
        "answer": "B",
        "options": np.array(OPTIONS, dtype=object),
        "segment": np.array([1.0, 4.0]),
        "segments": None,
        "duration": np.float64(10.0),
        "abs_tol": None,
    }
    truth = parse_ground_truth(gt)
    assert truth.segment == vr.Span(1.0, 4.0)  # type: ignore[attr-defined]
    assert truth.options == tuple(OPTIONS)  # type: ignore[attr-defined]
    multi = {
        "task": "multi_tvg",
        "segments": np.array([np.array([1.0, 2.0]), np.array([3.0, 4.0])], dtype=object),
    }
    assert parse_ground_truth(multi).segments == (vr.Span(1, 2), vr.Span(3, 4))  # type: ignore[attr-defined]


def test_gold_end_past_duration_is_kept_and_the_reward_clips_it() -> None:
    truth = parse_ground_truth({"task": "tvg", "segment": [20.0, 31.5], "duration": 31.2})
    assert isinstance(truth, vr.GroundingTruth)
    assert truth.segment == vr.Span(20.0, 31.5)  # as annotated
    assert truth.reward_segments == (vr.Span(20.0, 31.2),)  # what the reward scores against
    # The prediction [25, 40] is clipped to [25, 31.2]: IoU 6.2 / 11.2 against the clipped gold.
    assert vr.score("<answer>25 to 40</answer>", truth).iou == pytest.approx(6.2 / 11.2)
    gqa = {"task": "gqa", "answer": "A", "options": OPTIONS, "segments": [[1, 2], [20, 40]], "duration": 30}
    assert parse_ground_truth(gqa).reward_segments[1] == vr.Span(20, 30)  # type: ignore[attr-defined]


def test_task_from_data_source_and_duration_fallback() -> None:
    truth = parse_ground_truth({"segment": [1, 2]}, data_source="tvg", duration=9.0)
    assert (truth.task, truth.duration) == ("tvg", 9.0)  # type: ignore[attr-defined]
    assert parse_ground_truth({"task": "tvg", "segment": [1, 2], "duration": 5}, duration=9.0).duration == 5  # type: ignore[attr-defined]


def test_truths_pickle_and_are_frozen() -> None:
    truth = parse_ground_truth({"task": "mcq", "answer": "b", "options": OPTIONS})
    assert pickle.loads(pickle.dumps(truth)) == truth
    with pytest.raises(ValueError):
        setattr(truth, "answer", "C")  # noqa: B010  (frozen: assignment must fail)


# ---------------------------------------------------------------------------------------- config


def test_config_defaults_follow_the_paper() -> None:
    cfg = RewardConfig()
    assert cfg.weights_for("tvg") == TaskWeights(format=0.5, iou=0.5)  # Temporal-R1's first release
    assert cfg.weights_for("mcq") == TaskWeights(format=0.5, accuracy=0.5)
    assert cfg.weights_for("gqa").total == pytest.approx(1.0)
    for task in vr.known_tasks():
        assert cfg.weights_for(task).total == pytest.approx(1.0), task


def test_config_from_kwargs() -> None:
    cfg = RewardConfig.from_kwargs(weights={"tvg": {"iou": 0.8}}, iou_mode="giou", iou_threshold=0.5)
    assert cfg.weights_for("tvg") == TaskWeights(format=0.5, iou=0.8)  # partial: format keeps its default
    assert RewardConfig.from_kwargs(config=json.dumps({"iou_mode": "distance"})).iou_mode == "distance"
    assert RewardConfig.from_kwargs() == RewardConfig()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iou_mod": "giou"}, r"unknown reward option\(s\) \['iou_mod'\]; known: .*iou_mode"),
        ({"iou_mode": "dice"}, r"iou_mode"),
        ({"iou_threshold": 1.5}, r"iou_threshold"),
        ({"weights": {"tvgg": {"iou": 1}}}, r"unknown task 'tvgg'"),
        ({"weights": {"tvg": {"iou": -1}}}, r"weights\.tvg: iou"),
        ({"weights": {"tvg": {"bonus": 1}}}, r"weights\.tvg: bonus"),
        ({"weights": [1, 2]}, r"weights must be a mapping"),
        ({"max_answer_chars": 0}, r"max_answer_chars"),
    ],
)
def test_config_rejects(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RewardConfig.from_kwargs(**kwargs)


def test_config_is_frozen_hashable_and_pickles() -> None:
    cfg = RewardConfig.from_kwargs(weights={"mcq": {"format": 0.2, "accuracy": 0.8}})
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert hash(cfg) == hash(RewardConfig.from_kwargs(weights={"mcq": {"accuracy": 0.8, "format": 0.2}}))
    assert hash(cfg) != hash(RewardConfig())
    with pytest.raises(ValueError):
        cfg.iou_mode = "giou"  # type: ignore[misc]


def test_reward_kwargs_change_the_score() -> None:
    resp = "<think></think><answer>C</answer>"
    gt = {"task": "mcq", "answer": "C"}
    assert vr.compute_score(None, resp, gt, weights={"mcq": {"format": 0.1, "accuracy": 0.9}})["score"] == 1.0
    assert vr.compute_score(
        None, "<answer>C</answer>", gt, weights={"mcq": {"format": 0.1, "accuracy": 0.9}}
    )["score"] == pytest.approx(0.9)


# -------------------------------------------------------------------------------------- registry


def test_registry() -> None:
    reg: Registry[int] = Registry("thing")
    reg.register("one", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one", 2)
    with pytest.raises(UnknownNameError, match=r"unknown thing 'onee'; known: one \(did you mean 'one'\?\)"):
        reg.get("onee")
    assert "one" in reg and list(reg) == ["one"] and len(reg) == 1
    assert reg.unregister("one") == 1 and len(reg) == 0


def test_builtin_tasks_and_unknown_task() -> None:
    assert set(vr.known_tasks()) >= {"mcq", "tvg", "gqa", "numeric", "multi_tvg"}
    with pytest.raises(UnknownNameError, match="known: gqa, mcq, multi_tvg, numeric, tvg"):
        vr.get_task("vqa")
    with pytest.raises(ValueError, match="already registered"):
        register_task(
            "mcq", truth=GroundTruth, weights=TaskWeights(format=1), has_accuracy=False, has_iou=False
        )(lambda a, t, c: TaskOutcome())


class YesNoTruth(GroundTruth):
    task: str = "yesno"
    answer: bool


def test_register_a_custom_task() -> None:
    def score_yesno(answer: str, truth: YesNoTruth, cfg: RewardConfig) -> TaskOutcome:
        said = answer.strip().lower().rstrip(".")
        if said not in ("yes", "no"):
            return TaskOutcome(accuracy=0.0, failure="no_yes_no")
        return TaskOutcome(accuracy=float((said == "yes") == truth.answer), prediction=said)

    register_task(
        "yesno",
        truth=YesNoTruth,
        weights=TaskWeights(format=0.2, accuracy=0.8),
        has_accuracy=True,
        has_iou=False,
    )(score_yesno)
    try:
        r = vr.score("<think></think><answer>Yes.</answer>", {"task": "yesno", "answer": True})
        assert (r.score, r.prediction) == (1.0, "yes")
        cols = vr.score_batch(
            ["<answer>no</answer>", "<answer>maybe</answer>"], ['{"task": "yesno", "answer": false}'] * 2
        )
        assert cols["score"].tolist() == [0.8, 0.0]
        assert cols["failure"].tolist() == [None, "no_yes_no"]
    finally:
        TASKS.unregister("yesno")


def test_weights_must_match_components() -> None:
    with pytest.raises(ValueError, match="name a component the task does not have"):
        register_task("x", truth=GroundTruth, weights=TaskWeights(iou=1), has_accuracy=True, has_iou=False)


def test_result_model_is_pydantic() -> None:
    assert issubclass(vr.RewardResult, BaseModel)
