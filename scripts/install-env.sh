#!/usr/bin/env bash
# Creates .venv with everything the demo and the test suite need, on a CPU machine.
#   bash scripts/install-env.sh            (idempotent: does nothing when the stamp matches)
# torch/torchvision: the CPU torch 2.13.0 wheel has no importable torchvision beside it, so the
# pair torch==2.14.1 + torchvision==0.29.1 is installed explicitly first (it imports and runs on CPU).
# verl 0.9.1 comes in through the [verl] extra; its own cpu/vllm/fsdp extras pin a CUDA torch 2.11 and
# are not used.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3.11}"
stamp_src="$(cat pyproject.toml scripts/install-env.sh | sha256sum | cut -c1-16)"
stamp="$VENV/.video-rlt-installed-$stamp_src"
if [[ -f "$stamp" ]]; then
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install -q -e ".[video,selection,verl,trl,serve,test]" "torch==2.14.1" "torchvision==0.29.1"
# torchcodec's PyPI wheel is CUDA-linked and breaks qwen-vl-utils' reader choice on CPU.
"$VENV/bin/python" -m pip uninstall -y -q torchcodec 2>/dev/null || true
rm -f "$VENV"/.video-rlt-installed-*
touch "$stamp"
echo "environment ready: $VENV"
