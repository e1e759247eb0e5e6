"""Environment for the vLLM engine tests (run in .venv-vllm: `make test-vllm`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOK_DIR = REPO / "scripts" / "vllm_sitecustomize"


@pytest.fixture
def vllm_env(tmp_path: Path) -> dict[str, str]:
    """Variables for a `python -m selection rollout --engine vllm` subprocess on CPU.

    The sitecustomize hook makes the CUDA-built torchvision importable (see the hook's docstring); it goes
    on PYTHONPATH so vLLM's own subprocesses get it too. In-process engine, eager mode, a temp cache.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), env.get("PYTHONPATH", "")) if p)
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    env["VLLM_CACHE_ROOT"] = str(tmp_path / "vllm-cache")
    env["FORCE_QWENVL_VIDEO_READER"] = "decord"
    return env
