"""The tiny offline model and clips are real: the HF processor, generate and PyAV accept them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlt_tools.tiny_clips import clip_timestamps
from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS


def test_clip_has_true_timestamps(clip_factory) -> None:
    import av

    for vfr in (False, True):
        path = clip_factory(f"ts-{vfr}", seconds=4.0, fps=8.0, event=(1.0, 2.0), vfr=vfr)
        with av.open(str(path)) as container:
            times = [float(f.time) for f in container.decode(container.streams.video[0])]
        assert times == pytest.approx(clip_timestamps(4.0, 8.0, vfr), abs=1e-3)
    assert len(clip_timestamps(4.0, 8.0, True)) > len(clip_timestamps(4.0, 8.0, False))


def test_event_square_visible_only_during_event(clip_factory) -> None:
    import av

    path = clip_factory("event", seconds=3.0, fps=4.0, event=(1.0, 2.0))
    with av.open(str(path)) as container:
        frames = [(float(f.time), f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    for t, img in frames:
        h, w, _ = img.shape
        centre = img[h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2].mean()
        assert (centre > 230) == (1.0 <= t < 2.0), (t, centre)


def test_make_clip_rejects_odd_size(tmp_path: Path) -> None:
    from rlt_tools.tiny_clips import make_clip

    with pytest.raises(ValueError, match="even"):
        make_clip(tmp_path / "x.mp4", size=(63, 48))


@pytest.mark.parametrize("family_fixture", ["tiny_model_dir", "tiny_qwen2_vl_dir"])
def test_tiny_model_generates_from_video(family_fixture: str, request, clip_factory) -> None:
    import torch
    from qwen_vl_utils import process_vision_info
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model_dir = request.getfixturevalue(family_fixture)
    clip = clip_factory("gen", seconds=4.0, fps=8.0, event=(1.0, 2.5))
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    assert (
        model.config.text_config.hidden_size // model.config.text_config.num_attention_heads >= 32
    )  # vLLM CPU
    messages = [
        {
            "role": "user",
            "content": [
                {
                    "type": "video",
                    "video": str(clip),
                    "fps": 2.0,
                    "min_pixels": MIN_PIXELS,
                    "max_pixels": MAX_PIXELS,
                },
                {"type": "text", "text": 'When does it happen? Answer as {"start_time": s, "end_time": e}.'},
            ],
        }
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "<|vision_start|><|video_pad|><|vision_end|>" in text
    _, videos, kwargs = process_vision_info(messages, return_video_kwargs=True, return_video_metadata=True)
    frames, metadata = zip(*videos, strict=True)
    inputs = processor(
        text=[text],
        videos=list(frames),
        video_metadata=list(metadata),
        do_resize=False,
        return_tensors="pt",
        **kwargs,
    )
    assert int(inputs["video_grid_thw"][0].prod()) // 4 == int(
        (inputs["input_ids"] == model.config.video_token_id).sum()
    )
    torch.manual_seed(0)
    out = model.generate(**inputs, do_sample=True, max_new_tokens=40, num_return_sequences=4)
    replies = processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    # The warm-up makes sampled replies mostly well formed yet different from each other.
    assert sum("<answer>" in r for r in replies) >= 2
    assert len(set(replies)) > 1


def test_build_is_cached_and_rejects_foreign_dir(tmp_path: Path, tiny_model_dir: Path) -> None:
    from rlt_tools.tiny_model import build_tiny_model

    assert build_tiny_model(family="qwen2_5_vl") == tiny_model_dir  # content-addressed cache hit
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("not a model")
    with pytest.raises(FileExistsError):
        build_tiny_model(tmp_path / "other")
