"""VideoRewardManager driven by real DataProto batches built the way verl's agent loop builds them."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
import torch

import video_rewards as vr
from video_rewards.integrations.verl import FAILURE_KEY, REWARD_EXTRA_KEYS, VideoRewardManager

PROMPT_LEN, RESPONSE_LEN = 8, 48

MCQ = {"task": "mcq", "answer": "B", "options": ["A. cup", "B. box", "C. dog"]}
TVG = {"task": "tvg", "segment": [1.0, 2.5], "duration": 4.0}
GQA = {
    "task": "gqa",
    "answer": "A",
    "options": ["A. square", "B. ball"],
    "segment": [1.0, 2.5],
    "duration": 4.0,
}

# (response, ground truth, data_source): real rollout styles, well formed and not.
CASES: list[tuple[str, dict[str, Any], str]] = [
    ("<think>a box is shown</think><answer>B</answer>", MCQ, "tiny_mcq"),
    ("<think>hm</think><answer>(C) dog</answer>", MCQ, "tiny_mcq"),
    ("The answer is B.", MCQ, "tiny_mcq"),
    ("<think>t</think><answer>from 1.0 to 2.5 seconds</answer>", TVG, "tiny_tvg"),
    ("<think>t</think><answer>[3.0, 1.0]</answer>", TVG, "tiny_tvg"),
    ('<think>t</think><answer>{"answer": "A", "start_time": 1.2, "end_time": 2.5}</answer>', GQA, "tiny_gqa"),
    ("", GQA, "tiny_gqa"),
    ("<answer>" * 200, TVG, "tiny_tvg"),
]


def make_batch(tokenizer: Any, rows: list[tuple[str, Any, str]]) -> Any:
    """A DataProto with verl's agent-loop layout: left-padded prompts, right-padded responses, masks."""
    from verl import DataProto

    pad = tokenizer.pad_token_id
    prompts, responses, masks = [], [], []
    for response, _, _ in rows:
        p = tokenizer("<|im_start|>user\nq<|im_end|>\n", add_special_tokens=False)["input_ids"][:PROMPT_LEN]
        r = [
            *tokenizer(response, add_special_tokens=False)["input_ids"][: RESPONSE_LEN - 1],
            tokenizer.eos_token_id,
        ]
        prompts.append([pad] * (PROMPT_LEN - len(p)) + p)
        responses.append(r + [pad] * (RESPONSE_LEN - len(r)))
        masks.append(
            [0] * (PROMPT_LEN - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (RESPONSE_LEN - len(r))
        )
    prompts_t, responses_t = torch.tensor(prompts), torch.tensor(responses)
    attention_mask = torch.tensor(masks)
    batch = {
        "prompts": prompts_t,
        "responses": responses_t,
        "input_ids": torch.cat([prompts_t, responses_t], dim=1),
        "attention_mask": attention_mask,
        "position_ids": torch.clamp(attention_mask.cumsum(-1) - 1, min=0),
    }
    n = len(rows)
    non_tensor = {
        "data_source": np.array([ds for _, _, ds in rows], dtype=object),
        "reward_model": np.array(
            [
                {"style": "rule", "ground_truth": gt if isinstance(gt, str) else json.dumps(gt)}
                for _, gt, _ in rows
            ],
            dtype=object,
        ),
        "extra_info": np.array([{"index": i, "duration": 4.0} for i in range(n)], dtype=object),
        "uid": np.array([f"uid-{i}" for i in range(n)], dtype=object),
        "raw_prompt": np.array([[{"role": "user", "content": "q"}]] * n, dtype=object),
    }
    return DataProto.from_dict(tensors=batch, non_tensors=non_tensor)


def run(manager: VideoRewardManager, data: Any) -> list[dict[str, Any]]:
    async def all_rows() -> list[dict[str, Any]]:
        return [await manager.run_single(data[i : i + 1]) for i in range(len(data))]

    # verl runs run_single on the event loop the manager captured (RewardManagerBase.loop).
    return manager.loop.run_until_complete(all_rows())


@pytest.fixture(scope="module")
def manager(verl_config_factory: Any, tiny_tokenizer: Any) -> VideoRewardManager:
    return VideoRewardManager(config=verl_config_factory(), tokenizer=tiny_tokenizer, compute_score=None)


def test_scores_match_the_library_with_identical_keys_for_every_task(
    manager: VideoRewardManager, tiny_tokenizer: Any
) -> None:
    outputs = run(manager, make_batch(tiny_tokenizer, CASES))
    for (response, gt, ds), out in zip(CASES, outputs, strict=True):
        decoded = tiny_tokenizer.decode(
            tiny_tokenizer(response, add_special_tokens=False)["input_ids"][: RESPONSE_LEN - 1],
            skip_special_tokens=True,
        )
        expected = vr.score(decoded, gt, data_source=ds)
        assert out["reward_score"] == pytest.approx(expected.score)
        info = out["reward_extra_info"]
        assert tuple(info) == (*REWARD_EXTRA_KEYS, FAILURE_KEY)
        assert all(isinstance(info[k], float) for k in REWARD_EXTRA_KEYS)
        assert math.isnan(info["iou"]) == (gt["task"] == "mcq")
        assert math.isnan(info["accuracy"]) == (gt["task"] == "tvg")
        assert info["parse_failed"] == (0.0 if expected.failure is None else 1.0)
        assert info[FAILURE_KEY] == (expected.failure or "")


def test_bad_responses_score_zero_and_never_raise(manager: VideoRewardManager, tiny_tokenizer: Any) -> None:
    garbage = ["", "<|image_pad|><|video_pad|>", "\x00\ufffd" * 50, "<answer></answer>", "}{" * 100]
    outputs = run(manager, make_batch(tiny_tokenizer, [(g, TVG, "tiny_tvg") for g in garbage]))
    for out in outputs:
        assert out["reward_score"] <= 0.1  # at most the format share, never an exception
        assert out["reward_extra_info"]["parse_failed"] == 1.0


@pytest.mark.parametrize(
    ("ground_truth", "message"),
    [
        ({"task": "tvg", "segment": [9, 2], "duration": 4.0}, "segment"),
        ({"task": "nope"}, "nope"),
        ("{not json", "ground truth"),
    ],
)
def test_malformed_ground_truth_scores_zero_names_the_row_and_the_run_goes_on(
    manager: VideoRewardManager,
    tiny_tokenizer: Any,
    ground_truth: Any,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [
        ("<answer>1 to 2</answer>", ground_truth, "broken_source"),
        ("<think>t</think><answer>B</answer>", MCQ, "tiny_mcq"),
    ]
    with caplog.at_level("ERROR", logger="video_rewards.integrations.verl"):
        bad, good = run(manager, make_batch(tiny_tokenizer, rows))
    assert bad["reward_score"] == 0.0
    info = bad["reward_extra_info"]
    assert (info["parse_failed"], info["score"], info[FAILURE_KEY]) == (1.0, 0.0, "bad_ground_truth")
    assert tuple(info) == (*REWARD_EXTRA_KEYS, FAILURE_KEY)  # same columns as every other row
    assert good["reward_score"] == 1.0  # the next row is scored as usual
    (record,) = [r for r in caplog.records if "malformed ground truth" in r.getMessage()]
    assert re.search(rf"uid='uid-0', index=0, data_source='broken_source'.*{message}", record.getMessage())


def test_reward_kwargs_configure_the_reward_and_unknown_keys_fail_at_start(
    verl_config_factory: Any, tiny_tokenizer: Any
) -> None:
    strict = VideoRewardManager(
        config=verl_config_factory("+reward.reward_kwargs.require_format=true"),
        tokenizer=tiny_tokenizer,
        compute_score=None,
    )
    out = run(strict, make_batch(tiny_tokenizer, [("The answer is <answer>B</answer>", MCQ, "tiny_mcq")]))[0]
    assert out["reward_score"] == 0.0  # unformatted: require_format zeroes the accuracy share
    with pytest.raises(ValueError, match=r"reward\.reward_kwargs.*no_such_field"):
        VideoRewardManager(
            config=verl_config_factory("+reward.reward_kwargs.no_such_field=1"),
            tokenizer=tiny_tokenizer,
            compute_score=None,
        )


def test_loads_through_verls_own_resolution_paths(verl_config_factory: Any, tiny_tokenizer: Any) -> None:
    from verl.trainer.ppo.reward import load_reward_manager

    by_path = verl_config_factory(
        "reward.reward_manager.source=importlib",
        "reward.reward_manager.module.path=pkg://video_rewards.integrations.verl",
        "reward.reward_manager.name=VideoRewardManager",
    )
    by_name = verl_config_factory("reward.reward_manager.name=video_rewards")
    for cfg in (by_path, by_name):
        assert type(load_reward_manager(cfg, tiny_tokenizer)) is VideoRewardManager


def test_plain_compute_score_path_with_stable_keys(verl_config_factory: Any, tiny_tokenizer: Any) -> None:
    """`reward.custom_reward_function` + `reward_kwargs` through verl's naive manager: same keys per task."""
    from verl.trainer.ppo.reward import load_reward_manager

    cfg = verl_config_factory(
        "reward.custom_reward_function.path=pkg://video_rewards.scoring",
        "reward.custom_reward_function.name=compute_score",
        "+reward.custom_reward_function.reward_kwargs.stable_keys=true",
        "+reward.custom_reward_function.reward_kwargs.iou_threshold=0.5",
    )
    naive = load_reward_manager(cfg, tiny_tokenizer)
    outputs = run(naive, make_batch(tiny_tokenizer, CASES[:1] + CASES[3:4] + CASES[5:6]))
    assert {tuple(o["reward_extra_info"]) for o in outputs} == {vr.COMPONENT_KEYS}
    # iou_threshold=0.5 reached the reward: the exact tvg answer scores as the library says.
    expected = vr.score(
        "<think>t</think><answer>from 1.0 to 2.5 seconds</answer>",
        TVG,
        config=vr.RewardConfig(iou_threshold=0.5),
    )
    assert outputs[1]["reward_score"] == pytest.approx(expected.score)


def test_custom_function_with_this_manager_is_rejected(verl_config_factory: Any, tiny_tokenizer: Any) -> None:
    cfg = verl_config_factory(
        "reward.custom_reward_function.path=pkg://video_rewards.scoring",
        "reward.custom_reward_function.name=compute_score",
    )
    with pytest.raises(ValueError, match="custom_reward_function"):
        VideoRewardManager(config=cfg, tokenizer=tiny_tokenizer, compute_score=None)


def test_rm_scores_placed_on_the_last_valid_response_token(
    manager: VideoRewardManager, tiny_tokenizer: Any
) -> None:
    data = make_batch(tiny_tokenizer, CASES[:3])
    scores = [o["reward_score"] for o in run(manager, data)]
    rm = VideoRewardManager.assemble_rm_scores(data, scores)
    lengths = data.batch["attention_mask"][:, PROMPT_LEN:].sum(-1)
    for i, score in enumerate(scores):
        assert rm[i, lengths[i] - 1].item() == pytest.approx(score)
        assert rm[i].sum().item() == pytest.approx(score)
