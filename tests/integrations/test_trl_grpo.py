"""A real ``trl.GRPOTrainer`` step on CPU with the video rewards, on a tiny text model built offline.

The model is first taught (a few seconds of plain supervised steps) to answer in the reward's format with a
mix of right and wrong answers, so the step's completions score non-trivially; the test then checks that
every reward TRL logged is what ``video_rewards`` says about the completion TRL logged next to it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import video_rewards as vr
from video_rewards.integrations.trl import completion_text, dual_reward_funcs

pytestmark = pytest.mark.e2e

MCQ = {"task": "mcq", "answer": "B", "options": ["A. dog", "B. cat", "C. bird"]}
TVG = {"task": "tvg", "segment": [2.0, 6.0], "duration": 20.0}
PROMPTS = {"which animal A B C": MCQ, "when does it happen": TVG}
# What the model is taught to say for each prompt; sampling then mixes right, wrong and malformed answers.
TARGETS = {
    "which animal A B C": [
        "<think> look </think> <answer> B </answer>",
        "<think> look </think> <answer> C </answer>",
    ],
    "when does it happen": [
        "<think> look </think> <answer> 2 to 6 </answer>",
        "<think> look </think> <answer> 4 to 8 </answer>",
    ],
}
WORDS = [
    "<pad>",
    "<eos>",
    "<unk>",
    "user",
    "assistant",
    ":",
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "look",
    "which",
    "animal",
    "when",
    "does",
    "it",
    "happen",
    "A",
    "B",
    "C",
    "0",
    "2",
    "4",
    "6",
    "8",
    "to",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant : {% endif %}"
)


def _tiny_model_and_tokenizer() -> tuple[Any, Any]:
    """A 2-layer Qwen2 and a word-level tokenizer, built from nothing (no hub access)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    config = Qwen2Config(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 1

    # Teach the answer format: ~150 Adam steps on the 4 target sequences (about a second on CPU).
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        + target
        + " <eos>"
        for p, targets in TARGETS.items()
        for target in targets
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        loss = model(**batch, labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    return model, tokenizer


def test_grpo_step_logs_the_dual_reward_components(tmp_path: Path) -> None:
    import pandas as pd
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    model, tokenizer = _tiny_model_and_tokenizer()
    rows = [
        {"prompt": [{"role": "user", "content": p}], "ground_truth": json.dumps(t), "data_source": t["task"]}
        for p, t in PROMPTS.items()
    ]
    funcs, weights = dual_reward_funcs()
    args = GRPOConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=10,
        max_steps=1,
        learning_rate=1e-4,
        beta=0.0,
        reward_weights=weights,
        logging_steps=1,
        log_completions=True,
        report_to="none",
        save_strategy="no",
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 1

    logged = trainer.state.log_history[0]
    names = ["dual_reward", "format_reward", "accuracy_reward", "iou_reward"]
    for name in names:
        assert f"rewards/{name}/mean" in logged, sorted(logged)

    # The completions table TRL wrote: recompute every reward from the completion and its row's truth.
    table = pd.read_parquet(tmp_path / "completions" / "completions_00001.parquet")
    assert len(table) == 8
    tasks = []
    for _, row in table.iterrows():
        prompt = row["prompt"][0]["content"] if not isinstance(row["prompt"], str) else row["prompt"]
        truth = PROMPTS[str(prompt)]
        text = completion_text(list(row["completion"]))
        expected = vr.score(text, truth)
        tasks.append(truth["task"])
        assert row["dual_reward"] == pytest.approx(expected.score)
        assert row["format_reward"] == expected.format
        if truth["task"] == "mcq":
            assert row["accuracy_reward"] == expected.accuracy and math.isnan(row["iou_reward"])
        else:
            assert math.isnan(row["accuracy_reward"]) and row["iou_reward"] == pytest.approx(expected.iou)
    assert sorted(tasks) == ["mcq"] * 4 + ["tvg"] * 4

    # TRL's per-function means skip the None (NaN) rows; the trained signal is the dual reward alone.
    for name in names:
        column = [v for v in table[name] if not math.isnan(v)]
        assert logged[f"rewards/{name}/mean"] == pytest.approx(sum(column) / len(column), abs=1e-6)
    assert logged["reward"] == pytest.approx(logged["rewards/dual_reward/mean"], abs=1e-6)
    # Parse failures: a per-completion column in the table and their share as a metric.
    failures = [
        None if f is None or (isinstance(f, float) and math.isnan(f)) else f for f in table["parse_failure"]
    ]
    expected_failures = [
        vr.score(completion_text(list(c)), PROMPTS[str(p[0]["content"])]).failure
        for p, c in zip(table["prompt"], table["completion"], strict=True)
    ]
    assert failures == expected_failures
    assert logged["parse_failed"] == pytest.approx(sum(f is not None for f in failures) / len(failures))
    # The taught model answers in format with a mix of right and wrong answers: the rewards carry signal.
    assert logged["rewards/format_reward/mean"] >= 0.5
    assert 0.0 < logged["rewards/dual_reward/mean"] < 1.0
