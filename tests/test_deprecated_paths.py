"""The old import paths and commands still work after the layout change (issue #16): each old module warns
once, naming the new one, and hands out the very same objects; ``python -m <old>`` runs the real ``main``.

Each check runs in a fresh interpreter: in this process the new modules are already imported by other tests,
and a warning raised at import time would not be seen twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Every old path a user may have in code or configs -> its new home.
MOVED = {
    "video_rlt.demo": "rlt_tools.demo",
    "video_rlt.predict": "rlt_tools.predict",
    "video_rlt.tiny": "rlt_tools.tiny_model",
    "video_rlt.verl_cpu": "verl_plugins.cpu",
    "video_rlt.verl_dataset": "verl_plugins.dataset",
    "video_rlt.verl_group_filter": "verl_plugins.group_filter",
    "video_rlt.selection_filter": "verl_plugins.selection_filter",
    "video_rlt.convert": "dataset_converters",
    "video_rlt.formats": "dataset_converters.formats",
    "selection.video": "video_decoding",
    "selection.video.verl_hook": "video_decoding.verl_hook",
}

PROBE = textwrap.dedent(
    """
    import importlib, json, sys, warnings
    moved = json.loads(sys.argv[1])
    out = {}
    for old, new in moved.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old_module = importlib.import_module(old)
        new_module = importlib.import_module(new)
        names = getattr(new_module, "__all__", None) or [n for n in vars(new_module) if not n.startswith("_")]
        out[old] = {
            "warnings": [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)],
            "names": len(names),
            "different": [n for n in names if getattr(old_module, n) is not getattr(new_module, n)],
        }
    import video_rlt.tiny, rlt_tools.tiny_model, rlt_tools.tiny_clips
    out["private"] = video_rlt.tiny._train_tokenizer is rlt_tools.tiny_model._train_tokenizer
    out["clip"] = video_rlt.tiny.make_clip is rlt_tools.tiny_clips.make_clip
    from selection.video import load_video, process_vision_info, VideoSampling
    import video_decoding
    import rlt_tools.learning_task
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from video_rlt import learning_task
    out["learning_task"] = learning_task is rlt_tools.learning_task and any(
        "rlt_tools.learning_task" in str(w.message) for w in caught)
    out["documented"] = [load_video, process_vision_info, VideoSampling] == [
        video_decoding.load_video, video_decoding.process_vision_info, video_decoding.VideoSampling]
    print(json.dumps(out))
    """
)


def run(
    *args: str, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_old_modules_warn_and_hand_out_the_same_objects() -> None:
    proc = run("-c", PROBE, json.dumps(MOVED))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for old, new in MOVED.items():
        assert out[old]["different"] == [], old
        assert out[old]["names"] > 0, old
        assert any(old in w and new in w for w in out[old]["warnings"]), (old, out[old]["warnings"])
    assert out["private"] and out["clip"] and out["documented"] and out["learning_task"]


@pytest.mark.parametrize(
    ("old", "prog"),
    [("video_rlt.predict", "rlt_tools.predict"), ("video_rlt.demo", "rlt_tools.demo")],
)
def test_old_commands_run_the_new_main(old: str, prog: str) -> None:
    proc = run("-m", old, "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"usage: python -m {prog}" in proc.stdout


def test_old_convert_command() -> None:
    proc = run("-m", "video_rlt.convert", "merge", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "python -m dataset_converters merge" in proc.stdout
    proc = run("-m", "video_rlt.convert", "split")
    assert proc.returncode == 1
    assert "usage: python -m dataset_converters merge" in proc.stderr


def test_old_video_command_decodes(clip_factory: Callable[..., Path]) -> None:
    clip = clip_factory("alias.mp4", seconds=2.0, fps=8.0)
    proc = run("-m", "selection.video", "inspect", str(clip), "--nframes", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["frames"] == 4
    proc = run("-m", "selection.video", "inspect", str(clip.with_name("absent.mp4")))
    assert proc.returncode == 2
    assert "absent.mp4" in proc.stderr


@pytest.mark.slow
def test_old_cpu_backend_name_installs_the_backend_once() -> None:
    """``VERL_USE_EXTERNAL_MODULES=video_rlt.verl_cpu`` (verl imports it in every process) installs the new
    backend, whose ``hf`` rollout verl then resolves by its new dotted path."""
    code = textwrap.dedent(
        """
        import verl, verl_plugins.cpu as cpu
        import verl.workers.rollout.base as base
        from verl.utils.import_utils import load_extern_object
        import verl_plugins.dataset as ds
        print(cpu._installed, base._ROLLOUT_REGISTRY[("hf", "async")],
              load_extern_object("pkg://video_rlt.verl_dataset", "SelectedVideoDataset") is ds.SelectedVideoDataset)
        """
    )
    proc = run("-c", code, env={"VERL_PLATFORM": "cpu", "VERL_USE_EXTERNAL_MODULES": "video_rlt.verl_cpu"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == ["True", "verl_plugins.cpu.hf_rollout.HFServerAdapter", "True"]
