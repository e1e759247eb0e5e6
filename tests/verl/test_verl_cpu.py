"""The CPU backend: registration in a fresh verl process, the TransferQueue position_ids fix, and the `hf`
rollout server (HF generate with real video inputs, log-probs, weight updates)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import verl_plugins.cpu as verl_cpu
from verl_plugins.cpu.patches import REPLAY_POLL_SECONDS, patch_nested_position_ids, patch_replay_buffer_poll

PROBE = r"""
import torch, torch.distributed as dist, verl
from verl.plugin.platform import get_platform
from verl.utils.device import get_device_name, get_torch_device, get_nccl_backend
from verl.workers.engine import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead
from verl.workers.rollout.base import get_rollout_class
from verl.workers.rollout.replica import get_rollout_replica_class
import verl.utils.distributed as du
import verl_plugins.cpu.hf_rollout as vc
p = get_platform()
assert (p.device_name, get_device_name(), get_nccl_backend(), p.ray_resource_name()) == ("cpu", "cpu", "gloo", "GPU")
assert torch.zeros(1).to(p.current_device()).device.type == "cpu"
dev = get_torch_device()
assert dev.memory_allocated() == 0 and dev.mem_get_info()[1] > 0
dev.empty_cache(); dev.set_rng_state(dev.get_rng_state())
assert EngineRegistry.get_engine_cls("language_model", "fsdp2") is FSDPEngineWithLMHead
assert get_rollout_class("hf", "async") is vc.HFServerAdapter
assert get_rollout_replica_class("hf") is vc.HFReplica
du.initialize_global_process_group_ray()
assert dist.get_backend() == "gloo"
dist.destroy_process_group()
print("CPU-BACKEND-OK")
"""


def run_probe(env_extra: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29533", **env_extra}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)


def test_backend_registers_in_a_fresh_verl_process() -> None:
    proc = run_probe({"VERL_PLATFORM": "cpu", "VERL_USE_EXTERNAL_MODULES": "verl_plugins.cpu"})
    assert "CPU-BACKEND-OK" in proc.stdout, proc.stderr[-4000:]


def test_import_without_the_platform_variable_changes_nothing() -> None:
    code = "import os, verl, verl_plugins.cpu as vc; assert not vc._installed; print('UNTOUCHED')"
    env = {k: v for k, v in os.environ.items() if k not in ("VERL_PLATFORM", "VERL_USE_EXTERNAL_MODULES")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "UNTOUCHED" in proc.stdout, proc.stderr[-3000:]


def test_version_check_rejects_other_releases() -> None:
    assert verl_cpu.check_verl_version() == verl_cpu.SUPPORTED_VERL_VERSION
    with pytest.raises(verl_cpu.VerlVersionError, match=r"verl==0\.9\.1 only, found verl 0\.9\.2"):
        verl_cpu.check_verl_version("0.9.2")


@pytest.mark.parametrize("lengths", [[6, 6, 6, 6], [5, 7, 6, 6]])
def test_equal_length_vlm_position_ids_survive_minibatch_selection(lengths: list[int]) -> None:
    """TransferQueue rebuilds equal-length 3-D position_ids ragged on the wrong dim; the fix restores them."""
    from tensordict import TensorDict
    from verl.utils import tensordict_utils

    patch_nested_position_ids()
    rows = [torch.arange(4 * n).view(4, n) + 100 * i for i, n in enumerate(lengths)]
    # Exactly what TransferQueue's decoder does with the rows it stored.
    nested = torch.nested.as_nested_tensor(rows, layout=torch.jagged)
    data = TensorDict({"position_ids": nested}, batch_size=len(rows))
    tensordict_utils.maybe_fix_3d_position_ids(data)
    picked = tensordict_utils.index_select_tensor_dict(data, [3, 1])
    got = picked["position_ids"].unbind()
    assert torch.equal(got[0], rows[3]) and torch.equal(got[1], rows[1])


def test_replay_buffer_polls_faster_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from omegaconf import OmegaConf
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer

    monkeypatch.setattr(ReplayBuffer, "__init__", ReplayBuffer.__init__)  # restored after the test
    kwargs: dict[str, Any] = {
        "trainer_mode": "sync",
        "trainer_config": OmegaConf.create({}),
        "max_off_policy_threshold": None,
        "max_off_policy_strategy": "drop",
        "sampler_kwargs": OmegaConf.create({}),
    }
    assert ReplayBuffer(**kwargs).poll_interval == 2.0  # verl's own default
    monkeypatch.delenv("VERL_CPU_REPLAY_POLL_S", raising=False)
    assert patch_replay_buffer_poll() == REPLAY_POLL_SECONDS
    assert ReplayBuffer(**kwargs).poll_interval == REPLAY_POLL_SECONDS
    assert ReplayBuffer(**kwargs, poll_interval=1.5).poll_interval == 1.5
    assert ReplayBuffer(*kwargs.values(), 1.5).poll_interval == 1.5  # positional too
    monkeypatch.setenv("VERL_CPU_REPLAY_POLL_S", "0.75")
    assert patch_replay_buffer_poll() == 0.75  # patching twice wraps verl's __init__, not the last wrapper
    assert ReplayBuffer(**kwargs).poll_interval == 0.75
    monkeypatch.setenv("VERL_CPU_REPLAY_POLL_S", "soon")
    with pytest.raises(ValueError, match="VERL_CPU_REPLAY_POLL_S='soon'"):
        patch_replay_buffer_poll()
    with pytest.raises(ValueError, match="must be > 0"):
        patch_replay_buffer_poll(0.0)


# ---- the hf rollout server, in process ---------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tiny_model_dir: Path) -> verl_cpu.HFGenerateServer:
    from verl.workers.config import HFModelConfig, RolloutConfig

    rollout = RolloutConfig(name="hf", prompt_length=512, response_length=12)
    return verl_cpu.HFGenerateServer(rollout, HFModelConfig(path=str(tiny_model_dir)), replica_rank=0)


@pytest.fixture(scope="module")
def video_prompt(
    server: verl_cpu.HFGenerateServer, clip_factory: Callable[..., Path]
) -> tuple[list[int], list[Any]]:
    """Prompt ids and video inputs built exactly as verl's agent loop builds them."""
    from verl.utils.tokenizer.tokenizer import build_multimodal_processor_inputs

    from rlt_tools.tiny_model import MAX_PIXELS, MIN_PIXELS
    from video_decoding import process_vision_info

    clip = clip_factory("rollout_clip", seconds=3.0, fps=8.0, event=(1.0, 2.0))
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
                {"type": "text", "text": "When does the square appear?"},
            ],
        }
    ]
    _, videos = process_vision_info(messages, image_patch_size=14, return_video_metadata=True)
    text = server.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = build_multimodal_processor_inputs(server.processor, text=[text], videos=videos)["input_ids"][
        0
    ].tolist()
    return ids, videos


def generate(server: verl_cpu.HFGenerateServer, prompt: tuple[list[int], list[Any]], **sampling: Any) -> Any:
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True, **sampling}
    return asyncio.run(
        server.generate(prompt_ids=prompt[0], sampling_params=params, request_id="r", video_data=prompt[1])
    )


def test_generates_from_video_with_the_actors_log_probs(
    server: verl_cpu.HFGenerateServer, video_prompt: tuple[list[int], list[Any]]
) -> None:
    from verl.utils.tokenizer.tokenizer import build_multimodal_processor_inputs

    torch.manual_seed(0)
    out = generate(server, video_prompt)
    tokens, log_probs = out.token_ids, out.log_probs
    assert 1 <= len(tokens) <= 12 and len(log_probs) == len(tokens)
    assert not set(tokens) & set(server.suppressed_token_ids)
    assert len(tokens) == 12 or tokens[-1] in server.eos_token_ids
    # Teacher-forced forward pass over prompt + response with the same pixels and the M-RoPE positions verl's
    # agent loop gives the actor (built from the token types: 2 on the video placeholders): the log-probs match.
    # Without the token types transformers falls back to 1-D positions, another policy (measured in
    # main_ppo: actor minus rollout log-perplexity 0.04 at step 1, 0.24 at step 2, format lost).
    ids, videos = video_prompt
    vision = build_multimodal_processor_inputs(
        server.processor, text=[server.processor.video_token], videos=videos
    )
    full = torch.tensor([ids + tokens])
    types = torch.where(full == server.model.config.video_token_id, 2, 0)
    with torch.no_grad():
        logits = server.model(
            input_ids=full,
            attention_mask=torch.ones_like(full),
            mm_token_type_ids=types,
            pixel_values_videos=vision["pixel_values_videos"],
            video_grid_thw=vision["video_grid_thw"],
            second_per_grid_ts=vision.get("second_per_grid_ts"),
        ).logits[0, len(ids) - 1 : -1]
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)
    assert torch.allclose(torch.tensor(log_probs), expected, atol=1e-4)


def test_takes_the_actors_weights(
    server: verl_cpu.HFGenerateServer, video_prompt: tuple[list[int], list[Any]]
) -> None:
    original = {k: v.clone() for k, v in server.model.state_dict().items()}
    greedy = generate(server, video_prompt, temperature=0)
    assert generate(server, video_prompt, temperature=0).token_ids == greedy.token_ids  # deterministic
    try:
        changed = {
            k: v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v for k, v in original.items()
        }
        assert server.load_weights(changed, global_steps=3) == len(changed)
        after = generate(server, video_prompt, temperature=0)
        assert after.log_probs != greedy.log_probs
        assert after.extra_fields["global_steps"] == 3
        with pytest.raises(KeyError, match="not in the rollout model"):
            server.load_weights({"model.no_such.weight": torch.zeros(1)})
    finally:
        server.load_weights(original)


def test_identical_requests_share_one_generate(
    server: verl_cpu.HFGenerateServer,
    video_prompt: tuple[list[int], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GRPO's n copies of a prompt arrive together: one batched generate, n independent samples."""
    calls: list[int] = []
    real = server._generate_rows

    def counting(*args: Any) -> Any:
        calls.append(args[-1])
        return real(*args)

    monkeypatch.setattr(server, "_generate_rows", counting)
    ids, videos = video_prompt
    params = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "logprobs": True}

    async def burst() -> list[Any]:
        sampled = [
            server.generate(prompt_ids=ids, sampling_params=params, request_id=f"r{i}", video_data=videos)
            for i in range(6)
        ]
        greedy = server.generate(
            prompt_ids=ids,  # the same prompt, greedy: another group
            sampling_params={**params, "temperature": 0},
            request_id="g",
            video_data=videos,
        )
        return list(await asyncio.gather(*sampled, greedy))

    torch.manual_seed(1)
    outs = asyncio.run(burst())
    assert sorted(calls) == [1, 6]
    assert all(1 <= len(o.token_ids) <= 12 and len(o.log_probs) == len(o.token_ids) for o in outs)
    assert len({tuple(o.token_ids) for o in outs[:6]}) > 1  # independent samples, not one copied six times
    lone = generate(server, video_prompt, temperature=0)
    assert outs[6].token_ids == lone.token_ids
    assert torch.allclose(torch.tensor(outs[6].log_probs), torch.tensor(lone.log_probs), atol=1e-4)


#: Child process: the global process group is once per process.
TAKEN_PORT = """
import os, socket, sys
import torch.distributed as dist
from verl_plugins.cpu.platform import patch_process_group
import verl.utils.distributed as dist_utils

patch_process_group()
holder = socket.socket()
holder.bind(("127.0.0.1", 0))
holder.listen()
taken = holder.getsockname()[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(taken), RANK="0", WORLD_SIZE=sys.argv[1])
try:
    dist_utils.initialize_global_process_group_ray(timeout_second=20)
    print("started", dist.get_world_size(), os.environ["MASTER_PORT"] != str(taken))
except dist.DistNetworkError as exc:
    print("failed", "EADDRINUSE" in str(exc))
"""


@pytest.mark.parametrize(("world_size", "expected"), [("1", "started 1 True"), ("2", "failed True")])
def test_a_one_process_group_takes_another_port_when_its_port_is_taken(
    world_size: str, expected: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", TAKEN_PORT, world_size], capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip().splitlines()[-1:] == [expected], proc.stderr[-2000:]
