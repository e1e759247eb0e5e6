"""A tiny Qwen2.5-VL / Qwen2-VL (model + tokenizer + processor), built offline.

Tests and the demo need a real model that the real trainers (verl, vLLM, HF ``generate``) accept, on a
machine with no model hub. This module builds one from scratch in seconds:

* a byte-level BPE tokenizer (~600 tokens) trained on a small in-memory corpus, with Qwen's special tokens
  and the Qwen-VL chat template, wrapped as ``Qwen2TokenizerFast``;
* a randomly initialised ``Qwen2_5_VLForConditionalGeneration`` (or ``Qwen2VLForConditionalGeneration``)
  with a 64-wide, 2-layer text model (head_dim 32, which vLLM's CPU attention requires) and a 2-block
  vision tower;
* optionally a short supervised warm-up on synthetic ``<think>…</think><answer>…</answer>`` replies, so
  that sampled rollouts are sometimes well formed and sometimes right: the rewards then vary across
  rollouts the way they do for a real base model, which is what variance-aware selection and GRPO need.

Builds are cached by content: a directory holding a finished build with the same recipe is reused.
The clips such a model watches are made by :mod:`rlt_tools.tiny_clips`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

Family = Literal["qwen2_5_vl", "qwen2_vl"]

# Bumped whenever the build recipe changes, so stale cached builds are not reused.
_RECIPE_VERSION = "1"

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Not special: they must survive ``decode(skip_special_tokens=True)`` for the format reward to see them.
TAG_TOKENS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")

# The chat template of Qwen2-VL / Qwen2.5-VL instruct models (video and image placeholders expand to
# <|vision_start|><|video_pad|><|vision_end|>, which the processor then repeats per visual token).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Processor pixel budget: tiny frames keep a clip at a few dozen visual tokens.
MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 16

_WORDS = (
    "the a person man woman opens closes door window takes puts cup box book phone laptop walks runs sits "
    "stands down up into out of on in at to from between and or is was when what why how which where who "
    "does did happen after before during video clip moment event first second third then while holding "
    "answer question option choose letter time start end seconds segment grounding find locate describe "
    "think reason because so therefore likely appears shows see frame frames scene camera red blue green "
    "white square moves left right center table chair kitchen room dog cat ball car bike"
).split()


def _corpus(rng: random.Random) -> list[str]:
    lines = []
    for _ in range(400):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 14)))
        lines.append(words.capitalize() + rng.choice([".", "?", "!"]))
    for _ in range(200):
        s = round(rng.uniform(0, 60), 1)
        e = round(s + rng.uniform(0.5, 20), 1)
        lines.append(f'{{"start_time": {s}, "end_time": {e}}} from {s} to {e} seconds [{s}, {e}] {s}-{e}')
        lines.append(
            f"The answer is {rng.choice('ABCDE')}. ({rng.choice('ABCDE')}) Option {rng.choice('ABCDE')}"
        )
        lines.append(f"{int(s) // 60:02d}:{int(s) % 60:02d} {rng.randint(0, 9999)} {rng.random():.3f}")
    lines.append("".join(chr(c) for c in range(32, 127)))
    return lines


def _train_tokenizer(out_dir: Path, seed: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(random.Random(seed)), trainer=trainer)
    fast = Qwen2TokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        additional_special_tokens=[t for t in SPECIAL_TOKENS if t not in ("<|endoftext|>", "<|im_end|>")],
    )
    fast.add_tokens(list(TAG_TOKENS))
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 32768
    fast.save_pretrained(out_dir)
    return fast


def _model_config(family: Family, tokenizer: Any) -> Any:
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [4, 6, 6]},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
    }
    common = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "tie_word_embeddings": False,
    }
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig

        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
            "window_size": 112,
            "tokens_per_second": 2,
        }
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **common)
    if family == "qwen2_vl":
        from transformers import Qwen2VLConfig

        vision = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        return Qwen2VLConfig(text_config=text, vision_config=vision, **common)
    raise ValueError(f"unknown tiny model family {family!r}; known: 'qwen2_5_vl', 'qwen2_vl'")


def _processor(family: Family, tokenizer: Any) -> Any:
    if family == "qwen2_5_vl":
        from transformers import Qwen2_5_VLProcessor as Processor
    else:
        from transformers import Qwen2VLProcessor as Processor
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    return Processor(
        image_processor=Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, size=size),
        video_processor=Qwen2VLVideoProcessor(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, size=size),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def _warmup_texts(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """(question, reply) pairs in the three task styles; replies are well formed, answers random."""
    pairs = []
    for _ in range(n):
        kind = rng.choice(["mcq", "tvg", "gqa"])
        think = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
        if kind == "mcq":
            q = "Which option? A. x B. y C. z D. w Answer with the letter."
            ans = rng.choice("ABCD")
        elif kind == "tvg":
            q = 'When does the event happen? Answer as {"start_time": s, "end_time": e}.'
            s = round(rng.uniform(0, 3), 1)
            ans = json.dumps({"start_time": s, "end_time": round(s + rng.uniform(0.5, 2.5), 1)})
        else:
            q = 'Which option, and when? Answer as {"answer": letter, "start_time": s, "end_time": e}.'
            s = round(rng.uniform(0, 3), 1)
            ans = json.dumps(
                {
                    "answer": rng.choice("ABCD"),
                    "start_time": s,
                    "end_time": round(s + rng.uniform(0.5, 2.5), 1),
                }
            )
        pairs.append((q, f"<think>{think}</think><answer>{ans}</answer>"))
    return pairs


def _warm_up(model: Any, tokenizer: Any, seed: int, steps: int) -> None:
    """A few hundred SGD steps on text-only replies: sampled rollouts become partly well formed."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = _warmup_texts(rng, 8)
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
            )
            for q, _ in batch
        ]
        texts = [p + r + "<|im_end|>" for p, (_, r) in zip(prompts, batch, strict=True)]
        enc = tokenizer(texts, return_tensors="pt", padding=True)
        labels = enc["input_ids"].clone()
        for i, p in enumerate(prompts):
            labels[i, : len(tokenizer(p)["input_ids"])] = -100  # learn the reply only
        labels[enc["attention_mask"] == 0] = -100
        loss = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels).loss
        optim.zero_grad()
        loss.backward()
        optim.step()
    model.eval()
    logger.info("tiny model warm-up done: final loss %.3f", float(loss.detach()))


def default_cache_dir() -> Path:
    """Where tiny builds are cached (``$VIDEO_RLT_CACHE`` or ``~/.cache/video-rlt``)."""
    return Path(os.environ.get("VIDEO_RLT_CACHE", Path.home() / ".cache" / "video-rlt"))


def build_tiny_model(
    out_dir: str | Path | None = None,
    family: Family = "qwen2_5_vl",
    seed: int = 0,
    warmup_steps: int = 150,
) -> Path:
    """Build (or reuse) a tiny random Qwen-VL model directory loadable with ``from_pretrained``.

    ``out_dir=None`` uses a content-addressed directory under :func:`default_cache_dir`. The directory is
    written atomically (a temporary sibling renamed into place), so parallel builders never see half a
    model. ``warmup_steps=0`` gives a purely random model.
    """
    import torch

    recipe = {"v": _RECIPE_VERSION, "family": family, "seed": seed, "warmup": warmup_steps}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    target = Path(out_dir) if out_dir is not None else default_cache_dir() / f"tiny-{family}-{key}"
    marker = target / "video_rlt_recipe.json"
    if marker.exists() and json.loads(marker.read_text()) == recipe:
        return target
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not a tiny-model build of recipe {recipe}")

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tokenizer = _train_tokenizer(tmp, seed)
        config = _model_config(family, tokenizer)
        torch.manual_seed(seed)
        if family == "qwen2_5_vl":
            from transformers import Qwen2_5_VLForConditionalGeneration as Model
        else:
            from transformers import Qwen2VLForConditionalGeneration as Model
        model = Model(config).to(torch.float32)
        if warmup_steps > 0:
            _warm_up(model, tokenizer, seed, warmup_steps)
        model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(tmp)
        _processor(family, tokenizer).save_pretrained(tmp)
        (tmp / "video_rlt_recipe.json").write_text(json.dumps(recipe, sort_keys=True))
        try:
            if target.exists():
                target.rmdir()  # an empty directory given by the caller (or raced in by a peer)
            os.replace(tmp, target)
        except OSError:
            # Another process finished the same build first: theirs is identical, keep it.
            if not (marker.exists() and json.loads(marker.read_text()) == recipe):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built tiny %s model at %s", family, target)
    return target
